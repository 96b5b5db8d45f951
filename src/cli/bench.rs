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
    /// `kennel rollout` writing a dataset (frames/s, MB/s, peak RSS) beside the simulator's
    /// all-threads figure, measured alternately in one run.
    Rollout(RolloutBenchArgs),
}

#[derive(Debug, Args)]
pub struct RolloutBenchArgs {
    /// World file or shipped world name.
    #[arg(long, default_value = "two_rooms")]
    world: String,
    /// Size of the dataset each repeat writes, in GB (10⁹ bytes).
    #[arg(long, default_value_t = 1.0)]
    gb: f64,
    /// Folder the datasets are written in (and deleted from): its disk is what is measured.
    #[arg(long, default_value = "runs/bench-rollout")]
    dir: std::path::PathBuf,
    /// Threads of both measurements (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Repeats (medians are reported).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
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

/// `--threads`: 0 is one per core.
fn threads_or_all(threads: usize) -> usize {
    if threads == 0 {
        std::thread::available_parallelism().map_or(1, usize::from)
    } else {
        threads
    }
}

pub fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Rollout(args) => bench_rollout(&args),
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
            let threads = threads_or_all(args.threads);
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

/// What `kennel bench rollout --json` prints: medians over the repeats.
#[derive(Debug, serde::Serialize)]
struct RolloutBenchReport {
    world: String,
    threads: usize,
    repeats: usize,
    episodes: u64,
    dataset_mb: f64,
    rollout_frames_per_s: f64,
    rollout_mb_per_s: f64,
    rollout_peak_rss_mb: f64,
    sim_all_threads_frames_per_s: f64,
    /// Median over the repeats of (rollout frames/s) / (simulator frames/s) of that repeat.
    ratio: f64,
}

/// Writes a dataset of about `--gb` with `kennel rollout` (a child process, so that its peak
/// RSS is its own) and measures the simulator's all-threads pixel env steps/s just before,
/// each repeat.
fn bench_rollout(args: &RolloutBenchArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    anyhow::ensure!(args.repeats > 0, "--repeats must be at least 1");
    anyhow::ensure!(
        args.gb.is_finite() && args.gb > 0.0,
        "--gb must be a positive size in GB, got {}",
        args.gb
    );
    let spec = load_world(&args.world)?;
    let threads = threads_or_all(args.threads);
    // Episodes for the size, from the mean size of a few.
    let sample: Vec<_> = (0..8)
        .map(|e| {
            use agent::dataset::EpisodeSource;
            agent::dataset::SmoothRandomSource::new(spec.clone()).record(
                0,
                e,
                Vec::new(),
                &mut None,
            )
        })
        .collect::<Result<_, _>>()?;
    let per_episode =
        sample.iter().map(|e| e.shard_bytes() as f64).sum::<f64>() / sample.len() as f64;
    let episodes = ((args.gb * 1e9 / per_episode).ceil() as u64).max(1);
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    if !args.json {
        eprintln!(
            "{} repeats: the simulator's all-threads pixel env steps/s, then `kennel rollout` of {episodes} {} episodes (about {:.2} GB) into {}…",
            args.repeats,
            spec.name,
            episodes as f64 * per_episode / 1e9,
            args.dir.display()
        );
    }
    let exe = std::env::current_exe().context("cannot find the kennel binary")?;
    let (mut sims, mut rollouts, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for repeat in 0..args.repeats {
        let sim = crate::bench::pixel_env_steps_per_s(&spec, 16, threads, 16_000)?;
        let out = args.dir.join(format!("repeat-{repeat}"));
        let _ = std::fs::remove_dir_all(&out);
        let output = std::process::Command::new(&exe)
            .args(["rollout", "--world", &args.world, "--json", "--episodes"])
            .arg(episodes.to_string())
            .arg("--threads")
            .arg(threads.to_string())
            .arg("--out")
            .arg(&out)
            .output()
            .context("cannot run kennel rollout")?;
        let _ = std::fs::remove_dir_all(&out);
        anyhow::ensure!(
            output.status.success(),
            "kennel rollout failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let figures: super::rollout::RolloutFigures = serde_json::from_slice(&output.stdout)
            .context("kennel rollout --json printed something else")?;
        if !args.json {
            eprintln!(
                "  repeat {}: simulator {sim:.0} frames/s; rollout {:.0} frames/s, {:.0} MB/s, peak RSS {:.0} MB",
                repeat + 1,
                figures.frames_per_s,
                figures.mb_per_s,
                figures.peak_rss_mb.unwrap_or(f64::NAN)
            );
        }
        ratios.push(figures.frames_per_s / sim);
        sims.push(sim);
        rollouts.push(figures);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let report = RolloutBenchReport {
        world: spec.name.clone(),
        threads,
        repeats: args.repeats,
        episodes,
        dataset_mb: median(rollouts.iter().map(|f| f.bytes as f64 / 1e6).collect()),
        rollout_frames_per_s: median(rollouts.iter().map(|f| f.frames_per_s).collect()),
        rollout_mb_per_s: median(rollouts.iter().map(|f| f.mb_per_s).collect()),
        rollout_peak_rss_mb: median(
            rollouts
                .iter()
                .map(|f| f.peak_rss_mb.unwrap_or(f64::NAN))
                .collect(),
        ),
        sim_all_threads_frames_per_s: median(sims),
        ratio: median(ratios),
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
        return Ok(());
    }
    println!(
        "| {} ({} threads, {:.0} MB, median of {}) | |",
        report.world, report.threads, report.dataset_mb, report.repeats
    );
    println!("|---|---|");
    println!(
        "| simulator, pixel env steps/s | {:.0} |",
        report.sim_all_threads_frames_per_s
    );
    println!(
        "| rollout, frames/s | {:.0} ({:.0}% of the simulator's) |",
        report.rollout_frames_per_s,
        100.0 * report.ratio
    );
    println!("| rollout, MB/s | {:.0} |", report.rollout_mb_per_s);
    println!(
        "| rollout, peak RSS | {:.0} MB |",
        report.rollout_peak_rss_mb
    );
    Ok(())
}
