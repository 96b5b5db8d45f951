//! Command-line interface: one file per subcommand.

mod bench;
mod dataset;
mod demo;
mod eval;
mod grid;
mod probe;
mod render;
mod rollout;
mod train;
#[cfg(feature = "desktop")]
mod view;
mod worlds;

use clap::{Parser, Subcommand};

/// kennel: an embodied physics simulation that streams camera frames and actions to an
/// in-process JEPA learner.
#[derive(Debug, Parser)]
#[command(name = "kennel", version, about, long_about = None)]
pub struct Cli {
    /// More log output (-v info, -vv debug); `RUST_LOG` overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List, validate and describe world files.
    #[command(subcommand)]
    Worlds(worlds::WorldsCommand),
    /// Render one frame of a world to a PNG.
    Render(render::RenderArgs),
    /// Record a dataset: safetensors shards and a manifest, resumable, split across jobs.
    Rollout(rollout::RolloutArgs),
    /// Merge the jobs of a dataset, verify one, summarise one.
    #[command(subcommand)]
    Dataset(dataset::DatasetCommand),
    /// Learn a JEPA world model from a world's frames.
    Train(train::TrainArgs),
    /// Evaluate a trained model's planner on seeded episodes, with reference rows.
    Eval(eval::EvalArgs),
    /// The closed loop: explore, learn, plan to goals while learning, then evaluate.
    Demo(demo::DemoArgs),
    /// The seed grid: a lockstep demo per seed, each evaluated on the world and its variants;
    /// mean, spread and 95% interval over seeds.
    Grid(grid::GridArgs),
    /// Measure what a trained model's latents know (probes, open loop, collapse).
    Probe(probe::ProbeArgs),
    /// Measure throughput and print a table (and JSON).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// The desktop app: watch the world model learn and plan, drive the agent, set goals.
    #[cfg(feature = "desktop")]
    View(view::ViewArgs),
    /// The desktop app (not in this build: it was built with --no-default-features).
    #[cfg(not(feature = "desktop"))]
    View,
}

/// Sets up `tracing` on stderr.
pub fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Worlds(command) => worlds::run(command),
        Command::Render(args) => render::run(&args),
        Command::Rollout(args) => rollout::run(&args),
        Command::Dataset(command) => dataset::run(command),
        Command::Train(args) => train::run(&args),
        Command::Probe(args) => probe::run(&args),
        Command::Eval(args) => eval::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Grid(args) => grid::run(&args),
        Command::Bench(command) => bench::run(command),
        #[cfg(feature = "desktop")]
        Command::View(args) => view::run(&args),
        #[cfg(not(feature = "desktop"))]
        Command::View => anyhow::bail!(
            "this kennel was built without the desktop app (--no-default-features); rebuild with `cargo build --release` (the `desktop` feature) to use `kennel view`"
        ),
    }
}
