//! `kennel bench`: throughput tables (and one JSON object with `--json`).

use clap::{Args, Subcommand};

use crate::bench::{SimBenchConfig, SimBenchReport, sim_bench};
use crate::world_files::load_world;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Physics, rendering and pixel-env throughput of a world.
    Sim(SimArgs),
    /// Training and inference speed of the default and the reference world models.
    Train(TrainArgs),
}

#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Timed repeats per measurement (medians are reported).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Sequences per training step in every row.
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// World file or shipped world name.
    #[arg(long, default_value = "two_rooms")]
    world: String,
    /// Environments in the vector-env measurements.
    #[arg(long, default_value_t = 16)]
    envs: usize,
    /// Threads for the all-threads measurement (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Timed repeats per measurement (medians are reported).
    #[arg(long, default_value_t = 5)]
    repeats: usize,
    /// Env steps per repeat of the pixel-env measurements.
    #[arg(long, default_value_t = 8_000)]
    env_steps: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Train(args) => {
            anyhow::ensure!(args.repeats > 0, "--repeats must be at least 1");
            anyhow::ensure!(
                args.batch >= 2 && args.batch.is_multiple_of(2),
                "--batch must be an even number of at least 2 (the default model's episode context trains on pairs of sequences), got {}",
                args.batch
            );
            let device = burn::prelude::Device::flex();
            if !args.json {
                eprintln!(
                    "measuring training and inference ({} repeats each, medians, batch {})…",
                    args.repeats, args.batch
                );
            }
            let rows = [
                (
                    "default",
                    agent::bench::bench_default(1, args.batch, args.repeats, &device),
                ),
                (
                    "reference",
                    agent::bench::bench_reference(1, args.batch, args.repeats, &device),
                ),
                (
                    "default_k4",
                    agent::bench::bench_default(4, args.batch, args.repeats, &device),
                ),
                (
                    "reference_k4",
                    agent::bench::bench_reference(4, args.batch, args.repeats, &device),
                ),
            ];
            // Whole decisions on one core (a one-thread pool): the budget of DESIGN's planner.
            let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
            let plans: Vec<agent::bench::PlanBenchRow> = [(64, 3, 10), (128, 3, 6), (256, 3, 8)]
                .into_iter()
                .map(|(samples, iterations, horizon)| {
                    pool.install(|| {
                        agent::bench::bench_plan(
                            40 * args.repeats,
                            samples,
                            iterations,
                            horizon,
                            &device,
                        )
                    })
                })
                .collect();
            if args.json {
                let mut object: serde_json::Map<String, serde_json::Value> = rows
                    .iter()
                    .map(|(name, row)| Ok(((*name).to_owned(), serde_json::to_value(row)?)))
                    .collect::<anyhow::Result<_>>()?;
                object.insert("planner".to_owned(), serde_json::to_value(&plans)?);
                println!("{}", serde_json::Value::Object(object));
            } else {
                println!(
                    "| model | k | sequences | train step (ms) | score 4× as many (ms) | encode 64 frames (ms) | predictor, batch 512 (ms) |"
                );
                println!("|---|---|---|---|---|---|---|");
                for (name, row) in &rows {
                    let score = row
                        .score_pool4_ms
                        .map_or_else(|| "–".to_owned(), |ms| format!("{ms:.0}"));
                    println!(
                        "| {name} | {} | {} | {:.0} | {score} | {:.1} | {:.2} |",
                        row.k, row.batch, row.train_step_ms, row.encode_ms_b64, row.predict_ms_b512
                    );
                }
                println!(
                    "\nplanner, one core, whole decisions (encode + CEM in the default model + critic + guardrail; first row = `kennel eval`/`demo` default):"
                );
                println!(
                    "| samples × iterations × horizon | decision p50 (ms) | decision p99 (ms) |"
                );
                println!("|---|---|---|");
                for plan in &plans {
                    println!(
                        "| {} × {} × {} | {:.1} | {:.1} |",
                        plan.samples,
                        plan.iterations,
                        plan.horizon,
                        plan.decision_ms_p50,
                        plan.decision_ms_p99
                    );
                }
            }
            Ok(())
        }
        BenchCommand::Sim(args) => {
            anyhow::ensure!(args.envs > 0, "--envs must be at least 1");
            anyhow::ensure!(args.repeats > 0, "--repeats must be at least 1");
            let threads = if args.threads == 0 {
                std::thread::available_parallelism().map_or(1, usize::from)
            } else {
                args.threads
            };
            let spec = load_world(&args.world)?;
            if !args.json {
                eprintln!(
                    "measuring {} ({} repeats each, medians; {} envs, 1 and {threads} threads)…",
                    spec.name, args.repeats, args.envs
                );
            }
            let config = SimBenchConfig {
                envs: args.envs,
                threads,
                repeats: args.repeats,
                env_steps: args.env_steps.max(args.envs),
            };
            let report = sim_bench(&spec, &config)?;
            if args.json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                print_table(&report);
            }
            Ok(())
        }
    }
}

fn print_table(r: &SimBenchReport) {
    println!(
        "| {} (action repeat {}, {} envs) | median of {} |",
        r.world, r.action_repeat, r.envs, r.repeats
    );
    println!("|---|---|");
    println!(
        "| physics steps/s, 1 thread | {:.0} ({:.1} µs/step) |",
        r.physics_steps_per_s, r.physics_us_per_step
    );
    println!(
        "| render 64×64 | {:.1} µs/frame |",
        r.render_us_per_frame_64
    );
    println!(
        "| render 128×128 | {:.1} µs/frame |",
        r.render_us_per_frame_128
    );
    println!(
        "| pixel env steps/s, 1 thread | {:.0} |",
        r.pixel_env_steps_per_s_1_thread
    );
    println!(
        "| pixel env steps/s, {} threads | {:.0} ({:.2}× one thread) |",
        r.threads, r.pixel_env_steps_per_s_all_threads, r.all_threads_speedup
    );
}
