//! Writes the 8-GPU/8-NIC server fixture tree to a directory, for benchmarks and for trying
//! `trainyard snapshot --root DIR` by hand.
//!
//! ```text
//! cargo run -p trainyard-collect --example fake_tree -- /tmp/gpu-server
//! trainyard snapshot --root /tmp/gpu-server
//! ```
// A command-line aid: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: fake_tree DIR");
        return ExitCode::from(2);
    };
    match trainyard_collect::fixture::gpu_server(&dir) {
        Ok(layout) => {
            println!(
                "{}: {} PCI functions ({} GPUs, {} NICs)",
                dir.display(),
                layout.functions.len(),
                layout.gpus.len(),
                layout.nics.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("fake_tree: {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}
