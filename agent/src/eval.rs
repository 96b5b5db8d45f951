//! Honest evaluation of a policy on a world's task: per episode a start and a goal drawn from
//! the seed, a step budget, success judged by the task's predicate on the true simulator state
//! (never by the latent), hazard entries counted, planning latency measured; success rates come
//! with a 95% Wilson interval.

use std::sync::Arc;
use std::time::Instant;

use burn::prelude::*;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sim::{Action, Env, SeedSequence, SimError, World, WorldSpec};

use crate::model::{JepaModel, frames_to_tensor};
use crate::plan::{ActionSequences, LatentCostConfig, Planner, PlannerConfig, latent_costs};

/// What acts in the episodes.
pub enum EvalPolicy<'a> {
    /// Uniform random actions in the bounds.
    Random,
    /// The planner with the true simulator (snapshot/restore) and the true shortest-path
    /// distance: the upper reference the learned model is compared with.
    Oracle(PlannerConfig),
    /// The planner in the learned model with the intrinsic latent cost to the goal image.
    Learned {
        /// The world model (inference copy).
        model: &'a JepaModel,
        /// The planner.
        planner: PlannerConfig,
        /// The cost weights.
        cost: LatentCostConfig,
    },
}

/// The figures of one evaluation.
#[derive(Clone, Debug, Default, Serialize)]
pub struct EvalReport {
    /// Episodes run.
    pub episodes: usize,
    /// Successful episodes.
    pub successes: usize,
    /// Fraction of episodes that succeeded.
    pub success_rate: f64,
    /// 95% Wilson interval of the success rate.
    pub success_ci95: [f64; 2],
    /// Mean env steps of the successful episodes.
    pub mean_steps_to_success: f64,
    /// Hazard entries over all episodes.
    pub hazard_entries: u64,
    /// Median planning time per decision, milliseconds (0 for the random policy).
    pub plan_ms_p50: f64,
    /// 99th percentile planning time per decision, milliseconds.
    pub plan_ms_p99: f64,
}

/// The 95% Wilson score interval of `successes` out of `n`.
pub fn wilson_interval(successes: usize, n: usize) -> [f64; 2] {
    if n == 0 {
        return [0.0, 1.0];
    }
    let z = 1.959_963_984_540_054_f64;
    let n = n as f64;
    let p = successes as f64 / n;
    let denominator = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denominator;
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / denominator;
    [(centre - half).max(0.0), (centre + half).min(1.0)]
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() as f64 * q).ceil() as usize).saturating_sub(1);
    sorted[index.min(sorted.len() - 1)]
}

/// Costs of candidates simulated from a snapshot of the true world: shortest-path distance
/// to the goal after each imagined decision (0.1 each, 1 more at the end); entering a hazard
/// makes a candidate infeasible.
fn oracle_costs(
    scratch: &mut World,
    snapshot: &sim::WorldSnapshot,
    field: &sim::DistanceField,
    candidates: &ActionSequences,
) -> Vec<f32> {
    let spec = Arc::clone(scratch.spec_arc());
    let (low, high) = (spec.agent.action_low, spec.agent.action_high);
    (0..candidates.samples)
        .map(|i| {
            if scratch.restore(snapshot).is_err() {
                return f32::INFINITY;
            }
            let mut cost = 0.0;
            for (t, action) in candidates.sequence(i).chunks(2).enumerate() {
                scratch.set_action([
                    action[0].clamp(low[0], high[0]),
                    action[1].clamp(low[1], high[1]),
                ]);
                for _ in 0..spec.agent.action_repeat {
                    scratch.step();
                    if scratch.in_hazard() {
                        return f32::INFINITY;
                    }
                }
                let d = match (scratch.goal().object_pose, scratch.object_pose()) {
                    // Push: the object's position error, and its yaw error at 0.1 m per radian.
                    (Some(goal), Some(pose)) => {
                        (pose.position[0] - goal.position[0])
                            .hypot(pose.position[1] - goal.position[1])
                            + 0.1 * sim::wrap_angle(pose.yaw - goal.yaw).abs()
                    }
                    _ => {
                        let p = scratch.agent_position();
                        field.distance([p[0], p[1]])
                    }
                };
                let last = t + 1 == candidates.horizon;
                cost += d * if last { 1.1 } else { 0.1 };
            }
            cost
        })
        .collect()
}

/// Runs `episodes` episodes of `spec` (seeds derived from `master_seed`) with `policy`.
pub fn evaluate(
    spec: &Arc<WorldSpec>,
    policy: &EvalPolicy<'_>,
    episodes: usize,
    master_seed: u64,
    device: &Device,
) -> Result<EvalReport, SimError> {
    let seeds = SeedSequence::new(master_seed);
    let mut env = Env::new(Arc::clone(spec));
    let mut rng = ChaCha8Rng::seed_from_u64(master_seed ^ 0xe7a1);
    let (low, high) = (spec.agent.action_low, spec.agent.action_high);
    let mut report = EvalReport {
        episodes,
        ..EvalReport::default()
    };
    let mut steps_to_success = Vec::new();
    let mut plan_ms = Vec::new();
    for episode in 0..episodes {
        let seed = seeds.episode_seed(0, episode as u64);
        let (mut obs, _) = env.reset(seed)?;
        let mut planner = match policy {
            EvalPolicy::Random => None,
            EvalPolicy::Oracle(config)
            | EvalPolicy::Learned {
                planner: config, ..
            } => Some(Planner::new(config.clone())),
        };
        let goal_latent = match policy {
            EvalPolicy::Learned { model, .. } => {
                let goal = env.render_goal()?;
                let (h, w) = (goal.height as usize, goal.width as usize);
                Some(
                    model
                        .encoder
                        .forward(frames_to_tensor(&goal.rgb, 1, h, w, device)),
                )
            }
            _ => None,
        };
        let field = match policy {
            EvalPolicy::Oracle(_) => env
                .world()
                .map(|w| w.distance_field(w.goal().agent_position, 0.02)),
            _ => None,
        };
        let mut scratch = match policy {
            EvalPolicy::Oracle(_) => Some(World::from_seed(Arc::clone(spec), seed)?),
            _ => None,
        };
        for step in 1..=spec.task.episode_steps {
            let action = match (policy, planner.as_mut()) {
                (EvalPolicy::Random, _) | (_, None) => Action([
                    rng.random_range(low[0]..high[0]),
                    rng.random_range(low[1]..high[1]),
                ]),
                (EvalPolicy::Oracle(_), Some(planner)) => {
                    let started = Instant::now();
                    let world = env.world().ok_or(SimError::NotReset)?;
                    let snapshot = world.snapshot()?;
                    let (Some(scratch), Some(field)) = (scratch.as_mut(), field.as_ref()) else {
                        return Err(SimError::NotReset);
                    };
                    let plan = planner.plan(&mut |c| oracle_costs(scratch, &snapshot, field, c));
                    plan_ms.push(started.elapsed().as_secs_f64() * 1e3);
                    Action([plan.actions[0], plan.actions[1]])
                }
                (EvalPolicy::Learned { model, cost, .. }, Some(planner)) => {
                    let started = Instant::now();
                    let (h, w) = (obs.rgb.height as usize, obs.rgb.width as usize);
                    let latent =
                        model
                            .encoder
                            .forward(frames_to_tensor(&obs.rgb.rgb, 1, h, w, device));
                    let Some(goal) = goal_latent.as_ref() else {
                        return Err(SimError::NotReset);
                    };
                    let plan = planner.plan(&mut |c| latent_costs(model, &latent, goal, c, cost));
                    plan_ms.push(started.elapsed().as_secs_f64() * 1e3);
                    Action([plan.actions[0], plan.actions[1]])
                }
            };
            let result = env.step(&action)?;
            report.hazard_entries += u64::from(result.info.hazard_entries_this_step);
            obs = result.obs;
            if result.terminated {
                report.successes += 1;
                steps_to_success.push(f64::from(step));
                break;
            }
            if result.truncated {
                break;
            }
        }
    }
    report.success_rate = report.successes as f64 / episodes.max(1) as f64;
    report.success_ci95 = wilson_interval(report.successes, episodes);
    report.mean_steps_to_success = if steps_to_success.is_empty() {
        f64::NAN
    } else {
        steps_to_success.iter().sum::<f64>() / steps_to_success.len() as f64
    };
    plan_ms.sort_by(f64::total_cmp);
    report.plan_ms_p50 = percentile(&plan_ms, 0.5);
    report.plan_ms_p99 = percentile(&plan_ms, 0.99);
    Ok(report)
}
