//! `trainyard fleet synth`: generate a test fleet from one real server.

use crate::args::SynthArgs;
use crate::exit::Exit;

/// Generates the fleet (implementation lands with `trainyard_fleet::synth`).
pub fn run(_args: &SynthArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("fleet synth: not implemented yet")
}
