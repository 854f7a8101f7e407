//! `trainyard`: the fleet doctor, job supervisor and goodput simulator for GPU clusters.
//!
//! The binary is thin: clap types in [`args`], one module per command group in
//! [`commands`], exit codes in [`exit`].

mod args;
mod commands;
mod exit;
mod input;
mod logging;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
