//! The Slurm driver: one job's event loop when its ranks run in Slurm allocations.
//!
//! Every attempt is one `sbatch` whose script `srun`s one `trainyard agent` per node. The
//! agents connect back over TCP ([`trainyard_slurm::protocol`]) and report their ranks; this
//! loop turns those reports, and what `squeue` says about the Slurm job, into [`Event`]s for
//! the pure [`Supervisor`], and carries out its [`Action`]s: `StartAttempt` → `sbatch`
//! (`--nodelist` = the nodes the machine chose, `--exclude` = the nodes it marked bad),
//! `StopAttempt` → `Stop` to the agents, then `scancel` if the job is still there after the
//! grace, `MarkNodeBad` → `scontrol update ... state=drain` when the spec allows it.
//!
//! What Slurm does on its own is named, never blamed on a rank: a job that pends for a reason
//! that cannot change (more nodes than the partition has) fails the job at once with Slurm's
//! reason; a time limit, node failure, preemption or outside `scancel` ends the attempt as
//! `AttemptLost` with Slurm's state, and the next attempt follows as for any failure.
//!
//! This module holds the driver's builder and its event loop; the loop's parts live in
//! `run` (its state and the dispatch of news and actions), `lifecycle` (an attempt's sbatch,
//! stop, scancel and end), `agents` (the listener and the agents' messages), `polling`
//! (squeue and naming Slurm's own ends) and `exits` (holding failed exits for blame).

mod agents;
mod exits;
mod lifecycle;
mod polling;
mod run;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::time::Instant;
use trainyard_job::{Event, FinalState, JobSpec, NodeName, Supervisor};
use trainyard_slurm::{SlurmCmd, SlurmError};

use crate::driver::{CancelHandle, JobOutcome};
pub(super) use crate::interrupts::now;
use crate::interrupts::{instant_of, Interrupts};
use crate::output::LiveView;
use crate::sink::EventSink;
use crate::ExecError;
use agents::accept;
use run::Run;

/// How often the sink hears that the supervisor is alive.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// How often `squeue` is asked about an attempt whose Slurm job may still be there.
const POLL: Duration = Duration::from_millis(500);
/// How long failed exits wait for exits from other nodes before the state machine hears of
/// them, so the rank that failed first (by the agents' `failed_at_ms`) is the one blamed.
/// Longer than the local driver's: the reports cross a TCP hop and another process.
const EXIT_SETTLE: Duration = Duration::from_millis(300);
/// After a `StopAttempt`, how long past the grace the agents get before `scancel`.
const SCANCEL_AFTER_GRACE: Duration = Duration::from_secs(3);
/// How long, past the grace, exits wait for Slurm to say why it signalled the agents.
const WHY_WAIT: Duration = Duration::from_secs(5);
/// How long a finished job waits for its last Slurm job to leave before giving up on it.
const LEAVE_WAIT: Duration = Duration::from_secs(60);

/// Runs one job in Slurm: each attempt one allocation, one `trainyard agent` per node.
///
/// The same contract as [`crate::LocalDriver`] (spec, job id, log directory, sink, live view,
/// cancel handle, outcome); the log directory must be on a file system the nodes share (the
/// agents write the ranks' `.out`/`.err` files there).
pub struct SlurmDriver<S> {
    spec: JobSpec,
    job_id: String,
    log_dir: PathBuf,
    sink: S,
    live: Option<Arc<dyn LiveView>>,
    cmd: SlurmCmd,
    agent: Option<Vec<String>>,
    advertise: Option<String>,
    handle_signals: bool,
    cancel_tx: mpsc::UnboundedSender<String>,
    cancel_rx: mpsc::UnboundedReceiver<String>,
}

impl<S: EventSink> SlurmDriver<S> {
    /// A driver for `spec` (its `[slurm]` table: partition, time limit, drain, extra args).
    pub fn new(
        spec: JobSpec,
        job_id: impl Into<String>,
        log_dir: impl Into<PathBuf>,
        sink: S,
        live_view: Option<Arc<dyn LiveView>>,
    ) -> Self {
        let (cancel_tx, cancel_rx) = mpsc::unbounded_channel();
        Self {
            spec,
            job_id: job_id.into(),
            log_dir: log_dir.into(),
            sink,
            live: live_view,
            cmd: SlurmCmd::default(),
            agent: None,
            advertise: None,
            handle_signals: true,
            cancel_tx,
            cancel_rx,
        }
    }

    /// How Slurm's commands are called (directory, timeout).
    #[must_use]
    pub fn slurm_cmd(mut self, cmd: SlurmCmd) -> Self {
        self.cmd = cmd;
        self
    }

    /// The agent's argv before its own arguments; default: this executable with `agent`.
    #[must_use]
    pub fn agent_command(mut self, argv: Vec<String>) -> Self {
        self.agent = Some(argv);
        self
    }

    /// The host the agents connect to (default: `$TRAINYARD_SUPERVISOR_ADDR`, else this
    /// host's name when it resolves, else 127.0.0.1).
    #[must_use]
    pub fn advertise(mut self, host: impl Into<String>) -> Self {
        self.advertise = Some(host.into());
        self
    }

    /// Whether SIGINT and SIGTERM to this process cancel the job (default: yes); a second one
    /// `scancel`s every attempt at once.
    #[must_use]
    pub fn handle_signals(mut self, yes: bool) -> Self {
        self.handle_signals = yes;
        self
    }

    /// A handle to cancel the job from another thread while [`Self::run`] runs.
    pub fn cancel_handle(&self) -> CancelHandle {
        CancelHandle::new(self.cancel_tx.clone())
    }

    /// Runs the job to its end on a runtime of its own.
    ///
    /// # Errors
    /// Only when the driver itself cannot work (no runtime, no log directory, no listening
    /// socket, Slurm unreachable before the first attempt: [`ExecError::Slurm`]).
    pub fn run(self) -> Result<JobOutcome, ExecError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("trainyard-slurm")
            .enable_all()
            .build()
            .map_err(ExecError::Runtime)?;
        runtime.block_on(self.run_async())
    }

    async fn run_async(self) -> Result<JobOutcome, ExecError> {
        std::fs::create_dir_all(&self.log_dir).map_err(|source| ExecError::LogDir {
            path: self.log_dir.clone(),
            source,
        })?;
        let pool = node_pool(&self.cmd, &self.spec).await?;
        let agent = match self.agent {
            Some(argv) => argv,
            None => {
                let exe = std::env::current_exe().map_err(ExecError::Runtime)?;
                vec![exe.display().to_string(), "agent".to_string()]
            }
        };
        let listener = TcpListener::bind(("0.0.0.0", 0))
            .await
            .map_err(ExecError::Runtime)?;
        let port = listener.local_addr().map_err(ExecError::Runtime)?.port();
        let host = self.advertise.unwrap_or_else(advertised_host);
        let (tx, mut rx) = mpsc::unbounded_channel();
        tokio::spawn(accept(listener, tx.clone()));
        let mut interrupts = Interrupts::new(self.handle_signals)?;
        tracing::info!(%host, port, pool = ?pool, "Slurm driver listening for agents");
        // An attempt may wait in Slurm's queue: its hang clock starts when it runs.
        let supervisor =
            Supervisor::new(self.spec.policy(), pool.clone(), now()).hang_clock_from_running();
        let mut run = Run {
            spec: &self.spec,
            job_id: &self.job_id,
            log_dir: &self.log_dir,
            sink: self.sink,
            live: self.live,
            cmd: self.cmd,
            agent,
            connect: format!("{host}:{port}"),
            known: pool
                .into_iter()
                .filter(|n| !n.starts_with(ANY_NODE))
                .collect(),
            supervisor,
            tx,
            attempts: BTreeMap::new(),
            conns: BTreeMap::new(),
            bad: BTreeSet::new(),
            queue: VecDeque::from([Event::Start]),
            outcome: None,
            finished_at: None,
            launched: 0,
            held: Vec::new(),
            settle_at: None,
        };
        let mut cancel_rx = self.cancel_rx;
        let _cancel_tx = self.cancel_tx;
        let mut next_heartbeat = Instant::now();
        let mut next_poll = Instant::now() + POLL;
        loop {
            run.drain_queue();
            if run.outcome.is_some() && run.all_gone() {
                break;
            }
            let wake = [
                Some(next_heartbeat),
                Some(next_poll),
                run.supervisor.poll_timeout().map(instant_of),
                run.settle_at,
                run.next_deadline(),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or_else(|| Instant::now() + HEARTBEAT);
            tokio::select! {
                Some(msg) = rx.recv() => run.on_internal(msg),
                Some(reason) = cancel_rx.recv() => run.queue.push_back(Event::Cancel { reason }),
                name = interrupts.next() => interrupts.act(name, &mut run),
                () = tokio::time::sleep_until(wake) => {}
            }
            let instant = Instant::now();
            if run.settle_at.is_some_and(|at| at <= instant) {
                run.release_exits(false);
            }
            run.deadlines(instant);
            if run.supervisor.poll_timeout().is_some_and(|at| at <= now()) {
                run.queue.push_back(Event::Tick);
            }
            if instant >= next_poll {
                run.poll();
                next_poll = instant + POLL;
            }
            if instant >= next_heartbeat {
                run.heartbeat();
                next_heartbeat = instant + HEARTBEAT;
            }
        }
        let (state, reason) = run
            .outcome
            .unwrap_or((FinalState::Failed, "the supervisor stopped".to_string()));
        Ok(JobOutcome {
            state,
            reason,
            attempts: run.launched,
        })
    }
}

/// Checks, before a job is created, that Slurm can be used: `sbatch` is installed, the
/// controller answers, and the partition has nodes. Bounded by `cmd.timeout` per call.
///
/// # Errors
/// The [`SlurmError`] that says what is wrong ("`sbatch` not found on PATH", "controller not
/// reachable", ...).
pub fn check_slurm(cmd: &SlurmCmd, spec: &JobSpec) -> Result<(), SlurmError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|source| SlurmError::Io {
            program: "tokio".into(),
            source,
        })?;
    runtime.block_on(async {
        cmd.resolve("sbatch")?;
        cmd.resolve("srun")?;
        cmd.ping().await?;
        node_pool(cmd, spec).await.map(|_| ()).map_err(|e| match e {
            ExecError::Slurm(e) => e,
            other => SlurmError::Output {
                program: "sinfo".into(),
                detail: other.to_string(),
            },
        })
    })
}

/// The nodes the machine may choose from: the partition's usable nodes, in Slurm's order.
/// When the spec asks for more than that, the missing places are `slurm-any-<k>` names, which
/// make that attempt's request unpinned so that Slurm itself says why it cannot run it.
async fn node_pool(cmd: &SlurmCmd, spec: &JobSpec) -> Result<Vec<NodeName>, ExecError> {
    let nodes = cmd
        .sinfo_nodes(spec.slurm.partition.as_deref())
        .await
        .map_err(ExecError::Slurm)?;
    if nodes.is_empty() {
        return Err(ExecError::Slurm(SlurmError::Output {
            program: "sinfo".into(),
            detail: match &spec.slurm.partition {
                Some(p) => format!("Slurm lists no nodes in partition `{p}` (is `[slurm] partition` right? `sinfo -s` lists them)"),
                None => "Slurm lists no nodes".into(),
            },
        }));
    }
    let mut pool: Vec<NodeName> = nodes
        .into_iter()
        .filter(|n| !n.unusable)
        .map(|n| n.name)
        .collect();
    let want = usize::try_from(spec.nodes.saturating_add(spec.spare_nodes)).unwrap_or(usize::MAX);
    let mut k = 0;
    // Bounded: a typo like `nodes = 1000000` must not allocate a million names.
    let target = want.min(pool.len() + 4096);
    while pool.len() < target {
        k += 1;
        pool.push(format!("{ANY_NODE}{k}"));
    }
    Ok(pool)
}

/// Prefix of the pool's stand-ins for nodes Slurm does not have (see [`node_pool`]).
const ANY_NODE: &str = "slurm-any-";

fn advertised_host() -> String {
    if let Ok(host) = std::env::var("TRAINYARD_SUPERVISOR_ADDR") {
        if !host.trim().is_empty() {
            return host.trim().to_string();
        }
    }
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    use std::net::ToSocketAddrs;
    if !name.is_empty() && (name.as_str(), 0).to_socket_addrs().is_ok() {
        name
    } else {
        "127.0.0.1".to_string()
    }
}
