//! `kennel rollout`: many environments of a world driven by smooth random actions, with
//! progress, a filmstrip PNG of the first environment, its goal image and a JSON summary.

use std::path::PathBuf;
use std::time::Instant;

use agent::Episode;
use agent::dataset::{EpisodeFile, write_episode_file};
use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use sim::{Frame, Policy, SmoothRandomPolicy, VecEnv};

use crate::world_files::load_world;

#[derive(Debug, Args)]
pub struct RolloutArgs {
    /// World file or shipped world name.
    #[arg(long, default_value = "two_rooms")]
    world: String,
    /// Environments run side by side.
    #[arg(long, default_value_t = 16)]
    envs: usize,
    /// Vector steps (each environment takes this many env steps).
    #[arg(long, default_value_t = 400)]
    steps: u64,
    /// Worker threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Master seed; every environment's episodes derive from it.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output folder (created if missing).
    #[arg(long, default_value = "runs/rollout")]
    out: PathBuf,
    /// Frames in the filmstrip of environment 0.
    #[arg(long, default_value_t = 12)]
    filmstrip: usize,
    /// Also write every finished episode (frames, actions, states) to this folder, for
    /// `kennel train --data`.
    #[arg(long)]
    record: Option<PathBuf>,
}

/// Gathers each environment's transitions into whole episodes and writes them in files.
struct Recorder {
    dir: PathBuf,
    world: String,
    height: usize,
    width: usize,
    open: Vec<Episode>,
    done: Vec<Episode>,
    files: usize,
    episodes_written: usize,
}

impl Recorder {
    fn new(dir: PathBuf, world: &str, observations: &[sim::Observation]) -> Self {
        let open = observations
            .iter()
            .enumerate()
            .map(|(i, o)| Episode {
                env_id: i as u32,
                frames: o.rgb.rgb.clone(),
                states: o.state.clone(),
                ..Episode::default()
            })
            .collect();
        let (height, width) = observations
            .first()
            .map_or((0, 0), |o| (o.rgb.height as usize, o.rgb.width as usize));
        Self {
            dir,
            world: world.to_owned(),
            height,
            width,
            open,
            done: Vec::new(),
            files: 0,
            episodes_written: 0,
        }
    }

    fn record(&mut self, actions: &[sim::Action], steps: &[sim::Step]) -> anyhow::Result<()> {
        for (i, (action, step)) in actions.iter().zip(steps).enumerate() {
            let episode = &mut self.open[i];
            if step.info.is_first {
                // The autoreset step: the new episode's first frame.
                *episode = Episode {
                    env_id: i as u32,
                    seed: step.info.episode_seed,
                    frames: step.obs.rgb.rgb.clone(),
                    states: step.obs.state.clone(),
                    ..Episode::default()
                };
                continue;
            }
            episode.seed = step.info.episode_seed;
            episode.frames.extend_from_slice(&step.obs.rgb.rgb);
            episode.actions.push(action.0);
            episode.states.extend_from_slice(&step.obs.state);
            if step.terminated || step.truncated {
                let mut finished = std::mem::take(episode);
                finished.finished = true;
                self.done.push(finished);
            }
        }
        if self.done.len() >= 64 {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.done.is_empty() {
            return Ok(());
        }
        let file = EpisodeFile {
            version: agent::dataset::EPISODE_FORMAT_VERSION,
            world: self.world.clone(),
            height: self.height,
            width: self.width,
            episodes: std::mem::take(&mut self.done),
        };
        self.episodes_written += file.episodes.len();
        write_episode_file(&self.dir, self.files, &file)?;
        self.files += 1;
        Ok(())
    }
}

/// What `summary.json` holds.
#[derive(Debug, Serialize)]
struct RolloutSummary {
    world: String,
    master_seed: u64,
    envs: usize,
    threads: usize,
    vec_steps: u64,
    env_steps: u64,
    episodes_finished: u64,
    successes: u64,
    hazard_entries: u64,
    clipped_actions: u64,
    seconds: f64,
    env_steps_per_s: f64,
    final_state_hash_env0: String,
}

pub fn run(args: &RolloutArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.envs > 0, "--envs must be at least 1");
    anyhow::ensure!(args.steps > 0, "--steps must be at least 1");
    let spec = load_world(&args.world)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create the output folder {}", args.out.display()))?;
    let mut vec_env = VecEnv::new(spec.clone(), args.envs, args.seed, args.threads)?;
    let mut policy = SmoothRandomPolicy::for_world(&spec, args.envs, args.seed);
    let mut observations: Vec<_> = vec_env.reset()?.into_iter().map(|(o, _)| o).collect();
    let goal = vec_env
        .envs_mut()
        .next()
        .map(|env| env.render_goal())
        .transpose()?;

    if let Some(dir) = &args.record
        && std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with("episodes-"))
        })
    {
        anyhow::bail!(
            "{} already holds recorded episodes; choose another --record folder (nothing was overwritten)",
            dir.display()
        );
    }
    let mut recorder = args
        .record
        .clone()
        .map(|dir| Recorder::new(dir, &spec.name, &observations));
    let every = (args.steps / args.filmstrip.max(1) as u64).max(1);
    let mut filmstrip: Vec<Frame> = vec![observations[0].rgb.clone()];
    let progress = ProgressBar::new(args.steps).with_style(
        ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} steps  {per_sec}  eta {eta}  {msg}",
        )?
        .progress_chars("=> "),
    );
    progress.set_prefix(format!("rollout {}", spec.name));
    let (mut episodes, mut successes, mut hazards, mut clipped) = (0u64, 0u64, 0u64, 0u64);
    let mut actions = Vec::new();
    let start = Instant::now();
    for step in 1..=args.steps {
        policy.act(&observations, &mut actions);
        let steps = vec_env.step(&actions)?;
        if let Some(recorder) = &mut recorder {
            recorder.record(&actions, &steps)?;
        }
        for s in &steps {
            hazards += u64::from(s.info.hazard_entries_this_step);
            clipped += u64::from(s.info.action_clipped);
            if s.terminated || s.truncated {
                episodes += 1;
                successes += u64::from(s.terminated);
            }
        }
        observations = steps.into_iter().map(|s| s.obs).collect();
        if step % every == 0 && filmstrip.len() < args.filmstrip {
            filmstrip.push(observations[0].rgb.clone());
        }
        if step % 16 == 0 {
            progress.set_position(step);
            progress.set_message(format!("{episodes} episodes, {successes} successes"));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    progress.finish_and_clear();
    if let Some(recorder) = &mut recorder {
        recorder.flush()?;
        println!(
            "recorded {} finished episodes in {} file(s) under {}",
            recorder.episodes_written,
            recorder.files,
            recorder.dir.display()
        );
    }

    let strip_path = args.out.join("filmstrip.png");
    Frame::strip(&filmstrip, 2).save_png(&strip_path)?;
    if let Some(goal) = &goal {
        goal.save_png(args.out.join("goal_env0.png"))?;
    }
    let env_steps = args.steps * args.envs as u64;
    let hash = vec_env
        .envs_mut()
        .next()
        .and_then(|env| env.world().map(|w| w.state_hash()))
        .unwrap_or_default();
    let summary = RolloutSummary {
        world: spec.name.clone(),
        master_seed: args.seed,
        envs: args.envs,
        threads: vec_env.num_threads(),
        vec_steps: args.steps,
        env_steps,
        episodes_finished: episodes,
        successes,
        hazard_entries: hazards,
        clipped_actions: clipped,
        seconds,
        env_steps_per_s: env_steps as f64 / seconds,
        final_state_hash_env0: format!("{hash:016x}"),
    };
    let summary_path = args.out.join("summary.json");
    std::fs::write(
        &summary_path,
        serde_json::to_string_pretty(&summary)? + "\n",
    )
    .with_context(|| format!("cannot write {}", summary_path.display()))?;

    println!(
        "| world | envs | threads | env steps | episodes | successes | hazard entries | env steps/s |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    println!(
        "| {} | {} | {} | {} | {} | {} | {} | {:.0} |",
        summary.world,
        summary.envs,
        summary.threads,
        summary.env_steps,
        summary.episodes_finished,
        summary.successes,
        summary.hazard_entries,
        summary.env_steps_per_s
    );
    println!(
        "wrote {}, {} and {}",
        strip_path.display(),
        args.out.join("goal_env0.png").display(),
        summary_path.display()
    );
    Ok(())
}
