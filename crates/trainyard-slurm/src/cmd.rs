//! Running Slurm's commands: always with a timeout, with errors that name the cause.
//!
//! Slurm's clients retry for a long time when the controller is down (`MessageTimeout`,
//! 10 s by default, and several retries), and a missing `sbatch` surfaces as a bare
//! "No such file or directory". Every call here is bounded by [`SlurmCmd::timeout`] and
//! classified into a [`SlurmError`] a user can act on.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::hostlist;
use crate::sacct::{self, SacctJob};
use crate::sinfo::{self, NodeEvent, NodeInfo};
use crate::squeue::{self, QueuedJob};
use crate::state::JobState;

/// Why a Slurm command gave no usable answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlurmError {
    /// The program is not installed (not on PATH or not in the configured directory).
    #[error("Slurm is not available: `{program}` not found{}; install slurm-client (or start the dev cluster: scripts/slurm-dev.sh start)", .dir.as_ref().map(|d| format!(" in {}", d.display())).unwrap_or_else(|| " on PATH".into()))]
    NotInstalled {
        /// The program, e.g. `sbatch`.
        program: String,
        /// The directory it was looked for in, when not PATH.
        dir: Option<PathBuf>,
    },
    /// The controller does not answer.
    #[error("the Slurm controller is not reachable ({program}: {detail}); is slurmctld running? (`scontrol ping`)")]
    ControllerDown {
        /// The program that could not reach it.
        program: String,
        /// Slurm's own message.
        detail: String,
    },
    /// The command ran past its time limit and was killed.
    #[error("`{program}` did not answer within {secs:.0} s (killed); the Slurm controller may be overloaded or down")]
    Timeout {
        /// The program.
        program: String,
        /// The limit.
        secs: f64,
    },
    /// The command failed for another reason (Slurm's message included).
    #[error("`{program}` failed ({status}): {stderr}")]
    Failed {
        /// The program.
        program: String,
        /// Its exit status.
        status: String,
        /// Its stderr, trimmed.
        stderr: String,
    },
    /// It answered something trainyard cannot read.
    #[error("cannot read the output of `{program}`: {detail}")]
    Output {
        /// The program.
        program: String,
        /// What was wrong.
        detail: String,
    },
    /// Starting it failed for a reason other than "not found".
    #[error("cannot run `{program}`: {source}")]
    Io {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// How to call Slurm's commands: where they are and how long each call may take.
#[derive(Debug, Clone)]
pub struct SlurmCmd {
    /// Directory holding `sbatch`, `squeue` ...; `None` = look on PATH.
    pub bin_dir: Option<PathBuf>,
    /// Upper bound for one call.
    pub timeout: Duration,
}

impl Default for SlurmCmd {
    fn default() -> Self {
        SlurmCmd {
            bin_dir: None,
            timeout: Duration::from_secs(20),
        }
    }
}

impl SlurmCmd {
    /// Resolves `program` in [`Self::bin_dir`] or on PATH.
    pub fn resolve(&self, program: &str) -> Result<PathBuf, SlurmError> {
        let not_installed = || SlurmError::NotInstalled {
            program: program.to_string(),
            dir: self.bin_dir.clone(),
        };
        let dirs: Vec<PathBuf> = match &self.bin_dir {
            Some(d) => vec![d.clone()],
            None => std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect())
                .unwrap_or_default(),
        };
        dirs.iter()
            .map(|d| d.join(program))
            .find(|p| is_executable(p))
            .ok_or_else(not_installed)
    }

    /// Runs `program args...` (stdin from `input` when given) and returns its stdout.
    pub async fn run(
        &self,
        program: &str,
        args: &[&str],
        input: Option<&str>,
    ) -> Result<String, SlurmError> {
        let path = self.resolve(program)?;
        tracing::debug!(program, ?args, "slurm call");
        let mut cmd = Command::new(&path);
        cmd.args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // A timed-out client must not linger: dropping the future kills it.
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|source| SlurmError::Io {
            program: program.to_string(),
            source,
        })?;
        if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
            use tokio::io::AsyncWriteExt;
            // A write error shows up as the command's own failure below.
            let _ = stdin.write_all(text.as_bytes()).await;
        }
        let out = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Err(_) => {
                return Err(SlurmError::Timeout {
                    program: program.to_string(),
                    secs: self.timeout.as_secs_f64(),
                })
            }
            Ok(r) => r.map_err(|source| SlurmError::Io {
                program: program.to_string(),
                source,
            })?,
        };
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if !out.status.success() {
            // Some clients say why on stdout (`scontrol ping`: "... is DOWN", exit 1).
            let detail = if stderr.is_empty() {
                String::from_utf8_lossy(&out.stdout).trim().to_string()
            } else {
                stderr
            };
            return Err(classify(program, &out.status.to_string(), detail));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `scontrol ping`: Ok when the primary controller answers.
    pub async fn ping(&self) -> Result<(), SlurmError> {
        let out = self.run("scontrol", &["ping"], None).await?;
        if out.contains("is UP") {
            Ok(())
        } else {
            Err(SlurmError::ControllerDown {
                program: "scontrol".into(),
                detail: out.trim().to_string(),
            })
        }
    }

    /// Submits a batch script (given on stdin) with extra `sbatch` arguments; returns the
    /// job id (`--parsable` prints `id` or `id;cluster`).
    pub async fn sbatch(&self, args: &[&str], script: &str) -> Result<u64, SlurmError> {
        let mut all = vec!["--parsable"];
        all.extend_from_slice(args);
        let out = self.run("sbatch", &all, Some(script)).await?;
        let id = out.trim().split(';').next().unwrap_or("");
        id.parse().map_err(|_| SlurmError::Output {
            program: "sbatch".into(),
            detail: format!("expected a job id, got {:?}", out.trim()),
        })
    }

    /// The job as `squeue` sees it; `None` once it has left the queue.
    pub async fn squeue_job(&self, job_id: u64) -> Result<Option<QueuedJob>, SlurmError> {
        let id = job_id.to_string();
        // `-t all` keeps finished jobs visible for MinJobAge, so their end state can be read.
        let out = self
            .run(
                "squeue",
                &["-h", "-t", "all", "-j", &id, "-o", squeue::FORMAT],
                None,
            )
            .await;
        match out {
            Ok(text) => Ok(squeue::parse(&text)
                .into_iter()
                .find(|j| j.job_id == job_id)),
            // squeue exits 1 with "Invalid job id specified" once the job is purged.
            Err(SlurmError::Failed { stderr, .. }) if stderr.contains("Invalid job id") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The job as accounting recorded it (`None` when sacct does not know it yet: records
    /// reach slurmdbd 1-5 s after the fact).
    pub async fn sacct_job(&self, job_id: u64) -> Result<Option<SacctJob>, SlurmError> {
        let id = job_id.to_string();
        let text = self
            .run(
                "sacct",
                &[
                    "-n",
                    "-X",
                    "--parsable2",
                    "-j",
                    &id,
                    "-o",
                    sacct::PARSABLE2_FORMAT,
                ],
                None,
            )
            .await?;
        // -n drops the header; put it back so the parser finds columns by name.
        let with_header = format!("{}\n{text}", sacct::PARSABLE2_FORMAT.replace(',', "|"));
        let jobs = sacct::parse_parsable2(&with_header).map_err(|e| SlurmError::Output {
            program: "sacct".into(),
            detail: e.to_string(),
        })?;
        Ok(jobs.into_iter().find(|j| j.job_id == job_id))
    }

    /// The job's base state and reason as the controller holds it (`scontrol show job -o`):
    /// unlike `squeue %T`, which says `COMPLETING` while the job's processes are being
    /// killed, this names why it ended (`CANCELLED`, `TIMEOUT`, ...) at once. `None` once the
    /// controller has forgotten the job.
    pub async fn job_state(
        &self,
        job_id: u64,
    ) -> Result<Option<(JobState, Option<String>)>, SlurmError> {
        match self
            .run(
                "scontrol",
                &["show", "job", "-o", &job_id.to_string()],
                None,
            )
            .await
        {
            Ok(text) => Ok(job_state_of(&text)),
            Err(SlurmError::Failed { stderr, .. }) if stderr.contains("Invalid job id") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `scancel <id>`; cancelling a job that already ended is not an error.
    pub async fn scancel(&self, job_id: u64) -> Result<(), SlurmError> {
        match self.run("scancel", &[&job_id.to_string()], None).await {
            Err(SlurmError::Failed { stderr, .. })
                if stderr.contains("already completed") || stderr.contains("Invalid job id") =>
            {
                Ok(())
            }
            other => other.map(|_| ()),
        }
    }

    /// Every node (of `partition`, else of all partitions) with its state, in Slurm's order.
    pub async fn sinfo_nodes(&self, partition: Option<&str>) -> Result<Vec<NodeInfo>, SlurmError> {
        let mut args = vec!["-h", "-N", "-o", sinfo::FORMAT];
        if let Some(p) = partition {
            args.extend(["-p", p]);
        }
        Ok(sinfo::parse(&self.run("sinfo", &args, None).await?))
    }

    /// The down/fail events accounting recorded for `nodes` in the last `since_secs` seconds
    /// (`sacctmgr list event`): which node failed, even after it returned to service.
    pub async fn node_failures<S: AsRef<str>>(
        &self,
        nodes: &[S],
        since_secs: u64,
    ) -> Result<Vec<NodeEvent>, SlurmError> {
        let list = hostlist::compress(nodes.iter().map(AsRef::as_ref));
        let nodes_arg = format!("nodes={list}");
        let start_arg = format!("start=now-{since_secs}seconds");
        let format_arg = format!("format={}", sinfo::EVENT_FORMAT);
        let out = self
            .run(
                "sacctmgr",
                &[
                    "-n",
                    "-P",
                    "list",
                    "event",
                    &nodes_arg,
                    &start_arg,
                    &format_arg,
                ],
                None,
            )
            .await?;
        Ok(sinfo::parse_events(&out)
            .into_iter()
            .filter(NodeEvent::is_failure)
            .collect())
    }

    /// The address Slurm has for `node` (`NodeAddr`), when it has one: node names of a
    /// test cluster (or of a site without DNS for them) need not resolve.
    pub async fn node_addr(&self, node: &str) -> Result<Option<String>, SlurmError> {
        let out = self
            .run("scontrol", &["show", "node", "-o", node], None)
            .await?;
        Ok(node_addr_of(&out))
    }

    /// Drains nodes with a reason (`scontrol update nodename=... state=drain reason=...`).
    pub async fn drain<S: AsRef<str>>(&self, nodes: &[S], reason: &str) -> Result<(), SlurmError> {
        let list = hostlist::compress(nodes.iter().map(AsRef::as_ref));
        let node_arg = format!("nodename={list}");
        let reason_arg = format!("reason={reason}");
        self.run(
            "scontrol",
            &["update", &node_arg, "state=drain", &reason_arg],
            None,
        )
        .await
        .map(|_| ())
    }
}

/// `JobState=` and `Reason=` of `scontrol show job -o` output.
pub fn job_state_of(text: &str) -> Option<(JobState, Option<String>)> {
    let field = |key: &str| {
        text.split_whitespace()
            .find_map(|w| w.strip_prefix(key))
            .map(str::to_string)
    };
    let state = JobState::parse(&field("JobState=")?);
    let reason = field("Reason=").filter(|r| r != "None" && !r.is_empty());
    Some((state, reason))
}

/// `NodeAddr=` of `scontrol show node -o` output.
pub fn node_addr_of(text: &str) -> Option<String> {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("NodeAddr="))
        .filter(|a| !a.is_empty() && *a != "(null)")
        .map(str::to_string)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Turns a failed call into the most specific error Slurm's message allows.
fn classify(program: &str, status: &str, stderr: String) -> SlurmError {
    const DOWN: &[&str] = &[
        "Unable to contact slurm controller",
        "Connection refused",
        "Socket timed out",
        "Unable to establish controller",
        "Could not establish a configuration source",
        "Zero Bytes were transmitted",
        // `scontrol ping` with no controller answering.
        "is DOWN",
    ];
    if DOWN.iter().any(|m| stderr.contains(m)) {
        SlurmError::ControllerDown {
            program: program.to_string(),
            detail: stderr.lines().next().unwrap_or_default().trim().to_string(),
        }
    } else {
        SlurmError::Failed {
            program: program.to_string(),
            status: status.to_string(),
            stderr,
        }
    }
}
