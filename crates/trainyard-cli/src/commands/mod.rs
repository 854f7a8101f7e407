//! One module per command group.

mod doctor;
mod fleet;
mod fleet_analyze;
mod fleet_synth;
mod pci;
mod snapshot;

use crate::args::{Cli, Command};
use crate::exit::Exit;

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Pci(cmd) => pci::run(cmd),
        Command::Snapshot(args) => snapshot::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Fleet(cmd) => fleet::run(cmd),
    }
}
