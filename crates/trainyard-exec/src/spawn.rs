//! Starting one rank: its guard as the leader of a new process group, the rank's environment,
//! and the three pipes (stdin is the guard's lifeline, stdout and stderr are the rank's).

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, ChildStderr, ChildStdin, ChildStdout, Command};

use crate::env::RankEnv;

/// How to start the rank guard (see [`crate::guard`]): a program and the arguments that come
/// before the guard's own (`--grace-ms N -- PROGRAM ARGS...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardCommand {
    program: PathBuf,
    prefix: Vec<OsString>,
}

impl GuardCommand {
    /// The guard is `program prefix... --grace-ms N -- PROGRAM ARGS...`.
    pub fn new(program: impl Into<PathBuf>, prefix: impl IntoIterator<Item = OsString>) -> Self {
        Self {
            program: program.into(),
            prefix: prefix.into_iter().collect(),
        }
    }

    /// The running executable with a hidden subcommand, e.g. `trainyard __rank-guard`: the CLI
    /// ships one binary and re-executes itself.
    pub fn current_exe_subcommand(subcommand: &str) -> io::Result<Self> {
        Ok(Self::new(
            std::env::current_exe()?,
            [OsString::from(subcommand)],
        ))
    }

    /// The `trainyard-rank-guard` binary next to the running executable (or, for test
    /// binaries, one directory up, where Cargo puts the package's binaries).
    pub fn sibling_binary() -> io::Result<Self> {
        let exe = std::env::current_exe()?;
        for dir in exe.ancestors().skip(1).take(2) {
            let candidate = dir.join("trainyard-rank-guard");
            if candidate.is_file() {
                return Ok(Self::new(candidate, []));
            }
        }
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no trainyard-rank-guard next to {}", exe.display()),
        ))
    }

    /// The guard's program.
    pub fn program(&self) -> &Path {
        &self.program
    }
}

/// What one rank needs to start.
pub(crate) struct RankLaunch<'a> {
    pub guard: &'a GuardCommand,
    pub command: &'a [String],
    pub spec_env: &'a BTreeMap<String, String>,
    pub rank_env: &'a RankEnv,
    pub workdir: Option<&'a Path>,
    /// The guard's grace if the supervisor dies.
    pub grace: Duration,
    /// Where the guard writes the time of the rank's death.
    pub exit_file: &'a Path,
}

/// A started rank: the guard process (leader of the rank's process group) and its pipes.
pub(crate) struct StartedRank {
    pub child: Child,
    /// The guard's pid, which is also the process group id.
    pub pid: u32,
    pub stdout: ChildStdout,
    pub stderr: ChildStderr,
    /// Dropping it tells the guard the supervisor is gone.
    pub lifeline: ChildStdin,
}

/// Starts one rank through its guard.
pub(crate) fn start_rank(launch: &RankLaunch<'_>) -> io::Result<StartedRank> {
    let mut cmd = Command::new(launch.guard.program());
    cmd.args(&launch.guard.prefix)
        .arg("--grace-ms")
        .arg(launch.grace.as_millis().to_string())
        .arg("--exit-file")
        .arg(launch.exit_file)
        .arg("--")
        .args(launch.command)
        .envs(launch.spec_env)
        .envs(launch.rank_env.vars())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // A new group led by the guard: one signal to the group reaches the rank and all its
        // descendants, and the terminal's Ctrl-C reaches only the supervisor, which decides.
        .process_group(0)
        // Teardown is the driver's job (TERM, grace, KILL to the whole group); killing only
        // the guard on drop would orphan the rank.
        .kill_on_drop(false);
    if let Some(dir) = launch.workdir {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn()?;
    let pid = child
        .id()
        .ok_or_else(|| io::Error::other("the guard exited before its pid was read"))?;
    let (Some(stdout), Some(stderr), Some(lifeline)) =
        (child.stdout.take(), child.stderr.take(), child.stdin.take())
    else {
        return Err(io::Error::other("the guard's pipes were not set up"));
    };
    Ok(StartedRank {
        child,
        pid,
        stdout,
        stderr,
        lifeline,
    })
}

/// Finds `program` the way `execvp` would, so a missing command is reported once, clearly,
/// instead of as N ranks exiting 127. `path_var` is the PATH the ranks will see.
pub fn resolve_program(
    program: &str,
    workdir: Option<&Path>,
    path_var: Option<&std::ffi::OsStr>,
) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false)
    };
    if program.is_empty() {
        return Err("the command is empty".to_string());
    }
    if program.contains('/') {
        let path = match workdir {
            Some(dir) if Path::new(program).is_relative() => dir.join(program),
            _ => PathBuf::from(program),
        };
        return if executable(&path) {
            Ok(path)
        } else if path.exists() {
            Err(format!("`{program}` is not an executable file"))
        } else {
            Err(format!(
                "command not found: `{program}` ({} does not exist)",
                path.display()
            ))
        };
    }
    let path_var = path_var.unwrap_or_default();
    for dir in std::env::split_paths(path_var) {
        let dir = match workdir {
            Some(w) if dir.is_relative() => w.join(dir),
            _ => dir,
        };
        let candidate = dir.join(program);
        if executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(format!("command not found: `{program}` (not in PATH)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_from_path_and_reports_missing() {
        let path = std::env::var_os("PATH");
        assert!(resolve_program("sh", None, path.as_deref()).is_ok());
        let err = resolve_program("definitely-not-a-command-xyz", None, path.as_deref())
            .expect_err("missing command");
        assert!(err.contains("command not found"), "{err}");
        let err = resolve_program("./nope.py", Some(Path::new("/")), None).expect_err("missing");
        assert!(err.contains("/nope.py"), "{err}");
        assert!(resolve_program("/bin/sh", None, None).is_ok());
    }
}
