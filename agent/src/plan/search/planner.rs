//! The receding-horizon planner: CEM or MPPI over candidate action sequences of a fixed
//! horizon, warm-started from the previous plan, within an anytime deadline.

use std::time::Instant;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::config::{PlanMethod, PlannerConfig};

/// A batch of candidate action sequences, flat: `[samples, horizon, action_dim]`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ActionSequences {
    /// Number of sequences.
    pub samples: usize,
    /// Decisions per sequence.
    pub horizon: usize,
    /// Dimensions per action.
    pub action_dim: usize,
    /// `samples · horizon · action_dim` values.
    pub values: Vec<f32>,
}

impl ActionSequences {
    /// Sequence `i` as `[horizon · action_dim]`.
    pub fn sequence(&self, i: usize) -> &[f32] {
        let n = self.horizon * self.action_dim;
        &self.values[i * n..(i + 1) * n]
    }
}

/// How a decision's search went.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanStats {
    /// Iterations completed before the deadline (or all of them).
    pub iterations: usize,
    /// Candidate sequences evaluated.
    pub evaluated: usize,
    /// Whether the deadline cut the search short.
    pub hit_deadline: bool,
    /// Wall time spent, milliseconds.
    pub elapsed_ms: f64,
    /// Cost of the returned plan.
    pub best_cost: f32,
    /// Whether the returned plan satisfies every constraint (a finite cost); when false the
    /// caller should fall back to the safest plan it knows.
    pub feasible: bool,
    /// Whether the state was unlike anything the model was fitted on, so that nothing was
    /// planned (see `eval::EpisodePlanner::decide`).
    #[serde(default)]
    pub unsure: bool,
    /// Whether the state was off the route through the recorded exploration, so that the
    /// critic's own estimate was used instead (see `eval::EpisodePlanner::decide`).
    #[serde(default)]
    pub off_route: bool,
}

/// The result of a decision: the whole planned sequence (execute the first action).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// `[horizon · action_dim]`.
    pub actions: Vec<f32>,
    /// Search statistics.
    pub stats: PlanStats,
}

impl Plan {
    /// The action to execute now.
    pub fn first_action(&self, action_dim: usize) -> &[f32] {
        &self.actions[..action_dim.min(self.actions.len())]
    }
}

/// A receding-horizon planner: call [`plan`](Self::plan) once per decision; it warm-starts
/// from the previous plan shifted by one step.
pub struct Planner {
    config: PlannerConfig,
    rng: ChaCha8Rng,
    /// The search distribution's mean, `[horizon · action_dim]`.
    mean: Vec<f32>,
}

fn normal(rng: &mut ChaCha8Rng) -> f32 {
    // Box–Muller.
    let u1: f32 = rng.random_range(f32::EPSILON..1.0);
    let u2: f32 = rng.random_range(0.0..1.0);
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

impl Planner {
    /// A planner with a zero initial mean.
    pub fn new(config: PlannerConfig) -> Self {
        let n = config.horizon * config.action_dim;
        Self {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            mean: vec![0.0; n],
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &PlannerConfig {
        &self.config
    }

    /// Forgets the previous plan (at the start of an episode).
    pub fn reset(&mut self) {
        self.mean.iter_mut().for_each(|m| *m = 0.0);
    }

    fn clip(&self, values: &mut [f32]) {
        let d = self.config.action_dim;
        for (i, v) in values.iter_mut().enumerate() {
            *v = v.clamp(
                self.config.action_low[i % d],
                self.config.action_high[i % d],
            );
        }
    }

    /// Samples `samples` sequences around `mean` with per-value `std`; the first candidate is
    /// the mean itself, so the search never does worse than where it started.
    fn sample(&mut self, mean: &[f32], std: &[f32], samples: usize) -> ActionSequences {
        let n = mean.len();
        let mut values = Vec::with_capacity(samples * n);
        values.extend_from_slice(mean);
        for _ in 1..samples {
            for (m, s) in mean.iter().zip(std) {
                values.push(m + s * normal(&mut self.rng));
            }
        }
        self.clip(&mut values);
        ActionSequences {
            samples,
            horizon: self.config.horizon,
            action_dim: self.config.action_dim,
            values,
        }
    }

    /// Plans one decision. `cost` maps candidate sequences to one cost each (lower is better;
    /// infeasible candidates return `f32::INFINITY`).
    pub fn plan(&mut self, cost: &mut dyn FnMut(&ActionSequences) -> Vec<f32>) -> Plan {
        let started = Instant::now();
        let n = self.config.horizon * self.config.action_dim;
        let d = self.config.action_dim;
        // Warm start: the previous mean shifted by one decision, the last action repeated.
        let mut mean = self.mean.clone();
        if n > d {
            mean.copy_within(d.., 0);
        }
        let method = self.config.method.clone();
        let (iterations, samples, initial_std) = match &method {
            PlanMethod::Cem(c) => (c.iterations, c.samples, c.initial_std),
            PlanMethod::Mppi(m) => (m.iterations, m.samples, m.noise_std),
        };
        let mut std = vec![initial_std; n];
        let mut best = (f32::INFINITY, mean.clone());
        let mut stats = PlanStats::default();
        for _ in 0..iterations.max(1) {
            // Anytime: stop when the next iteration, as long as the average one so far, would
            // end past the deadline.
            if let Some(deadline) = self.config.deadline
                && stats.iterations > 0
            {
                let elapsed = started.elapsed();
                let per_iteration = elapsed / stats.iterations as u32;
                if elapsed + per_iteration > deadline {
                    stats.hit_deadline = true;
                    break;
                }
            }
            let candidates = self.sample(&mean, &std, samples.max(2));
            let costs = cost(&candidates);
            stats.evaluated += candidates.samples;
            stats.iterations += 1;
            for (i, c) in costs.iter().enumerate() {
                if *c < best.0 {
                    best = (*c, candidates.sequence(i).to_vec());
                }
            }
            match &method {
                PlanMethod::Cem(c) => {
                    let mut order: Vec<usize> = (0..costs.len()).collect();
                    order.sort_by(|a, b| costs[*a].total_cmp(&costs[*b]));
                    let elites = &order[..c.elites.clamp(1, order.len())];
                    for j in 0..n {
                        let m = elites
                            .iter()
                            .map(|e| candidates.sequence(*e)[j])
                            .sum::<f32>()
                            / elites.len() as f32;
                        let v = elites
                            .iter()
                            .map(|e| (candidates.sequence(*e)[j] - m).powi(2))
                            .sum::<f32>()
                            / elites.len() as f32;
                        mean[j] = m;
                        std[j] = v.sqrt().max(c.min_std);
                    }
                }
                PlanMethod::Mppi(m) => {
                    let finite: Vec<f32> =
                        costs.iter().copied().filter(|c| c.is_finite()).collect();
                    if finite.is_empty() {
                        continue;
                    }
                    let min = finite.iter().copied().fold(f32::INFINITY, f32::min);
                    let spread =
                        (finite.iter().copied().fold(f32::NEG_INFINITY, f32::max) - min).max(1e-6);
                    let weights: Vec<f32> = costs
                        .iter()
                        .map(|c| {
                            if c.is_finite() {
                                (-(c - min) / (m.temperature * spread)).exp()
                            } else {
                                0.0
                            }
                        })
                        .collect();
                    let total: f32 = weights.iter().sum();
                    for (j, value) in mean.iter_mut().enumerate() {
                        *value = weights
                            .iter()
                            .enumerate()
                            .map(|(i, w)| w * candidates.sequence(i)[j])
                            .sum::<f32>()
                            / total;
                    }
                }
            }
        }
        stats.best_cost = best.0;
        stats.feasible = best.0.is_finite();
        stats.elapsed_ms = started.elapsed().as_secs_f64() * 1e3;
        self.mean = best.1.clone();
        Plan {
            actions: best.1,
            stats,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::plan::search::{CemConfig, MppiConfig};

    /// Sum over steps of the squared distance of each action to a target that is inside the
    /// bounds: minimum 0 at `target` repeated.
    fn quadratic(target: [f32; 2]) -> impl FnMut(&ActionSequences) -> Vec<f32> {
        move |seqs: &ActionSequences| {
            (0..seqs.samples)
                .map(|i| {
                    seqs.sequence(i)
                        .chunks(2)
                        .map(|a| (a[0] - target[0]).powi(2) + (a[1] - target[1]).powi(2))
                        .sum()
                })
                .collect()
        }
    }

    fn planner(method: PlanMethod) -> Planner {
        Planner::new(PlannerConfig {
            horizon: 4,
            method,
            ..PlannerConfig::default()
        })
    }

    #[test]
    fn cem_and_mppi_find_the_minimum_of_a_quadratic() {
        for method in [
            PlanMethod::Cem(CemConfig {
                iterations: 8,
                ..CemConfig::default()
            }),
            PlanMethod::Mppi(MppiConfig {
                iterations: 12,
                ..MppiConfig::default()
            }),
        ] {
            let mut planner = planner(method.clone());
            let mut cost = quadratic([0.4, -0.3]);
            let plan = planner.plan(&mut cost);
            assert!(
                plan.stats.best_cost < 0.05,
                "{method:?}: cost {}",
                plan.stats.best_cost
            );
            let first = plan.first_action(2);
            assert!(
                (first[0] - 0.4).abs() < 0.15 && (first[1] + 0.3).abs() < 0.15,
                "{method:?}: {first:?}"
            );
        }
    }

    #[test]
    fn plans_respect_the_action_bounds() {
        // The unconstrained minimum (3, 3) is outside the box: the answer is the corner.
        let mut planner = planner(PlanMethod::Cem(CemConfig {
            iterations: 6,
            ..CemConfig::default()
        }));
        let plan = planner.plan(&mut quadratic([3.0, 3.0]));
        assert!(plan.actions.iter().all(|a| (-1.0..=1.0).contains(a)));
        assert!(plan.actions.iter().all(|a| *a > 0.8), "{:?}", plan.actions);
    }

    #[test]
    fn infeasible_candidates_are_never_chosen() {
        // Sequences whose first action points left (x < 0) are infeasible.
        let mut planner = planner(PlanMethod::Cem(CemConfig::default()));
        let mut cost = |seqs: &ActionSequences| -> Vec<f32> {
            (0..seqs.samples)
                .map(|i| {
                    let s = seqs.sequence(i);
                    if s[0] < 0.0 {
                        f32::INFINITY
                    } else {
                        (s[0] + 1.0).powi(2)
                    }
                })
                .collect()
        };
        let plan = planner.plan(&mut cost);
        assert!(plan.actions[0] >= 0.0);
        assert!(plan.stats.best_cost.is_finite());
    }

    #[test]
    fn the_deadline_is_honoured_and_the_best_plan_so_far_returned() {
        let mut planner = Planner::new(PlannerConfig {
            horizon: 4,
            method: PlanMethod::Cem(CemConfig {
                iterations: 100,
                ..CemConfig::default()
            }),
            deadline: Some(Duration::from_millis(30)),
            ..PlannerConfig::default()
        });
        let mut inner = quadratic([0.2, 0.2]);
        let mut slow = |seqs: &ActionSequences| {
            std::thread::sleep(Duration::from_millis(10));
            inner(seqs)
        };
        let plan = planner.plan(&mut slow);
        assert!(plan.stats.hit_deadline);
        assert!(plan.stats.iterations < 100 && plan.stats.iterations >= 1);
        // One iteration may start just before the deadline and finish after it.
        assert!(
            plan.stats.elapsed_ms < 30.0 + 70.0,
            "{} ms",
            plan.stats.elapsed_ms
        );
        assert!(plan.stats.best_cost.is_finite());
    }

    #[test]
    fn warm_starts_shift_the_previous_plan() {
        let mut planner = planner(PlanMethod::Cem(CemConfig {
            iterations: 1,
            samples: 2,
            elites: 1,
            ..CemConfig::default()
        }));
        // A cost that always prefers the mean (candidate 0): the plan is the warm start itself.
        let mut prefer_mean =
            |seqs: &ActionSequences| (0..seqs.samples).map(|i| i as f32).collect::<Vec<_>>();
        planner.mean = vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];
        let plan = planner.plan(&mut prefer_mean);
        assert_eq!(plan.actions, vec![0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.7, 0.8]);
    }
}
