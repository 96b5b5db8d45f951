//! `kennel`: the command-line front end (and, later, the desktop app) of the kennel simulator
//! and learner. Each subcommand lives in `cli/`; this file parses and dispatches.

mod bench;
mod cli;
mod plot;
mod world_files;

use clap::Parser;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose);
    match cli::run(args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
