//! `kennel rollout`: records a dataset (safetensors shards and a manifest) that Python and
//! `kennel train --data` read; resumable after a kill, and split across the jobs of a Slurm
//! job array or a Kubernetes Indexed Job. The work is `agent::dataset`'s.

use std::path::{Path, PathBuf};

use agent::dataset::{
    EpisodeSource, PlannerSource, PolicyRecord, RolloutPlan, RolloutProgress, ShardSpec,
    SmoothRandomSource, write_dataset,
};
use agent::eval::LearnedPolicy;
use agent::pipeline::PlannerGraph;
use agent::train::load_model;
use anyhow::{Context, bail};
use burn::prelude::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::eval::{PlannerArgs, cost_models_with_progress};
use crate::world_files::load_world;

#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// World file or shipped world name.
    #[arg(long, default_value = "two_rooms")]
    world: String,
    /// Episodes of the whole dataset (a job with --shard records its share).
    #[arg(long)]
    episodes: u64,
    /// The dataset folder (one per job when the work is split).
    #[arg(long)]
    out: PathBuf,
    /// Episodes recorded side by side.
    #[arg(long, default_value_t = 16)]
    envs: usize,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Master seed: episode e is a function of the world, this seed, e and the policy.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// What acts: `smooth-random` (the world's exploration) or `planner:CHECKPOINT` (the
    /// learned planner acting to each episode's goal; its flags below).
    #[arg(long, default_value = "smooth-random", value_parser = parse_policy)]
    policy: PolicyArg,
    /// This job's share, `I/N` (I from 0). Without it, Slurm's SLURM_ARRAY_TASK_ID and
    /// SLURM_ARRAY_TASK_COUNT, or Kubernetes' JOB_COMPLETION_INDEX with --shard-count.
    #[arg(long)]
    shard: Option<ShardSpec>,
    /// Jobs in all, with JOB_COMPLETION_INDEX (a Kubernetes Indexed Job's completions).
    #[arg(long)]
    shard_count: Option<u64>,
    /// Finish the interrupted job in --out (or start it, if the folder is empty).
    #[arg(long)]
    resume: bool,
    /// Shard size in MB (10⁶ bytes): a shard closes after the episode that reaches it.
    #[arg(long, default_value_t = 256.0)]
    shard_mb: f64,
    /// Print no progress bar (for logs).
    #[arg(long)]
    quiet: bool,
    /// Print the run's figures as one JSON object instead of text (no progress bar).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    planner: PlannerArgs,
}

#[derive(Clone, Debug)]
enum PolicyArg {
    SmoothRandom,
    Planner(PathBuf),
}

fn parse_policy(text: &str) -> Result<PolicyArg, String> {
    match text.split_once(':') {
        None if text == "smooth-random" => Ok(PolicyArg::SmoothRandom),
        Some(("planner", path)) if !path.is_empty() => Ok(PolicyArg::Planner(path.into())),
        _ => Err(format!(
            "{text:?}: expected `smooth-random` or `planner:CHECKPOINT` (a checkpoint or run folder)"
        )),
    }
}

/// This job's share: `--shard`, else the scheduler's environment; and where it came from.
fn job_share(args: &RolloutArgs) -> anyhow::Result<Option<(ShardSpec, &'static str)>> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let number = |name: &str, value: String| -> anyhow::Result<u64> {
        value
            .trim()
            .parse()
            .with_context(|| format!("{name}={value:?} is not a whole number"))
    };
    if let Some(shard) = args.shard {
        if args.shard_count.is_some() {
            bail!(
                "--shard-count goes with JOB_COMPLETION_INDEX; --shard {shard} already gives the job count"
            );
        }
        return Ok(Some((shard, "--shard")));
    }
    if let Some(id) = var("SLURM_ARRAY_TASK_ID") {
        let id = number("SLURM_ARRAY_TASK_ID", id)?;
        // Arrays may start anywhere (--array=1-8): count from the array's first index.
        let min = var("SLURM_ARRAY_TASK_MIN")
            .map(|v| number("SLURM_ARRAY_TASK_MIN", v))
            .transpose()?
            .unwrap_or(0);
        let count = match (args.shard_count, var("SLURM_ARRAY_TASK_COUNT")) {
            (Some(n), _) => n,
            (None, Some(n)) => number("SLURM_ARRAY_TASK_COUNT", n)?,
            (None, None) => bail!(
                "SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not; pass --shard-count N (the array's size) or --shard I/N"
            ),
        };
        let shard = ShardSpec::new(id.saturating_sub(min), count)
            .map_err(|e| anyhow::anyhow!("SLURM_ARRAY_TASK_ID: {e}"))?;
        return Ok(Some((shard, "SLURM_ARRAY_TASK_ID")));
    }
    if let Some(index) = var("JOB_COMPLETION_INDEX") {
        let index = number("JOB_COMPLETION_INDEX", index)?;
        let Some(count) = args.shard_count else {
            bail!(
                "JOB_COMPLETION_INDEX={index} is set (a Kubernetes Indexed Job) but --shard-count is not; pass --shard-count N, the Job's completions"
            );
        };
        let shard = ShardSpec::new(index, count)
            .map_err(|e| anyhow::anyhow!("JOB_COMPLETION_INDEX: {e}"))?;
        return Ok(Some((shard, "JOB_COMPLETION_INDEX")));
    }
    if args.shard_count.is_some() {
        bail!(
            "--shard-count needs JOB_COMPLETION_INDEX in the environment (a Kubernetes Indexed Job); to pick a share by hand pass --shard I/N"
        );
    }
    Ok(None)
}

/// sha256 over a checkpoint folder's files (names and bytes, sorted): what makes two jobs'
/// planners the same wherever the folder lies.
fn folder_sha256(dir: &Path) -> anyhow::Result<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, base, out)?;
            } else {
                let name = path
                    .strip_prefix(base)
                    .unwrap_or(&path)
                    .display()
                    .to_string();
                out.push((name, path));
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files).with_context(|| format!("cannot read {}", dir.display()))?;
    files.sort();
    let mut all = Vec::new();
    for (name, path) in files {
        all.extend_from_slice(name.as_bytes());
        all.push(0);
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        all.extend_from_slice(agent::dataset::sha256_hex(&bytes).as_bytes());
    }
    Ok(agent::dataset::sha256_hex(&all))
}

pub fn run(args: &RolloutArgs) -> anyhow::Result<()> {
    if args.episodes == 0 {
        bail!("--episodes must be at least 1");
    }
    if !(args.shard_mb.is_finite() && args.shard_mb > 0.0) {
        bail!(
            "--shard-mb must be a positive number of megabytes, got {}",
            args.shard_mb
        );
    }
    let spec = load_world(&args.world)?;
    let share = job_share(args)?;
    let device = Device::flex();
    let loaded;
    let (source, policy): (Box<dyn EpisodeSource + '_>, PolicyRecord) = match &args.policy {
        PolicyArg::SmoothRandom => (
            Box::new(SmoothRandomSource::new(spec.clone())),
            PolicyRecord {
                name: "smooth-random".to_owned(),
                sha256: None,
                config: None,
            },
        ),
        PolicyArg::Planner(checkpoint) => {
            loaded = load_planner(
                &spec,
                checkpoint,
                &args.planner,
                args.seed,
                share.is_some(),
                &device,
            )?;
            let policy = LearnedPolicy {
                model: &loaded.model,
                planner: loaded.planner.clone(),
                cost: loaded.cost.clone(),
                critic: Some(&loaded.cost_models.critic),
                guardrail: loaded.cost_models.guardrail.as_ref(),
                routing: loaded.graphs.routing(),
                pose_readout: loaded.cost_models.pose_readout.as_ref(),
                pose_dynamics: loaded.cost_models.pose_dynamics.as_ref(),
                familiarity: loaded.cost_models.familiarity.as_ref(),
                sight: loaded.cost_models.sight.as_ref(),
            };
            (
                Box::new(PlannerSource::new(spec.clone(), policy, device.clone())),
                PolicyRecord {
                    name: format!("planner:{}", checkpoint.display()),
                    sha256: Some(loaded.sha256.clone()),
                    config: Some(loaded.config.clone()),
                },
            )
        }
    };
    let plan = RolloutPlan {
        dir: args.out.clone(),
        spec: spec.clone(),
        master_seed: args.seed,
        policy,
        dataset_episodes: args.episodes,
        shard: share.map(|(s, _)| s),
        shard_bytes: (args.shard_mb * 1e6).round().max(1.0) as u64,
        envs: args.envs,
        threads: args.threads,
        resume: args.resume,
    };
    if let Some((shard, from)) = share {
        let range = shard.range(args.episodes);
        eprintln!(
            "job {shard} (from {from}): {range} of {} into {}",
            args.episodes,
            args.out.display()
        );
    }
    let bar = if args.quiet || args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(1)
    };
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:25}] {pos}/{len} episodes  {msg}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_prefix(format!("rollout {}", spec.name));
    let mut last_shown = std::time::Instant::now();
    let summary = write_dataset(&plan, source.as_ref(), &mut |p: RolloutProgress| {
        bar.set_length(p.episodes_total);
        bar.set_position(p.episodes_done);
        if last_shown.elapsed().as_millis() >= 200 || p.episodes_done == p.episodes_total {
            last_shown = std::time::Instant::now();
            let s = p.elapsed.as_secs_f64().max(1e-9);
            bar.set_message(format!(
                "{:.0} frames/s  {:.1} MB/s",
                p.frames as f64 / s,
                p.bytes as f64 / 1e6 / s
            ));
        }
    })?;
    bar.finish_and_clear();
    let m = &summary.manifest;
    for file in &summary.regenerated {
        eprintln!("regenerated {file} (it was missing or damaged; it hashes as the manifest says)");
    }
    let s = summary.seconds.max(1e-9);
    let figures = RolloutFigures {
        episodes: summary.episodes,
        frames: summary.frames,
        bytes: summary.bytes,
        seconds: summary.seconds,
        threads: summary.threads,
        frames_per_s: summary.frames as f64 / s,
        mb_per_s: summary.bytes as f64 / 1e6 / s,
        peak_rss_mb: peak_rss().map(|kb| kb as f64 / 1e3),
        dataset_episodes: m.counts.episodes,
        dataset_bytes: m.counts.bytes,
        complete: m.complete,
    };
    if args.json {
        println!("{}", serde_json::to_string(&figures)?);
        return Ok(());
    }
    if summary.episodes == 0 && summary.regenerated.is_empty() {
        println!(
            "{} is already complete: {} episodes in {} shards; nothing to do",
            args.out.display(),
            m.counts.episodes,
            m.shards.len()
        );
        return Ok(());
    }
    println!(
        "recorded {} episodes ({} frames, {:.1} MB) in {:.1} s on {} threads: {:.0} frames/s, {:.1} MB/s; peak RSS {}",
        figures.episodes,
        figures.frames,
        figures.bytes as f64 / 1e6,
        figures.seconds,
        figures.threads,
        figures.frames_per_s,
        figures.mb_per_s,
        figures
            .peak_rss_mb
            .map_or_else(|| "unknown".to_owned(), |mb| format!("{mb:.0} MB")),
    );
    println!(
        "{}: {} of {} episodes{} in {} shards, {:.1} MB; {:.1}% ended in success{}",
        args.out.display(),
        m.counts.episodes,
        m.episodes.len(),
        m.shard_of_job
            .as_ref()
            .map_or(String::new(), |j| format!(" (job {j})")),
        m.shards.len(),
        m.counts.bytes as f64 / 1e6,
        100.0 * m.counts.terminated as f64 / m.counts.episodes.max(1) as f64,
        if m.complete { "; complete" } else { "" }
    );
    Ok(())
}

/// What `kennel rollout --json` prints (and `kennel bench rollout` reads).
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct RolloutFigures {
    /// Episodes recorded by this run.
    pub episodes: u64,
    /// Frames recorded by this run.
    pub frames: u64,
    /// Shard bytes recorded by this run.
    pub bytes: u64,
    /// Seconds spent recording and writing.
    pub seconds: f64,
    /// Worker threads.
    pub threads: usize,
    /// Frames per second, writing included.
    pub frames_per_s: f64,
    /// Megabytes (10⁶) of shards per second.
    pub mb_per_s: f64,
    /// The process's peak resident memory in MB (Linux).
    pub peak_rss_mb: Option<f64>,
    /// Episodes in the folder now.
    pub dataset_episodes: u64,
    /// Shard bytes in the folder now.
    pub dataset_bytes: u64,
    /// The folder holds all its episodes.
    pub complete: bool,
}

/// The process's peak resident memory in kB (Linux's VmHWM), for the benchmark table.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What the planner policy needs, loaded once.
struct LoadedPlanner {
    model: agent::model::JepaModel,
    cost_models: agent::plan::CostModels,
    graphs: PlannerGraph,
    planner: agent::plan::PlannerConfig,
    cost: agent::plan::GoalCostConfig,
    sha256: String,
    /// The planning settings (no deadline: the recorder runs the full search).
    config: serde_json::Value,
}

fn load_planner(
    spec: &std::sync::Arc<sim::WorldSpec>,
    checkpoint: &Path,
    args: &PlannerArgs,
    seed: u64,
    split: bool,
    device: &Device,
) -> anyhow::Result<LoadedPlanner> {
    let (model, train_config, dir) = load_model(checkpoint, device).with_context(|| {
        format!(
            "--policy planner:{}: pass a checkpoint folder, a file in one, or a run folder written by `kennel train` or `kennel demo`",
            checkpoint.display()
        )
    })?;
    let planning = args.config();
    let planner = planning.planner(spec)?;
    if split && !agent::pipeline::cost_models_dir(&dir).is_dir() {
        // Every job would fit them, and save them into the shared folder at the same time.
        bail!(
            "{} has no cost models yet, and this job is one share of several: fit them once first (`kennel eval --world {} --checkpoint {}` saves them beside the checkpoint), then start the jobs",
            dir.display(),
            spec.name,
            checkpoint.display()
        );
    }
    let cost_models = cost_models_with_progress(spec, &model, &dir, &planning, seed, device)?;
    let model = cost_models.planning_model(&model);
    let graphs = PlannerGraph::build(
        &cost_models,
        &planning,
        train_config.model.context_dims(),
        device,
    );
    Ok(LoadedPlanner {
        model,
        cost_models,
        graphs,
        planner,
        cost: planning.cost(),
        sha256: folder_sha256(&dir)?,
        config: serde_json::to_value(agent::pipeline::PlanningConfig {
            deadline_ms: 0.0,
            ..planning
        })?,
    })
}
