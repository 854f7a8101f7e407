//! What counts as progress, and how much of it reaches the supervisor.
//!
//! Progress is (contract, docs/supervisor.md): any output line when the spec has no
//! `progress_regex`; a line matching `progress_regex` when it has one (the first capture group,
//! if any, is the step); or the step number a rank writes to `TRAINYARD_PROGRESS_FILE`. With a
//! regex, other lines do not count: a stuck rank that keeps logging warnings is still stuck.
//!
//! A rank may print 10,000 lines a second while hang timeouts are seconds to minutes, so the
//! output readers coalesce: at most one progress event per stream per [`MIN_INTERVAL`], always
//! carrying the newest step seen.

use std::path::Path;
use std::time::{Duration, Instant};

use trainyard_job::ProgressRegex;

/// The least time between two progress events of one stream.
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);

/// Decides whether a line is progress.
#[derive(Debug, Clone, Default)]
pub struct ProgressRule {
    regex: Option<ProgressRegex>,
}

impl ProgressRule {
    /// A rule from the spec's `progress_regex`; `None` means every line is progress.
    pub fn new(regex: Option<ProgressRegex>) -> Self {
        Self { regex }
    }

    /// `None` if the line is not progress; `Some(step)` if it is, with the step if the regex
    /// captured a number.
    pub fn check(&self, line: &str) -> Option<Option<u64>> {
        match &self.regex {
            None => Some(None),
            Some(regex) => regex.match_line(line),
        }
    }
}

/// Thins a stream of progress observations out to at most one event per [`MIN_INTERVAL`].
#[derive(Debug, Default)]
pub struct Coalescer {
    last_sent: Option<Instant>,
    /// Observed since the last event: `Some(newest step or None)`.
    pending: Option<Option<u64>>,
}

impl Coalescer {
    /// Records an observation at `now`; returns the event to send, if one is due.
    pub fn offer(&mut self, step: Option<u64>, now: Instant) -> Option<Option<u64>> {
        let newest = match (self.pending, step) {
            (Some(Some(old)), Some(new)) => Some(old.max(new)),
            (Some(Some(old)), None) => Some(old),
            (_, step) => step,
        };
        self.pending = Some(newest);
        let due = self
            .last_sent
            .is_none_or(|last| now.duration_since(last) >= MIN_INTERVAL);
        if due {
            self.last_sent = Some(now);
            self.pending.take()
        } else {
            None
        }
    }

    /// The observation not sent yet, if any (at end of stream).
    pub fn flush(&mut self) -> Option<Option<u64>> {
        self.pending.take()
    }
}

/// The step number in a progress file: the first integer in it; `None` if the file is missing,
/// empty or half-written.
pub fn read_step_file(path: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_regex_every_line_counts() {
        let rule = ProgressRule::new(None);
        assert_eq!(rule.check("anything"), Some(None));
    }

    #[test]
    fn regex_captures_step() {
        let rule = ProgressRule::new(Some(
            ProgressRegex::new(r"^step (\d+)").expect("valid regex"),
        ));
        assert_eq!(rule.check("step 42 loss 0.1"), Some(Some(42)));
        assert_eq!(rule.check("warning: slow"), None);
    }

    #[test]
    fn regex_without_capture_is_stepless_progress() {
        let rule = ProgressRule::new(Some(ProgressRegex::new(r"loss").expect("valid regex")));
        assert_eq!(rule.check("loss 1"), Some(None));
    }

    #[test]
    fn coalescer_sends_first_then_throttles_and_keeps_newest_step() {
        let t0 = Instant::now();
        let mut c = Coalescer::default();
        assert_eq!(c.offer(Some(1), t0), Some(Some(1)));
        assert_eq!(c.offer(Some(2), t0 + Duration::from_millis(10)), None);
        assert_eq!(c.offer(None, t0 + Duration::from_millis(20)), None);
        assert_eq!(
            c.offer(Some(3), t0 + MIN_INTERVAL + Duration::from_millis(1)),
            Some(Some(3))
        );
        assert_eq!(c.offer(Some(4), t0 + MIN_INTERVAL * 2), None);
        assert_eq!(c.flush(), Some(Some(4)));
        assert_eq!(c.flush(), None);
    }

    #[test]
    fn step_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("p");
        assert_eq!(read_step_file(&path), None);
        std::fs::write(&path, "17\n").expect("write");
        assert_eq!(read_step_file(&path), Some(17));
        std::fs::write(&path, "").expect("write");
        assert_eq!(read_step_file(&path), None);
    }
}
