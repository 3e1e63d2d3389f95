//! Page-global state without `RefCell` (whose borrow panics would pull in formatting code).
//!
//! The widget is single-threaded; [`Cell::with`] must not be re-entered and its closure must not
//! await, which every caller in this crate respects.

use core::cell::UnsafeCell;

/// A global mutable slot for the single-threaded wasm page.
pub(crate) struct Cell<T>(UnsafeCell<T>);

// SAFETY: wasm32-unknown-unknown without atomics has one thread; see the module docs.
unsafe impl<T> Sync for Cell<T> {}

impl<T> Cell<T> {
    /// A slot holding `v`.
    pub(crate) const fn new(v: T) -> Self {
        Cell(UnsafeCell::new(v))
    }

    /// Runs `f` on the value (not re-entrant, `f` must not await).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        // SAFETY: single thread, no re-entry (module docs).
        unsafe { f(&mut *self.0.get()) }
    }

    /// Replaces the value, returning the old one.
    pub(crate) fn replace(&self, v: T) -> T {
        self.with(|x| core::mem::replace(x, v))
    }
}
