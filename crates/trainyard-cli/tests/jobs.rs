//! The job commands end to end, with real processes: `launch` (foreground and `--detach`),
//! `show --json`, `ps`, `logs`, `cancel`, and the supervisor killed with SIGKILL. Every test
//! has its own `TRAINYARD_HOME` in a temporary directory. No timing is asserted except as
//! generous bounds on waiting.
#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One test's trainyard home and spec directory.
struct Ctx {
    dir: tempfile::TempDir,
}

impl Ctx {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trainyard"));
        cmd.args(args)
            .env("TRAINYARD_HOME", self.home())
            .env_remove("TRAINYARD_LOG")
            .env("NO_COLOR", "1");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// Writes `name.toml` and returns its path.
    fn spec(&self, name: &str, body: &str) -> PathBuf {
        let path = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, format!("name = \"{name}\"\n{body}")).unwrap();
        path
    }

    fn show(&self, job: &str) -> Value {
        let out = self.run(&["show", job, "--json"]);
        assert!(out.status.success(), "show failed: {}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Polls `show` until `ok` holds (panics after `limit`).
    fn wait_show(&self, job: &str, limit: Duration, ok: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let doc = self.show(job);
            if ok(&doc) {
                return doc;
            }
            assert!(start.elapsed() < limit, "gave up waiting: {doc:#}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn train_py() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/train.py");
    p.canonicalize().unwrap().to_string_lossy().into_owned()
}

/// A spec body running train.py on 2 nodes x 2 ranks with `extra` arguments.
fn train_spec(steps: u32, extra: &[&str], more: &str) -> String {
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

/// The `final step ... weights [...]` line of rank `rank` in `attempt`.
fn final_line(ctx: &Ctx, job: &str, attempt: u32, rank: u32) -> String {
    let out = ctx.run(&[
        "logs",
        job,
        "--attempt",
        &attempt.to_string(),
        "--rank",
        &rank.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = stdout
        .lines()
        .find(|l| l.contains("final step"))
        .unwrap_or_else(|| panic!("no final line:\n{stdout}"));
    line.split_once("] ").unwrap().1.to_string()
}

/// Is the process alive (a zombie counts as dead)?
fn alive(pid: u64) -> bool {
    trainyard_store::pid_alive(u32::try_from(pid).unwrap()) == Some(true)
}

fn rank_pids(doc: &Value) -> Vec<u64> {
    doc["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["ranks"].as_array().unwrap().clone())
        .filter_map(|r| r["pid"].as_u64())
        .collect()
}

fn wait_all_dead(pids: &[u64], limit: Duration) {
    let start = Instant::now();
    while pids.iter().any(|&p| alive(p)) {
        let left: Vec<_> = pids.iter().filter(|&&p| alive(p)).collect();
        assert!(start.elapsed() < limit, "still alive: {left:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_readme_example_runs_from_the_repository() {
    let ctx = Ctx::new();
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/job.toml");
    let out = ctx.run(&["launch", spec.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for rank in 0..4 {
        let node = rank / 2;
        assert!(
            stdout.contains(&format!("[local-{node}/{rank}] final step 200")),
            "{stdout}"
        );
    }
    let doc = ctx.show("sgd-example");
    assert_eq!(doc["state"], "succeeded");
    assert_eq!(doc["checkpoint_step"], 200, "{doc:#}");
    let ckpt = doc["checkpoint_dir"].as_str().unwrap();
    assert!(ckpt.starts_with(ctx.home().to_str().unwrap()), "{ckpt}");
}

#[test]
fn a_crash_restarts_once_and_ends_with_the_uninterrupted_weights() {
    let ctx = Ctx::new();
    let clean = ctx.spec("clean", &train_spec(40, &["--sleep-per-step", "0.01"], ""));
    let out = ctx.run(&["launch", clean.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));

    let crash = ctx.spec(
        "crash",
        &train_spec(
            40,
            &["--sleep-per-step", "0.01", "--fail-at-step", "25"],
            "",
        ),
    );
    let out = ctx.run(&["launch", crash.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("[local-1/3] "),
        "merged, prefixed log: {stdout}"
    );

    let doc = ctx.show("crash");
    assert_eq!(doc["state"], "succeeded", "{doc:#}");
    let attempts = doc["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{doc:#}");
    let first = &attempts[0];
    assert_eq!(first["number"], 1);
    assert_eq!(first["state"], "failed");
    assert_eq!(first["blamed_rank"], 3, "{first:#}");
    assert_eq!(first["blamed_node"], "local-1");
    assert_eq!(first["exit_code"], 1);
    assert!(
        first["reason"]
            .as_str()
            .unwrap()
            .contains("exited with code 1"),
        "{first:#}"
    );
    assert!(first["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(first["ended_at"].as_str().is_some());
    assert!(
        first["stderr_tail"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().contains("injected failure at step 25")),
        "{first:#}"
    );
    assert_eq!(attempts[1]["state"], "succeeded");
    assert_eq!(attempts[1]["restart_count"], 1);
    let goodput = doc["goodput"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&goodput), "{goodput}");

    // Resumed from a checkpoint, and bit-for-bit the uninterrupted run's model.
    let resumed = ctx.run(&["logs", "crash", "--attempt", "2", "--rank", "0"]);
    assert!(
        String::from_utf8_lossy(&resumed.stdout).contains("resumed from checkpoint at step 20"),
        "{}",
        text(&resumed)
    );
    let expected = final_line(&ctx, "clean", 1, 0);
    for rank in 0..4 {
        assert_eq!(final_line(&ctx, "crash", 2, rank), expected, "rank {rank}");
    }

    // The text timeline tells the same story.
    let out = ctx.run(&["show", "crash"]);
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("rank 3 on local-1, exit code 1"), "{shown}");
    assert!(shown.contains("goodput"), "{shown}");
}

#[test]
fn a_hang_is_detected_and_the_job_restarts() {
    let ctx = Ctx::new();
    let spec = ctx.spec(
        "hang",
        &train_spec(
            30,
            &["--sleep-per-step", "0.01", "--hang-at-step", "15"],
            "hang_timeout = \"3s\"\n",
        ),
    );
    let start = Instant::now();
    let out = ctx.run(&["launch", spec.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(start.elapsed() < Duration::from_secs(90));
    let doc = ctx.show("hang");
    let attempts = doc["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{doc:#}");
    assert_eq!(attempts[0]["state"], "failed");
    assert!(
        attempts[0]["reason"].as_str().unwrap().starts_with("hang:"),
        "{doc:#}"
    );
    // Every rank stops at the same step (the others wait in the all-reduce for the hung one),
    // so any of them may be the silent-longest; one is blamed, with no exit status.
    assert!(attempts[0]["blamed_rank"].as_u64().is_some(), "{doc:#}");
    assert!(attempts[0]["blamed_node"].as_str().is_some(), "{doc:#}");
    assert_eq!(attempts[0]["exit_code"], Value::Null);
    assert_eq!(attempts[1]["state"], "succeeded");
    assert!(doc["events"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == "hang_detected"));
}

#[test]
fn an_always_failing_job_stops_after_max_restarts() {
    let ctx = Ctx::new();
    let spec = ctx.spec(
        "doomed",
        "command = [\"sh\", \"-c\", \"echo doomed >&2; exit 3\"]\nnodes = 2\n\
         max_restarts = 2\nrestart_backoff = \"100ms\"\nnode_failure_limit = 10\n",
    );
    let out = ctx.run(&["launch", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no restarts left"), "{stderr}");
    let doc = ctx.show("doomed");
    assert_eq!(doc["state"], "failed");
    assert!(
        doc["reason"]
            .as_str()
            .unwrap()
            .contains("no restarts left (2 of 2 used)"),
        "{doc:#}"
    );
    let attempts = doc["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 3);
    for a in attempts {
        assert_eq!(a["state"], "failed", "{a:#}");
        assert_eq!(a["exit_code"], 3, "{a:#}");
    }
    let ps = ctx.run(&["ps", "--all", "--json"]);
    let jobs: Value = serde_json::from_slice(&ps.stdout).unwrap();
    assert_eq!(jobs[0]["state"], "failed");
    assert_eq!(jobs[0]["attempts"], 3);
    assert_eq!(jobs[0]["restarts"], 2);
}

/// A long-running detached job; returns its id once its ranks run.
fn detached_job(ctx: &Ctx, name: &str) -> (String, Value) {
    let spec = ctx.spec(
        name,
        &train_spec(100_000, &["--sleep-per-step", "0.05"], ""),
    );
    let out = ctx.run(&["launch", spec.to_str().unwrap(), "--detach"]);
    assert!(out.status.success(), "{}", text(&out));
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(id.starts_with("j-"), "{id}");
    let doc = ctx.wait_show(&id, Duration::from_secs(60), |d| {
        d["state"] == "running" && rank_pids(d).len() == 4
    });
    (id, doc)
}

#[test]
fn cancel_stops_a_detached_job_and_leaves_no_process() {
    let ctx = Ctx::new();
    let (id, doc) = detached_job(&ctx, "to-cancel");
    let supervisor = doc["supervisor_pid"].as_u64().unwrap();
    let pids = rank_pids(&doc);
    assert!(pids.iter().all(|&p| alive(p)), "{pids:?}");

    // The detached supervisor is in a session of its own, not ours.
    let out = ctx.run(&["cancel", &id]);
    assert!(out.status.success(), "{}", text(&out));
    let doc = ctx.show(&id);
    assert_eq!(doc["state"], "cancelled", "{doc:#}");
    assert_eq!(doc["attempts"][0]["state"], "cancelled");
    // The signal `cancel` sends is not the story: who asked is.
    let reason = doc["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("requested by `trainyard cancel`"),
        "{doc:#}"
    );
    wait_all_dead(&pids, Duration::from_secs(10));
    wait_all_dead(&[supervisor], Duration::from_secs(10));
    // Cancelling again is harmless.
    let again = ctx.run(&["cancel", &id]);
    assert!(again.status.success(), "{}", text(&again));
}

#[test]
fn a_killed_supervisor_leaves_no_rank_and_the_job_reads_lost() {
    let ctx = Ctx::new();
    let (id, doc) = detached_job(&ctx, "orphan");
    let supervisor = doc["supervisor_pid"].as_u64().unwrap();
    let pids = rank_pids(&doc);
    let status = Command::new("kill")
        .args(["-KILL", &supervisor.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    wait_all_dead(&pids, Duration::from_secs(20));

    let ps = ctx.run(&["ps", "--json"]);
    let jobs: Value = serde_json::from_slice(&ps.stdout).unwrap();
    let job = jobs
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{jobs:#}"));
    assert_eq!(job["state"], "lost", "{job:#}");
    let table = ctx.run(&["ps"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("lost"));

    // A lost job can be acknowledged with cancel.
    let out = ctx.run(&["cancel", &id]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(ctx.show(&id)["state"], "cancelled");
}

#[test]
fn a_bad_spec_is_refused_with_its_file_and_line() {
    let ctx = Ctx::new();
    let spec = ctx.spec("typo", "command = [\"true\"]\nhang_timout = \"3s\"\n");
    let out = ctx.run(&["launch", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("typo.toml:3:1"), "{stderr}");
    assert!(stderr.contains("did you mean `hang_timeout`?"), "{stderr}");
    // Nothing was created.
    let ps = ctx.run(&["ps", "--all", "--json"]);
    assert_eq!(String::from_utf8_lossy(&ps.stdout).trim(), "[]");
}

#[test]
fn a_missing_command_is_a_clear_error() {
    let ctx = Ctx::new();
    let spec = ctx.spec(
        "missing",
        "command = [\"no-such-program-trainyard\", \"--x\"]\n",
    );
    let out = ctx.run(&["launch", spec.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("command not found"), "{stderr}");
    assert!(stderr.contains("no-such-program-trainyard"), "{stderr}");
}

#[test]
fn an_unknown_job_is_a_clear_error() {
    let ctx = Ctx::new();
    for cmd in ["show", "logs", "cancel"] {
        let out = ctx.run(&[cmd, "nope"]);
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("no job `nope`"));
    }
}
