//! One attempt as one `sbatch`: the arguments and the batch script.
//!
//! The script's only work is `srun` starting one agent per node; everything else (ranks,
//! logs, blame) is the agents' and the supervisor's. `--kill-on-bad-exit=0` because a rank
//! failure is the supervisor's decision, not srun's; `--exclude` carries the bad nodes.

use crate::hostlist;

/// What an attempt asks of Slurm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRequest {
    /// trainyard job id (goes into the Slurm job name).
    pub job_id: String,
    /// Attempt number.
    pub attempt: u32,
    /// Nodes to allocate.
    pub nodes: u32,
    /// The nodes the supervisor chose, asked for exactly (`--nodelist`); empty lets Slurm
    /// choose.
    pub nodelist: Vec<String>,
    /// Nodes marked bad so far.
    pub exclude: Vec<String>,
    /// `[slurm] partition`.
    pub partition: Option<String>,
    /// `[slurm] time_limit`.
    pub time_limit: Option<String>,
    /// `[slurm] extra_args`, verbatim.
    pub extra_args: Vec<String>,
    /// Where Slurm writes the batch script's own output (`%j` is the Slurm job id).
    pub output: String,
    /// The agent's argv (program first), run once per node.
    pub agent: Vec<String>,
}

/// `sbatch` arguments and the script to give it on stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SbatchPlan {
    /// Arguments for `sbatch` (without `--parsable`, which the caller adds).
    pub args: Vec<String>,
    /// The batch script.
    pub script: String,
}

impl AttemptRequest {
    /// The `sbatch` call for this attempt.
    pub fn plan(&self) -> SbatchPlan {
        let mut args = vec![
            format!("--job-name=trainyard-{}-a{}", self.job_id, self.attempt),
            format!("--nodes={}", self.nodes),
            "--ntasks-per-node=1".to_string(),
            format!("--output={}", self.output),
            // Restarts are trainyard's; a Slurm requeue would run a stale attempt.
            "--no-requeue".to_string(),
        ];
        if !self.nodelist.is_empty() {
            args.push(format!("--nodelist={}", hostlist::compress(&self.nodelist)));
        }
        if !self.exclude.is_empty() {
            args.push(format!("--exclude={}", hostlist::compress(&self.exclude)));
        }
        if let Some(p) = &self.partition {
            args.push(format!("--partition={p}"));
        }
        if let Some(t) = &self.time_limit {
            args.push(format!("--time={t}"));
        }
        args.extend(self.extra_args.iter().cloned());
        let agent: Vec<String> = self.agent.iter().map(|a| shell_quote(a)).collect();
        let script = format!(
            "#!/bin/sh\n# trainyard job {} attempt {}: one agent per node; the agents start the ranks.\nexec srun --kill-on-bad-exit=0 --ntasks-per-node=1 --nodes={} {}\n",
            self.job_id,
            self.attempt,
            self.nodes,
            agent.join(" ")
        );
        SbatchPlan { args, script }
    }
}

/// Quotes one word for `/bin/sh` (single quotes; `'` as `'\''`).
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}
