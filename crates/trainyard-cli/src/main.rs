//! `trainyard`: the fleet doctor, job supervisor and goodput simulator for GPU clusters.
//!
//! The binary is thin: clap types in [`args`], one module per command group in
//! [`commands`], exit codes in [`exit`].

mod args;
mod commands;
mod exit;
mod input;
mod job_args;
mod job_sink;
mod live;
mod logging;
mod time_fmt;

use std::process::ExitCode;

use clap::Parser;

// `fleet analyze` allocates and frees every parsed device of every node: hundreds of
// thousands of small blocks per second per core, some freed on another thread than the one
// that allocated them (pdsh hosts). glibc's malloc and free were about a fifth of its
// instructions; jemalloc's thread caches take 10-25% off its CPU time (docs/BENCHMARKS.md,
// fleet section). mimalloc did as well on instructions but returned and re-faulted freed
// pages (2-5x the system time) unless tuned through `unsafe` calls or the environment.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The hidden subcommand the local driver starts every rank through (`trainyard __rank-guard
/// --grace-ms N --exit-file F -- PROGRAM ARGS...`; see `trainyard_exec::guard`).
const RANK_GUARD: &str = "__rank-guard";

fn main() -> ExitCode {
    // The rank guard (every rank's process-group leader) is this binary too; it starts before
    // clap and logging so launching a rank costs as little as possible.
    let mut argv = std::env::args_os();
    if argv.nth(1).is_some_and(|a| a == RANK_GUARD) {
        trainyard_exec::guard::main(argv);
    }
    let cli = args::Cli::parse();
    logging::init(cli.verbose);
    match commands::dispatch(cli) {
        Ok(code) => code.into(),
        Err(err) => {
            // A closed pipe (`trainyard pci parse big.txt | head`) is not a failure.
            if err.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            let mut stderr = anstream::stderr();
            let _ =
                std::io::Write::write_fmt(&mut stderr, format_args!("trainyard: error: {err:#}\n"));
            exit::Exit::BadInput.into()
        }
    }
}
