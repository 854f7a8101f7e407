//! Exit batching for blame: failed exits from all nodes are held briefly and handed to the
//! machine in the order the ranks began to fail.

use std::collections::BTreeSet;

use tokio::time::Instant;
use trainyard_job::Event;

use super::run::{Held, Run};
use super::{now, EXIT_SETTLE};
use crate::sink::{log_failure, EventSink};

impl<S: EventSink> Run<'_, S> {
    pub(super) fn on_exit(&mut self, held: Held) {
        let holding = self
            .attempts
            .get(&held.attempt)
            .is_some_and(|a| a.why_until.is_some());
        if held.status.success() && self.held.is_empty() && !holding {
            let attempt = held.attempt;
            self.deliver(held);
            self.check_gone(attempt);
        } else {
            self.held.push(held);
            self.settle_at
                .get_or_insert_with(|| Instant::now() + EXIT_SETTLE);
        }
    }

    /// Hands the held exits over, in the order the ranks began to fail, once they have
    /// settled (`force`: now). Exits of an attempt waiting to hear from Slurm why it signalled
    /// the agents stay held unless forced.
    pub(super) fn release_exits(&mut self, force: bool) {
        if !force && self.settle_at.is_some_and(|at| at > Instant::now()) {
            return;
        }
        let waiting: BTreeSet<u32> = self
            .attempts
            .iter()
            .filter(|(_, a)| a.why_until.is_some())
            .map(|(n, _)| *n)
            .collect();
        let (mut ready, keep): (Vec<Held>, Vec<Held>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|h| force || !waiting.contains(&h.attempt));
        self.held = keep;
        self.settle_at = (!self.held.is_empty()).then(|| Instant::now() + EXIT_SETTLE);
        ready.sort_by_key(|h| h.failed_at_ms);
        let attempts: BTreeSet<u32> = ready.iter().map(|h| h.attempt).collect();
        for h in ready {
            self.deliver(h);
        }
        // Only after the whole batch: an attempt confirmed gone in the middle of it would
        // have the rest of its exits ignored by the machine.
        for attempt in attempts {
            self.check_gone(attempt);
        }
    }

    pub(super) fn deliver(&mut self, h: Held) {
        let Held {
            attempt,
            rank,
            status,
            stderr_tail,
            ..
        } = h;
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        if !a.exited.insert(rank) {
            return;
        }
        log_failure(
            "rank_exited",
            self.sink.rank_exited(attempt, rank, status, now()),
        );
        self.queue.push_back(Event::RankExited {
            attempt,
            rank,
            status,
            stderr_tail,
        });
    }
}
