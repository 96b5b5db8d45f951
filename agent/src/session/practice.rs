//! One practice episode of the actor, step by step: the world, the planner acting in it
//! (or the person driving), what each decision imagined, and the episode as the learner will
//! get it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use burn::prelude::Device;
use nalgebra::DMatrix;
use sim::{Action, Drawable, Env, Goal, SmoothRandomPolicy, WorldSpec};

use super::actor::ActorModels;
use super::{Clock, Decision, EpisodeOutcome, SessionError};
use crate::Episode;
use crate::eval::{EpisodePlanner, LearnedPolicy};
use crate::model::JepaModel;
use crate::pipeline::PlanningConfig;
use crate::plan::{ActionSequences, LabelledEpisode, LatentEpisodes, imagine};
use crate::probe::RidgeProbe;

/// The environment id of practice episodes in the replay buffer (the stream's are 0, 1, …).
const PRACTICE_ENV: u32 = u32::MAX;

/// The learned planner of an episode: the models it plans with and its search.
struct Planning<'m> {
    models: &'m ActorModels,
    policy: LearnedPolicy<'m>,
    planner: EpisodePlanner<'m>,
}

/// One practice episode in progress: its world, the planner acting in it (or, before any
/// model is fitted, the exploration's random walk) and what it did.
pub(super) struct PracticeEpisode<'m> {
    device: Device,
    env: Env,
    seed: u64,
    pub(super) obs: sim::Observation,
    pub(super) goal_frame: sim::Frame,
    /// `None`: wandering with `wander` (nothing to plan with yet).
    planning: Option<Planning<'m>>,
    wander: SmoothRandomPolicy,
    /// Wall time of one env step, and whether decisions must fit in it.
    pub(super) period: Duration,
    realtime: bool,
    /// The newest plan the search finished in time, and how many of its actions were taken.
    last_plan: Option<(Vec<f32>, usize)>,
    /// The episode as the learner will get it.
    pub(super) record: Episode,
    pub(super) outcome: EpisodeOutcome,
}

impl<'m> PracticeEpisode<'m> {
    /// Resets to episode `seed` of `spec` and plans towards its goal with `models`, or
    /// wanders as the exploration does when there are none yet.
    pub(super) fn start(
        models: Option<&'m ActorModels>,
        spec: &Arc<WorldSpec>,
        seed: u64,
        planning: &PlanningConfig,
        clock: Clock,
        device: &Device,
        pool: &rayon::ThreadPool,
    ) -> Result<Self, SessionError> {
        let mut env = Env::new(Arc::clone(spec));
        let (obs, _) = env.reset(seed)?;
        let goal_frame = env.render_goal()?;
        let period = step_period(spec);
        let realtime = clock == Clock::RealTime;
        let mut planner = planning.planner(spec)?;
        if realtime {
            // Planning must fit in a step of the world's time.
            planner.deadline = Some(planner.deadline.map_or(period, |d| d.min(period)));
        }
        let planning = match models {
            Some(models) => {
                let policy = LearnedPolicy {
                    model: &models.model,
                    planner,
                    cost: planning.cost(),
                    critic: Some(&models.cost.critic),
                    guardrail: models.cost.guardrail.as_ref(),
                    routing: models.graphs.routing(),
                    pose_readout: models.cost.pose_readout.as_ref(),
                    pose_dynamics: models.cost.pose_dynamics.as_ref(),
                    familiarity: models.cost.familiarity.as_ref(),
                    sight: models.cost.sight.as_ref(),
                };
                let planner = pool.install(|| {
                    EpisodePlanner::new(policy.clone(), &env, &goal_frame, seed, device)
                })?;
                Some(Planning {
                    models,
                    policy,
                    planner,
                })
            }
            None => None,
        };
        let record = Episode {
            env_id: PRACTICE_ENV,
            seed,
            frames: obs.rgb.rgb.clone(),
            actions: Vec::new(),
            states: obs.state.clone(),
            finished: true,
        };
        Ok(Self {
            device: device.clone(),
            env,
            seed,
            obs,
            goal_frame,
            planning,
            wander: SmoothRandomPolicy::for_world(spec, 1, seed),
            period,
            realtime,
            last_plan: None,
            record,
            outcome: EpisodeOutcome {
                minutes: 0.0,
                weights_step: models.map_or(0, |m| m.step),
                planned: models.is_some(),
                success: false,
                hazard_entries: 0,
                steps: 0,
                missed_deadlines: 0,
                teleop_steps: 0,
                handed_to_learner: false,
            },
        })
    }

    /// Plans towards `goal` from now on, with its goal image.
    pub(super) fn set_goal(
        &mut self,
        goal: Goal,
        pool: &rayon::ThreadPool,
    ) -> Result<(), SessionError> {
        self.env.set_goal(goal)?;
        self.goal_frame = self.env.render_goal()?;
        let Some(planning) = self.planning.as_mut() else {
            return Ok(());
        };
        let (guardrail, sight) = {
            let policy = planning.planner.policy();
            (policy.guardrail, policy.sight)
        };
        let (env, frame, seed) = (&self.env, &self.goal_frame, self.seed);
        let policy = planning.policy.clone();
        let device = &self.device;
        let mut planner = pool.install(|| EpisodePlanner::new(policy, env, frame, seed, device))?;
        planner.set_guardrail(guardrail, sight);
        planning.planner = planner;
        Ok(())
    }

    /// Plans with (`true`) or without the models' hazard guardrails (on latents and by sight).
    pub(super) fn set_guardrail(&mut self, on: bool) {
        if let Some(planning) = self.planning.as_mut() {
            let sight = planning.models.cost.sight.as_ref().filter(|_| on);
            planning
                .planner
                .set_guardrail(planning.models.guardrail(on), sight);
        }
    }

    /// Everything drawable as it stands, and the episode's goal.
    pub(super) fn scene(&self) -> (Vec<Drawable>, Goal) {
        let scene = self.env.world().map(sim::World::scene).unwrap_or_default();
        let goal = self.env.goal().copied().unwrap_or(Goal {
            agent_position: [0.0; 2],
            object_pose: None,
        });
        (scene, goal)
    }

    /// The driver's action at `step`.
    pub(super) fn drive(&mut self, step: u32, action: [f32; 2]) -> Decision {
        self.outcome.teleop_steps += 1;
        self.last_plan = None;
        Decision {
            step,
            taken: action,
            teleop: true,
            ..Decision::default()
        }
    }

    /// The planner's decision at `step`; in real time, one slower than a step is replaced by
    /// the previous plan's next action.
    pub(super) fn plan(&mut self, step: u32, pool: &rayon::ThreadPool) -> Decision {
        let Some(planning) = self.planning.as_mut() else {
            // Nothing to plan with yet: the exploration's random walk.
            let Action(taken) = self.wander.act_one(0, &self.obs);
            return Decision {
                step,
                taken,
                ..Decision::default()
            };
        };
        let started = Instant::now();
        let (mut per_iteration, mut rejected, mut best) = (Vec::new(), 0, f32::INFINITY);
        let (planner, obs, models) = (&mut planning.planner, &self.obs, planning.models);
        let device = &self.device;
        let (plan, imagined) = pool.install(|| {
            let latent = planner.observe(obs, device);
            let plan = planner.decide(latent.clone(), &mut |_, costs| {
                rejected += costs.iter().filter(|c| c.is_infinite()).count();
                best = costs
                    .iter()
                    .copied()
                    .filter(|c| c.is_finite())
                    .fold(best, f32::min);
                per_iteration.push(best);
            });
            let imagined = planner.imagined_positions(&latent, &plan).or_else(|| {
                let probe = models.positions.as_ref()?;
                Some(read_positions(probe, &models.model, &latent, &plan.actions))
            });
            (plan, imagined)
        });
        let elapsed = started.elapsed();
        let missed = self.realtime && elapsed > self.period;
        let taken = match (missed, self.last_plan.as_mut()) {
            (true, Some((actions, used))) => {
                let at = (*used * 2).min(actions.len().saturating_sub(2));
                *used += 1;
                [actions[at], actions[at + 1]]
            }
            (true, None) => [0.0; 2],
            (false, _) => {
                self.last_plan = Some((plan.actions.clone(), 1));
                [plan.actions[0], plan.actions[1]]
            }
        };
        self.outcome.missed_deadlines += u64::from(missed);
        Decision {
            step,
            taken,
            imagined_positions: imagined.unwrap_or_default(),
            cost_per_iteration: per_iteration,
            rejected,
            evaluated: plan.stats.evaluated,
            all_rejected: !plan.stats.feasible,
            deadline_ms: planning
                .policy
                .planner
                .deadline
                .map_or(0.0, |d| d.as_secs_f64() * 1e3),
            elapsed_ms: elapsed.as_secs_f64() * 1e3,
            missed_deadline: missed,
            teleop: false,
            actions: plan.actions,
        }
    }

    /// Takes `action` at `step` and records it; whether the episode is over.
    pub(super) fn take(&mut self, step: u32, action: Action) -> Result<bool, SessionError> {
        let result = self.env.step(&action)?;
        self.outcome.hazard_entries += u64::from(result.info.hazard_entries_this_step);
        self.outcome.steps = u64::from(step);
        self.obs = result.obs;
        self.record.frames.extend_from_slice(&self.obs.rgb.rgb);
        self.record.actions.push(action.0);
        self.record.states.extend_from_slice(&self.obs.state);
        self.outcome.success = result.terminated;
        Ok(result.terminated || result.truncated)
    }
}

/// A linear readout of the agent's position from latents, fitted on every frame of the
/// encoded exploration; `None` when it cannot be fitted.
pub(super) fn position_probe(
    data: &LatentEpisodes,
    exploration: &[LabelledEpisode],
) -> Option<RidgeProbe> {
    let d = data.latents.first()?.first()?.len();
    let (mut inputs, mut targets) = (Vec::new(), Vec::new());
    let episodes = exploration.iter().filter(|e| !e.is_empty());
    for (latents, episode) in data.latents.iter().zip(episodes) {
        for (latent, position) in latents.iter().zip(&episode.proprio) {
            inputs.extend(latent.iter().map(|v| f64::from(*v)));
            targets.extend(position.iter().map(|v| f64::from(*v)));
        }
    }
    let n = targets.len() / 2;
    let inputs = DMatrix::from_row_slice(n, d, &inputs);
    let targets = DMatrix::from_row_slice(n, 2, &targets);
    RidgeProbe::fit(&inputs, &targets, 1.0)
}

/// The agent's positions along what `model` imagines `actions` (`[horizon · 2]`) do from
/// `latent`, read by `probe`.
fn read_positions(
    probe: &RidgeProbe,
    model: &JepaModel,
    latent: &burn::Tensor<2>,
    actions: &[f32],
) -> Vec<[f32; 2]> {
    let candidates = ActionSequences {
        samples: 1,
        horizon: actions.len() / 2,
        action_dim: 2,
        values: actions.to_vec(),
    };
    let imagined = imagine(model, latent, &candidates);
    let [_, h, d] = imagined.dims();
    let values: Vec<f64> = imagined
        .reshape([h, d])
        .into_data()
        .iter::<f32>()
        .map(f64::from)
        .collect();
    let positions = probe.predict(&DMatrix::from_row_slice(h, d, &values));
    (0..h)
        .map(|t| [positions[(t, 0)] as f32, positions[(t, 1)] as f32])
        .collect()
}

/// Wall time of one env step: the world's dt times its action repeat.
pub(super) fn step_period(spec: &WorldSpec) -> Duration {
    Duration::from_secs_f64(f64::from(spec.physics.dt) * f64::from(spec.agent.action_repeat.max(1)))
}
