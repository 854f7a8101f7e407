//! Helpers shared by the driver's integration tests: specs, a recording sink, process checks.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr
)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use trainyard_exec::{
    EventSink, GuardCommand, JobOutcome, LiveView, LocalDriver, OutputLine, RankStart, SinkError,
};
use trainyard_job::{
    Backoff, ExitStatus, FinalState, JobEvent, JobEventKind, JobSpec, Millis, NodeName,
};

/// The guard binary built with this package.
pub fn guard() -> GuardCommand {
    GuardCommand::new(env!("CARGO_BIN_EXE_trainyard-rank-guard"), [])
}

/// `tests/fixtures/fake_rank.py`.
pub fn fake_rank() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fake_rank.py")
        .to_string_lossy()
        .into_owned()
}

/// `examples/train.py` at the workspace root.
pub fn train_py() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/train.py")
        .to_string_lossy()
        .into_owned()
}

/// A spec for `command` on `nodes` × `ppn` with test-friendly timings: no restarts, 10 ms
/// backoff, 2 s grace, no hang detection.
pub fn spec(command: &[&str], nodes: u32, ppn: u32) -> JobSpec {
    let mut spec = JobSpec::default_for_command(command.iter().map(|s| s.to_string()).collect());
    spec.name = "test".into();
    spec.nodes = nodes;
    spec.procs_per_node = ppn;
    spec.max_restarts = 0;
    spec.restart_backoff = Backoff {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(10),
        factor: 1.0,
    };
    spec.stop_grace = Duration::from_secs(2);
    spec.hang_timeout = None;
    spec.node_failure_limit = 100;
    spec
}

/// Everything the driver reported, with the instant it arrived.
#[derive(Debug, Default)]
pub struct Log {
    pub events: Vec<(Instant, JobEvent)>,
    pub attempts: Vec<(Instant, u32, Vec<NodeName>)>,
    pub started: Vec<(Instant, u32, u32, u32)>,
    pub exited: Vec<(Instant, u32, u32, ExitStatus)>,
    pub ended: Vec<(Instant, u32)>,
    pub finished: Option<(Instant, FinalState, String)>,
    pub heartbeats: usize,
    /// Handed to the driver by the next heartbeat.
    pub cancel: Option<String>,
    pub progress: Vec<(u32, Option<u64>)>,
}

/// A sink that keeps everything, shareable with the test while the driver runs.
#[derive(Debug, Default, Clone)]
pub struct Recorder(pub Arc<Mutex<Log>>);

impl Recorder {
    pub fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.0.lock().unwrap()
    }

    pub fn events_of(&self, kind: JobEventKind) -> Vec<JobEvent> {
        self.log()
            .events
            .iter()
            .filter(|(_, e)| e.kind == kind)
            .map(|(_, e)| e.clone())
            .collect()
    }

    /// Pids of every rank guard started.
    pub fn guard_pids(&self) -> Vec<u32> {
        self.log().started.iter().map(|s| s.3).collect()
    }
}

impl EventSink for Recorder {
    fn record(&mut self, event: &JobEvent) -> Result<(), SinkError> {
        self.log().events.push((Instant::now(), event.clone()));
        Ok(())
    }
    fn attempt_started(
        &mut self,
        attempt: u32,
        nodes: &[NodeName],
        _restart_count: u32,
        _log_dir: &Path,
        _at: Millis,
    ) -> Result<(), SinkError> {
        self.log()
            .attempts
            .push((Instant::now(), attempt, nodes.to_vec()));
        Ok(())
    }
    fn rank_started(&mut self, rank: &RankStart<'_>, _at: Millis) -> Result<(), SinkError> {
        self.log()
            .started
            .push((Instant::now(), rank.attempt, rank.rank, rank.pid));
        Ok(())
    }
    fn rank_exited(
        &mut self,
        attempt: u32,
        rank: u32,
        status: ExitStatus,
        _at: Millis,
    ) -> Result<(), SinkError> {
        self.log()
            .exited
            .push((Instant::now(), attempt, rank, status));
        Ok(())
    }
    fn attempt_ended(&mut self, attempt: u32, _at: Millis) -> Result<(), SinkError> {
        self.log().ended.push((Instant::now(), attempt));
        Ok(())
    }
    fn heartbeat(&mut self, _pid: u32, _at: Millis) -> Result<Option<String>, SinkError> {
        let mut log = self.log();
        log.heartbeats += 1;
        Ok(log.cancel.take())
    }
    fn progress(&mut self, attempt: u32, step: Option<u64>, _at: Millis) -> Result<(), SinkError> {
        self.log().progress.push((attempt, step));
        Ok(())
    }
    fn finished(&mut self, state: FinalState, reason: &str, _at: Millis) -> Result<(), SinkError> {
        self.log().finished = Some((Instant::now(), state, reason.to_string()));
        Ok(())
    }
}

/// Lines of the live view, with arrival instants.
#[derive(Debug, Default, Clone)]
pub struct Lines(pub Arc<Mutex<Vec<(Instant, String)>>>);

impl Lines {
    pub fn view(&self) -> Arc<dyn LiveView> {
        let lines = Arc::clone(&self.0);
        Arc::new(move |line: &OutputLine<'_>| {
            lines
                .lock()
                .unwrap()
                .push((Instant::now(), line.to_string()));
        })
    }

    pub fn all(&self) -> Vec<(Instant, String)> {
        self.0.lock().unwrap().clone()
    }
}

/// A driver for `spec` logging under `dir/logs`, with the test guard, without signal handling.
pub fn driver(
    spec: JobSpec,
    dir: &Path,
    sink: Recorder,
    lines: Option<&Lines>,
) -> LocalDriver<Recorder> {
    LocalDriver::new(
        spec,
        "job-test",
        dir.join("logs"),
        sink,
        lines.map(Lines::view),
    )
    .guard(guard())
    .handle_signals(false)
}

/// Runs `spec` to the end.
pub fn run(spec: JobSpec, dir: &Path) -> (JobOutcome, Recorder) {
    let rec = Recorder::default();
    let outcome = driver(spec, dir, rec.clone(), None).run().unwrap();
    (outcome, rec)
}

/// The log file of `rank` in `attempt`.
pub fn rank_log(dir: &Path, attempt: u32, rank: u32, ext: &str) -> PathBuf {
    dir.join(format!("logs/attempt-{attempt}/rank-{rank}.{ext}"))
}

/// Whether `pid` is gone (no such process, or a zombie nobody reaped yet: it runs nothing).
pub fn process_gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

/// Polls `cond` until it holds or `timeout` passes.
pub fn wait_for(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// Reads every `*.pid` file in `dir`.
pub fn read_pids(dir: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let name = entry.file_name();
            if name.to_string_lossy().ends_with(".pid") {
                if let Ok(text) = std::fs::read_to_string(entry.path()) {
                    if let Ok(pid) = text.trim().parse() {
                        pids.push(pid);
                    }
                }
            }
        }
    }
    pids
}
