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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::Instant;
use trainyard_job::{Action, Event, ExitStatus, FinalState, JobSpec, Millis, NodeName, Supervisor};
use trainyard_slurm::protocol::{decode, encode, AgentMsg, Launch, SupervisorMsg};
use trainyard_slurm::squeue::{reason_is_permanent, QueuedJob};
use trainyard_slurm::submit::AttemptRequest;
use trainyard_slurm::{JobState as SlurmState, SlurmCmd, SlurmError};

use super::agent::status_of;
use crate::driver::{CancelHandle, JobOutcome};
use crate::env::free_port;
use crate::output::{LiveView, OutputLine, Stream};
use crate::sink::{log_failure, EventSink, RankStart};
use crate::ExecError;

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
        let mut signals = if self.handle_signals {
            Some((
                signal(SignalKind::interrupt()).map_err(ExecError::Signals)?,
                signal(SignalKind::terminate()).map_err(ExecError::Signals)?,
            ))
        } else {
            None
        };
        tracing::info!(%host, port, pool = ?pool, "Slurm driver listening for agents");
        let supervisor = Supervisor::new(self.spec.policy(), pool.clone(), now());
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
        let mut interrupts = 0u32;
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
                name = next_signal(&mut signals) => {
                    interrupts += 1;
                    if interrupts == 1 {
                        tracing::info!(signal = name, "cancelling the job");
                        run.queue.push_back(Event::Cancel { reason: format!("interrupted by {name}") });
                    } else {
                        tracing::warn!(signal = name, "second signal: scancel of every attempt now");
                        run.scancel_all();
                    }
                }
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

/// Slurm's own word for a state (`TIMEOUT`, `NODE_FAIL`).
fn state_word(state: &SlurmState) -> String {
    match state {
        SlurmState::Pending => "PENDING".into(),
        SlurmState::Running => "RUNNING".into(),
        SlurmState::Completed => "COMPLETED".into(),
        SlurmState::Failed => "FAILED".into(),
        SlurmState::Cancelled => "CANCELLED".into(),
        SlurmState::Timeout => "TIMEOUT".into(),
        SlurmState::NodeFail => "NODE_FAIL".into(),
        SlurmState::Preempted => "PREEMPTED".into(),
        SlurmState::OutOfMemory => "OUT_OF_MEMORY".into(),
        SlurmState::Other(word) => word.clone(),
        _ => format!("{state:?}").to_uppercase(),
    }
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

/// Accepts agent connections; each gets a reader task and a writer channel.
async fn accept(listener: TcpListener, tx: mpsc::UnboundedSender<Internal>) {
    let mut next_id = 0u64;
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        next_id += 1;
        tracing::debug!(%peer, conn = next_id, "agent connected");
        tokio::spawn(serve(next_id, stream, tx.clone()));
    }
}

async fn serve(conn: u64, stream: TcpStream, tx: mpsc::UnboundedSender<Internal>) {
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        while let Some(line) = out_rx.recv().await {
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
    });
    if tx.send(Internal::Connected { conn, out: out_tx }).is_err() {
        return;
    }
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match decode::<AgentMsg>(&line) {
            Ok(msg) => {
                if tx.send(Internal::Agent { conn, msg }).is_err() {
                    return;
                }
            }
            Err(err) => tracing::warn!(conn, %err, "unreadable line from an agent; skipped"),
        }
    }
    let _ = tx.send(Internal::Disconnected { conn });
}

/// Waits for SIGINT or SIGTERM; never, when signals are not handled.
async fn next_signal(
    signals: &mut Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
) -> &'static str {
    match signals {
        Some((int, term)) => tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        },
        None => std::future::pending().await,
    }
}

/// Wall-clock milliseconds, the supervisor's time.
fn now() -> Millis {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    Millis(ms)
}

fn instant_of(at: Millis) -> Instant {
    Instant::now() + at.saturating_since(now())
}

/// What the IO tasks tell the loop.
enum Internal {
    Connected {
        conn: u64,
        out: mpsc::UnboundedSender<String>,
    },
    Agent {
        conn: u64,
        msg: AgentMsg,
    },
    Disconnected {
        conn: u64,
    },
    Submitted {
        attempt: u32,
        result: Result<u64, SlurmError>,
    },
    Polled {
        attempt: u32,
        result: Result<Option<QueuedJob>, SlurmError>,
    },
    /// The answer to "why did Slurm signal the agents?".
    Why {
        attempt: u32,
        answer: Option<String>,
    },
}

/// One agent connection.
struct Conn {
    out: mpsc::UnboundedSender<String>,
    /// Set by its `Hello`.
    attempt: Option<u32>,
    node: String,
    node_rank: u32,
}

/// A failed exit waiting for [`EXIT_SETTLE`].
struct Held {
    attempt: u32,
    rank: u32,
    status: ExitStatus,
    stderr_tail: Vec<String>,
    failed_at_ms: u64,
}

/// One attempt's Slurm job and agents.
struct Attempt {
    dir: PathBuf,
    world: u32,
    ppn: u32,
    launch: Launch,
    /// `Some` once sbatch answered.
    slurm_id: Option<u64>,
    /// sbatch is running.
    submitting: bool,
    /// Agents that said Hello and have not disconnected.
    agents: BTreeSet<u64>,
    /// Ranks whose exit reached the machine (or will: held).
    exited: BTreeSet<u32>,
    /// We asked it to stop (the machine's StopAttempt).
    stopping: bool,
    /// When to `scancel` if it is still there.
    scancel_at: Option<Instant>,
    scancelled: bool,
    /// The Slurm job left the running states (or never existed).
    slurm_done: bool,
    /// Slurm's last known state, for messages.
    slurm_state: Option<String>,
    /// The machine heard `AttemptStopped`.
    confirmed: bool,
    /// Exits held while Slurm is asked why it signalled the agents.
    why_until: Option<Instant>,
    lost_reported: bool,
    poll_in_flight: bool,
    /// Progress since the last heartbeat, and the highest step.
    progress: Option<Option<u64>>,
    step: Option<u64>,
    pending_reason: Option<String>,
}

struct Run<'a, S> {
    spec: &'a JobSpec,
    job_id: &'a str,
    log_dir: &'a Path,
    sink: S,
    live: Option<Arc<dyn LiveView>>,
    cmd: SlurmCmd,
    agent: Vec<String>,
    connect: String,
    /// Real node names of the pool (not the `slurm-any-` stand-ins).
    known: BTreeSet<String>,
    supervisor: Supervisor,
    tx: mpsc::UnboundedSender<Internal>,
    attempts: BTreeMap<u32, Attempt>,
    conns: BTreeMap<u64, Conn>,
    bad: BTreeSet<String>,
    queue: VecDeque<Event>,
    outcome: Option<(FinalState, String)>,
    finished_at: Option<Instant>,
    launched: u32,
    held: Vec<Held>,
    settle_at: Option<Instant>,
}

impl<S: EventSink> Run<'_, S> {
    fn drain_queue(&mut self) {
        while let Some(event) = self.queue.pop_front() {
            tracing::trace!(?event, "event");
            let actions = self.supervisor.handle(event, now());
            for action in actions {
                self.apply(action);
            }
        }
    }

    /// Every attempt's Slurm job has left and its agents are gone (or we gave up waiting).
    fn all_gone(&self) -> bool {
        let waited = self
            .finished_at
            .is_some_and(|at| at.elapsed() > LEAVE_WAIT + self.spec.stop_grace);
        waited
            || self
                .attempts
                .values()
                .all(|a| !a.submitting && a.slurm_done && a.agents.is_empty())
    }

    fn apply(&mut self, action: Action) {
        tracing::debug!(?action, "action");
        match action {
            Action::StartAttempt {
                attempt,
                nodes,
                restart_count,
            } => self.start_attempt(attempt, &nodes, restart_count),
            Action::StopAttempt {
                attempt,
                reason,
                grace,
            } => self.stop_attempt(attempt, &reason, grace),
            Action::MarkNodeBad { node, reason } => {
                // The machine's own record says so; this is for the log only.
                tracing::info!(%node, %reason, "node marked bad");
                self.bad.insert(node.clone());
                if self.spec.slurm.drain_bad_nodes && self.known.contains(&node) {
                    let cmd = self.cmd.clone();
                    let why = format!("trainyard: job {}: {reason}", self.job_id);
                    tokio::spawn(async move {
                        match cmd.drain(&[node.as_str()], &why).await {
                            Ok(()) => tracing::info!(%node, "drained in Slurm"),
                            Err(err) => tracing::warn!(%node, %err, "cannot drain the node"),
                        }
                    });
                }
            }
            Action::Record(event) => {
                tracing::info!(kind = %event.kind, "{}", event.message);
                log_failure("record", self.sink.record(&event));
            }
            Action::Finish { state, reason } => {
                tracing::info!(%state, %reason, "job finished");
                log_failure("finished", self.sink.finished(state, &reason, now()));
                let grace = self.spec.stop_grace;
                let open: Vec<u32> = self
                    .attempts
                    .iter()
                    .filter(|(_, a)| !(a.stopping || a.slurm_done && a.agents.is_empty()))
                    .map(|(n, _)| *n)
                    .collect();
                for attempt in open {
                    // After a success the agents are leaving on their own; anything else
                    // gets the normal stop.
                    self.stop_attempt(attempt, "the job finished", grace);
                }
                self.outcome = Some((state, reason));
                self.finished_at = Some(Instant::now());
            }
        }
    }

    fn start_attempt(&mut self, attempt: u32, nodes: &[NodeName], restart_count: u32) {
        self.launched += 1;
        let dir = self.log_dir.join(format!("attempt-{attempt}"));
        if let Err(err) = std::fs::create_dir_all(&dir) {
            let error = format!("cannot create the log directory {}: {err}", dir.display());
            self.queue.push_back(Event::LaunchFailed { attempt, error });
            return;
        }
        let master_port = match free_port() {
            Ok(port) => port,
            Err(err) => {
                let error = format!("no free port for the rendezvous: {err}");
                self.queue.push_back(Event::LaunchFailed { attempt, error });
                return;
            }
        };
        log_failure(
            "attempt_started",
            self.sink
                .attempt_started(attempt, nodes, restart_count, &dir, now()),
        );
        let pinned = nodes.iter().all(|n| self.known.contains(n));
        let ppn = self.spec.procs_per_node;
        let request = AttemptRequest {
            job_id: self.job_id.to_string(),
            attempt,
            nodes: u32::try_from(nodes.len()).unwrap_or(u32::MAX),
            nodelist: if pinned { nodes.to_vec() } else { Vec::new() },
            exclude: self
                .bad
                .iter()
                .filter(|n| self.known.contains(*n))
                .cloned()
                .collect(),
            partition: self.spec.slurm.partition.clone(),
            time_limit: self.spec.slurm.time_limit.clone(),
            extra_args: self.spec.slurm.extra_args.clone(),
            output: dir.join("slurm-%j.out").display().to_string(),
            agent: self
                .agent
                .iter()
                .cloned()
                .chain([
                    "--connect".to_string(),
                    self.connect.clone(),
                    "--job-id".to_string(),
                    self.job_id.to_string(),
                    "--attempt".to_string(),
                    attempt.to_string(),
                ])
                .collect(),
        };
        let launch = Launch {
            command: self.spec.command.clone(),
            env: self.spec.env.clone(),
            workdir: self.spec.workdir.as_ref().map(|w| w.display().to_string()),
            procs_per_node: ppn,
            master_port,
            restart_count,
            max_restarts: self.spec.max_restarts,
            log_dir: dir.display().to_string(),
            progress_regex: self
                .spec
                .progress_regex
                .as_ref()
                .map(|r| r.as_str().to_string()),
            stop_grace_ms: u64::try_from(self.spec.stop_grace.as_millis()).unwrap_or(u64::MAX),
        };
        self.attempts.insert(
            attempt,
            Attempt {
                dir,
                world: u32::try_from(nodes.len())
                    .unwrap_or(u32::MAX)
                    .saturating_mul(ppn),
                ppn,
                launch,
                slurm_id: None,
                submitting: true,
                agents: BTreeSet::new(),
                exited: BTreeSet::new(),
                stopping: false,
                scancel_at: None,
                scancelled: false,
                slurm_done: false,
                slurm_state: None,
                confirmed: false,
                why_until: None,
                lost_reported: false,
                poll_in_flight: false,
                progress: None,
                step: None,
                pending_reason: None,
            },
        );
        let plan = request.plan();
        let cmd = self.cmd.clone();
        let tx = self.tx.clone();
        tracing::info!(attempt, args = ?plan.args, "sbatch");
        tokio::spawn(async move {
            let args: Vec<&str> = plan.args.iter().map(String::as_str).collect();
            let result = cmd.sbatch(&args, &plan.script).await;
            let _ = tx.send(Internal::Submitted { attempt, result });
        });
    }

    fn stop_attempt(&mut self, attempt: u32, reason: &str, grace: Duration) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            self.queue.push_back(Event::AttemptStopped { attempt });
            return;
        };
        if a.stopping {
            return;
        }
        a.stopping = true;
        tracing::info!(attempt, reason, ?grace, slurm_job = ?a.slurm_id, "stopping attempt");
        let stop = encode(&SupervisorMsg::Stop {
            reason: reason.to_string(),
        });
        for conn in &a.agents {
            if let Some(c) = self.conns.get(conn) {
                let _ = c.out.send(stop.clone());
            }
        }
        // No agent to tell (still pending, or they never came): scancel now.
        let after = if a.agents.is_empty() {
            Duration::ZERO
        } else {
            grace + SCANCEL_AFTER_GRACE
        };
        a.scancel_at = Some(Instant::now() + after);
        self.check_gone(attempt);
    }

    fn scancel(&mut self, attempt: u32) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        let Some(id) = a.slurm_id else { return };
        if a.scancelled || a.slurm_done {
            return;
        }
        a.scancelled = true;
        let cmd = self.cmd.clone();
        tokio::spawn(async move {
            if let Err(err) = cmd.scancel(id).await {
                tracing::warn!(slurm_job = id, %err, "scancel failed");
            }
        });
    }

    fn scancel_all(&mut self) {
        let ids: Vec<u32> = self.attempts.keys().copied().collect();
        for attempt in ids {
            self.scancel(attempt);
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.attempts
            .values()
            .flat_map(|a| {
                [
                    a.scancel_at
                        .filter(|_| !a.scancelled && a.slurm_id.is_some()),
                    a.why_until,
                ]
            })
            .flatten()
            .min()
    }

    fn deadlines(&mut self, instant: Instant) {
        let due: Vec<u32> = self
            .attempts
            .iter()
            .filter(|(_, a)| a.scancel_at.is_some_and(|t| t <= instant))
            .map(|(n, _)| *n)
            .collect();
        for attempt in due {
            self.scancel(attempt);
        }
        let why: Vec<u32> = self
            .attempts
            .iter()
            .filter(|(_, a)| a.why_until.is_some_and(|t| t <= instant))
            .map(|(n, _)| *n)
            .collect();
        for attempt in why {
            self.on_why(attempt, None);
        }
    }

    fn on_internal(&mut self, msg: Internal) {
        match msg {
            Internal::Connected { conn, out } => {
                self.conns.insert(
                    conn,
                    Conn {
                        out,
                        attempt: None,
                        node: String::new(),
                        node_rank: 0,
                    },
                );
            }
            Internal::Agent { conn, msg } => self.on_agent(conn, msg),
            Internal::Disconnected { conn } => self.on_disconnect(conn),
            Internal::Submitted { attempt, result } => self.on_submitted(attempt, result),
            Internal::Polled { attempt, result } => self.on_polled(attempt, result),
            Internal::Why { attempt, answer } => self.on_why(attempt, answer),
        }
    }

    fn on_submitted(&mut self, attempt: u32, result: Result<u64, SlurmError>) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        a.submitting = false;
        match result {
            Ok(id) => {
                tracing::info!(attempt, slurm_job = id, "submitted");
                a.slurm_id = Some(id);
                log_failure(
                    "backend_job",
                    self.sink.backend_job(attempt, &id.to_string(), now()),
                );
                if a.stopping {
                    a.scancel_at = Some(Instant::now());
                }
            }
            Err(err) => {
                a.slurm_done = true;
                let error = format!("sbatch: {err}");
                // Slurm refused the request itself (bad partition, a node list it cannot
                // satisfy): the same request will be refused again. A controller that does
                // not answer may answer later: an ordinary failed launch.
                let permanent = matches!(err, SlurmError::Failed { .. });
                if permanent {
                    self.queue.push_back(Event::AttemptLost {
                        attempt,
                        reason: format!("Slurm refused the job: {err}"),
                        retry: false,
                    });
                } else {
                    self.queue.push_back(Event::LaunchFailed { attempt, error });
                }
                self.check_gone(attempt);
            }
        }
    }

    fn poll(&mut self) {
        for (attempt, a) in &mut self.attempts {
            let Some(id) = a.slurm_id else { continue };
            if a.slurm_done || a.poll_in_flight {
                continue;
            }
            a.poll_in_flight = true;
            let cmd = self.cmd.clone();
            let tx = self.tx.clone();
            let attempt = *attempt;
            tokio::spawn(async move {
                let result = cmd.squeue_job(id).await;
                let _ = tx.send(Internal::Polled { attempt, result });
            });
        }
    }

    fn on_polled(&mut self, attempt: u32, result: Result<Option<QueuedJob>, SlurmError>) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        a.poll_in_flight = false;
        let job = match result {
            Ok(job) => job,
            Err(err) => {
                tracing::warn!(attempt, %err, "squeue failed; asking again");
                return;
            }
        };
        let id = a.slurm_id.unwrap_or_default();
        match job {
            Some(j) if j.state == SlurmState::Pending => {
                let reason = j.reason.unwrap_or_default();
                if a.pending_reason.as_deref() != Some(reason.as_str()) {
                    tracing::info!(attempt, slurm_job = id, %reason, "pending");
                    a.pending_reason = Some(reason.clone());
                }
                if reason_is_permanent(&reason) && !a.stopping && !a.lost_reported {
                    a.lost_reported = true;
                    self.queue.push_back(Event::AttemptLost {
                        attempt,
                        reason: format!(
                            "Slurm cannot run the job as asked: it pends with reason {reason} (Slurm job {id}, {} node(s))",
                            a.world / a.ppn.max(1)
                        ),
                        retry: false,
                    });
                }
            }
            Some(j) if !j.state.is_finished() => {
                a.slurm_state = Some(state_word(&j.state));
            }
            other => {
                let state = other.as_ref().map(|j| j.state.clone());
                a.slurm_done = true;
                a.slurm_state = state.as_ref().map(state_word);
                if !a.stopping && !a.lost_reported && a.why_until.is_none() {
                    let all_exited = a.exited.len() >= usize::try_from(a.world).unwrap_or(0);
                    if !all_exited {
                        a.lost_reported = true;
                        let why = match state.as_ref().and_then(SlurmState::end_cause) {
                            Some(cause) => format!(
                                "{} ({})",
                                cause.describe(),
                                a.slurm_state.as_deref().unwrap_or("")
                            ),
                            None => format!(
                                "the Slurm job ended ({}) before every rank reported",
                                a.slurm_state.as_deref().unwrap_or("gone from the queue")
                            ),
                        };
                        self.queue.push_back(Event::AttemptLost {
                            attempt,
                            reason: format!(
                                "{why} (Slurm job {id}; its output: {})",
                                a.dir.join(format!("slurm-{id}.out")).display()
                            ),
                            retry: true,
                        });
                    }
                }
                self.check_gone(attempt);
            }
        }
    }

    fn on_agent(&mut self, conn: u64, msg: AgentMsg) {
        if let AgentMsg::Hello {
            job_id,
            attempt,
            node,
            node_rank,
            slurm_job_id,
        } = msg
        {
            return self.on_hello(conn, &job_id, attempt, node, node_rank, slurm_job_id);
        }
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let Some(attempt) = c.attempt else {
            tracing::warn!(conn, "a message before Hello; ignored");
            return;
        };
        let node = c.node.clone();
        match msg {
            AgentMsg::Hello { .. } | AgentMsg::Bye => {}
            AgentMsg::RankStarted { rank, pid } => {
                let Some(a) = self.attempts.get(&attempt) else {
                    return;
                };
                let stdout = a.dir.join(format!("rank-{rank}.out"));
                let stderr = a.dir.join(format!("rank-{rank}.err"));
                log_failure(
                    "rank_started",
                    self.sink.rank_started(
                        &RankStart {
                            attempt,
                            rank,
                            node: &node,
                            pid,
                            stdout: &stdout,
                            stderr: &stderr,
                        },
                        now(),
                    ),
                );
                self.queue.push_back(Event::RankStarted {
                    attempt,
                    rank,
                    node,
                    pid: Some(pid),
                });
            }
            AgentMsg::Output { rank, stderr, text } => {
                if let Some(live) = &self.live {
                    live.line(&OutputLine {
                        attempt,
                        node: &node,
                        rank,
                        stream: if stderr {
                            Stream::Stderr
                        } else {
                            Stream::Stdout
                        },
                        text: &text,
                    });
                }
            }
            AgentMsg::Progress { rank, step } => {
                if let Some(a) = self.attempts.get_mut(&attempt) {
                    a.step = a.step.max(step);
                    a.progress = Some(a.step);
                }
                self.queue.push_back(Event::Progress {
                    attempt,
                    rank,
                    step,
                });
            }
            AgentMsg::RankExited {
                rank,
                code,
                signal,
                stderr_tail,
                failed_at_ms,
            } => {
                let status = status_of(code, signal);
                let held = Held {
                    attempt,
                    rank,
                    status,
                    stderr_tail,
                    failed_at_ms: failed_at_ms.unwrap_or(now().0),
                };
                self.on_exit(held);
            }
            AgentMsg::Signalled { signal } => self.on_signalled(attempt, &node, &signal),
        }
    }

    fn on_hello(
        &mut self,
        conn: u64,
        job_id: &str,
        attempt: u32,
        node: String,
        node_rank: u32,
        slurm_job_id: u64,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let current = self
            .attempts
            .get(&attempt)
            .filter(|a| !a.stopping && job_id == self.job_id);
        let Some(a) = current else {
            tracing::info!(conn, attempt, %node, "an agent of an old attempt or another job: stop");
            let _ = c.out.send(encode(&SupervisorMsg::Stop {
                reason: "not the current attempt".into(),
            }));
            return;
        };
        tracing::info!(attempt, %node, node_rank, slurm_job_id, "agent ready");
        c.attempt = Some(attempt);
        c.node = node;
        c.node_rank = node_rank;
        let _ = c.out.send(encode(&SupervisorMsg::Launch(a.launch.clone())));
        if let Some(a) = self.attempts.get_mut(&attempt) {
            a.agents.insert(conn);
            if a.slurm_id.is_none() {
                a.slurm_id = Some(slurm_job_id);
            }
        }
    }

    fn on_signalled(&mut self, attempt: u32, node: &str, signal: &str) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        if a.stopping || a.lost_reported || a.why_until.is_some() {
            return;
        }
        tracing::warn!(
            attempt,
            node,
            signal,
            "Slurm signalled an agent; asking Slurm why"
        );
        let wait = self.spec.stop_grace + WHY_WAIT;
        a.why_until = Some(Instant::now() + wait + Duration::from_secs(1));
        let Some(id) = a.slurm_id else { return };
        let cmd = self.cmd.clone();
        let tx = self.tx.clone();
        let node = node.to_string();
        let signal = signal.to_string();
        tokio::spawn(async move {
            // The controller says COMPLETING until the job's processes are gone (the agents'
            // teardown, up to the grace); accounting has the final state at once. Ask both
            // until one names why, within the wait.
            let mut answer = None;
            let give_up = Instant::now() + wait;
            while answer.is_none() && Instant::now() < give_up {
                let acct = cmd.sacct_job(id).await.ok().flatten().map(|j| j.state);
                let ctl = cmd.job_state(id).await.ok().flatten().map(|(s, _)| s);
                answer = [acct, ctl].into_iter().flatten().find_map(|state| {
                    let cause = state.end_cause()?;
                    Some(format!(
                        "{} (Slurm job {id} {})",
                        cause.describe(),
                        state_word(&state)
                    ))
                });
                if answer.is_none() {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
            }
            let answer = answer.or_else(|| {
                Some(format!(
                    "Slurm sent {signal} to the agent on {node} (Slurm job {id})"
                ))
            });
            let _ = tx.send(Internal::Why { attempt, answer });
        });
    }

    fn on_why(&mut self, attempt: u32, answer: Option<String>) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        if a.why_until.take().is_none() {
            return;
        }
        if !a.stopping && !a.lost_reported {
            a.lost_reported = true;
            let reason = answer.unwrap_or_else(|| {
                format!(
                    "Slurm signalled the agents (Slurm job {})",
                    a.slurm_id.unwrap_or_default()
                )
            });
            self.queue.push_back(Event::AttemptLost {
                attempt,
                reason,
                retry: true,
            });
        }
        self.release_exits(true);
    }

    fn on_exit(&mut self, held: Held) {
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
    fn release_exits(&mut self, force: bool) {
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

    fn deliver(&mut self, h: Held) {
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

    fn on_disconnect(&mut self, conn: u64) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        let Some(attempt) = c.attempt else { return };
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        a.agents.remove(&conn);
        // Ranks of this node that never reported an exit: the agent died (node failure, a
        // SIGKILL) or left without telling. They are gone with it.
        let ppn = a.ppn.max(1);
        let first = c.node_rank.saturating_mul(ppn);
        let lost: Vec<u32> = (first..first.saturating_add(ppn))
            .filter(|r| {
                !a.exited.contains(r)
                    && !self
                        .held
                        .iter()
                        .any(|h| h.attempt == attempt && h.rank == *r)
            })
            .collect();
        for rank in lost {
            tracing::warn!(attempt, rank, node = %c.node, "the agent left without reporting the rank's exit");
            self.on_exit(Held {
                attempt,
                rank,
                status: ExitStatus::Signal(9),
                stderr_tail: vec![format!(
                    "trainyard: lost contact with the agent on {} before rank {rank} reported its exit",
                    c.node
                )],
                failed_at_ms: now().0,
            });
        }
        self.check_gone(attempt);
    }

    /// Tells the machine an attempt is gone once every rank's exit reached it (or its agents
    /// are gone and Slurm says the job has left), and Slurm's job has left the queue.
    fn check_gone(&mut self, attempt: u32) {
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        if a.confirmed || a.submitting || !a.slurm_done || !a.agents.is_empty() {
            return;
        }
        let pending_exits = self.held.iter().any(|h| h.attempt == attempt);
        if pending_exits || a.why_until.is_some() {
            return;
        }
        a.confirmed = true;
        log_failure("attempt_ended", self.sink.attempt_ended(attempt, now()));
        self.queue.push_back(Event::AttemptStopped { attempt });
    }

    /// Once a second: the attempts' progress, then the heartbeat, which may carry a cancel.
    fn heartbeat(&mut self) {
        let at = now();
        for (attempt, a) in &mut self.attempts {
            if let Some(step) = a.progress.take() {
                log_failure("progress", self.sink.progress(*attempt, step, at));
            }
        }
        match self.sink.heartbeat(std::process::id(), at) {
            Ok(Some(reason)) => {
                tracing::info!(%reason, "cancel requested through the sink");
                self.queue.push_back(Event::Cancel { reason });
            }
            Ok(None) => {}
            Err(err) => log_failure("heartbeat", Err(err)),
        }
    }
}
