//! `trainyard agent`: one per node of a Slurm attempt, started by `srun`.
//!
//! It reads its place from srun's environment, says `Hello` to the supervisor, receives the
//! job's command (`Launch`), and runs this node's ranks with the same code as the local driver
//! ([`crate::rank`]: guard, torchrun environment, output capture, progress, exit record). It
//! reports facts (started, output, progress, exited) and decides nothing. Its ranks are torn
//! down (SIGTERM to each rank's group, the spec's grace, SIGKILL) on `Stop`, when the
//! connection to the supervisor is lost, and on SIGTERM/SIGINT from Slurm; if the agent itself
//! is SIGKILLed, the guards see their lifeline close and do the same. Nothing outlives it.

use std::collections::BTreeMap;
use std::net::ToSocketAddrs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc;
use tokio::time::Instant;
use trainyard_job::{ExitStatus, ProgressRegex};
use trainyard_slurm::placement::Placement;
use trainyard_slurm::protocol::{decode, encode, AgentMsg, Launch, SupervisorMsg};
use trainyard_slurm::SlurmCmd;

use crate::env::RankEnv;
use crate::output::{LiveView, OutputLine, Stream};
use crate::progress::{read_step_file, ProgressRule};
use crate::rank::{progress_file, spawn_rank, NewRank, RankMsg, RankRun, Watch};
use crate::spawn::GuardCommand;
use crate::teardown::{signal_group, LiveGroups};

/// A port free on every interface of this host (the ranks of other nodes connect to it).
/// Bound and released, as torchrun does: another process could take it in between, which
/// the rendezvous reports and the attempt restarts.
fn free_port_here() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("0.0.0.0", 0))?;
    Ok(listener.local_addr()?.port())
}

/// How long the agent tries to reach the supervisor.
const CONNECT_FOR: Duration = Duration::from_secs(30);
/// How long it waits for `Launch` after `Hello`.
const LAUNCH_WAIT: Duration = Duration::from_secs(60);
/// How often progress files are read.
const PROGRESS_FILE_POLL: Duration = Duration::from_millis(250);
/// How long the last messages may take to leave.
const FLUSH_WAIT: Duration = Duration::from_secs(3);

/// What `trainyard agent` is told on its command line.
#[derive(Debug, Clone)]
pub struct AgentArgs {
    /// The supervisor's `host:port`.
    pub connect: String,
    /// trainyard job id.
    pub job_id: String,
    /// The attempt this agent was started for.
    pub attempt: u32,
    /// How to start the rank guard (default: this executable's `__rank-guard`).
    pub guard: Option<GuardCommand>,
}

/// Why the agent could not do its work.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// Not started by `srun` (or srun's variables are unreadable).
    #[error(transparent)]
    Placement(#[from] trainyard_slurm::placement::PlacementError),
    /// The supervisor could not be reached or said nothing usable.
    #[error("cannot reach the supervisor at {addr}: {detail}")]
    Supervisor {
        /// Its address.
        addr: String,
        /// What went wrong.
        detail: String,
    },
    /// No runtime, no signal handlers, no guard path.
    #[error("cannot start the agent: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Runs the agent to its end; returns its exit code: 0 when every rank of this node exited 0
/// (or there was nothing to run), 1 otherwise.
///
/// # Errors
/// When it is not inside a Slurm step or cannot reach the supervisor.
pub fn run_agent(args: AgentArgs) -> Result<i32, AgentError> {
    let placement = Placement::from_env(|k| std::env::var(k).ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("trainyard-agent")
        .enable_all()
        .build()
        .map_err(AgentError::Runtime)?;
    runtime.block_on(agent(args, placement))
}

/// Every output line goes to the supervisor as an `Output` message.
struct Forward(mpsc::UnboundedSender<String>);

impl LiveView for Forward {
    fn line(&self, line: &OutputLine<'_>) {
        let _ = self.0.send(encode(&AgentMsg::Output {
            rank: line.rank,
            stderr: line.stream == Stream::Stderr,
            text: line.text.to_string(),
        }));
    }
}

async fn connect(addr: &str) -> Result<TcpStream, AgentError> {
    let deadline = Instant::now() + CONNECT_FOR;
    loop {
        match TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(err) if Instant::now() >= deadline => {
                return Err(AgentError::Supervisor {
                    addr: addr.to_string(),
                    detail: err.to_string(),
                })
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The rendezvous host: the first node's name when it resolves, else the address Slurm has
/// for it (the dev cluster's `n1` is `NodeAddr=127.0.0.1`).
async fn master_addr(placement: &Placement) -> String {
    let name = placement.master_node().to_string();
    if (name.as_str(), 0)
        .to_socket_addrs()
        .is_ok_and(|mut a| a.next().is_some())
    {
        return name;
    }
    let cmd = SlurmCmd {
        timeout: Duration::from_secs(10),
        ..SlurmCmd::default()
    };
    match cmd.node_addr(&name).await {
        Ok(Some(addr)) => addr,
        Ok(None) => name,
        Err(err) => {
            tracing::warn!(node = %name, %err, "cannot ask Slurm for the node's address");
            name
        }
    }
}

async fn agent(args: AgentArgs, placement: Placement) -> Result<i32, AgentError> {
    let guard = match args.guard.clone() {
        Some(g) => g,
        None => {
            GuardCommand::current_exe_subcommand("__rank-guard").map_err(AgentError::Runtime)?
        }
    };
    let mut term = signal(SignalKind::terminate()).map_err(AgentError::Runtime)?;
    let mut int = signal(SignalKind::interrupt()).map_err(AgentError::Runtime)?;
    let stream = connect(&args.connect).await?;
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(line) = out_rx.recv().await {
            if write.write_all(line.as_bytes()).await.is_err() {
                break;
            }
        }
        let _ = write.shutdown().await;
    });
    let mut lines = BufReader::new(read).lines();
    let send = |msg: &AgentMsg| {
        let _ = out_tx.send(encode(msg));
    };
    // Node 0 hosts rank 0, whose rendezvous every rank dials: only this node can know which
    // port is free there (the supervisor may run on another host).
    let master_port = if placement.node_rank == 0 {
        match free_port_here() {
            Ok(port) => {
                tracing::info!(node = %placement.node, port, "rendezvous: MASTER_PORT {port} is free on this node (node 0)");
                Some(port)
            }
            Err(err) => {
                tracing::warn!(%err, "no free port for the rendezvous here; the supervisor picks one");
                None
            }
        }
    } else {
        None
    };
    send(&AgentMsg::Hello {
        job_id: args.job_id.clone(),
        attempt: args.attempt,
        node: placement.node.clone(),
        node_rank: placement.node_rank,
        slurm_job_id: placement.slurm_job_id,
        master_port,
    });
    let launch = match tokio::time::timeout(LAUNCH_WAIT, lines.next_line()).await {
        Ok(Ok(Some(line))) => match decode::<SupervisorMsg>(&line) {
            Ok(SupervisorMsg::Launch(launch)) => launch,
            Ok(SupervisorMsg::Stop { reason }) => {
                tracing::info!(%reason, "told to stop before launching");
                drop(out_tx);
                let _ = tokio::time::timeout(FLUSH_WAIT, writer).await;
                return Ok(0);
            }
            Err(err) => {
                return Err(AgentError::Supervisor {
                    addr: args.connect,
                    detail: format!("unreadable answer to Hello: {err}"),
                })
            }
        },
        Ok(Ok(None)) | Ok(Err(_)) | Err(_) => {
            return Err(AgentError::Supervisor {
                addr: args.connect,
                detail: "no Launch after Hello".to_string(),
            })
        }
    };
    let master = master_addr(&placement).await;
    let mut node = Node::start(&args, &placement, &launch, &guard, &master, out_tx.clone());
    let mut next_poll = Instant::now() + PROGRESS_FILE_POLL;
    let mut connected = true;
    while node.alive > 0 {
        let kill_at = node.kill_at.filter(|_| !node.killed);
        let wake = [Some(next_poll), kill_at].into_iter().flatten().min();
        let wake = wake.unwrap_or_else(|| Instant::now() + PROGRESS_FILE_POLL);
        tokio::select! {
            Some(msg) = node.rx.recv() => node.on_rank(msg),
            line = lines.next_line(), if connected => match line {
                Ok(Some(line)) => match decode::<SupervisorMsg>(&line) {
                    Ok(SupervisorMsg::Stop { reason }) => {
                        tracing::info!(%reason, "stop from the supervisor");
                        node.stop();
                    }
                    Ok(SupervisorMsg::Launch(_)) => tracing::warn!("a second Launch; ignored"),
                    Err(err) => tracing::warn!(%err, "unreadable line from the supervisor"),
                },
                Ok(None) | Err(_) => {
                    tracing::warn!("lost the connection to the supervisor: stopping the ranks");
                    connected = false;
                    node.stop();
                }
            },
            _ = term.recv() => {
                send(&AgentMsg::Signalled { signal: "SIGTERM".into() });
                node.stop();
            }
            _ = int.recv() => {
                send(&AgentMsg::Signalled { signal: "SIGINT".into() });
                node.stop();
            }
            () = tokio::time::sleep_until(wake) => {}
        }
        let now = Instant::now();
        if !node.killed && node.kill_at.is_some_and(|at| at <= now) {
            node.kill();
        }
        if now >= next_poll {
            node.poll_progress_files();
            next_poll = now + PROGRESS_FILE_POLL;
        }
    }
    send(&AgentMsg::Bye);
    let all_ok = node.all_ok;
    // Every sender must go for the writer to finish: ours, the node's, and the output
    // forwarders (gone with the ranks' capture tasks).
    drop(out_tx);
    drop(node);
    let _ = tokio::time::timeout(FLUSH_WAIT, writer).await;
    Ok(i32::from(!all_ok))
}

/// This node's ranks.
struct Node {
    attempt: u32,
    ranks: BTreeMap<u32, RankRun>,
    alive: usize,
    all_ok: bool,
    grace: Duration,
    kill_at: Option<Instant>,
    killed: bool,
    groups: LiveGroups,
    rx: mpsc::UnboundedReceiver<RankMsg>,
    /// Kept so the rank channel stays open while no rank is alive yet.
    _watch_tx: mpsc::UnboundedSender<RankMsg>,
    out: mpsc::UnboundedSender<String>,
}

impl Node {
    fn start(
        args: &AgentArgs,
        placement: &Placement,
        launch: &Launch,
        guard: &GuardCommand,
        master: &str,
        out: mpsc::UnboundedSender<String>,
    ) -> Node {
        let (tx, rx) = mpsc::unbounded_channel();
        let regex = launch
            .progress_regex
            .as_deref()
            .and_then(|r| ProgressRegex::new(r).ok());
        let watch = Watch {
            tx: tx.clone(),
            live: Some(Arc::new(Forward(out.clone())) as Arc<dyn LiveView>),
            rule: Arc::new(ProgressRule::new(regex)),
        };
        let dir = PathBuf::from(&launch.log_dir);
        let ppn = launch.procs_per_node;
        let world_size = u32::try_from(placement.nodes.len())
            .unwrap_or(u32::MAX)
            .saturating_mul(ppn);
        let workdir = launch.workdir.as_ref().map(PathBuf::from);
        let grace = Duration::from_millis(launch.stop_grace_ms);
        let mut node = Node {
            attempt: args.attempt,
            ranks: BTreeMap::new(),
            alive: 0,
            all_ok: true,
            grace,
            kill_at: None,
            killed: false,
            groups: LiveGroups::default(),
            rx,
            _watch_tx: tx,
            out,
        };
        if let Err(err) = std::fs::create_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), %err, "cannot create the attempt's log directory");
        }
        let new = NewRank {
            guard,
            command: &launch.command,
            spec_env: &launch.env,
            workdir: workdir.as_deref(),
            grace,
            dir: &dir,
            node: Arc::from(placement.node.as_str()),
        };
        for (local_rank, rank) in (0u32..).zip(placement.ranks(ppn)) {
            let env = RankEnv {
                rank,
                local_rank,
                world_size,
                local_world_size: ppn,
                node_rank: placement.node_rank,
                master_addr: master.to_string(),
                master_port: launch.master_port,
                restart_count: launch.restart_count,
                max_restarts: launch.max_restarts,
                job_id: args.job_id.clone(),
                attempt: args.attempt,
                progress_file: progress_file(&dir, rank),
            };
            match spawn_rank(&new, &env, &watch) {
                Ok(spawned) => {
                    node.groups.insert(spawned.pid);
                    node.send(&AgentMsg::RankStarted {
                        rank,
                        pid: spawned.pid,
                    });
                    node.ranks.insert(rank, spawned.run);
                    node.alive += 1;
                }
                Err(err) => {
                    // Reported as the rank's failure: the supervisor blames and stops.
                    node.all_ok = false;
                    node.send(&AgentMsg::RankExited {
                        rank,
                        code: Some(127),
                        signal: None,
                        stderr_tail: vec![format!(
                            "trainyard agent on {}: cannot start rank {rank} (guard {}): {err}",
                            placement.node,
                            guard.program().display()
                        )],
                        failed_at_ms: None,
                    });
                }
            }
        }
        node
    }

    fn send(&self, msg: &AgentMsg) {
        let _ = self.out.send(encode(msg));
    }

    fn on_rank(&mut self, msg: RankMsg) {
        match msg {
            RankMsg::Progress { rank, step, .. } => self.send(&AgentMsg::Progress { rank, step }),
            RankMsg::Exited(exit) => {
                if let Some(r) = self.ranks.get_mut(&exit.rank) {
                    if r.exited {
                        return;
                    }
                    r.exited = true;
                    r.lifeline = None;
                    self.groups.remove(r.pgid);
                    self.alive = self.alive.saturating_sub(1);
                }
                self.all_ok &= exit.status.success();
                let failed_at_ms = u64::try_from(exit.failed_at() / 1_000_000).ok();
                self.send(&AgentMsg::RankExited {
                    rank: exit.rank,
                    code: exit.status.code(),
                    signal: exit.status.signal(),
                    stderr_tail: exit.stderr_tail,
                    failed_at_ms,
                });
            }
        }
    }

    /// SIGTERM to every live rank's group; SIGKILL after the grace.
    fn stop(&mut self) {
        if self.kill_at.is_some() {
            return;
        }
        tracing::info!(attempt = self.attempt, ranks = self.alive, grace = ?self.grace, "stopping ranks");
        for r in self.ranks.values().filter(|r| !r.exited) {
            signal_group(r.pgid, Signal::SIGTERM);
        }
        self.kill_at = Some(Instant::now() + self.grace);
    }

    fn kill(&mut self) {
        for r in self.ranks.values().filter(|r| !r.exited) {
            signal_group(r.pgid, Signal::SIGKILL);
        }
        // Once: the exits follow as the guards are reaped.
        self.killed = true;
    }

    fn poll_progress_files(&mut self) {
        let mut steps = Vec::new();
        for (rank, r) in self.ranks.iter_mut().filter(|(_, r)| !r.exited) {
            let step = read_step_file(&r.progress_file);
            if step.is_some() && step != r.last_file_step {
                r.last_file_step = step;
                steps.push((*rank, step));
            }
        }
        for (rank, step) in steps {
            self.send(&AgentMsg::Progress { rank, step });
        }
    }
}

/// The exit status an `AgentMsg::RankExited` describes.
pub(crate) fn status_of(code: Option<i32>, signal: Option<i32>) -> ExitStatus {
    match (code, signal) {
        (Some(c), _) => ExitStatus::Code(c),
        (None, Some(s)) => ExitStatus::Signal(s),
        (None, None) => ExitStatus::Signal(Signal::SIGKILL as i32),
    }
}
