//! The agents' side: the TCP listener, one reader and writer per connection, and what each
//! agent message means for the attempt.

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use trainyard_job::{Event, ExitStatus};
use trainyard_slurm::protocol::{decode, encode, AgentMsg, SupervisorMsg};

use super::now;
use super::run::{Held, Internal, Run};
use crate::output::{OutputLine, Stream};
use crate::sink::{log_failure, EventSink, RankStart};
use crate::slurm::agent::status_of;

/// Accepts agent connections; each gets a reader task and a writer channel.
pub(super) async fn accept(listener: TcpListener, tx: mpsc::UnboundedSender<Internal>) {
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

/// An agent's `Hello`.
pub(super) struct Hello {
    job_id: String,
    attempt: u32,
    node: String,
    node_rank: u32,
    slurm_job_id: u64,
    master_port: Option<u16>,
}

impl<S: EventSink> Run<'_, S> {
    pub(super) fn on_agent(&mut self, conn: u64, msg: AgentMsg) {
        if let AgentMsg::Hello {
            job_id,
            attempt,
            node,
            node_rank,
            slurm_job_id,
            master_port,
        } = msg
        {
            return self.on_hello(
                conn,
                &Hello {
                    job_id,
                    attempt,
                    node,
                    node_rank,
                    slurm_job_id,
                    master_port,
                },
            );
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

    /// An agent is ready. Every node's `Launch` carries node 0's `MASTER_PORT`, which only
    /// node 0's agent can choose (a port free on its host), so agents that say Hello before it
    /// wait for it.
    pub(super) fn on_hello(&mut self, conn: u64, hello: &Hello) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let attempt = hello.attempt;
        let current = self
            .attempts
            .get_mut(&attempt)
            .filter(|a| !a.stopping && hello.job_id == self.job_id);
        let Some(a) = current else {
            tracing::info!(conn, attempt, node = %hello.node, "an agent of an old attempt or another job: stop");
            let _ = c.out.send(encode(&SupervisorMsg::Stop {
                reason: "not the current attempt".into(),
            }));
            return;
        };
        tracing::info!(attempt, node = %hello.node, node_rank = hello.node_rank, slurm_job_id = hello.slurm_job_id, "agent ready");
        c.attempt = Some(attempt);
        c.node.clone_from(&hello.node);
        c.node_rank = hello.node_rank;
        a.agents.insert(conn);
        if a.slurm_id.is_none() {
            a.slurm_id = Some(hello.slurm_job_id);
        }
        if hello.node_rank == 0 {
            match hello.master_port {
                Some(port) => {
                    tracing::info!(attempt, node = %hello.node, port, "rendezvous: MASTER_PORT from node 0's agent");
                    a.launch.master_port = port;
                }
                // An older agent: the port found free here stays (right on a one-host cluster).
                None => tracing::info!(
                    attempt,
                    port = a.launch.master_port,
                    "node 0's agent chose no port; using one free on the supervisor's host"
                ),
            }
            a.rendezvous_known = true;
        }
        a.awaiting_launch.push(conn);
        if a.rendezvous_known {
            let launch = encode(&SupervisorMsg::Launch(a.launch.clone()));
            for waiting in std::mem::take(&mut a.awaiting_launch) {
                if let Some(w) = self.conns.get(&waiting) {
                    let _ = w.out.send(launch.clone());
                }
            }
        }
        // An agent runs only in a started allocation: the attempt left Slurm's queue.
        self.report_running(attempt);
    }

    pub(super) fn on_disconnect(&mut self, conn: u64) {
        let Some(c) = self.conns.remove(&conn) else {
            return;
        };
        let Some(attempt) = c.attempt else { return };
        let Some(a) = self.attempts.get_mut(&attempt) else {
            return;
        };
        a.agents.remove(&conn);
        a.awaiting_launch.retain(|w| *w != conn);
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
}
