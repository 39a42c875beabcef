//! The synchronisation primitives of the collector's queue and the spare
//! batch pool: std's, or, built with `--cfg tracekit_loom`, loom's, so that
//! the model tests explore every interleaving of the same code.

#[cfg(tracekit_loom)]
pub(crate) use loom::sync::Mutex;
#[cfg(tracekit_loom)]
pub(crate) use loom::sync::atomic::{AtomicPtr, AtomicUsize};
#[cfg(not(tracekit_loom))]
pub(crate) use std::sync::Mutex;
pub(crate) use std::sync::atomic::Ordering;
#[cfg(not(tracekit_loom))]
pub(crate) use std::sync::atomic::{AtomicPtr, AtomicUsize};

/// A cell whose every access goes through a closure, as loom's does, so
/// that loom can check that no two threads touch it unsynchronised.
#[cfg(tracekit_loom)]
pub(crate) use loom::cell::UnsafeCell;

#[cfg(not(tracekit_loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(tracekit_loom))]
impl<T> UnsafeCell<T> {
    #[inline]
    pub(crate) const fn new(value: T) -> UnsafeCell<T> {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}
