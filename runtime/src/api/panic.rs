//! What a panic said, for the spans it unwinds through.
//!
//! Instrumented code does not catch panics (a `catch_unwind` per function
//! costs code in every one of them): a guard that drops before its body
//! returned knows it is unwinding. The message comes from a panic hook that
//! tracekit chains in front of the one already installed, once, when a
//! reporter or a capture is set up. If the program replaces the hook later,
//! spans still show the panic, without its message.

use crate::local::{Token, with_state};
use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    /// The last panic on this thread: its message, and the newest frame
    /// token at the time (only frames at or below it were unwound by it).
    static LAST: RefCell<Option<(Token, String)>> = const { RefCell::new(None) };
}

/// Installs the hook (once per process), in front of the current one.
pub(crate) fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let message = if let Some(s) = payload.downcast_ref::<&'static str>() {
                (*s).to_owned()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "panic with a non-string payload".to_owned()
            };
            let newest = with_state(|s| s.newest_token()).unwrap_or(0);
            let _ = LAST.try_with(|last| {
                if let Ok(mut last) = last.try_borrow_mut() {
                    *last = Some((newest, message));
                }
            });
            previous(info);
        }));
    });
}

/// Whether a panic is unwinding through the frame `token`: one is, and it
/// began while the frame was there (a guard made and dropped by a
/// destructor that runs during the unwind was not unwound by it). Without
/// tracekit's hook there is no telling: any unwinding counts.
pub(crate) fn unwinding_through(token: Token) -> bool {
    std::thread::panicking()
        && LAST
            .try_with(|last| {
                last.try_borrow()
                    .ok()
                    .and_then(|last| last.as_ref().map(|(newest, _)| token <= *newest))
            })
            .ok()
            .flatten()
            .unwrap_or(true)
}

/// The message of the panic unwinding through the frame `token`.
pub(crate) fn message_for(token: Token) -> String {
    LAST.try_with(|last| {
        last.try_borrow().ok().and_then(|last| match &*last {
            Some((newest, message)) if token <= *newest => Some(message.clone()),
            _ => None,
        })
    })
    .ok()
    .flatten()
    .unwrap_or_else(|| "panicked".to_owned())
}
