//! `mps-cli`, the terminal client of MPS: thin wiring around [`mps::cli`].

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    mps::cli::run(mps::cli::args::Cli::parse()).await
}
