//! Datastore keys with go-datastore's rules (`ds.NewKey`, `ChildString`, `Child`, `RawKey`).
//!
//! go-libp2p rebuilds every key it reads back with `RawKey`, which panics on a key that does not
//! start with `/` or that ends with `/`. A [`Key`] can only hold a string that `RawKey` accepts,
//! so nothing this crate writes can crash a Go node that opens the same database.

use std::fmt;

use super::Error;

/// A datastore key: a `/`-separated path, always starting with `/`, never ending with `/`
/// (except the root key `/` itself).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(String);

impl Key {
    /// The root key `/`.
    pub fn root() -> Key {
        Key("/".to_owned())
    }

    /// Builds a cleaned key exactly as Go's `ds.NewKey` does: `path.Clean` with a leading `/`
    /// forced, so `""` becomes `/`, `a//b/./c/..` becomes `/a/b` and a trailing `/` is dropped.
    ///
    /// ```
    /// use pstoreds::datastore::Key;
    /// assert_eq!(Key::new("peers//addrs/").as_str(), "/peers/addrs");
    /// assert_eq!(Key::new("").as_str(), "/");
    /// ```
    pub fn new(s: &str) -> Key {
        if s.starts_with('/') {
            Key(clean_path(s))
        } else {
            Key(clean_path(&format!("/{s}")))
        }
    }

    /// A key its builder knows to be clean already (what [`Key::new`] would make of it).
    pub(crate) fn from_clean(s: String) -> Key {
        debug_assert_eq!(clean_path(&s), s, "not a clean key");
        Key(s)
    }

    /// Accepts `s` as it is, refusing what Go's `ds.RawKey` would panic on. `""` is the root,
    /// as in Go.
    pub fn from_raw(s: &str) -> Result<Key, Error> {
        if s.is_empty() {
            return Ok(Key::root());
        }
        if !s.starts_with('/') {
            return Err(Error::InvalidKey {
                key: s.to_owned(),
                reason: "a key must start with '/'",
            });
        }
        if s.len() > 1 && s.ends_with('/') {
            return Err(Error::InvalidKey {
                key: s.to_owned(),
                reason: "a key must not end with '/'",
            });
        }
        Ok(Key(s.to_owned()))
    }

    /// Accepts raw key bytes read back from a store (see [`Key::from_raw`]).
    pub fn from_raw_bytes(b: &[u8]) -> Result<Key, Error> {
        let s = std::str::from_utf8(b).map_err(|_| Error::InvalidKey {
            key: String::from_utf8_lossy(b).into_owned(),
            reason: "a key must be UTF-8",
        })?;
        Key::from_raw(s)
    }

    /// Go's `k.ChildString(s)`: `NewKey(k + "/" + s)`, cleaned, so `..` in `s` climbs out of `k`.
    pub fn child_string(&self, s: &str) -> Key {
        Key::new(&format!("{}/{}", self.0, s))
    }

    /// Go's `k.Child(k2)`: raw concatenation, not cleaned.
    pub fn child(&self, k2: &Key) -> Key {
        if self.0 == "/" {
            k2.clone()
        } else if k2.0 == "/" {
            self.clone()
        } else {
            Key(format!("{}{}", self.0, k2.0))
        }
    }

    /// Whether `self` is a strict descendant of `prefix` (what a prefix query matches).
    pub fn is_descendant_of(&self, prefix: &Key) -> bool {
        self.0
            .as_bytes()
            .starts_with(prefix.query_prefix().as_bytes())
    }

    /// The byte prefix a query for `self` scans: the key plus `/` (only `/` for the root), so
    /// that a query for `/peers/a` never matches `/peers/ab`.
    pub fn query_prefix(&self) -> String {
        if self.0 == "/" {
            "/".to_owned()
        } else {
            format!("{}/", self.0)
        }
    }

    /// The key's path segments (`/a/b` -> `["a", "b"]`).
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// The last segment (`/a/b` -> `b`), `""` for the root.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or("")
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key's bytes, as go-ds-leveldb stores them.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({:?})", self.0)
    }
}

/// Go's `path.Clean`, for a path that starts with `/`.
fn clean_path(p: &str) -> String {
    debug_assert!(p.starts_with('/'));
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            // A rooted path cannot climb above the root: `/..` is `/`.
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let mut s = String::with_capacity(p.len());
    for seg in &out {
        s.push('/');
        s.push_str(seg);
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_cleans_like_go_new_key() {
        for (input, want) in [
            ("", "/"),
            ("/", "/"),
            ("a", "/a"),
            ("/a/", "/a"),
            ("//a//b//", "/a/b"),
            ("/a/./b", "/a/b"),
            ("/a/b/..", "/a"),
            ("/a/../../b", "/b"),
            ("..", "/"),
            ("/peers/metadata/X/../../keys", "/peers/keys"),
            ("/a/.../b", "/a/.../b"),
            ("/a/..b", "/a/..b"),
        ] {
            assert_eq!(Key::new(input).as_str(), want, "input {input:?}");
        }
    }

    #[test]
    fn raw_keys_refuse_what_go_would_panic_on() {
        assert!(Key::from_raw("peers").is_err());
        assert!(Key::from_raw("/peers/").is_err());
        assert_eq!(Key::from_raw("").unwrap(), Key::root());
        assert_eq!(Key::from_raw("/").unwrap(), Key::root());
        // RawKey does not clean.
        assert_eq!(Key::from_raw("/a//b").unwrap().as_str(), "/a//b");
        assert!(Key::from_raw_bytes(&[b'/', 0xff]).is_err());
    }

    #[test]
    fn child_string_cleans_and_child_concatenates() {
        let k = Key::new("/peers/metadata/P");
        assert_eq!(
            k.child_string("AgentVersion").as_str(),
            "/peers/metadata/P/AgentVersion"
        );
        assert_eq!(
            k.child_string("a/../../Q/x").as_str(),
            "/peers/metadata/Q/x"
        );
        assert_eq!(k.child_string("").as_str(), "/peers/metadata/P");
        assert_eq!(k.child(&Key::new("/pub")).as_str(), "/peers/metadata/P/pub");
        assert_eq!(Key::root().child(&k), k);
        assert_eq!(k.child(&Key::root()), k);
    }

    #[test]
    fn prefix_matches_strict_children_only() {
        let foo = Key::new("/peers/metadata/MZXW6");
        let foobar = Key::new("/peers/metadata/MZXW6YTBOI/x");
        assert!(!foobar.is_descendant_of(&foo));
        assert!(Key::new("/peers/metadata/MZXW6/x").is_descendant_of(&foo));
        assert!(!foo.is_descendant_of(&foo));
        assert!(foo.is_descendant_of(&Key::root()));
        assert_eq!(Key::new("/a/b").name(), "b");
        assert_eq!(Key::new("/a/b").segments().collect::<Vec<_>>(), ["a", "b"]);
    }
}
