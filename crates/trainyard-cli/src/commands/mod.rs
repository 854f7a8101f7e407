//! One module per command group.

mod cancel;
mod doctor;
mod fleet;
mod fleet_analyze;
mod fleet_synth;
mod jobs;
mod launch;
mod logs;
mod pci;
mod ps;
mod show;
pub(crate) mod sim;
mod snapshot;
mod supervise;

use crate::args::{Cli, Command};
use crate::exit::Exit;

/// Runs the parsed command line.
pub fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Pci(cmd) => pci::run(cmd),
        Command::Snapshot(args) => snapshot::run(&args),
        Command::Doctor(args) => doctor::run(&args),
        Command::Fleet(cmd) => fleet::run(cmd),
        Command::Launch(args) => launch::run(&args),
        Command::Ps(args) => ps::run(&args),
        Command::Show(args) => show::run(&args),
        Command::Logs(args) => logs::run(&args),
        Command::Cancel(args) => cancel::run(&args),
        Command::Sim(args) => sim::run(&args),
        Command::Supervise(args) => supervise::run_detached(&args),
        Command::Agent(args) => supervise::run_agent(&args),
    }
}
