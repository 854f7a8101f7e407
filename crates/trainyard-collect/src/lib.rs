//! # trainyard-collect
//!
//! The live collector: reads one node's hardware truth from `/sys` and `/proc` (PCI config
//! space and attributes, DMI, kernel, IOMMU, InfiniBand/RoCE, network interfaces, kernel
//! modules, GPUs, CPU and NUMA) into a [`Snapshot`]. This is the only trainyard crate that
//! reads `/sys` or `/proc`.
//!
//! The collector never writes anything and runs nothing but `nvidia-smi -q -x` (read-only,
//! only with [`CollectOptions::run_tools`]). Whatever it cannot read lands in
//! `snapshot.missing` with the reason, so a snapshot taken without root still says what it
//! lacks.
//!
//! ```no_run
//! use trainyard_collect::{collect, CollectOptions};
//!
//! let snapshot = collect(&CollectOptions::default());
//! println!("{} PCI functions on {}", snapshot.pci.len(), snapshot.host);
//! for m in &snapshot.missing {
//!     println!("could not read {}: {}", m.what, m.reason);
//! }
//! ```
//!
//! With [`CollectOptions::root`] set to a directory holding a fake `sys/` and `proc/` tree,
//! the same code reads that tree instead (tests, fixtures), and runs no tools.
#![deny(missing_docs)]

mod cpu;
mod dmi;
#[cfg(feature = "fixture")]
pub mod fixture;
mod fsutil;
mod gpu;
mod ib;
mod iommu;
mod kernel;
mod modules;
mod net;
mod pci;
mod record;
mod time;

use std::path::{Path, PathBuf};
use std::time::Duration;

use trainyard_snapshot::Snapshot;

pub use gpu::parse_nvidia_smi_xml;
pub use modules::MODULES_OF_INTEREST;
pub use time::rfc3339_utc;

use crate::fsutil::Fs;
use crate::record::Recorder;

/// What to collect and from where.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CollectOptions {
    /// Directory holding `sys/` and `proc/`: `/` for the live system, a fake tree in tests.
    pub root: PathBuf,
    /// Run read-only tools (`nvidia-smi -q -x`) found on `PATH`. Off for fake trees, where
    /// the tools would describe this machine rather than the tree.
    pub run_tools: bool,
    /// Host name to record instead of `ROOT/proc/sys/kernel/hostname`.
    pub host: Option<String>,
    /// Longest a tool may run before it is killed and recorded as missing. `nvidia-smi` can
    /// take seconds when the driver is not in persistence mode.
    pub tool_timeout: Duration,
    /// Collector name recorded in the snapshot (`trainyard 0.1.0`).
    pub collector: String,
}

impl Default for CollectOptions {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/"),
            run_tools: true,
            host: None,
            tool_timeout: Duration::from_secs(10),
            collector: format!("trainyard {}", env!("CARGO_PKG_VERSION")),
        }
    }
}

impl CollectOptions {
    /// Options reading the fake tree at `root`, with tools off.
    pub fn fake_root(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            run_tools: false,
            ..Self::default()
        }
    }

    /// Sets the recorded host name.
    pub fn with_host(mut self, host: Option<String>) -> Self {
        self.host = host;
        self
    }
}

/// Why collection cannot start at all (everything later is recorded in `missing` instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// The root directory does not exist or is not a directory.
    #[error("{}: not a directory (expected a root holding sys/ and proc/)", path.display())]
    NotADirectory {
        /// The root given.
        path: PathBuf,
    },
    /// The root holds neither `sys/` nor `proc/`: almost certainly the wrong directory.
    #[error("{}: has neither sys/ nor proc/ (expected a root such as / or a fake tree)", path.display())]
    NotARoot {
        /// The root given.
        path: PathBuf,
    },
}

/// Checks that `root` looks like a root directory, for callers that want a usage error
/// (exit 2) for `--root /wrong/dir` rather than a snapshot that is all `missing`.
pub fn check_root(root: &Path) -> Result<(), CollectError> {
    if !root.is_dir() {
        return Err(CollectError::NotADirectory {
            path: root.to_path_buf(),
        });
    }
    if !root.join("sys").is_dir() && !root.join("proc").is_dir() {
        return Err(CollectError::NotARoot {
            path: root.to_path_buf(),
        });
    }
    Ok(())
}

/// Collects a snapshot of the node at `opts.root`. Never fails and never panics: what cannot
/// be read is listed in `missing`.
#[tracing::instrument(skip_all, fields(root = %opts.root.display()))]
pub fn collect(opts: &CollectOptions) -> Snapshot {
    let fs = Fs::new(&opts.root);
    let mut rec = Recorder::default();
    let host = match &opts.host {
        Some(h) => h.clone(),
        None => kernel::hostname(&fs, &mut rec),
    };
    let mut snap = Snapshot::new(
        host,
        rfc3339_utc(std::time::SystemTime::now()),
        opts.collector.clone(),
    );
    snap.pci = pci::collect(&fs, &mut rec);
    snap.dmi = dmi::collect(&fs, &mut rec);
    snap.kernel = kernel::collect(&fs, &mut rec);
    snap.iommu = iommu::collect(&fs, &mut rec);
    snap.infiniband = ib::collect(&fs, &mut rec);
    snap.net = net::collect(&fs, &mut rec);
    snap.modules = modules::collect(&fs, &mut rec);
    snap.gpus = gpu::collect(&snap.pci, opts, &mut rec);
    snap.cpu = cpu::collect(&fs, &mut rec);
    snap.missing = rec.into_missing();
    tracing::debug!(
        pci = snap.pci.len(),
        missing = snap.missing.len(),
        "snapshot collected"
    );
    snap
}
