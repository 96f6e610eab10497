//! Values each HTTP worker thread keeps a copy of its own (ADR 0055, ADR 0075).
//!
//! A client whose connection is driven by tasks (tonic's `Channel`: its buffer worker and
//! the HTTP/2 connection; a Redis connection's driver; a PostgreSQL connection) runs those
//! tasks on the runtime it was made on. Made once at start, that is not the HTTP worker's: every call then goes
//! from the worker's thread to another and back. A [`PerThread`] holds, for each worker
//! thread, a copy made on that thread (by [`PerThread::set`] from the app factory, which
//! actix runs on each worker's thread inside its runtime), so a call made there stays
//! there. Threads without a copy (the process's own runtime) use the shared one.
//!
//! A copy lives as long as its thread: actix ends a worker's thread with its runtime.

use std::any::Any;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

thread_local! {
    /// This thread's copies, by the id of the [`PerThread`] they belong to.
    static COPIES: RefCell<Vec<(u64, Box<dyn Any>)>> = const { RefCell::new(Vec::new()) };
}

/// The next [`PerThread`]'s id (ids are never reused in a process).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A value of which each thread may hold a copy of its own.
pub struct PerThread<T> {
    id: u64,
    _value: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for PerThread<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PerThread").field("id", &self.id).finish()
    }
}

impl<T: Clone + 'static> Default for PerThread<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Clone + 'static> PerThread<T> {
    /// No copy on any thread yet.
    pub fn new() -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            _value: PhantomData,
        }
    }

    /// Makes `value` this thread's copy (replacing an earlier one: actix makes a
    /// worker's services again on the same thread after a failure).
    pub fn set(&self, value: T) {
        COPIES.with_borrow_mut(|copies| {
            copies.retain(|(id, _)| *id != self.id);
            copies.push((self.id, Box::new(value)));
        });
    }

    /// A clone of this thread's copy, if it has one.
    pub fn get(&self) -> Option<T> {
        COPIES.with_borrow(|copies| {
            copies
                .iter()
                .find(|(id, _)| *id == self.id)
                .and_then(|(_, copy)| copy.downcast_ref::<T>())
                .cloned()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::PerThread;

    #[test]
    fn each_thread_sees_its_own_copy_and_none_before_it_sets_one() {
        let numbers = PerThread::<u32>::new();
        let others = PerThread::<u32>::new();
        assert_eq!(numbers.get(), None);
        numbers.set(1);
        others.set(10);
        assert_eq!(numbers.get(), Some(1));
        assert_eq!(others.get(), Some(10));
        std::thread::scope(|scope| {
            scope.spawn(|| {
                assert_eq!(
                    numbers.get(),
                    None,
                    "another thread's copy is not this one's"
                );
                numbers.set(2);
                assert_eq!(numbers.get(), Some(2));
                assert_eq!(others.get(), None);
            });
        });
        assert_eq!(numbers.get(), Some(1), "unchanged by the other thread's");
        numbers.set(3);
        assert_eq!(numbers.get(), Some(3), "replaced");
        assert_eq!(others.get(), Some(10));
    }
}
