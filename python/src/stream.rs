//! Address streams a Python thread can wait on: [`pstoreds::peerstore::AddrStream`] polled with
//! a waker that unparks the waiting thread, so a new address wakes it at once and a quiet
//! stream costs nothing but the wait.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use futures_core::Stream;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use pstoreds::peerstore::AddrStream;

struct ThreadWaker(std::thread::Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// What waiting on a stream gave.
enum Next {
    Addr(Vec<u8>),
    Ended,
    TimedOut,
}

fn next_before(stream: &mut AddrStream, deadline: Instant) -> Next {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match Pin::new(&mut *stream).poll_next(&mut cx) {
            Poll::Ready(Some(addr)) => return Next::Addr(addr.to_vec()),
            Poll::Ready(None) => return Next::Ended,
            Poll::Pending => {
                let now = Instant::now();
                if now >= deadline {
                    return Next::TimedOut;
                }
                std::thread::park_timeout(deadline - now);
            }
        }
    }
}

/// One peer's addresses: those known when it was made, then each new one, each once.
#[pyclass(frozen, module = "pstoreds._native")]
pub struct NativeAddrStream {
    /// `None` once closed.
    stream: Mutex<Option<AddrStream>>,
}

impl NativeAddrStream {
    pub fn new(stream: AddrStream) -> NativeAddrStream {
        NativeAddrStream {
            stream: Mutex::new(Some(stream)),
        }
    }
}

#[pymethods]
impl NativeAddrStream {
    /// Waits up to `timeout` seconds (GIL released): `(False, addr)` for an address,
    /// `(False, None)` when none came, `(True, None)` when the stream ended (the store closed,
    /// or this stream was closed).
    fn next<'py>(
        &self,
        py: Python<'py>,
        timeout: f64,
    ) -> PyResult<(bool, Option<Bound<'py, PyBytes>>)> {
        let wait = Duration::try_from_secs_f64(timeout.max(0.0)).unwrap_or(Duration::MAX);
        let next = py.detach(|| {
            let mut guard = self.stream.lock().unwrap_or_else(|e| e.into_inner());
            match guard.as_mut() {
                None => Next::Ended,
                Some(s) => next_before(
                    s,
                    Instant::now()
                        .checked_add(wait)
                        .unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400)),
                ),
            }
        });
        Ok(match next {
            Next::Addr(a) => (false, Some(PyBytes::new(py, &a))),
            Next::Ended => (true, None),
            Next::TimedOut => (false, None),
        })
    }

    /// Unsubscribes; a waiting `next` returns at its timeout, later ones at once.
    fn close(&self, py: Python<'_>) {
        py.detach(|| self.stream.lock().unwrap_or_else(|e| e.into_inner()).take());
    }
}
