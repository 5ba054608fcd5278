//! `mps-cli`, the terminal client of MPS: thin wiring around [`mps_cli`].

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    mps_cli::run(mps_cli::args::Cli::parse()).await
}
