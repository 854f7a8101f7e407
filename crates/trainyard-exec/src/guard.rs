//! The rank guard: the process-group leader of every rank.
//!
//! The supervisor promises that no rank, nor anything a rank started, outlives it, even when
//! the supervisor itself is SIGKILLed and can clean nothing up. `PR_SET_PDEATHSIG` on the rank
//! is not enough for that: it reaches only the direct child, it fires when the *thread* that
//! forked the child exits (not the process), and grandchildren (data-loader workers, a shell,
//! `torchrun` inside a rank) never see it.
//!
//! So the driver starts every rank through this guard, `trainyard-rank-guard [--grace-ms N]
//! [--exit-file PATH] -- PROGRAM ARGS...` (or `trainyard __rank-guard ...`), as the leader of a new process group.
//! The guard's stdin is the *lifeline*: a pipe whose write end only the supervisor holds. The
//! kernel closes it whenever the supervisor dies, however it dies. The guard starts the rank
//! in its own group (so a signal to the group reaches the rank and all its descendants) and:
//!
//! * relays the rank's end: exits with the rank's exit code, or dies of the rank's signal, so
//!   the driver sees the rank's status as if it had started the rank itself;
//! * after the rank exits, kills whatever the rank left behind in the group (orphans keep GPUs);
//! * when the lifeline reads end-of-file (the supervisor is gone), sends SIGTERM to the group,
//!   waits the grace period, then SIGKILLs the group, itself included.
//!
//! The guard catches SIGTERM, SIGINT and SIGHUP (the driver's stop signal goes to the whole
//! group) so that it survives to relay the rank's status; the driver's SIGKILL to the group
//! ends it together with the rank. A caught signal is reset to its default in the exec'ed
//! rank, so the rank sees the signals normally.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{getpgrp, getpid, Pid};

/// Exit code of the guard when the rank's program cannot be started because it does not exist
/// (the shell's convention).
pub const EXIT_NOT_FOUND: i32 = 127;
/// Exit code of the guard when the rank's program exists but cannot be executed.
pub const EXIT_CANNOT_EXECUTE: i32 = 126;
/// Exit code of the guard for bad guard arguments (a bug in the driver, never the user's).
pub const EXIT_USAGE: i32 = 125;

/// The grace period when none is given: the supervisor's default `stop_grace`.
const DEFAULT_GRACE: Duration = Duration::from_secs(10);
/// How often the guard looks whether its group emptied during the grace period.
const POLL: Duration = Duration::from_millis(20);

struct GuardArgs {
    grace: Duration,
    exit_file: Option<PathBuf>,
    program: OsString,
    args: Vec<OsString>,
}

fn parse(args: impl IntoIterator<Item = OsString>) -> Result<GuardArgs, String> {
    let mut args = args.into_iter();
    let mut grace = DEFAULT_GRACE;
    let mut exit_file = None;
    loop {
        let Some(arg) = args.next() else {
            return Err("missing `-- PROGRAM [ARGS...]`".to_string());
        };
        match arg.to_str() {
            Some("--") => break,
            Some("--grace-ms") => {
                let value = args.next().and_then(|v| v.into_string().ok());
                let ms = value
                    .as_deref()
                    .and_then(|v| v.parse::<u64>().ok())
                    .ok_or_else(|| format!("--grace-ms needs milliseconds, got {value:?}"))?;
                grace = Duration::from_millis(ms);
            }
            Some("--exit-file") => {
                exit_file = Some(PathBuf::from(
                    args.next().ok_or("--exit-file needs a path")?,
                ));
            }
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    let program = args
        .next()
        .ok_or_else(|| "missing PROGRAM after `--`".to_string())?;
    Ok(GuardArgs {
        grace,
        exit_file,
        program,
        args: args.collect(),
    })
}

/// Runs the guard with its arguments (everything after the program name or the hidden
/// subcommand) and never returns: the process ends with the rank's status.
pub fn main(args: impl IntoIterator<Item = OsString>) -> ! {
    let args = match parse(args) {
        Ok(args) => args,
        Err(message) => {
            let _ = writeln!(io::stderr(), "trainyard rank guard: {message}");
            std::process::exit(EXIT_USAGE);
        }
    };

    // Catch (not ignore) the stop signals: an ignored signal would stay ignored in the rank
    // across exec, a caught one is reset to its default there.
    let stop_requested = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        if let Err(err) = signal_hook::flag::register(signal, Arc::clone(&stop_requested)) {
            let _ = writeln!(io::stderr(), "trainyard rank guard: signal {signal}: {err}");
        }
    }

    let mut child = match Command::new(&args.program)
        .args(&args.args)
        .stdin(Stdio::null())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            let _ = writeln!(
                io::stderr(),
                "trainyard: cannot start `{}`: {err}",
                args.program.to_string_lossy()
            );
            let code = match err.kind() {
                io::ErrorKind::NotFound => EXIT_NOT_FOUND,
                _ => EXIT_CANNOT_EXECUTE,
            };
            std::process::exit(code);
        }
    };

    let supervisor_gone = Arc::new(AtomicBool::new(false));
    {
        let supervisor_gone = Arc::clone(&supervisor_gone);
        let grace = args.grace;
        thread::spawn(move || watch_lifeline(&supervisor_gone, grace));
    }

    let status = loop {
        match child.wait() {
            Ok(status) => break status,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => {
                let _ = writeln!(io::stderr(), "trainyard rank guard: wait: {err}");
                std::process::exit(EXIT_CANNOT_EXECUTE);
            }
        }
    };

    if let Some(path) = &args.exit_file {
        write_exit_time(path);
    }
    if supervisor_gone.load(Ordering::SeqCst) {
        // The lifeline thread is tearing the group down and will SIGKILL us with it; exiting
        // now would let it stop half-way.
        loop {
            thread::park();
        }
    }
    kill_leftovers();
    relay(status)
}

/// Writes when the rank died, in nanoseconds since the UNIX epoch.
///
/// When one rank crashes, its peers fail a moment later on the broken connection, and the
/// driver reaps their guards in no particular order. The guard, waiting on this one child, sees
/// the death first-hand; the driver orders nearly simultaneous deaths by these times to blame
/// the rank that failed first rather than the one reaped first.
fn write_exit_time(path: &Path) {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    if let Err(err) = std::fs::write(path, format!("{nanos}\n")) {
        let _ = writeln!(
            io::stderr(),
            "trainyard rank guard: {}: {err}",
            path.display()
        );
    }
}

/// Blocks on the lifeline until the supervisor is gone, then tears the group down.
fn watch_lifeline(supervisor_gone: &AtomicBool, grace: Duration) {
    let mut stdin = io::stdin().lock();
    let mut buf = [0u8; 64];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => continue,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    supervisor_gone.store(true, Ordering::SeqCst);
    let group = getpgrp();
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline && !group_members(group, getpid()).is_empty() {
        thread::sleep(POLL);
    }
    // Ends every member of the group, this guard included.
    let _ = killpg(group, Signal::SIGKILL);
}

/// Kills what the rank left running in the group after it exited.
fn kill_leftovers() {
    let group = getpgrp();
    let me = getpid();
    // A leftover may fork while we kill; a few rounds catch its children too.
    for _ in 0..3 {
        let members = group_members(group, me);
        if members.is_empty() {
            return;
        }
        for pid in members {
            let _ = kill(pid, Signal::SIGKILL);
        }
    }
}

/// Live (non-zombie) processes of process group `group`, `except` excluded, read from /proc.
pub(crate) fn group_members(group: Pid, except: Pid) -> Vec<Pid> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut members = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == except.as_raw() {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name (field 2) may contain spaces and parentheses: fields after the
        // last ')' are: state, ppid, pgrp, ...
        let Some(rest) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|f| f.parse::<i32>().ok());
        if pgrp == Some(group.as_raw()) && state != Some("Z") {
            members.push(Pid::from_raw(pid));
        }
    }
    members
}

/// Ends this process the way the rank ended.
fn relay(status: std::process::ExitStatus) -> ! {
    if let Some(code) = status.code() {
        std::process::exit(code);
    }
    if let Some(signal) = status.signal() {
        // Resets the disposition to the default and raises the signal, so our parent sees
        // "killed by signal N" exactly like the rank's own death.
        let _ = signal_hook::low_level::emulate_default_handler(signal);
        std::process::exit(128 + signal);
    }
    std::process::exit(EXIT_CANNOT_EXECUTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(args: &[&str]) -> Vec<OsString> {
        args.iter().map(OsString::from).collect()
    }

    #[test]
    fn parses_grace_and_command() {
        let parsed = parse(os(&["--grace-ms", "250", "--", "python3", "-c", "pass"]))
            .expect("valid guard arguments");
        assert_eq!(parsed.grace, Duration::from_millis(250));
        assert_eq!(parsed.program, "python3");
        assert_eq!(parsed.args, os(&["-c", "pass"]));
    }

    #[test]
    fn rejects_missing_program() {
        assert!(parse(os(&["--"])).is_err());
        assert!(parse(os(&["python3"])).is_err());
        assert!(parse(os(&["--grace-ms", "soon", "--", "x"])).is_err());
    }
}
