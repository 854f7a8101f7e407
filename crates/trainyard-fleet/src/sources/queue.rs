//! The bounded work queue between the feeding thread and the workers.
//!
//! Workers also queue work (archive entries, completed `pdsh` hosts) while they handle an
//! item, so "the feeder is done" is not the end: the queue ends when feeding is over, it
//! is empty and no worker is busy (a busy worker may still queue more).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::Skipped;

/// One unit of work for a worker.
pub(super) enum Work {
    /// A file to open and read (its content decides how).
    File {
        /// The path.
        path: std::path::PathBuf,
        /// True when it was named on the command line: then a pipe or device is read too.
        explicit: bool,
    },
    /// Standard input.
    Stdin,
    /// Bytes already read: an archive entry or a completed `pdsh` host.
    Buffer(super::stream::Buffer),
    /// A problem found while feeding (a folder that cannot be read), to be folded by a worker.
    Skip(Skipped),
}

struct State {
    items: VecDeque<Work>,
    feeding: bool,
    busy: usize,
    workers: usize,
}

/// A bounded multi-producer, multi-consumer queue of [`Work`].
pub(super) struct Queue {
    state: Mutex<State>,
    /// Signalled when an item arrives or the queue may have ended.
    ready: Condvar,
    /// Signalled when room frees up.
    room: Condvar,
    capacity: usize,
}

impl Queue {
    /// A queue for `workers` workers holding at most `capacity` items.
    pub(super) fn new(workers: usize, capacity: usize) -> Self {
        Self {
            state: Mutex::new(State {
                items: VecDeque::new(),
                feeding: true,
                busy: 0,
                workers,
            }),
            ready: Condvar::new(),
            room: Condvar::new(),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic in a caller's fold poisons nothing we rely on: the state stays consistent
        // because every change is made under the lock in one step.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `work`, waiting for room. Only the feeding thread calls this: a worker that
    /// waited here could deadlock with the others.
    pub(super) fn push(&self, work: Work) {
        let mut s = self.lock();
        while s.items.len() >= self.capacity && s.workers > 0 {
            s = self.room.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.workers == 0 {
            // Every worker is gone (a fold panicked); the panic is re-raised on join.
            return;
        }
        s.items.push_back(work);
        drop(s);
        self.ready.notify_one();
    }

    /// Queues `work` if there is room, else hands it back for the caller to do itself.
    // The work handed back is moved once, to be done at once; boxing every queued item to
    // shrink this rare `Err` would cost an allocation per item.
    #[allow(clippy::result_large_err)]
    pub(super) fn try_push(&self, work: Work) -> Result<(), Work> {
        let mut s = self.lock();
        if s.items.len() >= self.capacity {
            return Err(work);
        }
        s.items.push_back(work);
        drop(s);
        self.ready.notify_one();
        Ok(())
    }

    /// Says that the feeding thread has queued everything.
    pub(super) fn close_feed(&self) {
        self.lock().feeding = false;
        self.ready.notify_all();
    }

    /// The next item, marking the caller busy until the returned guard drops; `None` when
    /// all work is done.
    pub(super) fn pop(&self) -> Option<(Work, Busy<'_>)> {
        let mut s = self.lock();
        loop {
            if let Some(work) = s.items.pop_front() {
                s.busy += 1;
                drop(s);
                self.room.notify_one();
                return Some((work, Busy(self)));
            }
            if !s.feeding && s.busy == 0 {
                drop(s);
                self.ready.notify_all();
                return None;
            }
            s = self.ready.wait(s).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Registers that a worker thread ended (normally or by a panic).
    pub(super) fn worker_exit(&self) {
        self.lock().workers -= 1;
        self.room.notify_all();
        self.ready.notify_all();
    }
}

/// Marks a worker busy with one item; dropping it (also on unwind) marks it idle.
pub(super) struct Busy<'a>(&'a Queue);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.busy -= 1;
        let finished = !s.feeding && s.busy == 0 && s.items.is_empty();
        drop(s);
        if finished {
            self.0.ready.notify_all();
        }
    }
}

/// Calls [`Queue::worker_exit`] when a worker thread ends, on unwind too.
pub(super) struct WorkerExit<'a>(pub(super) &'a Queue);

impl Drop for WorkerExit<'_> {
    fn drop(&mut self) {
        self.0.worker_exit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_when_fed_and_idle() {
        let q = Queue::new(1, 2);
        q.push(Work::Stdin);
        q.close_feed();
        let (w, busy) = q.pop().expect("one item");
        assert!(matches!(w, Work::Stdin));
        // While busy, a worker may still queue more.
        assert!(q.try_push(Work::Stdin).is_ok());
        drop(busy);
        let (_, busy) = q.pop().expect("the item queued while busy");
        drop(busy);
        assert!(q.pop().is_none());
    }

    #[test]
    fn try_push_hands_work_back_when_full() {
        let q = Queue::new(1, 1);
        assert!(q.try_push(Work::Stdin).is_ok());
        assert!(q.try_push(Work::Stdin).is_err());
    }
}
