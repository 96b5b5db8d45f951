//! `kennel view`: the desktop app (the `desktop` feature, on by default). It maps its flags to
//! a real-time `SessionConfig` and opens the Bevy window of the `kennel-view` crate on it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use agent::model::JepaConfig;
use agent::session::{Budget, Clock, SessionConfig};
use agent::train::{TrainConfig, check_camera, checkpoint_config};
use anyhow::{Context, bail};
use clap::Args;

use super::eval::PlannerArgs;
use super::train::{ModelArgs, SIGREG_ID_DIMS, SIGREG_ID_WEIGHT};
use crate::world_files::{BUILTIN_WORLDS, load_world};

#[derive(Debug, Args)]
pub struct ViewArgs {
    /// World file or shipped world name.
    #[arg(long, default_value = "two_rooms")]
    world: String,
    /// Start from this checkpoint (a run folder or one of its checkpoints/step-* folders):
    /// planning at once, learning on. Without it the model is learned live from nothing.
    #[arg(long)]
    checkpoint: Option<PathBuf>,
    /// Run folder for the session's metrics and checkpoints (default: the first free
    /// runs/view, runs/view-2, ...).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Minutes of exploring (random walk, learning) before the agent starts planning, when
    /// learning from nothing.
    #[arg(long, default_value_t = 4.0)]
    explore_minutes: f64,
    /// Seed of the weights, the data and the episodes.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Simulated environments streaming to the learner (besides the one on screen).
    #[arg(long, default_value_t = 16)]
    envs: usize,
    /// Window size in logical pixels, WIDTHxHEIGHT.
    #[arg(long, default_value = "1280x720", value_parser = parse_size)]
    window: [u32; 2],
    /// Run this many frames, then exit (after the screenshot, if asked for).
    #[arg(long)]
    frames: Option<u64>,
    /// Save a PNG of the whole window at the last frame (needs --frames), and one of each
    /// panel beside it (<stem>-eye.png, -learner.png, -plan.png, -episode.png, -toolbar.png,
    /// -3d.png, ...).
    #[arg(long, requires = "frames")]
    screenshot: Option<PathBuf>,
    /// Measure frame times: the first half of --frames paused with learning off, the second
    /// half running with learning on; prints p50 / p99 per state.
    #[arg(long, requires = "frames")]
    fps_report: bool,
    /// Scripted input: a JSON list such as [{"at_frame": 30, "click": [600, 400]},
    /// {"at_frame": 60, "hold": "D", "for_frames": 20}].
    #[arg(long)]
    script: Option<PathBuf>,
    /// Write what the run did (frames, frame times, positions, screenshots) as JSON here.
    #[arg(long)]
    report: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    planner: PlannerArgs,
}

fn parse_size(text: &str) -> Result<[u32; 2], String> {
    let parsed = text
        .split_once(['x', 'X'])
        .and_then(|(w, h)| Some([w.trim().parse().ok()?, h.trim().parse().ok()?]));
    match parsed {
        Some([w, h]) if (320..=8192).contains(&w) && (240..=8192).contains(&h) => Ok([w, h]),
        _ => Err(format!(
            "expected WIDTHxHEIGHT between 320x240 and 8192x8192, such as 1280x720; got {text:?}"
        )),
    }
}

/// `runs/view`, else the first of `runs/view-2`, `runs/view-3`, ... that holds no run.
fn free_run_dir() -> PathBuf {
    let base = PathBuf::from("runs/view");
    std::iter::once(base.clone())
        .chain((2..).map(|i| PathBuf::from(format!("runs/view-{i}"))))
        .find(|dir| !holds_run(dir))
        .unwrap_or(base)
}

fn holds_run(dir: &Path) -> bool {
    dir.join("metrics.jsonl").exists() || dir.join("checkpoints").exists()
}

pub fn run(args: &ViewArgs) -> anyhow::Result<()> {
    // An unlimited session explores for a share of ten minutes.
    if !(args.explore_minutes.is_finite() && (0.0..=10.0).contains(&args.explore_minutes)) {
        bail!(
            "--explore-minutes must lie in [0, 10], got {}",
            args.explore_minutes
        );
    }
    if args.frames == Some(0) {
        bail!("--frames must be at least 1");
    }
    if args.fps_report && args.frames.is_some_and(|f| f < 200) {
        bail!("--fps-report needs --frames of at least 200 (half paused, half learning)");
    }
    let script = match &args.script {
        Some(path) => view::load_script(path).map_err(anyhow::Error::msg)?,
        None => Vec::new(),
    };
    let spec = load_world(&args.world)?;
    let train = match &args.checkpoint {
        // The checkpoint's own model, so the planner's graphs match its weights.
        Some(path) => checkpoint_config(path)
            .with_context(|| format!("cannot start from --checkpoint {}", path.display()))?
            .with_seed(args.seed),
        None => {
            let latent = JepaConfig::new().latent_dim();
            let (model, _, _) =
                args.model
                    .config(&spec, latent, None, SIGREG_ID_WEIGHT, SIGREG_ID_DIMS);
            TrainConfig::new().with_model(model).with_seed(args.seed)
        }
    };
    check_camera(&spec, &train)?;
    let planning = args.planner.config();
    planning.validate()?;
    let run_dir = match &args.out {
        Some(dir) if holds_run(dir) => bail!(
            "{} already holds a run; choose another --out (nothing was overwritten)",
            dir.display()
        ),
        Some(dir) => dir.clone(),
        None => free_run_dir(),
    };
    std::fs::create_dir_all(&run_dir)
        .with_context(|| format!("cannot create {}", run_dir.display()))?;

    let mut session = SessionConfig::new(Arc::clone(&spec), run_dir.clone(), train);
    session.seed = args.seed;
    session.envs = args.envs.max(1);
    session.clock = Clock::RealTime;
    session.budget = Budget::Unlimited;
    session.explore_fraction = args.explore_minutes / 10.0;
    session.wander_while_exploring = true;
    session.planning = planning;
    session.evaluation = None;

    let worlds = BUILTIN_WORLDS
        .iter()
        .filter_map(|(name, _)| load_world(name).ok())
        .collect();
    let config = view::ViewConfig {
        session,
        checkpoint: args.checkpoint.clone(),
        worlds,
        window: args.window,
        capture: view::CaptureConfig {
            frames: args.frames,
            screenshot: args.screenshot.clone(),
            fps_report: args.fps_report,
            script,
            report: args.report.clone(),
        },
    };
    eprintln!(
        "kennel view on {}: {}; run folder {} (F1 or ? in the window lists the shortcuts)",
        spec.name,
        match &args.checkpoint {
            Some(path) => format!("from {}, planning at once, learning on", path.display()),
            None => format!(
                "learning from nothing, exploring for {:.1} min before planning",
                args.explore_minutes
            ),
        },
        run_dir.display()
    );
    let started = std::time::Instant::now();
    let report = view::run(config)?;
    for row in &report.frame_times {
        println!(
            "frame time {:>8}: p50 {:6.1} ms · p99 {:6.1} ms · {:5.1} fps at p50 · {} frames ({}x{})",
            row.state,
            row.p50_ms,
            row.p99_ms,
            row.fps_p50,
            row.frames,
            report.window[0],
            report.window[1]
        );
    }
    if let Some(path) = &report.screenshot {
        println!("wrote {}", path.display());
        for crop in &report.panel_screenshots {
            println!("wrote {}", crop.display());
        }
    }
    if let Some(path) = &args.report {
        println!("report {}", path.display());
    }
    eprintln!(
        "closed after {:.0} s · {} frames · learner step {}",
        started.elapsed().as_secs_f64(),
        report.frames,
        report
            .learner_step
            .map_or_else(|| "none yet".into(), |s| s.to_string())
    );
    Ok(())
}
