//! Panics, caught and kept off the terminal. The engine's background work (flushes,
//! compactions) runs inside [`catch`], so that a bug there becomes a sticky failure that names
//! it, not a dead thread; the default panic hook would print the message and a backtrace hint
//! to stderr first. A hook, installed once, stays silent for panics inside [`catch`] on that
//! thread (and passes every other panic to the hook that was there before).

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

thread_local! {
    static INSIDE: Cell<u32> = const { Cell::new(0) };
    static MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

fn install() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if INSIDE.with(Cell::get) > 0 {
                let payload = info.payload();
                let text = payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "a panic".to_owned());
                MESSAGE.with(|m| *m.borrow_mut() = Some(text));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs `f`; a panic comes back as `Err` with the panic's message, and prints nothing.
pub fn catch<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    install();
    INSIDE.with(|c| c.set(c.get() + 1));
    let result = catch_unwind(AssertUnwindSafe(f));
    INSIDE.with(|c| c.set(c.get() - 1));
    result.map_err(|_| {
        MESSAGE
            .with(|m| m.borrow_mut().take())
            .unwrap_or_else(|| "a panic".to_owned())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn panics_become_errors_with_their_message() {
        let r: Result<(), String> = super::catch(|| panic!("assertion failed: boom"));
        assert_eq!(r.unwrap_err(), "assertion failed: boom");
        assert_eq!(super::catch(|| 7).unwrap(), 7);
    }
}
