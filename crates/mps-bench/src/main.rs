//! `mps-bench`: the load harness. Build with `cargo build --release --bins`, then run
//! `target/release/mps-bench [--quick]` (or `scripts/bench.sh`); see docs/benchmarks.md.

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let options = mps_bench::Options::parse();
    match mps_bench::run(options).await {
        Ok(summary) => {
            println!("{}", summary.markdown());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mps-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}
