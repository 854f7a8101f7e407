//! `trainyard fleet ...`: routes each fleet subcommand to its module.

use crate::args::FleetCommand;
use crate::exit::Exit;

/// Runs one `fleet` subcommand.
pub fn run(cmd: FleetCommand) -> anyhow::Result<Exit> {
    match cmd {
        FleetCommand::Synth(args) => super::fleet_synth::run(&args),
        FleetCommand::Analyze(args) => super::fleet_analyze::run(&args),
    }
}
