//! `kennel eval`: the evaluation table of a trained checkpoint (the learned planner and its
//! reference rows on the same seeded episodes), fitting and saving its cost models when the
//! checkpoint has none. Flags map to `agent::pipeline::PlanningConfig`; the work is the
//! library's.

use std::path::PathBuf;

use agent::eval::{PlanDiagnostic, episode_seeds, plan_diagnostic};
use agent::pipeline::{
    CriticKind, EvalProgress, EvalSettings, FitProgress, GraphSearch, PlannerGraph, PlanningConfig,
    SearchMethod, VariantWorld, learned_policy, load_or_fit_cost_models, poor_cost_warning,
    run_eval_table, run_variant_table,
};
use agent::plan::{
    CostModels, POSE_DYNAMICS_ROLLOUT, PlanMethod, PlannerConfig, PoseDynamicsReport,
};
use agent::train::load_model;
use anyhow::{Context, bail};
use burn::prelude::Device;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::world_files::{load_variants, load_world};

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// World file or shipped world name.
    #[arg(long, default_value = "two_rooms")]
    world: String,
    /// A checkpoint folder, a file in one, or a run folder (its latest checkpoint).
    #[arg(long)]
    checkpoint: PathBuf,
    /// Episodes per policy.
    #[arg(long, default_value_t = 200)]
    episodes: usize,
    /// Master seeds, comma-separated; the episodes are spread evenly over them.
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
    /// Only the learned planner (skip the random, oracle, no-critic and no-guardrail rows).
    #[arg(long)]
    no_baselines: bool,
    /// Also draw the learned planner's first four episodes as filmstrips into this folder.
    #[arg(long)]
    filmstrips: Option<PathBuf>,
    /// Also say whose fault the planner's wrong choices are (the predictor's or the cost's),
    /// over its first N episodes; about 1 s per decision examined. 0: off.
    #[arg(long, default_value_t = 0)]
    plan_diagnostic: usize,
    /// Evaluate on the world and on variants of it instead (the variant table): `shipped`
    /// (the default when the flag has no value: worlds/variants/<world>.json) or a variant
    /// file, or `none` (the world alone, in this table's form). The cost models stay those
    /// fitted on the world itself.
    #[arg(long, num_args = 0..=1, default_missing_value = "shipped", conflicts_with_all = ["filmstrips", "plan_diagnostic"])]
    variants: Option<String>,
    /// With --variants: only these variants, comma-separated.
    #[arg(long, value_delimiter = ',', requires = "variants")]
    only: Vec<String>,
    /// With --variants: episodes on each variant (default: --episodes, which the world
    /// itself gets).
    #[arg(long, requires = "variants")]
    variant_episodes: Option<usize>,
    #[command(flatten)]
    planner: PlannerArgs,
}

/// The learned planner and the fit of its cost models; defaults are the library's
/// (`PlanningConfig::default()`).
#[derive(Clone, Debug, Args)]
pub struct PlannerArgs {
    /// Candidate sequences per iteration (CEM or MPPI).
    #[arg(long, default_value_t = PlanningConfig::default().samples)]
    pub samples: usize,
    /// Iterations per decision.
    #[arg(long, default_value_t = PlanningConfig::default().iterations)]
    pub iterations: usize,
    /// The optimiser over action sequences.
    #[arg(long, value_enum, default_value_t = Method::Cem)]
    pub method: Method,
    /// Decisions per imagined plan.
    #[arg(long, default_value_t = PlanningConfig::default().horizon)]
    pub horizon: usize,
    /// Wall-clock deadline per decision in milliseconds (anytime: the best plan so far when
    /// it runs out); 0 for none (a fixed search budget).
    #[arg(long, default_value_t = PlanningConfig::default().deadline_ms)]
    pub deadline_ms: f64,
    /// Exploration episodes the cost models are fitted on, when the checkpoint has none.
    #[arg(long, default_value_t = PlanningConfig::default().fit_episodes)]
    pub fit_episodes: usize,
    /// Weight of the critic's estimate summed over the imagined steps (the last step weighs 1).
    #[arg(long, default_value_t = PlanningConfig::default().critic_step_weight)]
    pub critic_step_weight: f32,
    /// Optimiser steps of the critic when it is fitted.
    #[arg(long, default_value_t = PlanningConfig::default().critic_steps)]
    pub critic_steps: usize,
    /// Optimiser steps of the critic in the closed loop's practice refits (`kennel demo`).
    #[arg(long, default_value_t = PlanningConfig::default().practice_critic_steps)]
    pub practice_critic_steps: usize,
    /// The critic fitted when the checkpoint has none.
    #[arg(long, value_enum, default_value_t = Critic::Quasimetric)]
    pub critic: Critic,
    /// Held-out episodes of the cost diagnostic (four start/goal pairs each).
    #[arg(long, default_value_t = PlanningConfig::default().diagnostic_episodes)]
    pub diagnostic_episodes: usize,
    /// Route the last imagined step through landmarks joined where the critic estimates at
    /// most this many steps (4 is a good value); 0: off. --replay-graph-episodes wins.
    #[arg(long, default_value_t = 0.0, value_parser = parse_edge_steps)]
    pub landmark_edge_steps: f32,
    /// Route the last imagined step through the recorded exploration of this many episodes
    /// nearest the goal's episode context; 0: the critic's straight estimate.
    #[arg(long, default_value_t = PlanningConfig::default().replay_graph_episodes())]
    pub replay_graph_episodes: usize,
    /// Refit the predictor the planner imagines with on the frozen encoder's latents, this
    /// many steps, when the cost models are fitted; 0: the learner's predictor.
    #[arg(long, default_value_t = PlanningConfig::default().predictor_fit_steps)]
    pub predictor_fit_steps: usize,
    /// Steps of the predictor refit in the closed loop's practice refits (`kennel demo`);
    /// 0: practice imagines with the learner's predictor.
    #[arg(long, default_value_t = PlanningConfig::default().practice_predictor_fit_steps)]
    pub practice_predictor_fit_steps: usize,
    /// Push: steps of the pose dynamics the planner imagines push in; 0: the predictor.
    #[arg(long, default_value_t = PlanningConfig::default().pose_dynamics_steps)]
    pub pose_dynamics_steps: usize,
    /// Back off instead of planning in a state farther from the recorded exploration than
    /// this quantile of held-out recorded frames (the model does not know it); 0: off.
    #[arg(long, default_value_t = PlanningConfig::default().unsure_quantile)]
    pub unsure_quantile: f64,
    /// Plan without the guardrail that looks at the frame (the hazard sight): the guardrail on
    /// latents alone.
    #[arg(long)]
    pub no_hazard_sight: bool,
}

/// Parses `--landmark-edge-steps`: a finite number of steps ≥ 0.
fn parse_edge_steps(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(steps) if steps.is_finite() && steps >= 0.0 => Ok(steps),
        _ => Err(format!(
            "expected a number of steps ≥ 0 (0: no landmark graph; 4 joins landmarks up to 4 steps apart), got {text:?}"
        )),
    }
}

/// `--critic`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Critic {
    /// Distances between learned embeddings, every recorded step about one step long
    /// (quasimetric RL): shortest paths through what was seen.
    Quasimetric,
    /// Regression of the time between two frames of one walk.
    Hindsight,
}

/// `--method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Method {
    /// Cross-entropy method: refit a Gaussian to the best tenth of the samples.
    Cem,
    /// Model-predictive path integral: move the mean to the cost-weighted average.
    Mppi,
}

impl PlannerArgs {
    /// The library's configuration these flags describe.
    pub fn config(&self) -> PlanningConfig {
        let graph = if self.replay_graph_episodes > 0 {
            GraphSearch::Replay {
                episodes: self.replay_graph_episodes,
            }
        } else if self.landmark_edge_steps > 0.0 {
            GraphSearch::Landmarks {
                edge_steps: self.landmark_edge_steps,
            }
        } else {
            GraphSearch::Straight
        };
        PlanningConfig {
            samples: self.samples,
            iterations: self.iterations,
            method: match self.method {
                Method::Cem => SearchMethod::Cem,
                Method::Mppi => SearchMethod::Mppi,
            },
            horizon: self.horizon,
            deadline_ms: self.deadline_ms,
            fit_episodes: self.fit_episodes,
            critic_step_weight: self.critic_step_weight,
            critic_steps: self.critic_steps,
            practice_critic_steps: self.practice_critic_steps,
            critic: match self.critic {
                Critic::Quasimetric => CriticKind::Quasimetric,
                Critic::Hindsight => CriticKind::Hindsight,
            },
            diagnostic_episodes: self.diagnostic_episodes,
            graph,
            predictor_fit_steps: self.predictor_fit_steps,
            practice_predictor_fit_steps: self.practice_predictor_fit_steps,
            pose_dynamics_steps: self.pose_dynamics_steps,
            unsure_quantile: self.unsure_quantile,
            hazard_sight: !self.no_hazard_sight,
        }
    }
}

/// A progress bar in kennel's style.
pub fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:25}] {pos}/{len} {elapsed_precise}  {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// Shows a cost-model fit's progress on `bar` (0 to 1000).
pub fn show_fit(bar: &ProgressBar, progress: &FitProgress) {
    bar.set_position((progress.overall() * 1000.0) as u64);
    bar.set_message(progress.to_string());
}

/// The cost models saved beside a checkpoint, or fitted (and saved) with a progress bar; the
/// notices, and after a fit what it reached, go to stderr.
pub fn cost_models_with_progress(
    spec: &std::sync::Arc<sim::WorldSpec>,
    model: &agent::model::JepaModel,
    checkpoint_dir: &std::path::Path,
    planning: &PlanningConfig,
    seed: u64,
    device: &Device,
) -> anyhow::Result<CostModels> {
    let bar = ProgressBar::new(1000).with_style(bar_style());
    bar.set_prefix("critic");
    let (cost_models, source, notices) = load_or_fit_cost_models(
        spec,
        model,
        checkpoint_dir,
        planning,
        seed,
        device,
        &mut |p| show_fit(&bar, &p),
    )?;
    bar.finish_and_clear();
    for notice in &notices {
        eprintln!("{notice}");
    }
    if source == agent::pipeline::CostModelsSource::Fitted {
        print_fit_summary(&cost_models);
    }
    Ok(cost_models)
}

/// What a fit reached, in words, on stderr.
pub fn print_fit_summary(models: &CostModels) {
    let r = &models.report;
    eprintln!(
        "fitted the critic (loss {:.4}) and {} on {} frames of {} episodes ({} in hazards); fitting took {:.0} s",
        r.critic_loss,
        match r.guardrail_balanced_accuracy {
            Some(a) => format!("the guardrail (balanced accuracy {a:.3})"),
            None => "no guardrail (no hazard frames)".to_owned(),
        },
        r.frames,
        r.episodes,
        r.hazard_frames,
        r.seconds
    );
    if let Some(p) = &r.predictor {
        let last = |errors: &[f64]| errors.last().copied().unwrap_or(f64::NAN);
        eprintln!(
            "refitted the predictor in {:.0} s: held-out {}-step rollout error {:.4} -> {:.4} (the learner's -> the refit)",
            p.seconds,
            p.rollout_steps,
            last(&p.held_out_error_before),
            last(&p.held_out_error_after)
        );
        if let (Some(b), Some(a)) = (&p.held_out_poses_before, &p.held_out_poses_after) {
            eprintln!(
                "poses read off the predictor's {}-step rollouts (median held-out errors, the learner's -> the refit): pusher {:.3} -> {:.3} m, object {:.3} -> {:.3} m and {:.1} -> {:.1}° ({} windows where it moves: {:.3} -> {:.3} m, {:.1} -> {:.1}°; {} where the pusher is held back: {:.3} -> {:.3} m)",
                p.rollout_steps,
                b.agent_m,
                a.agent_m,
                b.object_m,
                a.object_m,
                b.yaw_deg,
                a.yaw_deg,
                a.moving_windows,
                b.moving_object_m,
                a.moving_object_m,
                b.moving_yaw_deg,
                a.moving_yaw_deg,
                a.held_back_windows,
                b.held_back_agent_m,
                a.held_back_agent_m
            );
        }
    }
    if let Some(p) = &r.pose_readout {
        eprintln!(
            "fitted the pose readout the planner costs push with: median held-out error {:.3} m (pusher{}), {:.3} m and {:.1}° (object) over {} frames",
            p.agent_error_m,
            if models.config.pose_readout_proprio == Some(true) {
                ", read from proprioception"
            } else {
                ""
            },
            p.object_error_m,
            p.yaw_error_deg,
            p.held_out_frames
        );
    }
    if let Some(d) = &r.pose_dynamics {
        eprintln!("{}", pose_dynamics_line(d));
    }
}

/// What the fitted pose dynamics imagine of held-out exploration.
pub fn pose_dynamics_line(d: &PoseDynamicsReport) -> String {
    format!(
        "fitted the pose dynamics the planner imagines push in ({} steps on {} transitions): median held-out {}-step errors: pusher {:.3} m, object {:.3} m and {:.1}°; {} windows where the object moves: {:.3} m and {:.1}° (leaving it still: {:.3} m)",
        d.steps,
        d.transitions,
        POSE_DYNAMICS_ROLLOUT,
        d.agent_m,
        d.object_m,
        d.yaw_deg,
        d.moving_windows,
        d.moving_object_m,
        d.moving_yaw_deg,
        d.moving_object_if_still_m
    )
}

/// Shows an evaluation's progress on `bar`.
pub fn show_eval(bar: &ProgressBar, progress: EvalProgress) {
    match progress {
        EvalProgress::Episode { total } => {
            bar.set_length(total as u64);
            bar.inc(1);
        }
        EvalProgress::CostDiagnostic => bar.set_message("cost diagnostic"),
    }
}

pub fn run(args: &EvalArgs) -> anyhow::Result<()> {
    let spec = load_world(&args.world)?;
    let device = Device::flex();
    let (model, train_config, dir) = load_model(&args.checkpoint, &device).with_context(|| {
        format!(
            "--checkpoint {}: pass a checkpoint folder, a file in one, or a run folder written by `kennel train` or `kennel demo`",
            args.checkpoint.display()
        )
    })?;
    if args.seeds.is_empty() {
        bail!("--seeds needs at least one seed, e.g. --seeds 0,1,2");
    }
    if args.episodes == 0 {
        bail!("--episodes must be at least 1");
    }
    let planning = args.planner.config();
    let planner = planning.planner(&spec)?;
    let cost_models =
        cost_models_with_progress(&spec, &model, &dir, &planning, args.seeds[0], &device)?;
    // The encoder everything was fitted on, with the predictor the planner imagines with.
    let model = cost_models.planning_model(&model);
    let settings = EvalSettings {
        episodes: args.episodes,
        seeds: args.seeds.clone(),
        planner,
        cost: planning.cost(),
        baselines: !args.no_baselines,
        diagnostic_episodes: planning.diagnostic_episodes,
    };
    let graphs = PlannerGraph::build(
        &cost_models,
        &planning,
        train_config.model.context_dims(),
        &device,
    );
    if let Some(variants) = &args.variants {
        return run_variants(
            args,
            &spec,
            variants,
            &model,
            &cost_models,
            &graphs,
            &settings,
            &dir,
            &device,
        );
    }
    let bar = ProgressBar::new(1).with_style(bar_style());
    bar.set_prefix("eval");
    bar.set_message(format!(
        "{} episodes of {} per policy",
        args.episodes, spec.name
    ));
    let table = run_eval_table(
        &spec,
        &model,
        &cost_models,
        &graphs,
        &settings,
        &device,
        &|p| {
            show_eval(&bar, p);
        },
    )?;
    bar.finish_and_clear();
    if let Some(out) = &args.filmstrips {
        std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
        let policy = learned_policy(&model, &settings, &cost_models, &graphs);
        for (i, seed) in episode_seeds(&args.seeds, args.episodes.min(4))
            .into_iter()
            .enumerate()
        {
            let trace = agent::eval::record_episode(&spec, &policy, seed, &device)?;
            let path = out.join(format!("episode-{i}.png"));
            let heading = format!("{} · evaluation episode {i}", spec.name);
            crate::plot::filmstrip(&path, &trace, 6, &heading)?;
            eprintln!("wrote {}", path.display());
        }
    }
    let blame = match args.plan_diagnostic {
        0 => None,
        episodes => {
            let policy = learned_policy(&model, &settings, &cost_models, &graphs);
            let seeds = episode_seeds(&args.seeds, episodes);
            let bar = ProgressBar::new(seeds.len() as u64).with_style(bar_style());
            bar.set_prefix("plan diagnostic");
            let report = plan_diagnostic(&spec, &policy, &seeds, 10, &device, &mut |_, n| {
                bar.inc(1);
                bar.set_message(format!("{n} decisions examined"));
            })?;
            bar.finish_and_clear();
            report
        }
    };
    if args.json {
        let mut value = table.to_json();
        if let serde_json::Value::Object(object) = &mut value {
            object.insert("world".into(), spec.name.clone().into());
            object.insert("checkpoint".into(), dir.display().to_string().into());
            object.insert("seeds".into(), serde_json::to_value(&args.seeds)?);
            object.insert("planner".into(), serde_json::to_value(&settings.planner)?);
            for (key, graph) in graphs.to_json(&planning) {
                object.insert(key.into(), graph);
            }
            object.insert(
                "cost_models".into(),
                serde_json::to_value(&cost_models.report)?,
            );
            object.insert("plan_diagnostic".into(), serde_json::to_value(&blame)?);
            object.insert("warnings".into(), serde_json::to_value(table.warnings())?);
        }
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "world {} · checkpoint {} · {} episodes per policy · seeds {:?}",
            spec.name,
            dir.display(),
            args.episodes,
            args.seeds
        );
        print!("{}", table.render());
        println!("{}", budget_line(&settings.planner));
        if let Some(blame) = &blame {
            println!("{}", plan_diagnostic_line(blame));
        }
    }
    // Standard error, so that --json's output stays one object.
    for warning in table.warnings() {
        eprintln!("{warning}");
    }
    Ok(())
}

/// `kennel eval --variants`: the learned planner (and unless --no-baselines the oracle) on
/// the world and each variant, one table.
#[allow(clippy::too_many_arguments)]
fn run_variants(
    args: &EvalArgs,
    spec: &std::sync::Arc<sim::WorldSpec>,
    variants: &str,
    model: &agent::model::JepaModel,
    cost_models: &CostModels,
    graphs: &PlannerGraph,
    settings: &EvalSettings,
    dir: &std::path::Path,
    device: &Device,
) -> anyhow::Result<()> {
    let mut worlds = vec![VariantWorld {
        name: "in-distribution".to_owned(),
        reach: "in-distribution".to_owned(),
        held_out: false,
        spec: std::sync::Arc::clone(spec),
        episodes: None,
    }];
    if args.variant_episodes == Some(0) {
        bail!("--variant-episodes must be at least 1");
    }
    let picked = if variants == "none" {
        if !args.only.is_empty() {
            bail!("--only picks variants, but --variants none asks for none");
        }
        Vec::new()
    } else {
        load_variants(spec, variants, &args.only)?
    };
    for (variant, world) in picked {
        worlds.push(VariantWorld {
            name: variant.name,
            reach: variant.reach.as_str().to_owned(),
            held_out: variant.held_out,
            spec: world,
            episodes: args.variant_episodes,
        });
    }
    let bar = ProgressBar::new(1).with_style(bar_style());
    bar.set_prefix("variants");
    bar.set_message(format!(
        "{} episodes on each of {} worlds",
        args.episodes,
        worlds.len()
    ));
    let table = run_variant_table(
        &worlds,
        model,
        cost_models,
        graphs,
        settings,
        !args.no_baselines,
        device,
        &|p| show_eval(&bar, p),
    )?;
    bar.finish_and_clear();
    if args.json {
        let value = serde_json::json!({
            "world": spec.name,
            "checkpoint": dir.display().to_string(),
            "seeds": args.seeds,
            "episodes": args.episodes,
            "variant_episodes": args.variant_episodes.unwrap_or(args.episodes),
            "planner": settings.planner,
            "variants": table.rows,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!(
            "world {} ({} episodes) and {} variants ({} episodes each) · checkpoint {} · seeds {:?}",
            spec.name,
            args.episodes,
            worlds.len() - 1,
            args.variant_episodes.unwrap_or(args.episodes),
            dir.display(),
            args.seeds
        );
        print!("{}", table.render());
        println!("{}", budget_line(&settings.planner));
    }
    // The world's own row: the variants' costs are expected to rank worse.
    let world_rho = table.rows.first().and_then(|r| r.learned.cost_spearman);
    if let Some(warning) = world_rho.and_then(poor_cost_warning) {
        eprintln!("{warning}");
    }
    Ok(())
}

/// [`PlanDiagnostic`] in words.
fn plan_diagnostic_line(report: &PlanDiagnostic) -> String {
    format!(
        "plan diagnostic ({} decisions): candidates ranked like the truth by the imagined outcomes ρ {:.2}, by the real outcomes ρ {:.2}; first choice in the true best quarter {:.0}% vs {:.0}%",
        report.decisions,
        report.imagined_spearman,
        report.real_spearman,
        100.0 * report.imagined_choice_in_best_quarter,
        100.0 * report.real_choice_in_best_quarter
    )
}

/// The planner's budget in words.
pub fn budget_line(planner: &PlannerConfig) -> String {
    let (method, samples, iterations) = match &planner.method {
        PlanMethod::Cem(c) => ("CEM", c.samples, c.iterations),
        PlanMethod::Mppi(m) => ("MPPI", m.samples, m.iterations),
    };
    format!(
        "learned planner: {method} {samples} samples × {iterations} iterations × horizon {}, deadline {}; one core per decision",
        planner.horizon,
        planner
            .deadline
            .map_or("none".to_owned(), |d| format!("{} ms", d.as_millis()))
    )
}
