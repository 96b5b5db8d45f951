//! `kennel dataset`: join the jobs of a dataset, check one, summarise one.

use std::path::{Path, PathBuf};

use agent::dataset::{Dataset, merge, verify};
use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use indicatif::ProgressBar;
use sim::Frame;

use super::eval::bar_style;

#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Join the folders of one dataset's jobs into one dataset (shards are checked, then
    /// hard-linked or copied).
    Merge(MergeArgs),
    /// Check every shard against the manifest (size, sha256, tensors, shapes, episodes) and
    /// name each bad one.
    Verify(DirArgs),
    /// Summarise a dataset: world, seed, policy, episodes, shards, size, success.
    Info(InfoArgs),
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The jobs' dataset folders (any order).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// The merged dataset's folder (new or empty).
    #[arg(long)]
    out: PathBuf,
}

#[derive(Debug, Args)]
pub struct DirArgs {
    /// The dataset folder.
    dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// The dataset folder.
    dir: PathBuf,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also draw frames of one episode side by side into this PNG.
    #[arg(long)]
    filmstrip: Option<PathBuf>,
    /// The episode of --filmstrip (its index in the dataset).
    #[arg(long, default_value_t = 0)]
    episode: u64,
    /// Frames in --filmstrip, evenly spaced over the episode.
    #[arg(long, default_value_t = 12)]
    frames: usize,
}

pub fn run(command: DatasetCommand) -> anyhow::Result<()> {
    match command {
        DatasetCommand::Merge(args) => {
            let bar = ProgressBar::new(1).with_style(bar_style());
            bar.set_prefix("merge");
            let manifest = merge(&args.inputs, &args.out, &mut |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            })?;
            bar.finish_and_clear();
            println!(
                "merged {} folders into {}: {} episodes ({}..{}) in {} shards, {:.1} MB",
                args.inputs.len(),
                args.out.display(),
                manifest.counts.episodes,
                manifest.episodes.first,
                manifest.episodes.end,
                manifest.shards.len(),
                manifest.counts.bytes as f64 / 1e6
            );
        }
        DatasetCommand::Verify(args) => {
            let bar = ProgressBar::new(1).with_style(bar_style());
            bar.set_prefix("verify");
            let report = verify(&args.dir, &mut |done, total| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            });
            bar.finish_and_clear();
            let report = report?;
            for stray in &report.strays {
                eprintln!(
                    "note: {} is not part of the dataset",
                    args.dir.join(stray).display()
                );
            }
            println!(
                "{}: ok: {} shards, {} episodes, {} frames, {:.1} MB checked{}",
                args.dir.display(),
                report.shards,
                report.episodes,
                report.rows,
                report.bytes as f64 / 1e6,
                if report.complete {
                    "; complete"
                } else {
                    "; incomplete (finish it with `kennel rollout ... --resume`)"
                }
            );
        }
        DatasetCommand::Info(args) => {
            let dataset = Dataset::open(&args.dir)?;
            if let Some(png) = &args.filmstrip {
                filmstrip(&dataset, args.episode, args.frames.max(1), png)?;
            }
            let info = dataset.info();
            if args.json {
                println!("{}", serde_json::to_string_pretty(&info)?);
                return Ok(());
            }
            let rows = [
                (
                    "world",
                    format!(
                        "{} (sha256 {}…)",
                        info.world,
                        dataset.manifest.world.short_hash()
                    ),
                ),
                ("master seed", info.master_seed.to_string()),
                ("policy", info.policy.clone()),
                (
                    "episodes",
                    format!(
                        "{} of {} written ({}..{} of a {}-episode dataset{}){}",
                        info.written,
                        info.episodes.len(),
                        info.episodes.first,
                        info.episodes.end,
                        info.dataset_episodes,
                        info.job
                            .as_ref()
                            .map_or(String::new(), |j| format!(", job {j}")),
                        if info.complete {
                            ", complete"
                        } else {
                            ", incomplete"
                        }
                    ),
                ),
                ("shards", info.shards.to_string()),
                (
                    "frames",
                    format!("{} of {}×{}×3", info.rows, info.frame[1], info.frame[0]),
                ),
                ("size", format!("{:.1} MB", info.bytes as f64 / 1e6)),
                ("state", format!("{} numbers per frame", info.state_dim)),
                ("mean episode", format!("{:.1} steps", info.mean_steps)),
                (
                    "success",
                    format!("{:.1}% of episodes", 100.0 * info.success_rate),
                ),
            ];
            println!("| {} | |\n|---|---|", args.dir.display());
            for (name, value) in rows {
                println!("| {name} | {value} |");
            }
        }
    }
    Ok(())
}

/// Draws `count` frames of episode `episode`, evenly spaced, side by side into `png`.
fn filmstrip(dataset: &Dataset, episode: u64, count: usize, png: &Path) -> anyhow::Result<()> {
    let m = &dataset.manifest;
    let Some(shard) = m
        .shards
        .iter()
        .position(|s| s.episodes.first <= episode && episode < s.episodes.end)
    else {
        bail!(
            "--episode {episode}: {} holds episodes {}..{}",
            dataset.dir.display(),
            m.episodes.first,
            m.written().end
        );
    };
    let data = dataset.read_shard(shard)?;
    let Some(recorded) = data.episodes.iter().find(|e| e.index == episode) else {
        bail!("episode {episode} is not in its shard (run `kennel dataset verify`)");
    };
    let size = (m.height * m.width * 3) as usize;
    let rows = recorded.rows();
    let frames: Vec<Frame> = (0..count.min(rows))
        .map(|i| {
            let t = if count > 1 {
                i * (rows - 1) / (count - 1)
            } else {
                0
            };
            Frame {
                width: m.width,
                height: m.height,
                rgb: recorded.frames[t * size..(t + 1) * size].to_vec(),
            }
        })
        .collect();
    Frame::strip(&frames, 2)
        .save_png(png)
        .with_context(|| format!("cannot write {}", png.display()))?;
    eprintln!(
        "wrote {} ({} frames of episode {episode}, {rows} frames long)",
        png.display(),
        frames.len()
    );
    Ok(())
}
