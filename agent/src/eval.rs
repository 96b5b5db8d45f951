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

use crate::model::{JepaModel, frames_to_tensor, proprio_to_tensor};
use crate::plan::LandmarkRoute;
use crate::plan::{
    ActionSequences, Critic, Familiarity, GoalCost, GoalCostConfig, HazardClassifier, HazardSight,
    LandmarkGraph, Plan, PlanStats, Planner, PlannerConfig, PoseDynamics, PoseReadout, ReplayGraph,
    SightView, decide_watching, encode_frames,
};
use crate::probe::spearman;

/// What acts in the episodes.
pub enum EvalPolicy<'a> {
    /// Uniform random actions in the bounds.
    Random,
    /// The planner with the true simulator (snapshot/restore) and the true shortest-path
    /// distance: the upper reference the learned model is compared with.
    Oracle(PlannerConfig),
    /// The planner in the learned model, towards the goal image's latent.
    Learned(LearnedPolicy<'a>),
}

/// The learned planner: a world model, the planner's budget and cost, and the learned parts
/// of the cost it plans with.
#[derive(Clone)]
pub struct LearnedPolicy<'a> {
    /// The world model (inference copy).
    pub model: &'a JepaModel,
    /// The planner.
    pub planner: PlannerConfig,
    /// The cost weights.
    pub cost: GoalCostConfig,
    /// The steps-to-goal critic (`None`: the intrinsic latent distance alone).
    pub critic: Option<&'a Critic>,
    /// The hazard guardrail (`None`: no constraint).
    pub guardrail: Option<&'a HazardClassifier>,
    /// What the critic's last-step estimate is routed through.
    pub routing: Routing<'a>,
    /// Push: the pose readout the planner's cost goes through instead of the critic
    /// (`None`: not used).
    pub pose_readout: Option<&'a PoseReadout>,
    /// Push: the pose dynamics candidates are imagined with, from the readout's poses of
    /// the current frame, instead of the predictor (`None`: the predictor; needs
    /// `pose_readout`).
    pub pose_dynamics: Option<&'a PoseDynamics>,
    /// The test of whether the current state is like anything the model was fitted on
    /// (`None`: trust every state). In a state it does not know, the agent does not plan: it
    /// backs off the way it came ([`EpisodePlanner::decide`]).
    pub familiarity: Option<&'a Familiarity>,
    /// The guardrail that looks at the current frame (`None`: the latent guardrail alone).
    pub sight: Option<&'a HazardSight>,
}

/// Unfamiliar decisions after which, when they are also [`HALT_UNSURE_SHARE`] of the
/// episode's, the agent stands still for the rest of the episode.
pub const HALT_UNSURE_DECISIONS: u32 = 5;
/// See [`HALT_UNSURE_DECISIONS`].
pub const HALT_UNSURE_SHARE: f64 = 0.25;
/// With the hazard sight, the share of its speed the agent plans on with in a state the
/// familiarity test flags.
pub const UNSURE_SPEED: f32 = 0.5;

/// A state farther than this many of the route's longest hops from every recorded frame of
/// the goal's graph is off the route: the planner falls back to the critic's estimate.
pub const ROUTE_LOST_HOPS: f32 = 3.0;

/// The learned planner acting in one episode: the goal's latent and its route through the
/// graph in use, computed once, and a receding-horizon planner that warm-starts from its
/// previous plan.
pub struct EpisodePlanner<'a> {
    policy: LearnedPolicy<'a>,
    planner: Planner,
    goal: Tensor<2>,
    route: Option<LandmarkRoute>,
    object_radius: f32,
    /// The first actions of the plans taken so far (not the backing off), newest last.
    taken: Vec<Vec<f32>>,
    /// Decisions so far, and of them those in unfamiliar states.
    decisions: u32,
    unsure: u32,
    /// The last observation, when the policy has a hazard sight.
    view: Option<View>,
}

impl<'a> EpisodePlanner<'a> {
    /// Starts planning towards the goal of the episode `env` has just reset to (`seed` its
    /// seed, which seeds the search); `goal_frame` is that episode's goal image.
    pub fn new(
        policy: LearnedPolicy<'a>,
        env: &Env,
        goal_frame: &sim::Frame,
        seed: u64,
        device: &Device,
    ) -> Result<Self, SimError> {
        let world = env.world().ok_or(SimError::NotReset)?;
        // The goal observation: the goal image and where the agent rests in it.
        let goal = encode_one(
            policy.model,
            goal_frame,
            world.goal().agent_position,
            device,
        );
        // Shortest paths through the graph to this episode's goal, once per episode.
        let route = policy
            .critic
            .and_then(|critic| policy.routing.route(critic, &goal));
        let planner = Planner::new(PlannerConfig {
            seed: policy.planner.seed ^ seed,
            ..policy.planner.clone()
        });
        Ok(Self {
            object_radius: world.object_radius().unwrap_or(0.0),
            policy,
            planner,
            goal,
            route,
            taken: Vec::new(),
            decisions: 0,
            unsure: 0,
            view: None,
        })
    }

    /// The policy it plans with.
    pub fn policy(&self) -> &LearnedPolicy<'a> {
        &self.policy
    }

    /// Plans with or without the guardrails (on latents, by sight) from now on.
    pub fn set_guardrail(
        &mut self,
        guardrail: Option<&'a HazardClassifier>,
        sight: Option<&'a HazardSight>,
    ) {
        self.policy.guardrail = guardrail;
        self.policy.sight = sight;
    }

    /// The latent of an observation; its frame and proprioception are kept for the hazard
    /// sight of the next decision.
    pub fn observe(&mut self, obs: &sim::Observation, device: &Device) -> Tensor<2> {
        if self.policy.sight.is_some() {
            let velocity = self.view.as_ref().map_or([0.0; 2], |last| {
                [
                    obs.proprio[0] - last.proprio[0],
                    obs.proprio[1] - last.proprio[1],
                ]
            });
            self.view = Some(View {
                frame: obs.rgb.rgb.clone(),
                width: obs.rgb.width as usize,
                height: obs.rgb.height as usize,
                proprio: obs.proprio,
                velocity,
            });
        }
        encode_one(self.policy.model, &obs.rgb, obs.proprio, device)
    }

    /// The planner's cost of candidate plans from `latent` (`[1, latent_dim]`).
    pub fn goal_cost(&self, latent: Tensor<2>) -> GoalCost<'_> {
        goal_cost_of(
            &self.policy,
            &self.goal,
            self.route.as_ref(),
            self.object_radius,
            self.view.as_ref(),
            latent,
        )
    }

    /// One decision from `latent`; `watch` sees every batch of candidates and their costs.
    ///
    /// In a state the familiarity test flags (`stats.unsure`), nothing is planned: the agent
    /// retraces its last planned action backwards (undoing one more at each further flagged
    /// step), or stands still when it has taken none, since the model's imagination and its
    /// guardrail cannot be trusted there. Once [`HALT_UNSURE_DECISIONS`] decisions, and at
    /// least [`HALT_UNSURE_SHARE`] of the episode's, were in such states, the world itself is
    /// unlike what the model knows: the agent stands still for the rest of the episode.
    /// With the hazard sight none of this: the sight judges the frame itself, so the agent
    /// plans on, at [`UNSURE_SPEED`] of its speed (the decision still counts as unsure).
    pub fn decide(
        &mut self,
        latent: Tensor<2>,
        watch: &mut dyn FnMut(&ActionSequences, &[f32]),
    ) -> Plan {
        self.decisions += 1;
        let halted = self.unsure >= HALT_UNSURE_DECISIONS
            && f64::from(self.unsure) >= HALT_UNSURE_SHARE * f64::from(self.decisions);
        let unfamiliar = self.policy.familiarity.is_some_and(|familiarity| {
            familiarity.is_unfamiliar(
                &latent
                    .clone()
                    .into_data()
                    .try_to_vec::<f32>()
                    .unwrap_or_default(),
            )
        });
        // With the hazard sight, what the agent sees still guards it where the latent is
        // unlike anything recorded (and colours it never saw count as hazards): it plans on,
        // at half speed, instead of backing off.
        let sighted = self.view.is_some() && self.policy.sight.is_some();
        if (halted || unfamiliar) && !sighted {
            self.unsure += 1;
            let config = self.planner.config();
            let mut actions = vec![0.0; config.horizon * config.action_dim];
            if let Some(last) = self.taken.pop().filter(|_| !halted) {
                for (a, b) in actions.iter_mut().zip(&last) {
                    *a = -b;
                }
            }
            return Plan {
                actions,
                stats: PlanStats {
                    feasible: true,
                    unsure: true,
                    ..PlanStats::default()
                },
            };
        }
        // Where the recorded exploration holds nothing near this state (a layout it never
        // saw), its route would be a guess: the critic's own estimate instead.
        let lost = self
            .route
            .as_ref()
            .and_then(|route| route.nearest_hop(latent.clone()))
            .is_some_and(|hops| hops > ROUTE_LOST_HOPS);
        let route = self.route.as_ref().filter(|_| !lost);
        let mut cost = goal_cost_of(
            &self.policy,
            &self.goal,
            route,
            self.object_radius,
            self.view.as_ref(),
            latent,
        );
        let mut plan = decide_watching(&mut self.planner, &mut cost, watch);
        plan.stats.off_route = lost;
        if unfamiliar {
            self.unsure += 1;
            plan.stats.unsure = true;
            for a in &mut plan.actions {
                *a *= UNSURE_SPEED;
            }
        }
        let dim = self.planner.config().action_dim;
        self.taken.push(plan.first_action(dim).to_vec());
        plan
    }

    /// The agent's planar positions along what the model imagines `plan` does from `latent`,
    /// where a readout of them exists (push's pose readout and dynamics); `None` otherwise.
    pub fn imagined_positions(&self, latent: &Tensor<2>, plan: &Plan) -> Option<Vec<[f32; 2]>> {
        let readout = self.policy.pose_readout?;
        let horizon = self.planner.config().horizon;
        let action_dim = self.planner.config().action_dim;
        let candidates = ActionSequences {
            samples: 1,
            horizon,
            action_dim,
            values: plan.actions.clone(),
        };
        let device = latent.device();
        let poses = match self.policy.pose_dynamics {
            Some(dynamics) => {
                let start = readout.poses(latent.clone()).into_iter().next()?;
                dynamics.rollout(&start, &candidates, &device)
            }
            None => {
                let imagined = crate::plan::imagine(self.policy.model, latent, &candidates);
                let d = imagined.dims()[2];
                readout.poses(imagined.reshape([horizon, d]))
            }
        };
        Some(poses.iter().map(|p| p.agent).collect())
    }
}

/// The cost [`EpisodePlanner`] plans with: `policy`'s parts towards `goal`, routed through
/// `route`.
fn goal_cost_of<'b>(
    policy: &'b LearnedPolicy<'_>,
    goal: &Tensor<2>,
    route: Option<&'b LandmarkRoute>,
    object_radius: f32,
    view: Option<&'b View>,
    latent: Tensor<2>,
) -> GoalCost<'b> {
    let p = policy;
    GoalCost::new(
        p.model,
        p.critic,
        p.guardrail,
        &p.cost,
        latent,
        goal.clone(),
    )
    .with_route(route)
    .with_pose_readout(p.pose_readout, object_radius)
    .with_pose_dynamics(p.pose_dynamics)
    .with_sight(p.sight.zip(view).map(|(sight, view)| SightView {
        sight,
        frame: &view.frame,
        width: view.width,
        height: view.height,
        proprio: view.proprio,
        velocity: view.velocity,
    }))
}

/// The last observed frame and proprioception, for the hazard sight.
struct View {
    frame: Vec<u8>,
    width: usize,
    height: usize,
    proprio: [f32; 2],
    /// The displacement since the observation before (zero at the first).
    velocity: [f32; 2],
}

/// What the planner's last-step estimate is routed through.
#[derive(Clone, Copy, Default)]
pub enum Routing<'a> {
    /// The critic's straight estimate.
    #[default]
    Straight,
    /// Shortest paths through the critic's landmark graph.
    Landmarks(&'a LandmarkGraph),
    /// Shortest paths through the recorded exploration.
    Replay(&'a ReplayGraph),
}

impl Routing<'_> {
    /// Shortest paths to `goal` (`[1, latent_dim]`) through the graph in use, once per goal
    /// (`None`: the critic's straight estimate).
    pub fn route(&self, critic: &Critic, goal: &Tensor<2>) -> Option<LandmarkRoute> {
        match self {
            Self::Replay(replay) => replay.route(goal),
            Self::Landmarks(landmarks) => landmarks.route(critic, goal.clone()),
            Self::Straight => None,
        }
    }
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
    /// Spearman rank correlation of the policy's cost with the true shortest-path distance to
    /// the goal on held-out start/goal pairs ([`cost_diagnostic`]; 1 for the oracle, whose
    /// cost is that distance; absent for the random policy).
    pub cost_spearman: Option<f64>,
    /// Decisions where no candidate satisfied the guardrails (the safest one was taken).
    pub infeasible_decisions: u64,
    /// Decisions in states the familiarity test flagged as unlike anything the model was
    /// fitted on (the agent backed off instead of planning).
    pub unsure_decisions: u64,
    /// Episodes with at least one such decision.
    pub unsure_episodes: u64,
    /// Decisions in states the recorded exploration's route to the goal held nothing near
    /// (the planner fell back to the critic's own estimate).
    pub off_route_decisions: u64,
    /// Episodes with at least one such decision.
    pub off_route_episodes: u64,
    /// Env steps over all episodes.
    pub env_steps: u64,
}

/// Whose fault a planner's wrong choices are: at sampled decisions of learned-planner
/// episodes, the planner's first batch of candidate plans is ranked three ways. By the
/// planner's cost of what the predictor imagines (what it acts on); by the same cost of the
/// encoded frames of what the candidates really do in the simulator (the predictor taken out);
/// and by their true cost (the oracle planner's: the true shortest-path distance along the
/// way and at the end). Where the second agrees with the truth and the first does not, the
/// predictor is wrong; where neither does, the cost is.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PlanDiagnostic {
    /// Decisions examined.
    pub decisions: usize,
    /// Median over decisions of the Spearman ρ between the planner's costs of the candidates
    /// (imagined) and their true costs.
    pub imagined_spearman: f64,
    /// The same with the planner's cost measured on the candidates' true outcomes.
    pub real_spearman: f64,
    /// Fraction of decisions where the candidate the planner ranks first is among the best
    /// quarter by true cost (a quarter by chance).
    pub imagined_choice_in_best_quarter: f64,
    /// The same for the candidate ranked first on the true outcomes.
    pub real_choice_in_best_quarter: f64,
}

/// What [`PlanDiagnostic`] gathers during episodes.
struct PlanRanking {
    /// Examine every `every`-th decision.
    every: u32,
    /// Per examined decision: ρ imagined, ρ real, and whether each one's first choice is in
    /// the true best quarter.
    rows: Vec<(f64, f64, bool, bool)>,
}

impl PlanRanking {
    /// Ranks `candidates` (costed `imagined` by the planner) from the world as it is now.
    #[allow(clippy::too_many_arguments)]
    fn examine(
        &mut self,
        world: &World,
        scratch: &mut World,
        field: &sim::DistanceField,
        goal_cost: &mut GoalCost<'_>,
        model: &JepaModel,
        candidates: &ActionSequences,
        imagined: &[f32],
        device: &Device,
    ) -> Result<(), SimError> {
        let snapshot = world.snapshot()?;
        let truth = oracle_costs(scratch, &snapshot, field, candidates);
        // The candidates' real frames, encoded as the planner encodes what it sees.
        let mut renderer = sim::Renderer::new(scratch.spec_arc());
        let mut frame = sim::Frame::default();
        let (mut pixels, mut proprio) = (Vec::new(), Vec::new());
        for i in 0..candidates.samples {
            scratch.restore(&snapshot)?;
            for action in candidates.sequence(i).chunks(2) {
                act(scratch, action);
                renderer.render_into(scratch, &mut frame);
                pixels.extend_from_slice(&frame.rgb);
                proprio.extend_from_slice(&scratch.agent_position()[..2]);
            }
        }
        let (h, w) = (frame.height as usize, frame.width as usize);
        let (s, t) = (candidates.samples, candidates.horizon);
        let latents = model.encoder.forward(
            frames_to_tensor(&pixels, s * t, h, w, device),
            proprio_to_tensor(&model.encoder, &proprio, s * t, device),
        );
        let d = latents.dims()[1];
        let real = goal_cost.costs_of(candidates, latents.reshape([s, t, d]));
        let (imagined_rho, imagined_best) = agreement(imagined, &truth);
        let (real_rho, real_best) = agreement(&real, &truth);
        self.rows
            .push((imagined_rho, real_rho, imagined_best, real_best));
        Ok(())
    }

    fn report(&self) -> PlanDiagnostic {
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            percentile(&v, 0.5)
        };
        let n = self.rows.len().max(1) as f64;
        PlanDiagnostic {
            decisions: self.rows.len(),
            imagined_spearman: median(self.rows.iter().map(|r| r.0).collect()),
            real_spearman: median(self.rows.iter().map(|r| r.1).collect()),
            imagined_choice_in_best_quarter: self.rows.iter().filter(|r| r.2).count() as f64 / n,
            real_choice_in_best_quarter: self.rows.iter().filter(|r| r.3).count() as f64 / n,
        }
    }
}

/// How well `costs` rank candidates whose true costs are `truth`: the Spearman ρ over the
/// candidates finite in both (a hazard hit in truth, a guardrail's rejection), and whether
/// the lowest of `costs` is among the best quarter of `truth`.
fn agreement(costs: &[f32], truth: &[f32]) -> (f64, bool) {
    let (a, b): (Vec<f64>, Vec<f64>) = costs
        .iter()
        .zip(truth)
        .filter(|(c, t)| c.is_finite() && t.is_finite())
        .map(|(c, t)| (f64::from(*c), f64::from(*t)))
        .unzip();
    let mut sorted: Vec<f32> = truth.iter().copied().filter(|t| t.is_finite()).collect();
    sorted.sort_by(f32::total_cmp);
    let quarter = sorted
        .get(sorted.len().saturating_sub(1) / 4)
        .copied()
        .unwrap_or(f32::NEG_INFINITY);
    let chosen_is_good = (0..costs.len())
        .min_by(|&i, &j| costs[i].total_cmp(&costs[j]))
        .is_some_and(|i| truth[i] <= quarter);
    (spearman(&a, &b), chosen_is_good)
}

/// One episode as it was played, for pictures: every frame, the agent's path, the goal.
#[derive(Clone, Debug, Default)]
pub struct EpisodeTrace {
    /// Frame height.
    pub height: usize,
    /// Frame width.
    pub width: usize,
    /// `[steps + 1, H, W, 3]` bytes.
    pub frames: Vec<u8>,
    /// The goal image, `[H, W, 3]` bytes.
    pub goal_frame: Vec<u8>,
    /// The agent's planar position after each frame.
    pub path: Vec<[f32; 2]>,
    /// The actions taken, `[steps]`.
    pub actions: Vec<[f32; 2]>,
    /// True states after each frame, `[steps + 1, state_dim]`.
    pub states: Vec<f32>,
    /// Hazards the agent entered.
    pub hazard_entries: u64,
    /// The goal position of the agent (navigation) or of the object (push).
    pub goal_position: [f32; 2],
    /// The arena's half extents.
    pub arena_half_extents: [f32; 2],
    /// Whether the task succeeded.
    pub success: bool,
}

/// The seeds of `episodes` evaluation episodes spread evenly over `master_seeds` (episode `i`
/// of master seed `m` is `SeedSequence::new(m).episode_seed(0, i)`).
pub fn episode_seeds(master_seeds: &[u64], episodes: usize) -> Vec<u64> {
    let masters = master_seeds.len().max(1);
    (0..episodes)
        .map(|i| {
            let master = master_seeds.get(i % masters).copied().unwrap_or(0);
            SeedSequence::new(master).episode_seed(0, (i / masters) as u64)
        })
        .collect()
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
/// to the goal (push: [`sim::push_cost_to_go`]) after each imagined decision (0.1 each, 1 more at
/// the end); entering a hazard makes a candidate infeasible.
fn oracle_costs(
    scratch: &mut World,
    snapshot: &sim::WorldSnapshot,
    field: &sim::DistanceField,
    candidates: &ActionSequences,
) -> Vec<f32> {
    (0..candidates.samples)
        .map(|i| {
            if scratch.restore(snapshot).is_err() {
                return f32::INFINITY;
            }
            let mut cost = 0.0;
            for (t, action) in candidates.sequence(i).chunks(2).enumerate() {
                if act(scratch, action) {
                    return f32::INFINITY;
                }
                let d = match scratch.push_cost_to_go() {
                    Some(d) => d,
                    None => {
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

/// Applies `action` (clamped to the bounds) for the world's action repeat; whether the agent
/// was in a hazard after any of those physics steps.
fn act(world: &mut World, action: &[f32]) -> bool {
    let agent = &world.spec_arc().agent;
    let (low, high, repeat) = (agent.action_low, agent.action_high, agent.action_repeat);
    world.set_action([
        action[0].clamp(low[0], high[0]),
        action[1].clamp(low[1], high[1]),
    ]);
    let mut in_hazard = false;
    for _ in 0..repeat {
        world.step();
        in_hazard |= world.in_hazard();
    }
    in_hazard
}

/// What one episode did.
struct EpisodeOutcome {
    success: bool,
    steps: u32,
    hazard_entries: u64,
    infeasible: u64,
    unsure: u64,
    off_route: u64,
    plan_ms: Vec<f64>,
}

/// The latent of one observation: its frame and its proprioception.
fn encode_one(
    model: &JepaModel,
    frame: &sim::Frame,
    proprio: [f32; 2],
    device: &Device,
) -> Tensor<2> {
    let (h, w) = (frame.height as usize, frame.width as usize);
    model.encoder.forward(
        frames_to_tensor(&frame.rgb, 1, h, w, device),
        proprio_to_tensor(&model.encoder, &proprio, 1, device),
    )
}

/// Plays one episode from `seed` with `policy`; fills `trace` when given.
fn run_episode(
    env: &mut Env,
    policy: &EvalPolicy<'_>,
    seed: u64,
    device: &Device,
    mut trace: Option<&mut EpisodeTrace>,
    mut ranking: Option<&mut PlanRanking>,
) -> Result<EpisodeOutcome, SimError> {
    let spec = Arc::clone(env.spec());
    let (low, high) = (spec.agent.action_low, spec.agent.action_high);
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0xe7a1);
    let (mut obs, _) = env.reset(seed)?;
    let mut oracle = match policy {
        EvalPolicy::Oracle(config) => Some(Planner::new(PlannerConfig {
            seed: config.seed ^ seed,
            ..config.clone()
        })),
        _ => None,
    };
    let goal_frame = if matches!(policy, EvalPolicy::Learned(_)) || trace.is_some() {
        Some(env.render_goal()?)
    } else {
        None
    };
    let mut learned = match (policy, goal_frame.as_ref()) {
        (EvalPolicy::Learned(learned), Some(goal)) => Some(EpisodePlanner::new(
            learned.clone(),
            env,
            goal,
            seed,
            device,
        )?),
        _ => None,
    };
    let world = env.world().ok_or(SimError::NotReset)?;
    let simulates = matches!(policy, EvalPolicy::Oracle(_)) || ranking.is_some();
    let field = simulates.then(|| world.distance_field(world.goal().agent_position, 0.02));
    let mut scratch = if simulates {
        Some(World::from_seed(Arc::clone(&spec), seed)?)
    } else {
        None
    };
    if let Some(trace) = trace.as_deref_mut() {
        let goal = world.goal();
        *trace = EpisodeTrace {
            height: obs.rgb.height as usize,
            width: obs.rgb.width as usize,
            frames: obs.rgb.rgb.clone(),
            goal_frame: goal_frame
                .as_ref()
                .map(|f| f.rgb.clone())
                .unwrap_or_default(),
            path: vec![{
                let p = world.agent_position();
                [p[0], p[1]]
            }],
            actions: Vec::new(),
            states: obs.state.clone(),
            hazard_entries: 0,
            goal_position: goal
                .object_pose
                .map_or(goal.agent_position, |pose| pose.position),
            arena_half_extents: spec.arena.half_extents,
            success: false,
        };
    }
    let mut outcome = EpisodeOutcome {
        success: false,
        steps: 0,
        hazard_entries: 0,
        infeasible: 0,
        unsure: 0,
        off_route: 0,
        plan_ms: Vec::new(),
    };
    for step in 1..=spec.task.episode_steps {
        let action = match (oracle.as_mut(), learned.as_mut()) {
            (Some(planner), _) => {
                let started = Instant::now();
                let world = env.world().ok_or(SimError::NotReset)?;
                let snapshot = world.snapshot()?;
                let (Some(scratch), Some(field)) = (scratch.as_mut(), field.as_ref()) else {
                    return Err(SimError::NotReset);
                };
                let plan = planner.plan(&mut |c| oracle_costs(scratch, &snapshot, field, c));
                outcome.plan_ms.push(started.elapsed().as_secs_f64() * 1e3);
                outcome.infeasible += u64::from(!plan.stats.feasible);
                Action([plan.actions[0], plan.actions[1]])
            }
            (None, Some(learned)) => {
                let started = Instant::now();
                let latent = learned.observe(&obs, device);
                let examine = ranking.as_ref().is_some_and(|r| (step - 1) % r.every == 0);
                let mut first: Option<(ActionSequences, Vec<f32>)> = None;
                let plan = learned.decide(latent.clone(), &mut |candidates, costs| {
                    if examine && first.is_none() {
                        first = Some((candidates.clone(), costs.to_vec()));
                    }
                });
                outcome.plan_ms.push(started.elapsed().as_secs_f64() * 1e3);
                outcome.infeasible += u64::from(!plan.stats.feasible);
                outcome.unsure += u64::from(plan.stats.unsure);
                outcome.off_route += u64::from(plan.stats.off_route);
                // After the timing: the diagnostic takes seconds.
                if let (Some(ranking), Some((candidates, imagined)), Some(scratch), Some(field)) = (
                    ranking.as_deref_mut(),
                    first,
                    scratch.as_mut(),
                    field.as_ref(),
                ) {
                    let world = env.world().ok_or(SimError::NotReset)?;
                    ranking.examine(
                        world,
                        scratch,
                        field,
                        &mut learned.goal_cost(latent),
                        learned.policy().model,
                        &candidates,
                        &imagined,
                        device,
                    )?;
                }
                Action([plan.actions[0], plan.actions[1]])
            }
            (None, None) => Action([
                rng.random_range(low[0]..high[0]),
                rng.random_range(low[1]..high[1]),
            ]),
        };
        let result = env.step(&action)?;
        outcome.hazard_entries += u64::from(result.info.hazard_entries_this_step);
        outcome.steps = step;
        obs = result.obs;
        if let Some(trace) = trace.as_deref_mut() {
            trace.frames.extend_from_slice(&obs.rgb.rgb);
            trace.actions.push(action.0);
            trace.states.extend_from_slice(&obs.state);
            if let Some(world) = env.world() {
                let p = world.agent_position();
                trace.path.push([p[0], p[1]]);
            }
        }
        if result.terminated {
            outcome.success = true;
            break;
        }
        if result.truncated {
            break;
        }
    }
    if let Some(trace) = trace {
        trace.success = outcome.success;
        trace.hazard_entries = outcome.hazard_entries;
    }
    Ok(outcome)
}

/// Runs one episode per seed of `seeds` (see [`episode_seeds`]) with `policy`; `progress`
/// hears after each episode (episodes done, successes so far).
pub fn evaluate(
    spec: &Arc<WorldSpec>,
    policy: &EvalPolicy<'_>,
    seeds: &[u64],
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<EvalReport, SimError> {
    let mut env = Env::new(Arc::clone(spec));
    let mut report = EvalReport {
        episodes: seeds.len(),
        cost_spearman: match policy {
            EvalPolicy::Oracle(_) => Some(1.0),
            _ => None,
        },
        ..EvalReport::default()
    };
    let mut steps_to_success = Vec::new();
    let mut plan_ms = Vec::new();
    for (i, seed) in seeds.iter().enumerate() {
        let outcome = run_episode(&mut env, policy, *seed, device, None, None)?;
        report.hazard_entries += outcome.hazard_entries;
        report.infeasible_decisions += outcome.infeasible;
        report.unsure_decisions += outcome.unsure;
        report.unsure_episodes += u64::from(outcome.unsure > 0);
        report.off_route_decisions += outcome.off_route;
        report.off_route_episodes += u64::from(outcome.off_route > 0);
        report.env_steps += u64::from(outcome.steps);
        plan_ms.extend(outcome.plan_ms);
        if outcome.success {
            report.successes += 1;
            steps_to_success.push(f64::from(outcome.steps));
        }
        progress(i + 1, report.successes);
    }
    let episodes = seeds.len();
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

/// Plays one episode from `seed` and keeps every frame, action and state and the agent's
/// path (for a filmstrip, or to learn from).
pub fn record_episode(
    spec: &Arc<WorldSpec>,
    policy: &EvalPolicy<'_>,
    seed: u64,
    device: &Device,
) -> Result<EpisodeTrace, SimError> {
    let mut env = Env::new(Arc::clone(spec));
    let mut trace = EpisodeTrace::default();
    run_episode(&mut env, policy, seed, device, Some(&mut trace), None)?;
    Ok(trace)
}

/// The [`PlanDiagnostic`] of the learned planner `policy` over the episodes of `seeds`,
/// examining every `every`-th decision; `progress` hears after each episode (episodes done,
/// decisions examined so far). `None` for a policy that is not the learned planner.
pub fn plan_diagnostic(
    spec: &Arc<WorldSpec>,
    policy: &EvalPolicy<'_>,
    seeds: &[u64],
    every: u32,
    device: &Device,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Option<PlanDiagnostic>, SimError> {
    if !matches!(policy, EvalPolicy::Learned(_)) {
        return Ok(None);
    }
    let mut env = Env::new(Arc::clone(spec));
    let mut ranking = PlanRanking {
        every: every.max(1),
        rows: Vec::new(),
    };
    for (i, seed) in seeds.iter().enumerate() {
        run_episode(&mut env, policy, *seed, device, None, Some(&mut ranking))?;
        progress(i + 1, ranking.rows.len());
    }
    Ok(Some(ranking.report()))
}

/// The cost diagnostic: Spearman rank correlation between the planner's cost of a state
/// (the critic's steps-to-goal, or without a critic the squared latent distance to the goal
/// image's latent) and the true distance to the goal (`World::distance_to_goal`: shortest
/// path around obstacles for navigation, pose error for push), over `episodes` held-out
/// episodes (seeds from `master_seed`, apart from evaluation seeds), four states each along a
/// smooth random walk from the episode's start. With a critic, the cost is
/// the route of `routing` ([`LandmarkRoute::steps`]), as the planner's last imagined step is
/// measured; with a pose readout (push), push's cost-to-go between the poses it reads off the
/// state's and the goal's latents, as the planner measures every imagined step.
#[allow(clippy::too_many_arguments)]
pub fn cost_diagnostic(
    spec: &Arc<WorldSpec>,
    model: &JepaModel,
    critic: Option<&Critic>,
    pose_readout: Option<&PoseReadout>,
    routing: Routing<'_>,
    episodes: usize,
    master_seed: u64,
    device: &Device,
) -> Result<f64, SimError> {
    // Stream 7 of the master seed: never an evaluation episode (those use stream 0).
    let seeds = SeedSequence::new(master_seed);
    let mut env = Env::new(Arc::clone(spec));
    let mut walk = sim::SmoothRandomPolicy::new(1, master_seed ^ 0xd1a9);
    let mut rng = ChaCha8Rng::seed_from_u64(master_seed ^ 0xc057);
    let (mut costs, mut distances) = (Vec::new(), Vec::new());
    let d = model.encoder.latent_dim();
    for episode in 0..episodes {
        let (obs, _) = env.reset(seeds.episode_seed(7, episode as u64))?;
        let goal_frame = env.render_goal()?;
        let (h, w) = (obs.rgb.height as usize, obs.rgb.width as usize);
        let goal_proprio = env.goal().map_or([0.0; 2], |g| g.agent_position);
        let goal = encode_frames(model, &goal_frame.rgb, &goal_proprio, 1, h, w, device);
        let horizon = spec.task.episode_steps.max(4);
        let mut marks: Vec<u32> = (0..4).map(|_| rng.random_range(0..horizon / 2)).collect();
        marks.sort_unstable();
        let (mut frames, mut proprio, mut truth) = (Vec::new(), Vec::new(), Vec::new());
        let object_radius = env.world().and_then(World::object_radius).unwrap_or(0.0);
        let mut t = 0;
        let mut current = obs;
        for mark in marks {
            while t < mark {
                let step = env.step(&walk.next_action(0))?;
                t += 1;
                current = step.obs;
                if step.terminated || step.truncated {
                    break;
                }
            }
            let world = env.world().ok_or(SimError::NotReset)?;
            frames.extend_from_slice(&current.rgb.rgb);
            proprio.extend_from_slice(&current.proprio);
            truth.push(f64::from(world.distance_to_goal()));
        }
        let n = truth.len();
        let latents = encode_frames(model, &frames, &proprio, n, h, w, device);
        let z = Tensor::<2>::from_data(TensorData::new(latents.clone(), [n, d]), device);
        let g = Tensor::<2>::from_data(TensorData::new(goal.clone(), [1, d]), device);
        let route = critic.and_then(|c| routing.route(c, &g));
        let readout_goal = pose_readout.and_then(|r| Some((r, r.poses(g.clone()).pop()?)));
        let cost: Vec<f32> = match (readout_goal, critic, route) {
            (Some((readout, goal)), _, _) => readout.costs_to_go(z, &goal, object_radius),
            (None, Some(critic), Some(route)) => route.steps(critic, z),
            (None, Some(critic), None) => critic
                .steps_to(z, g)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap_or_default(),
            (None, None, _) => latents
                .chunks(d)
                .map(|l| l.iter().zip(&goal).map(|(a, b)| (a - b).powi(2)).sum())
                .collect(),
        };
        costs.extend(cost.into_iter().map(f64::from));
        distances.extend(truth);
    }
    Ok(spearman(&costs, &distances))
}

#[cfg(test)]
mod tests {
    use super::agreement;

    #[test]
    fn agreement_ranks_candidates_against_the_truth_and_skips_the_infinite() {
        let truth = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0];
        let (rho, good) = agreement(&truth, &truth);
        assert!((rho - 1.0).abs() < 1e-12 && good);
        let reversed: Vec<f32> = truth.iter().map(|t| -t).collect();
        let (rho, good) = agreement(&reversed, &truth);
        assert!((rho + 1.0).abs() < 1e-12 && !good);
        // The second best is in the best quarter (two of eight); the third is not.
        let mut second = [9.0; 8];
        second[1] = 0.0;
        assert!(agreement(&second, &truth).1);
        let mut third = [9.0; 8];
        third[2] = 0.0;
        assert!(!agreement(&third, &truth).1);
        // A rejected candidate and a hazard hit in truth are left out of ρ.
        let mut costs = truth;
        costs[0] = f32::INFINITY;
        let mut hit = truth;
        hit[7] = f32::INFINITY;
        let (rho, _) = agreement(&costs, &hit);
        assert!((rho - 1.0).abs() < 1e-12, "{rho}");
    }
}
