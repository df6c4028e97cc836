//! The in-memory backend: an ordered map behind a lock.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

use super::{Batch, Datastore, Entry, Error, Key, Op, Query, Result};

/// A [`Datastore`] in memory, with the same semantics as the persistent backends. The in-memory
/// peerstore sits on it.
#[derive(Debug, Default)]
pub struct MemoryDatastore {
    map: RwLock<Option<BTreeMap<Vec<u8>, Vec<u8>>>>,
}

impl MemoryDatastore {
    /// An empty store.
    pub fn new() -> MemoryDatastore {
        MemoryDatastore {
            map: RwLock::new(Some(BTreeMap::new())),
        }
    }
}

impl Datastore for MemoryDatastore {
    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>> {
        let guard = self.map.read().unwrap_or_else(|e| e.into_inner());
        let map = guard.as_ref().ok_or(Error::Closed)?;
        Ok(map.get(key.as_bytes()).cloned())
    }

    fn query(&self, query: &Query) -> Result<Vec<Entry>> {
        let guard = self.map.read().unwrap_or_else(|e| e.into_inner());
        let map = guard.as_ref().ok_or(Error::Closed)?;
        let prefix = query.prefix.query_prefix().into_bytes();
        let start = query.seek_key();
        let range = map.range::<[u8], _>((Bound::Included(&start[..]), Bound::Unbounded));
        Ok(range
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| query.past_start(k))
            .take(query.limit.unwrap_or(usize::MAX))
            .map(|(k, v)| Entry {
                key: k.clone(),
                value: if query.keys_only {
                    Vec::new()
                } else {
                    v.clone()
                },
            })
            .collect())
    }

    fn write(&self, batch: Batch) -> Result<()> {
        let mut guard = self.map.write().unwrap_or_else(|e| e.into_inner());
        let map = guard.as_mut().ok_or(Error::Closed)?;
        batch.check_expected(|k| Ok(map.get(k.as_bytes()).cloned()))?;
        for op in batch.ops {
            match op {
                Op::Put(k, v) => {
                    map.insert(k.as_bytes().to_vec(), v);
                }
                Op::Delete(k) => {
                    map.remove(k.as_bytes());
                }
            }
        }
        Ok(())
    }

    fn close(&self) -> Result<()> {
        self.map.write().unwrap_or_else(|e| e.into_inner()).take();
        Ok(())
    }
}
