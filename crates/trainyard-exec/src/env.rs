//! The environment every rank gets: torchrun's variables plus trainyard's own.
//!
//! An unmodified `torchrun`-style script must run under trainyard, so the names and meanings
//! are torchrun's (see `torch/distributed/run.py`): a "node" is a group of `procs_per_node`
//! local processes with its own `NODE_RANK` (= `GROUP_RANK`).

use std::path::PathBuf;

/// Where one rank sits in the job and in which attempt; turned into environment variables by
/// [`RankEnv::vars`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RankEnv {
    /// Global rank, `0..world_size`.
    pub rank: u32,
    /// Rank within its node, `0..local_world_size`.
    pub local_rank: u32,
    /// Total number of ranks in the attempt.
    pub world_size: u32,
    /// Ranks per node.
    pub local_world_size: u32,
    /// Index of the node within the attempt.
    pub node_rank: u32,
    /// Address of rank 0's rendezvous.
    pub master_addr: String,
    /// Port of rank 0's rendezvous, fresh for every attempt.
    pub master_port: u16,
    /// How many restarts happened before this attempt.
    pub restart_count: u32,
    /// The restart budget.
    pub max_restarts: u32,
    /// The job id (also torchrun's run id).
    pub job_id: String,
    /// The attempt number.
    pub attempt: u32,
    /// The file the rank may write its step number to.
    pub progress_file: PathBuf,
}

impl RankEnv {
    /// The variables, in a stable order.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("RANK", self.rank.to_string()),
            ("LOCAL_RANK", self.local_rank.to_string()),
            ("WORLD_SIZE", self.world_size.to_string()),
            ("LOCAL_WORLD_SIZE", self.local_world_size.to_string()),
            ("GROUP_RANK", self.node_rank.to_string()),
            ("NODE_RANK", self.node_rank.to_string()),
            // One role ("default") for the whole job, as torchrun without --role.
            ("ROLE_RANK", self.rank.to_string()),
            ("ROLE_WORLD_SIZE", self.world_size.to_string()),
            ("ROLE_NAME", "default".to_string()),
            ("MASTER_ADDR", self.master_addr.clone()),
            ("MASTER_PORT", self.master_port.to_string()),
            ("TORCHELASTIC_RESTART_COUNT", self.restart_count.to_string()),
            ("TORCHELASTIC_MAX_RESTARTS", self.max_restarts.to_string()),
            ("TORCHELASTIC_RUN_ID", self.job_id.clone()),
            ("TRAINYARD_JOB_ID", self.job_id.clone()),
            ("TRAINYARD_ATTEMPT", self.attempt.to_string()),
            (
                "TRAINYARD_PROGRESS_FILE",
                self.progress_file.to_string_lossy().into_owned(),
            ),
            // Python ranks would otherwise block-buffer a pipe and show their output late,
            // which the hang detector would read as no progress.
            ("PYTHONUNBUFFERED", "1".to_string()),
        ]
    }
}

/// A port on 127.0.0.1 that was free a moment ago, for an attempt's rendezvous.
///
/// Like torchrun, this binds port 0 and releases it; another process could take it in
/// between, which the rendezvous would then report as an error and the attempt would restart.
pub fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn torchrun_names() {
        let env = RankEnv {
            rank: 5,
            local_rank: 1,
            world_size: 8,
            local_world_size: 4,
            node_rank: 1,
            master_addr: "127.0.0.1".into(),
            master_port: 29500,
            restart_count: 2,
            max_restarts: 3,
            job_id: "j1".into(),
            attempt: 3,
            progress_file: PathBuf::from("/tmp/p"),
        };
        let vars = env.vars();
        let get = |name: &str| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("RANK"), Some("5"));
        assert_eq!(get("LOCAL_RANK"), Some("1"));
        assert_eq!(get("GROUP_RANK"), Some("1"));
        assert_eq!(get("WORLD_SIZE"), Some("8"));
        assert_eq!(get("MASTER_PORT"), Some("29500"));
        assert_eq!(get("TORCHELASTIC_RESTART_COUNT"), Some("2"));
        assert_eq!(get("TRAINYARD_PROGRESS_FILE"), Some("/tmp/p"));
    }

    #[test]
    fn free_port_is_bindable() {
        let port = free_port().expect("a free port");
        assert!(port > 0);
        std::net::TcpListener::bind(("127.0.0.1", port)).expect("port still free");
    }
}
