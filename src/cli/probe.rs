//! `kennel probe`: what a trained model's latents know, how well it predicts open loop, whether
//! it collapsed.

use std::path::PathBuf;

use agent::probe::{ProbeOptions, probe_model};
use agent::train::load_model;
use clap::Args;

use crate::world_files::load_world;

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// A checkpoint folder (or a file in one), or a run folder (its latest checkpoint).
    #[arg(long)]
    checkpoint: PathBuf,
    /// World file or shipped world name.
    #[arg(long, default_value = "two_rooms")]
    world: String,
    /// Held-out episodes (half fit the probes, half score them).
    #[arg(long, default_value_t = 48)]
    episodes: usize,
    /// Master seed of the held-out episodes.
    #[arg(long, default_value_t = 1_000_003)]
    seed: u64,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &ProbeArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.episodes >= 2,
        "--episodes must be at least 2 (half fit, half score)"
    );
    let spec = load_world(&args.world)?;
    let device = burn::prelude::Device::flex();
    let (model, config, dir) = load_model(&args.checkpoint, &device)?;
    let side = config.model.encoder.image_size as u32;
    let camera = spec.learner_camera();
    anyhow::ensure!(
        (camera.width, camera.height) == (side, side),
        "world `{}` renders {}×{} frames but the checkpoint's model reads {side}×{side}",
        spec.name,
        camera.width,
        camera.height
    );
    let options = ProbeOptions {
        episodes: args.episodes,
        seed: args.seed,
        ..ProbeOptions::default()
    };
    if !args.json {
        eprintln!(
            "probing {} on {} held-out episodes of {}…",
            dir.display(),
            args.episodes,
            spec.name
        );
    }
    let report = probe_model(&model, &spec, &options, &device)?;
    if args.json {
        let mut value = serde_json::to_value(&report)?;
        value["checkpoint"] = serde_json::Value::String(dir.display().to_string());
        println!("{value}");
        return Ok(());
    }
    println!(
        "checkpoint {}  ({} episodes, {} frames, latent {})",
        dir.display(),
        report.episodes,
        report.frames,
        report.latent_dim
    );
    println!("\n| quantity | linear R² | MLP R² |\n|---|---|---|");
    for (name, r2) in &report.r2 {
        let mlp = report
            .r2_mlp
            .get(name)
            .map_or("".to_owned(), |v| format!("{v:.3}"));
        println!("| {name} | {r2:.3} | {mlp} |");
    }
    println!("\n| horizon | model | latent stays the same | random actions |\n|---|---|---|---|");
    for (h, row) in &report.open_loop {
        if [1, 2, 5, 10, 15, 20].contains(h) {
            println!(
                "| {h} | {:.3} | {:.3} | {:.3} |",
                row.model, row.same_latent, row.random_actions
            );
        }
    }
    println!(
        "\neffective rank {:.1} of {} ({:.0}%), per-dimension std min {:.3} mean {:.3}, latent/true distance Spearman {:.3}",
        report.effective_rank,
        report.latent_dim,
        100.0 * report.effective_rank / report.latent_dim as f64,
        report.latent_std_min,
        report.latent_std_mean,
        report.latent_spearman
    );
    Ok(())
}
