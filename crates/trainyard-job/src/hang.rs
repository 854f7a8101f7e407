//! Hang detection: a rank that has not made progress for `hang_timeout` hangs the attempt.
//!
//! Progress is per rank because one stuck rank stalls a collective while the others sit
//! silently waiting on it; the rank silent the longest is the best guess at the culprit
//! (usually the one that stopped first), so it is the one blamed.

use std::time::Duration;

use crate::attempt::LiveAttempt;
use crate::event::Rank;
use crate::time::Millis;

/// The still-running rank whose last activity is oldest, with that time. Ranks never heard
/// from count as active since the attempt's resources run (its start, unless it waited in a
/// scheduler's queue); ties go to the lowest rank. `None` while it is still queued: time in
/// the queue is nobody's hang.
pub(crate) fn quietest_rank(live: &LiveAttempt) -> Option<(Rank, Millis)> {
    let origin = live.running_since?;
    let mut best: Option<(Rank, Millis)> = None;
    let mut consider = |rank: Rank, at: Millis| match best {
        Some((_, b)) if b <= at => {}
        _ => best = Some((rank, at)),
    };
    // A rank absent from the map has not reported anything: the earliest such rank is the
    // first gap in the map's keys.
    let mut expected: Rank = 0;
    for (&rank, info) in &live.ranks {
        if rank > expected {
            consider(expected, origin);
        }
        expected = rank.saturating_add(1);
        if info.exit.is_none() {
            consider(rank, info.last_activity.unwrap_or(origin));
        }
    }
    if expected < live.world {
        consider(expected, origin);
    }
    best
}

/// When the attempt will count as hung if nothing is heard, if it runs and detection is on.
pub(crate) fn deadline(live: &LiveAttempt, timeout: Option<Duration>) -> Option<Millis> {
    let timeout = timeout?;
    if !live.is_running() {
        return None;
    }
    quietest_rank(live).map(|(_, at)| at.saturating_add(timeout))
}

/// The hung rank and how long it has been silent, if the deadline has passed at `now`.
pub(crate) fn detect(
    live: &LiveAttempt,
    timeout: Option<Duration>,
    now: Millis,
) -> Option<(Rank, Duration)> {
    let timeout = timeout?;
    if !live.is_running() {
        return None;
    }
    let (rank, at) = quietest_rank(live)?;
    let silent = now.saturating_since(at);
    (silent >= timeout).then_some((rank, silent))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attempt::RankInfo;
    use crate::event::ExitStatus;

    fn live(world_nodes: usize, ppn: u32) -> LiveAttempt {
        let nodes = (0..world_nodes).map(|i| format!("n{i}")).collect();
        LiveAttempt::new(1, nodes, ppn, Millis(1_000))
    }

    fn active(at: u64) -> RankInfo {
        RankInfo {
            last_activity: Some(Millis(at)),
            started: true,
            ..RankInfo::default()
        }
    }

    #[test]
    fn unheard_ranks_count_from_the_attempt_start() {
        let mut l = live(2, 2);
        assert_eq!(quietest_rank(&l), Some((0, Millis(1_000))));
        l.ranks.insert(0, active(5_000));
        l.ranks.insert(1, active(4_000));
        l.ranks.insert(3, active(6_000));
        // rank 2 never reported
        assert_eq!(quietest_rank(&l), Some((2, Millis(1_000))));
        l.ranks.insert(2, active(7_000));
        assert_eq!(quietest_rank(&l), Some((1, Millis(4_000))));
    }

    #[test]
    fn a_queued_attempt_has_no_quiet_rank_until_it_runs() {
        let mut l = live(2, 1);
        l.running_since = None;
        let t = Some(Duration::from_secs(10));
        assert_eq!(quietest_rank(&l), None);
        assert_eq!(deadline(&l, t), None);
        assert_eq!(detect(&l, t, Millis(1_000_000)), None);
        l.mark_running(Millis(50_000));
        l.mark_running(Millis(70_000)); // the first word counts
        assert_eq!(quietest_rank(&l), Some((0, Millis(50_000))));
        assert_eq!(deadline(&l, t), Some(Millis(60_000)));
        l.ranks.insert(0, active(55_000));
        assert_eq!(quietest_rank(&l), Some((1, Millis(50_000))));
    }

    #[test]
    fn exited_ranks_are_not_hung() {
        let mut l = live(1, 2);
        l.ranks.insert(
            0,
            RankInfo {
                exit: Some(ExitStatus::Code(0)),
                ..active(2_000)
            },
        );
        l.ranks.insert(1, active(3_000));
        assert_eq!(quietest_rank(&l), Some((1, Millis(3_000))));
        l.ranks.insert(
            1,
            RankInfo {
                exit: Some(ExitStatus::Code(0)),
                ..active(3_000)
            },
        );
        assert_eq!(quietest_rank(&l), None);
    }

    #[test]
    fn deadline_and_detection() {
        let mut l = live(1, 2);
        l.ranks.insert(0, active(2_000));
        l.ranks.insert(1, active(3_000));
        let t = Some(Duration::from_secs(10));
        assert_eq!(deadline(&l, t), Some(Millis(12_000)));
        assert_eq!(deadline(&l, None), None);
        assert_eq!(detect(&l, t, Millis(11_999)), None);
        assert_eq!(
            detect(&l, t, Millis(12_000)),
            Some((0, Duration::from_secs(10)))
        );
        // time going backwards is not a hang
        assert_eq!(detect(&l, t, Millis(0)), None);
    }

    #[test]
    fn ties_go_to_the_lowest_rank() {
        let mut l = live(1, 3);
        for r in 0..3 {
            l.ranks.insert(r, active(2_000));
        }
        assert_eq!(quietest_rank(&l), Some((0, Millis(2_000))));
    }
}
