//! Helpers shared by the CLI's integration tests: a trainyard home per test, the `trainyard`
//! binary run in it, job specs written into it, and `show`'s JSON read back and waited on.
//!
//! Each test file declares `mod common;`, so each test binary compiles all of this and uses
//! a part: what one binary leaves unused is not dead, another uses it. Hence `dead_code` is
//! allowed for the whole module. `unwrap` is allowed as in the test files themselves: a
//! failed unwrap is a failed test, with its location.
#![allow(dead_code, clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// How often the waiting helpers look again.
const POLL: Duration = Duration::from_millis(100);

/// One test's trainyard home and spec directory, in a temporary directory removed on drop.
pub struct Ctx {
    dir: tempfile::TempDir,
}

impl Ctx {
    /// A fresh temporary directory; trainyard creates the home inside it.
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// The temporary directory: specs, and anything else a test writes, go here.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `TRAINYARD_HOME` every command of this context runs with.
    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// `trainyard ARGS` in this home, without the caller's `TRAINYARD_LOG` and without color,
    /// not yet run: for a test that sets environment of its own.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trainyard"));
        cmd.args(args)
            .env("TRAINYARD_HOME", self.home())
            .env_remove("TRAINYARD_LOG")
            .env("NO_COLOR", "1");
        cmd
    }

    /// Runs `trainyard ARGS` (as [`Ctx::cmd`] sets it up) to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Writes `name.toml` (`name = "NAME"`, then `body`) and returns its path.
    pub fn spec(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, format!("name = \"{name}\"\n{body}")).unwrap();
        path
    }

    /// `show JOB --json`, which must succeed, parsed.
    pub fn show(&self, job: &str) -> Value {
        let out = self.run(&["show", job, "--json"]);
        assert!(out.status.success(), "show failed: {}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Polls `show` until `ok` holds (panics after `limit`).
    pub fn wait_show(&self, job: &str, limit: Duration, ok: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let doc = self.show(job);
            if ok(&doc) {
                return doc;
            }
            assert!(start.elapsed() < limit, "gave up waiting: {doc:#}");
            std::thread::sleep(POLL);
        }
    }

    /// Waits (up to 60 s) until a [`train_spec`] job runs with all its 4 ranks started, and
    /// returns `show`'s document then: it has every rank's pid.
    pub fn wait_four_ranks_running(&self, job: &str) -> Value {
        self.wait_show(job, Duration::from_secs(60), |d| {
            d["state"] == "running" && rank_pids(d).len() == 4
        })
    }

    /// Waits (up to `limit`) until the job has ended, succeeded or failed.
    pub fn wait_ended(&self, job: &str, limit: Duration) -> Value {
        self.wait_show(job, limit, |d| {
            d["state"] == "succeeded" || d["state"] == "failed"
        })
    }

    /// `cancel JOB`, which must succeed, and `show`'s document after it.
    pub fn cancel(&self, job: &str) -> Value {
        let out = self.run(&["cancel", job]);
        assert!(out.status.success(), "{}", text(&out));
        self.show(job)
    }

    /// `ps [ARGS] --json`, parsed.
    pub fn ps_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["ps"];
        all.extend_from_slice(args);
        all.push("--json");
        serde_json::from_slice(&self.run(&all).stdout).unwrap()
    }

    /// `logs JOB --attempt A --rank R`, run to its end.
    pub fn rank_log(&self, job: &str, attempt: u32, rank: u32) -> Output {
        self.run(&[
            "logs",
            job,
            "--attempt",
            &attempt.to_string(),
            "--rank",
            &rank.to_string(),
        ])
    }

    /// Asserts that rank 0 of the job's attempt `attempt` says it resumed from the checkpoint
    /// at `step`.
    pub fn assert_resumed(&self, job: &str, attempt: u32, step: u32) {
        let resumed = self.rank_log(job, attempt, 0);
        assert!(
            String::from_utf8_lossy(&resumed.stdout)
                .contains(&format!("resumed from checkpoint at step {step}")),
            "{}",
            text(&resumed)
        );
    }
}

/// Runs `trainyard ARGS` to its end without a home of its own (for the commands that only
/// read the files they are named) and without color.
pub fn trainyard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trainyard"))
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("runs trainyard")
}

/// What a command wrote, as text (invalid UTF-8 replaced), for an assertion or its message.
pub fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A finished command's exit status, stdout and stderr, for an assertion's message.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The job id a `launch --detach`, which must have succeeded, printed.
pub fn detached_id(out: &Output) -> String {
    assert!(out.status.success(), "{}", text(out));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The absolute path of the repository's `examples/train.py`.
pub fn train_py() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/train.py");
    p.canonicalize().unwrap().to_string_lossy().into_owned()
}

/// A spec body running examples/train.py for `steps` steps (a checkpoint every 10) on 2 nodes
/// x 2 ranks, with `extra` arguments, short backoff and grace, then the lines `more`.
pub fn train_spec(steps: u32, extra: &[&str], more: &str) -> String {
    let mut args = vec![
        "python3".to_string(),
        train_py(),
        "--steps".into(),
        steps.to_string(),
        "--checkpoint-every".into(),
        "10".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let command: Vec<String> = args.iter().map(|a| format!("{a:?}")).collect();
    format!(
        "command = [{}]\nnodes = 2\nprocs_per_node = 2\nprogress_regex = '^step (\\d+) '\n\
         restart_backoff = \"100ms\"\nstop_grace = \"2s\"\n{more}",
        command.join(", ")
    )
}

/// A spec body running train.py slowly (0.05 s a step) for `steps` steps: a job that is
/// still running when a test acts on it.
pub fn slow_train_spec(steps: u32) -> String {
    train_spec(steps, &["--sleep-per-step", "0.05"], "")
}

/// The spec body of the crash tests: train.py fails at step 25 of 40, after the checkpoint at
/// step 20, then the lines `more`.
pub fn crash_spec(more: &str) -> String {
    train_spec(
        40,
        &["--sleep-per-step", "0.01", "--fail-at-step", "25"],
        more,
    )
}

/// The spec body of the hang tests: train.py stops making progress at step 15 of 30, under a
/// 3 s hang timeout.
pub fn hang_spec() -> String {
    train_spec(
        30,
        &["--sleep-per-step", "0.01", "--hang-at-step", "15"],
        "hang_timeout = \"3s\"\n",
    )
}

/// Asserts what every backend's hang test expects of its job: two attempts, the first failed
/// for a hang with a node blamed and no exit code, the second succeeded. Returns the attempts.
pub fn assert_hang_then_success(doc: &Value) -> &[Value] {
    let attempts = doc["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{doc:#}");
    assert_eq!(attempts[0]["state"], "failed");
    assert!(
        attempts[0]["reason"].as_str().unwrap().starts_with("hang:"),
        "{doc:#}"
    );
    assert!(attempts[0]["blamed_node"].as_str().is_some(), "{doc:#}");
    assert_eq!(attempts[0]["exit_code"], Value::Null);
    assert_eq!(attempts[1]["state"], "succeeded");
    attempts
}

/// Asserts that a job `cancel` stopped reads cancelled, its first attempt too, and that the
/// reason is who asked (`trainyard cancel`), not the signal it sent.
pub fn assert_cancelled_on_request(doc: &Value) {
    assert_eq!(doc["state"], "cancelled", "{doc:#}");
    assert_eq!(doc["attempts"][0]["state"], "cancelled");
    let reason = doc["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("requested by `trainyard cancel`"),
        "{doc:#}"
    );
}

/// A job document's events.
pub fn events(doc: &Value) -> &[Value] {
    doc["events"].as_array().unwrap()
}

/// The node names of one attempt of a job document, in its order.
pub fn node_names(attempt: &Value) -> Vec<&str> {
    attempt["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect()
}

/// Is the process alive (a zombie counts as dead)?
pub fn alive(pid: u64) -> bool {
    trainyard_store::pid_alive(u32::try_from(pid).unwrap()) == Some(true)
}

/// Every rank pid a job document names, over all its attempts.
pub fn rank_pids(doc: &Value) -> Vec<u64> {
    doc["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["ranks"].as_array().unwrap().clone())
        .filter_map(|r| r["pid"].as_u64())
        .collect()
}

/// Sends SIGKILL to `pid` with kill(1), which must succeed.
pub fn kill_9(pid: u64) {
    let status = Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Waits (up to `limit`, else panics naming the survivors) until none of `pids` is alive.
pub fn wait_all_dead(pids: &[u64], limit: Duration) {
    let start = Instant::now();
    while pids.iter().any(|&p| alive(p)) {
        let left: Vec<_> = pids.iter().filter(|&&p| alive(p)).collect();
        assert!(start.elapsed() < limit, "still alive: {left:?}");
        std::thread::sleep(POLL);
    }
}

/// Waits (up to `limit`, else panics naming `what`) until `ok` holds.
pub fn wait_until(what: &str, limit: Duration, ok: impl Fn() -> bool) {
    let start = Instant::now();
    while !ok() {
        assert!(start.elapsed() < limit, "gave up waiting: {what}");
        std::thread::sleep(POLL);
    }
}
