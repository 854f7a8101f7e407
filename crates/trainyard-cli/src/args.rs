//! Command-line interface (clap derive types only).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// trainyard: bring up a GPU supercluster and keep large training jobs running on it.
///
/// The fleet doctor reads what engineers already collect (lspci text, config-space hex
/// dumps) and turns it into settings that can be compared, linted and diffed across nodes.
#[derive(Debug, Parser)]
#[command(
    name = "trainyard",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// More logging on stderr (-v info, -vv debug); TRAINYARD_LOG=<filter> overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read PCI configuration: lspci text and raw config space, as one device model.
    #[command(subcommand)]
    Pci(PciCommand),

    /// Collect this node's hardware snapshot (PCI config space, DMI, kernel, IOMMU, RDMA,
    /// GPUs, CPU) as JSON; see docs/snapshot.md.
    ///
    /// Examples:
    ///   sudo trainyard snapshot -o node.json
    ///   srun -N512 trainyard snapshot -o /shared/snap/%h.json
    ///   trainyard snapshot --root /tmp/fake-tree --host node001
    #[command(verbatim_doc_comment)]
    Snapshot(SnapshotArgs),

    /// Lint one node for settings that break or slow GPUDirect RDMA and NCCL.
    ///
    /// Checks ACS redirect on ports above GPUs and RDMA NICs, downtrained links, MaxPayload
    /// and MaxReadReq, relaxed ordering, AER errors, IOMMU translation, GPU/NIC affinity,
    /// nvidia_peermem, and IB port state. Without INPUT it collects from this machine; INPUT
    /// may be a snapshot (`trainyard snapshot`), `lspci -vvv` text, or an `lspci -xxxx` dump.
    /// What the input cannot tell (lspci text has no kernel command line) is listed as not
    /// checked, never silently passed.
    ///
    /// Examples:
    ///   sudo trainyard doctor
    ///   trainyard doctor node17.json --json
    ///   ssh node17 sudo lspci -vvv | trainyard doctor - --fail-on warning
    ///
    /// Exit status: 0 no finding at or above --fail-on, 1 findings, 2 unreadable input.
    #[command(verbatim_doc_comment)]
    Doctor(DoctorArgs),

    /// Work with a whole fleet of nodes: synthesize test fleets (and analyze them).
    #[command(subcommand)]
    Fleet(FleetCommand),

    /// Launch a training job from a spec and supervise it: restart it from its last checkpoint
    /// when a rank crashes or hangs, and keep the whole history (see docs/jobs.md).
    ///
    /// Examples:
    ///   trainyard launch examples/job.toml
    ///   trainyard launch job.toml --detach
    ///
    /// Exit status: 0 the job succeeded, 1 it failed, 130 it was cancelled, 2 bad spec or
    /// usage (with --detach: 0 once the job is handed to its background supervisor).
    #[command(verbatim_doc_comment)]
    Launch(crate::job_args::LaunchArgs),

    /// List jobs: running ones and those whose supervisor died (`lost`); --all for every job.
    Ps(crate::job_args::PsArgs),

    /// A job's timeline: every attempt, why it ended, the blamed node and rank, time lost,
    /// goodput.
    Show(crate::job_args::ShowArgs),

    /// A job's output, merged with `[node/rank]` prefixes, or one rank's; -f follows.
    Logs(crate::job_args::LogsArgs),

    /// Cancel a job: stop every rank (SIGTERM, grace, SIGKILL) and wait until it is over.
    Cancel(crate::job_args::CancelArgs),

    /// Simulate a long training job on a large cluster with published failure rates, driving
    /// the real supervisor policy: goodput, lost time by reason, interruptions by cause, and
    /// the best checkpoint interval (see docs/sim.md).
    ///
    /// Examples:
    ///   trainyard sim --gpus 100000 --checkpoint-interval auto
    ///   trainyard sim --gpus 16384 --days 54 --restart 3m --checkpoint-write 30s --json
    ///   trainyard sim --mtbf 24h --checkpoint-write 5m --restart 10m --checkpoint-interval auto
    #[command(verbatim_doc_comment)]
    Sim(crate::commands::sim::SimArgs),

    /// The background supervisor of `launch --detach` (internal).
    #[command(name = "__supervise", hide = true)]
    Supervise(crate::job_args::SuperviseArgs),

    /// The per-node agent of a Slurm attempt, started by `srun` (internal).
    #[command(name = "agent", hide = true)]
    Agent(crate::job_args::AgentArgs),
}

/// `trainyard fleet ...`
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Generate an N-node fleet from one real server (lspci text or snapshot JSON), with
    /// per-node natural variation and injected faults, plus the ground truth as JSON.
    ///
    /// Examples:
    ///   trainyard fleet synth --from tests/data/gpu-servers/hpe-cray-xd665.txt --nodes 512 \
    ///       --out fleet/ --truth fleet/truth.json
    ///   trainyard fleet synth --from node.json --nodes 100 --pdsh - --interleave
    ///   trainyard fleet synth --from t.txt --nodes 64 --faults acs=12,missing=1,aer=0 --seed 7
    ///
    /// See docs/fleet-synth.md for the faults and the truth format.
    #[command(verbatim_doc_comment)]
    Synth(SynthArgs),

    /// Find the odd node and the wrong setting among thousands.
    ///
    /// Reads per-node files (lspci -vvv text, hex dumps, trainyard snapshots; recognised by
    /// content), folders and .tar/.tar.gz archives of them, pdsh/clush streams (`host: `
    /// prefixes) or stdin; aligns every node's devices by their place in the PCIe tree (so bus
    /// renumbering does not matter), finds the fleet's value for every setting and the nodes
    /// that differ, applies the doctor's rulebook to every node, and groups nodes that share
    /// their differences, with the firmware or kernel facts the group has in common.
    ///
    /// Examples:
    ///   pdsh -w 'node[001-512]' 'sudo lspci -vvv' | trainyard fleet analyze -
    ///   srun -N512 trainyard snapshot -o /shared/snap/%h.json; trainyard fleet analyze /shared/snap
    ///   trainyard fleet analyze fleet.tar.gz --json > report.json
    ///   trainyard fleet analyze snaps/ --html report.html --fail-on warning
    ///
    /// Exit status: 0 no finding at or above --fail-on, 1 findings, 2 some input could not be
    /// read (listed under "Skipped inputs"; the rest is analyzed) or bad usage.
    #[command(verbatim_doc_comment)]
    Analyze(AnalyzeArgs),
}

/// `trainyard fleet analyze` options.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Files, folders, archives or pdsh streams; `-` reads stdin.
    #[arg(value_name = "INPUT", required = true)]
    pub inputs: Vec<PathBuf>,

    /// Print the report as JSON (see docs/fleet.md).
    #[arg(long)]
    pub json: bool,

    /// Also write a self-contained HTML page with a nodes x findings heat map.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,

    /// How many findings the summary table shows.
    #[arg(long, default_value_t = 15, value_name = "N")]
    pub top: usize,

    /// Also detail the low-ranked (info) findings.
    #[arg(long)]
    pub all: bool,

    /// Exit 1 when a finding is at least this severe.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,

    /// pdsh streams: how many hosts may be interleaved at once before the least recently
    /// active one is taken as complete.
    #[arg(long, default_value_t = 256, value_name = "HOSTS")]
    pub pdsh_window: usize,
}

/// `trainyard fleet synth` options.
#[derive(Debug, Args)]
pub struct SynthArgs {
    /// Template: `lspci -vvv` text of one whole server, or a trainyard snapshot JSON.
    #[arg(long, value_name = "TEMPLATE")]
    pub from: PathBuf,

    /// Number of nodes to generate.
    #[arg(long, value_name = "N")]
    pub nodes: usize,

    /// Write one file per node into DIR (`node00001.txt` or `.json`).
    #[arg(long, value_name = "DIR", required_unless_present = "pdsh")]
    pub out: Option<PathBuf>,

    /// Write one pdsh-style stream (every line prefixed `host: `); `-` is stdout.
    #[arg(long, value_name = "FILE", conflicts_with = "out")]
    pub pdsh: Option<PathBuf>,

    /// Interleave hosts in the pdsh stream in small random batches, as pdsh fanout does.
    #[arg(long, requires = "pdsh")]
    pub interleave: bool,

    /// Write the ground truth (faults and natural variation, per node) as JSON.
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,

    /// RNG seed; the same seed and template give the same bytes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Nodes per fault kind, e.g. `acs=12,downtrain=3,mrrs=2,relaxed_ordering=2,missing=1,
    /// aer=4,bios=12`; kinds not named keep their defaults, `kind=0` disables one.
    #[arg(long, value_name = "KIND=N,...")]
    pub faults: Option<String>,

    /// Host name prefix (`node` gives node00001, node00002, ...).
    #[arg(long, default_value = "node")]
    pub prefix: String,
}

/// `trainyard doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Snapshot, lspci text or hex dump; `-` reads stdin; nothing collects from this machine.
    #[arg(value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// Print the report as JSON (see docs/doctor.md).
    #[arg(long)]
    pub json: bool,

    /// Exit 1 when a finding is at least this severe.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,

    /// Collect from a fake root (a directory with `sys/` and `proc/`) instead of `/`.
    #[arg(long, value_name = "DIR", conflicts_with = "input")]
    pub root: Option<PathBuf>,

    /// List the rules and exit.
    #[arg(long)]
    pub list_rules: bool,
}

/// Severity threshold for the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Errors only.
    Error,
    /// Warnings and errors.
    Warning,
    /// Any finding.
    Info,
    /// Never exit 1.
    Never,
}

/// `trainyard snapshot` options.
#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// Output file (`-` or nothing: standard output); `%h` is replaced by the host name.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Read a fake tree holding `sys/` and `proc/` instead of `/` (runs no tools).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Host name to record instead of the kernel's.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,

    /// Do not run nvidia-smi (GPUs are then listed from PCI identity only).
    #[arg(long)]
    pub no_tools: bool,
}

/// `trainyard pci ...`
#[derive(Debug, Subcommand)]
pub enum PciCommand {
    /// Parse `lspci -vvv` text (any of -v/-vv/-vvv, -nn, -D, -k, -PP; pdsh `host: ` prefixes).
    ///
    /// Examples:
    ///   lspci -vvv | trainyard pci parse
    ///   pdsh -w 'node[001-512]' 'lspci -vvv' | trainyard pci parse --format fields > fleet.tsv
    ///   trainyard pci parse node17.txt --format fields | grep -E 'ACSCtl|LnkSta'
    #[command(verbatim_doc_comment)]
    Parse(PciArgs),

    /// Decode raw config space: `lspci -x`/`-xxx`/`-xxxx` hex dumps or sysfs `config` files.
    ///
    /// Examples:
    ///   sudo lspci -xxxx > dump.txt && trainyard pci decode dump.txt
    ///   sudo trainyard pci decode /sys/bus/pci/devices/0000:17:00.0/config
    ///   trainyard pci decode dump.txt --format fields | diff - <(trainyard pci parse vvv.txt --format fields)
    #[command(verbatim_doc_comment)]
    Decode(DecodeArgs),
}

/// Input and output options shared by `parse` and `decode`.
#[derive(Debug, Args)]
pub struct PciArgs {
    /// Input file; `-` or nothing reads standard input.
    #[arg(value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Output format.
    ///
    /// human: one lspci-style block per device. fields: one line per setting,
    /// `ADDRESS<TAB>KEY<TAB>VALUE` (with a leading HOST column when the input had host
    /// prefixes), stable and diffable. json: the full model (see docs/json.md).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,

    /// Same as `--format json`.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
}

/// `decode` takes the shared options plus an address for raw binary input.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// Shared input/output options.
    #[command(flatten)]
    pub common: PciArgs,

    /// Address to report for a raw binary config file, when the path does not contain one
    /// (sysfs paths such as /sys/bus/pci/devices/0000:17:00.0/config do).
    #[arg(long, value_name = "DOMAIN:BUS:DEV.FN")]
    pub address: Option<String>,
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// lspci-style text.
    Human,
    /// `ADDRESS<TAB>KEY<TAB>VALUE` lines.
    Fields,
    /// The full device model as JSON.
    Json,
}

impl PciArgs {
    /// The effective format (`--json` wins).
    pub fn format(&self) -> Format {
        if self.json {
            Format::Json
        } else {
            self.format
        }
    }
}
