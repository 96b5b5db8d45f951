//! `kennel demo`: the closed loop from nothing, headless. It maps its flags to an
//! `agent::session::SessionConfig`, shows the session's events as a progress line, and writes
//! the run folder: `report.json`, `loss.png`, `success.png`, `filmstrip.png`, checkpoints.

use std::path::PathBuf;
use std::time::Duration;

use agent::eval::{episode_seeds, record_episode};
use agent::model::JepaConfig;
use agent::pipeline::learned_policy;
use agent::session::{
    Budget, Clock, EpisodeOutcome, Event, FinalEvaluation, Phase, Session, SessionConfig,
};
use agent::train::{TrainConfig, check_camera};
use anyhow::{Context, bail};
use burn::prelude::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::eval::{PlannerArgs, budget_line, print_fit_summary};
use super::train::{ModelArgs, SIGREG_ID_DIMS, SIGREG_ID_WEIGHT, plot_metrics};
use crate::plot::{Series, filmstrip, line_plot};
use crate::world_files::load_world;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// World file or shipped world name.
    #[arg(long, default_value = "two_rooms")]
    world: String,
    /// Minutes of learning (exploring, then planning while learning); the fit and the final
    /// evaluation come after.
    #[arg(long, default_value_t = 10.0, conflicts_with = "learner_steps")]
    minutes: f64,
    /// Lockstep instead of minutes: this many learner steps, each on a fixed number of new
    /// transitions, practice at fixed steps and a fixed search budget (no deadline), so the
    /// same seed gives the same report.json apart from timings.
    #[arg(long)]
    learner_steps: Option<u64>,
    /// Practice episodes advance at the world's time step in wall time (a decision slower
    /// than a step is replaced by the previous plan's next action, and counted).
    #[arg(long, conflicts_with = "learner_steps")]
    real_time: bool,
    /// Run folder: report.json, plots, filmstrip, checkpoints/.
    #[arg(long, default_value = "runs/demo")]
    out: PathBuf,
    /// Episodes per policy in the final evaluation (`kennel eval` defaults to 200).
    #[arg(long, default_value_t = 50)]
    eval_episodes: usize,
    /// Fraction of the learning time spent exploring before the actor starts planning.
    #[arg(long, default_value_t = 0.6)]
    explore_fraction: f64,
    /// Seed of the weights, the data, the episodes and every random choice; the final
    /// evaluation runs on master seed SEED + 1000.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Simulated environments feeding the learner.
    #[arg(long, default_value_t = 16)]
    envs: usize,
    /// Only the learned planner in the final evaluation (no reference rows).
    #[arg(long)]
    no_baselines: bool,
    /// Keep the practice episodes out of the replay buffer (the learner then learns from
    /// exploration only).
    #[arg(long)]
    no_practice_learning: bool,
    /// Hard-sequence selection: candidates per training sequence (1: uniform replay).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=16))]
    sequence_pool: u64,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    planner: PlannerArgs,
}

fn check_args(args: &DemoArgs) -> anyhow::Result<()> {
    if !(args.minutes.is_finite() && args.minutes > 0.0 && args.minutes <= 7.0 * 24.0 * 60.0) {
        bail!(
            "--minutes must be a positive number of minutes (at most a week), got {}",
            args.minutes
        );
    }
    if args.learner_steps == Some(0) {
        bail!("--learner-steps must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.explore_fraction) {
        bail!(
            "--explore-fraction must lie in [0, 1], got {}",
            args.explore_fraction
        );
    }
    if args.eval_episodes == 0 {
        bail!("--eval-episodes must be at least 1");
    }
    if args.sequence_pool > 1 && args.model.context_dims > 0 {
        bail!(
            "--sequence-pool {} picks sequences one by one, which would split the pairs of windows the episode context (--context-dims {}) learns from; add --context-dims 0 to use it",
            args.sequence_pool,
            args.model.context_dims
        );
    }
    if args.out.join("report.json").exists()
        || args.out.join("metrics.jsonl").exists()
        || args.out.join("checkpoints").exists()
    {
        bail!(
            "{} already holds a run; choose another --out (nothing was overwritten)",
            args.out.display()
        );
    }
    Ok(())
}

pub fn run(args: &DemoArgs) -> anyhow::Result<()> {
    check_args(args)?;
    let spec = load_world(&args.world)?;
    let device = Device::flex();
    let planning = args.planner.config();
    planning.validate()?;
    let latent = JepaConfig::new().latent_dim();
    let (model, proprio, regularizer_choice) =
        args.model
            .config(&spec, latent, None, SIGREG_ID_WEIGHT, SIGREG_ID_DIMS);
    let train = TrainConfig::new().with_model(model).with_seed(args.seed);
    check_camera(&spec, &train)?;
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let run_info = serde_json::json!({
        "command": "demo",
        "world": spec.name,
        "world_spec": serde_json::to_value(&*spec)?,
        "kennel_version": env!("CARGO_PKG_VERSION"),
    });
    std::fs::write(
        args.out.join("run.json"),
        serde_json::to_string_pretty(&run_info)? + "\n",
    )?;
    let eval_seed = args.seed.wrapping_add(1_000);
    let (clock, budget) = match args.learner_steps {
        Some(steps) => (Clock::Lockstep, Budget::LearnerSteps(steps)),
        None => (
            if args.real_time {
                Clock::RealTime
            } else {
                Clock::AsFastAsPossible
            },
            Budget::Time(Duration::from_secs_f64(args.minutes * 60.0)),
        ),
    };
    let mut config = SessionConfig::new(spec.clone(), args.out.clone(), train);
    config.seed = args.seed;
    config.envs = args.envs.max(1);
    config.sequence_pool = args.sequence_pool as usize;
    config.clock = clock;
    config.budget = budget;
    config.explore_fraction = args.explore_fraction;
    config.practice_learning = !args.no_practice_learning;
    config.planning = planning;
    config.evaluation = Some(FinalEvaluation {
        episodes: args.eval_episodes,
        seed: eval_seed,
        baselines: !args.no_baselines,
    });
    let planning = config.planning_in_effect();
    let planner = planning.planner(&spec)?;
    let session = Session::start(config, &device)?;
    eprintln!(
        "demo on {}: {} of learning ({:.0}% exploring, then planning while learning), then a {}-episode evaluation; run folder {}",
        spec.name,
        match args.learner_steps {
            Some(steps) => format!("{steps} learner steps in lockstep"),
            None => format!("{:.1} min", args.minutes),
        },
        100.0 * args.explore_fraction,
        args.eval_episodes,
        args.out.display()
    );
    let mut display = Display::new();
    let report = session.join_with(&mut |event| display.show(event))?;
    display.bar.finish_and_clear();
    let Some(result) = report.final_result else {
        bail!("the session ended before its evaluation");
    };
    // The fit's notices were shown as the session sent them.
    print_fit_summary(&result.cost_models);
    let (summary, practice, table) = (&report.learner, &report.practice, &result.table);

    // Pictures: losses, success over time, one planned episode.
    let mut files = Vec::new();
    let loss_png = args.out.join("loss.png");
    match plot_metrics(
        &args.out.join("metrics.jsonl"),
        &loss_png,
        "kennel demo: learner losses",
    ) {
        Ok(()) => files.push(loss_png),
        Err(err) => eprintln!("warning: no loss plot: {err:#}"),
    }
    let success_png = args.out.join("success.png");
    let final_rate = table.row("learned").map_or(0.0, |r| r.success_rate);
    match plot_success(practice, final_rate, report.learning_s / 60.0, &success_png) {
        Ok(()) => files.push(success_png),
        Err(err) => eprintln!("warning: no success plot: {err:#}"),
    }
    let strip_png = args.out.join("filmstrip.png");
    let policy = learned_policy(
        &result.model,
        &result.settings,
        &result.cost_models,
        &result.graphs,
    );
    let trace = record_episode(&spec, &policy, episode_seeds(&[eval_seed], 1)[0], &device)?;
    let heading = format!("kennel demo · {} · planned episode", spec.name);
    match filmstrip(&strip_png, &trace, 6, &heading) {
        Ok(()) => files.push(strip_png),
        Err(err) => eprintln!("warning: no filmstrip: {err:#}"),
    }

    let mut report_json = serde_json::json!({
        "world": spec.name,
        "minutes": args.learner_steps.is_none().then_some(args.minutes),
        "learner_steps": args.learner_steps,
        "clock": format!("{clock:?}"),
        "seed": args.seed,
        "learner": {
            "steps": summary.steps,
            "transitions_seen": summary.transitions_seen,
            "practice_episodes_learned_from": summary.episodes_added,
            "rolled_back": summary.rolled_back,
            "sequence_pool": args.sequence_pool,
            "regularizer": regularizer_choice.name(),
            "proprio": proprio,
            "context_dims": args.model.context_dims,
            "window_focus": args.model.window_focus,
            "rollout_steps": args.model.rollout_steps,
            "checkpoint": result.checkpoint.display().to_string(),
        },
        "timings_s": { "learning": report.learning_s, "fit": result.fit_s, "eval": result.eval_s },
        "planner": result.settings.planner,
        "critic": planning.critic.name(),
        "cost_models": result.cost_models.report,
        "eval_seeds": [eval_seed],
        "eval_episodes": args.eval_episodes,
        "eval": table.to_json(),
        "practice": practice,
        "warnings": table.warnings(),
        "files": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
    });
    if let serde_json::Value::Object(object) = &mut report_json {
        for (key, graph) in result.graphs.to_json(&planning) {
            object.insert(key.into(), graph);
        }
    }
    let report_path = args.out.join("report.json");
    std::fs::write(
        &report_path,
        serde_json::to_string_pretty(&report_json)? + "\n",
    )
    .with_context(|| format!("cannot write {}", report_path.display()))?;
    println!(
        "{} · {} learner steps in {:.1} min · {} practice episodes ({} learned from) · evaluation: {} episodes per policy",
        spec.name,
        summary.steps,
        report.learning_s / 60.0,
        practice.len(),
        summary.episodes_added,
        args.eval_episodes
    );
    print!("{}", table.render());
    println!("{}", budget_line(&planner));
    for warning in table.warnings() {
        eprintln!("{warning}");
    }
    println!("report {}", report_path.display());
    for f in &files {
        println!("wrote {}", f.display());
    }
    Ok(())
}

/// The progress line: phase, learner step and loss, practice success.
struct Display {
    bar: ProgressBar,
    step: u64,
    loss: f64,
    practice: Vec<bool>,
}

impl Display {
    fn new() -> Self {
        let bar = ProgressBar::new(1000).with_style(
            ProgressStyle::with_template(
                "{prefix:8} [{bar:25}] {percent:>3}% {elapsed_precise}  {msg}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix("explore");
        Self {
            bar,
            step: 0,
            loss: f64::NAN,
            practice: Vec::new(),
        }
    }

    fn show(&mut self, event: Event) {
        match event {
            Event::Phase(phase) => {
                self.bar.set_prefix(match phase {
                    Phase::Exploring => "explore",
                    Phase::Fitting => "fit",
                    Phase::Practising => "plan",
                    Phase::Evaluating => "evaluate",
                    Phase::Finished => "done",
                });
                if phase == Phase::Evaluating {
                    self.bar.set_position(0);
                }
            }
            Event::Filling { transitions } => {
                self.bar
                    .set_message(format!("filling the replay buffer: {transitions}"));
            }
            Event::Metrics(metrics) => {
                self.step = metrics.step.step;
                if metrics.step.loss.is_finite() {
                    self.loss = metrics.step.loss;
                }
                self.bar
                    .set_position((1000.0 * metrics.progress).min(1000.0) as u64);
                self.refresh();
            }
            Event::EpisodeEnded(outcome) => {
                self.practice.push(outcome.success);
                self.refresh();
            }
            Event::Fitted { step } => self.bar.set_message(format!(
                "step {} | fitted the critic and guardrail on the step-{step} weights",
                self.step
            )),
            Event::Progress { what, done } => {
                self.bar.set_position((1000.0 * done).min(1000.0) as u64);
                self.bar.set_message(what);
            }
            Event::Notice(text) | Event::Refused(text) => {
                self.bar.suspend(|| eprintln!("{text}"));
            }
            Event::Decision(_)
            | Event::Frame { .. }
            | Event::Checkpoint(_)
            | Event::Loaded(_)
            | Event::WorldSwitched(_) => {}
        }
    }

    fn refresh(&self) {
        let recent: Vec<bool> = self.practice.iter().rev().take(20).copied().collect();
        let rate = if recent.is_empty() {
            "–".to_owned()
        } else {
            format!(
                "{:.0}% of the last {}",
                100.0 * recent.iter().filter(|s| **s).count() as f64 / recent.len() as f64,
                recent.len()
            )
        };
        self.bar.set_message(format!(
            "step {} loss {:.4} | practice episodes {} | success {rate}",
            self.step,
            self.loss,
            self.practice.len()
        ));
    }
}

/// Success over time: the practice episodes' rolling rate (last 10) and the final
/// evaluation's rate.
fn plot_success(
    practice: &[EpisodeOutcome],
    final_rate: f64,
    end_minutes: f64,
    out: &std::path::Path,
) -> anyhow::Result<()> {
    let rolling: Vec<(f64, f64)> = practice
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let window = &practice[i.saturating_sub(9)..=i];
            let rate = window.iter().filter(|w| w.success).count() as f64 / window.len() as f64;
            (p.minutes, 100.0 * rate)
        })
        .collect();
    let series = vec![
        Series {
            name: "practice episodes (last 10)".to_owned(),
            points: rolling,
        },
        Series {
            name: "final evaluation".to_owned(),
            points: vec![
                (end_minutes * 0.98, 100.0 * final_rate),
                (end_minutes, 100.0 * final_rate),
            ],
        },
    ];
    line_plot(
        out,
        "kennel demo: success over time",
        "minutes of learning",
        "success (%)",
        &series,
        false,
    )
}
