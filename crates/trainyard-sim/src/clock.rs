//! The virtual clock: a binary heap of timed events, popped in time order.
//!
//! This is quinn-proto's `Pair::step` in miniature: nothing happens between events, so the
//! clock jumps straight to the earliest one. Events at the same millisecond pop in the order
//! they were pushed (a sequence number breaks ties), which keeps every run deterministic.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use trainyard_job::Millis;

/// Timed events of type `T` and the current virtual time.
#[derive(Debug)]
pub(crate) struct Clock<T> {
    now: Millis,
    seq: u64,
    heap: BinaryHeap<Reverse<(u64, u64, Slot<T>)>>,
}

/// A heap entry that compares equal regardless of its payload: order comes from time and
/// sequence number only, so `T` needs no `Ord`.
#[derive(Debug)]
struct Slot<T>(T);

impl<T> PartialEq for Slot<T> {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    fn cmp(&self, _: &Self) -> std::cmp::Ordering {
        std::cmp::Ordering::Equal
    }
}

impl<T> Clock<T> {
    /// An empty queue at time zero.
    pub(crate) fn new() -> Clock<T> {
        Clock {
            now: Millis(0),
            seq: 0,
            heap: BinaryHeap::new(),
        }
    }

    /// The current virtual time.
    pub(crate) fn now(&self) -> Millis {
        self.now
    }

    /// Schedules `ev` at `at`; a time in the past is clamped to now (time never runs back).
    pub(crate) fn push(&mut self, at: Millis, ev: T) {
        let at = at.max(self.now);
        self.seq += 1;
        self.heap.push(Reverse((at.0, self.seq, Slot(ev))));
    }

    /// The earliest event, advancing the clock to its time; `None` when nothing is left.
    pub(crate) fn pop(&mut self) -> Option<T> {
        let Reverse((at, _, Slot(ev))) = self.heap.pop()?;
        self.now = Millis(at);
        Some(ev)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_then_push_order_and_never_goes_back() {
        let mut c = Clock::new();
        c.push(Millis(10), "b");
        c.push(Millis(5), "a");
        c.push(Millis(10), "c");
        assert_eq!(c.pop(), Some("a"));
        assert_eq!(c.now(), Millis(5));
        c.push(Millis(1), "past");
        assert_eq!(c.pop(), Some("past"));
        assert_eq!(c.now(), Millis(5));
        assert_eq!(c.pop(), Some("b"));
        assert_eq!(c.pop(), Some("c"));
        assert_eq!(c.pop(), None);
    }
}
