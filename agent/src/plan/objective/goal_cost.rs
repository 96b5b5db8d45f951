//! The planner's objective in the learned model (LeCun's cost module): an intrinsic cost (the
//! latent distance to the goal image's latent) or, when a critic is available, the critic's
//! steps-to-goal along the imagined path and at its end, so a short plan sees past walls, or
//! for push tasks the push cost-to-go between the poses a readout sees in the imagined and
//! goal latents ([`PoseReadout`]); plus guardrails that make candidates whose imagined states
//! violate a constraint infeasible.

use burn::prelude::*;
use serde::{Deserialize, Serialize};

use super::latent_cost::{LatentCostConfig, add_action_costs, imagine, latent_distance_costs};
use crate::model::JepaModel;
use crate::plan::graph::LandmarkRoute;
use crate::plan::learned::{Critic, HazardClassifier, HazardSight, PoseDynamics, PoseReadout};
use crate::plan::numeric::to_vec;
use crate::plan::poses::{PushPoses, path_costs};
use crate::plan::search::{ActionSequences, Plan, Planner};

/// Weights of the planner's cost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GoalCostConfig {
    /// The intrinsic cost, used when there is no critic (and its action weight always).
    pub latent: LatentCostConfig,
    /// Weight of the critic's estimate at every imagined step (0.1: the experiment in
    /// `shared/RESEARCH.md` measured 42% cross-room success with end + 0.1 × summed, 26% with
    /// the end only).
    pub critic_step_weight: f32,
    /// Weight of the critic's estimate at the last imagined step.
    pub critic_final_weight: f32,
}

impl Default for GoalCostConfig {
    fn default() -> Self {
        Self {
            latent: LatentCostConfig::default(),
            critic_step_weight: 0.1,
            critic_final_weight: 1.0,
        }
    }
}

/// The cost of candidate plans from one current latent towards one goal latent; build one per
/// decision. It remembers the safest candidate it saw, for when none is feasible.
pub struct GoalCost<'a> {
    model: &'a JepaModel,
    critic: Option<&'a Critic>,
    guardrail: Option<&'a HazardClassifier>,
    config: &'a GoalCostConfig,
    latent: Tensor<2>,
    goal: Tensor<2>,
    /// Shortest paths through the landmark graph: the critic's estimate at the last imagined
    /// step goes through it.
    route: Option<&'a LandmarkRoute>,
    /// Push: the cost of the poses a readout sees; it replaces the critic.
    poses: Option<PoseCost<'a>>,
    /// The guardrail that looks at the current frame.
    sight: Option<SightView<'a>>,
    /// The lowest risk (see [`HazardClassifier::risk`]) seen and its sequence.
    safest: Option<(f32, Vec<f32>)>,
    /// The lowest risk the sight saw and its sequence.
    clearest: Option<(f32, Vec<f32>)>,
}

/// The hazard sight and what it looks at: the current frame (`[height, width, 3]` bytes) and
/// the agent's proprioception.
#[derive(Clone, Copy)]
pub struct SightView<'a> {
    /// The fitted sight.
    pub sight: &'a HazardSight,
    /// The current frame.
    pub frame: &'a [u8],
    /// Its width.
    pub width: usize,
    /// Its height.
    pub height: usize,
    /// Where the agent senses itself.
    pub proprio: [f32; 2],
    /// How far it moved in the last step (from the previous proprioception).
    pub velocity: [f32; 2],
}

/// Push's cost in a [`GoalCost`]: push's cost-to-go between the poses a readout sees in the
/// imagined latents and in the goal latent.
struct PoseCost<'a> {
    /// Reads the poses off latents.
    readout: &'a PoseReadout,
    /// The poses it sees in the goal latent.
    goal: PushPoses,
    /// The pushed object's footprint radius.
    object_radius: f32,
    /// The learned pose dynamics candidates are imagined with instead of the predictor, and
    /// the poses the readout sees in the current latent, where they start (`None`: the
    /// predictor).
    dynamics: Option<(&'a PoseDynamics, PushPoses)>,
}

impl<'a> GoalCost<'a> {
    /// A cost from `latent` to `goal` (each `[1, latent_dim]`).
    pub fn new(
        model: &'a JepaModel,
        critic: Option<&'a Critic>,
        guardrail: Option<&'a HazardClassifier>,
        config: &'a GoalCostConfig,
        latent: Tensor<2>,
        goal: Tensor<2>,
    ) -> Self {
        Self {
            model,
            critic,
            guardrail,
            config,
            latent,
            goal,
            route: None,
            poses: None,
            sight: None,
            safest: None,
            clearest: None,
        }
    }

    /// Also rejects candidates whose first steps the hazard sight sees entering a hazard in
    /// the current frame. `None` changes nothing.
    pub fn with_sight(mut self, sight: Option<SightView<'a>>) -> Self {
        self.sight = sight;
        self
    }

    /// Measures the last imagined step's distance to the goal through `route` (with a
    /// critic; see [`LandmarkRoute::steps`]) instead of the critic's straight estimate.
    pub fn with_route(mut self, route: Option<&'a LandmarkRoute>) -> Self {
        self.route = route;
        self
    }

    /// Costs candidates by push's cost-to-go between the poses `readout` sees in the imagined
    /// latents and in the goal latent (`object_radius`: the pushed object's footprint radius)
    /// instead of by the critic or the latent distance. `None` changes nothing.
    pub fn with_pose_readout(
        mut self,
        readout: Option<&'a PoseReadout>,
        object_radius: f32,
    ) -> Self {
        let dynamics = self.poses.as_ref().and_then(|p| p.dynamics);
        self.poses = readout.and_then(|readout| {
            let goal = readout.poses(self.goal.clone()).into_iter().next()?;
            Some(PoseCost {
                readout,
                goal,
                object_radius,
                dynamics,
            })
        });
        self
    }

    /// Push, with a pose readout ([`with_pose_readout`](Self::with_pose_readout)): imagines
    /// candidates with `dynamics` from the poses the readout sees in the current latent,
    /// instead of with the predictor. `None` changes nothing.
    pub fn with_pose_dynamics(mut self, dynamics: Option<&'a PoseDynamics>) -> Self {
        if let Some(poses) = &mut self.poses {
            poses.dynamics = dynamics.and_then(|dynamics| {
                let start = poses
                    .readout
                    .poses(self.latent.clone())
                    .into_iter()
                    .next()?;
                Some((dynamics, start))
            });
        }
        self
    }

    /// One cost per candidate; `f32::INFINITY` for a candidate the guardrail rejects.
    pub fn costs(&mut self, candidates: &ActionSequences) -> Vec<f32> {
        if let Some(PoseCost {
            goal,
            object_radius,
            dynamics: Some((dynamics, start)),
            ..
        }) = &self.poses
        {
            let poses = dynamics.rollout(start, candidates, &self.latent.device());
            let mut costs = path_costs(&poses, candidates.horizon, goal, *object_radius);
            add_action_costs(&mut costs, candidates, self.config.latent.action_weight);
            // The guardrail judges latents: imagine them too.
            let imagined = self
                .guardrail
                .map(|_| imagine(self.model, &self.latent, candidates));
            self.apply_guardrail(candidates, imagined, &mut costs);
            return costs;
        }
        let imagined = imagine(self.model, &self.latent, candidates); // [s, h, d]
        self.costs_of(candidates, imagined)
    }

    /// [`costs`](Self::costs) of `candidates` whose latents along the way are `latents`
    /// rather than the predictor's: the encoded frames of what the candidates really do, to
    /// tell the predictor's errors from the cost's.
    ///
    /// # Shapes
    /// - `latents`: `[samples, horizon, latent_dim]` → `samples` values
    pub fn costs_of(&mut self, candidates: &ActionSequences, latents: Tensor<3>) -> Vec<f32> {
        let mut costs = match (self.poses.as_ref(), self.critic) {
            (Some(p), _) => p.readout.costs(latents.clone(), &p.goal, p.object_radius),
            (None, Some(critic)) => self.critic_costs(critic, latents.clone()),
            (None, None) => latent_distance_costs(latents.clone(), &self.goal, &self.config.latent),
        };
        add_action_costs(&mut costs, candidates, self.config.latent.action_weight);
        self.apply_guardrail(candidates, Some(latents), &mut costs);
        costs
    }

    /// Makes the candidates whose imagined `latents` the guardrail rejects, or whose first
    /// steps the sight sees in a hazard, infeasible, and remembers the safest one.
    fn apply_guardrail(
        &mut self,
        candidates: &ActionSequences,
        latents: Option<Tensor<3>>,
        costs: &mut [f32],
    ) {
        let latent_risk = self
            .guardrail
            .zip(latents)
            .map(|(guardrail, latents)| guardrail.risk(latents));
        let sight_risk = self.sight.map(|view| {
            let sequences: Vec<&[f32]> = (0..candidates.samples)
                .map(|i| candidates.sequence(i))
                .collect();
            view.sight.risk(
                view.frame,
                view.width,
                view.height,
                view.proprio,
                view.velocity,
                &sequences,
            )
        });
        if let Some(risks) = &sight_risk {
            for (i, &risk) in risks.iter().enumerate() {
                if self.clearest.as_ref().is_none_or(|(r, _)| risk < *r) {
                    self.clearest = Some((risk, candidates.sequence(i).to_vec()));
                }
            }
        }
        let risks: Vec<f32> = match (latent_risk, sight_risk) {
            (None, None) => return,
            (Some(risk), None) | (None, Some(risk)) => risk,
            (Some(a), Some(b)) => a.into_iter().zip(b).map(|(a, b)| a.max(b)).collect(),
        };
        for (i, risk) in risks.into_iter().enumerate() {
            if self.safest.as_ref().is_none_or(|(r, _)| risk < *r) {
                self.safest = Some((risk, candidates.sequence(i).to_vec()));
            }
            if risk >= 1.0 {
                costs[i] = f32::INFINITY;
            }
        }
    }

    /// The critic's estimate at every imagined step (weighted) and at the last one (through
    /// the landmark route when there is one: measuring every step through it planned no
    /// better, 62% and 46% against 60% and 44% on two two_rooms models, 50 episodes).
    fn critic_costs(&self, critic: &Critic, imagined: Tensor<3>) -> Vec<f32> {
        let [s, h, d] = imagined.dims();
        let steps =
            to_vec(critic.steps_to(imagined.clone().reshape([s * h, d]), self.goal.clone()));
        let finals = self.route.map(|route| {
            let last = imagined.narrow(1, h.saturating_sub(1), 1).reshape([s, d]);
            route.steps(critic, last)
        });
        steps
            .chunks(h.max(1))
            .enumerate()
            .map(|(i, path)| {
                let last = finals
                    .as_ref()
                    .and_then(|f| f.get(i).copied())
                    .or_else(|| path.last().copied())
                    .unwrap_or(0.0);
                self.config.critic_step_weight * path.iter().sum::<f32>()
                    + self.config.critic_final_weight * last
            })
            .collect()
    }

    /// The candidate with the lowest risk of entering a hazard.
    pub fn safest(&self) -> Option<&[f32]> {
        self.safest.as_ref().map(|(_, s)| s.as_slice())
    }

    /// What to do when no candidate satisfied the guardrails. With the sight: the candidate
    /// whose first steps it sees clear of hazards (the guardrail on latents, which learned
    /// where hazards were, objected), or else standing still, which enters no hazard;
    /// without it, the [`safest`](Self::safest) candidate.
    pub fn fallback(&self) -> Option<Vec<f32>> {
        match &self.clearest {
            Some((risk, sequence)) if *risk < 1.0 => Some(sequence.clone()),
            Some((_, sequence)) => Some(vec![0.0; sequence.len()]),
            None => self.safest().map(<[f32]>::to_vec),
        }
    }
}

/// One receding-horizon decision: plans with `cost`; when no candidate satisfies the
/// guardrails, says so (`stats.feasible` false) and returns its
/// [`fallback`](GoalCost::fallback).
pub fn decide(planner: &mut Planner, cost: &mut GoalCost<'_>) -> Plan {
    decide_watching(planner, cost, &mut |_, _| {})
}

/// [`decide`], showing every batch of candidates and their costs to `watch`.
pub fn decide_watching(
    planner: &mut Planner,
    cost: &mut GoalCost<'_>,
    watch: &mut dyn FnMut(&ActionSequences, &[f32]),
) -> Plan {
    let mut plan = planner.plan(&mut |candidates| {
        let costs = cost.costs(candidates);
        watch(candidates, &costs);
        costs
    });
    if !plan.stats.feasible
        && let Some(fallback) = cost.fallback()
    {
        plan.actions = fallback;
    }
    plan
}
