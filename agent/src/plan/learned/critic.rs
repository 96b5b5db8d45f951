//! The steps-to-goal critic: estimates how many steps separate a latent from a goal latent,
//! learned without rewards from the exploration's own trajectories: pairs of frames
//! `(z_t, z_u)` of one episode labelled with the hindsight time `|u − t|` (both orders where the
//! agent can walk back), plus a penalty for every step the walk spent inside a hazard, so the
//! critic prefers the ways round them; pairs from different episodes labelled "far".
//! Optionally tightened by chaining through a slow target copy,
//! `min(label, 1 + V̄(z_t+1, goal))`.
//!
//! With `quasimetric` the critic is instead a distance between embeddings of the two latents
//! (Euclidean where the agent can walk back; otherwise half Euclidean, half the largest rise,
//! a quasimetric), fitted as in quasimetric RL (Wang et al. 2023): random pairs are pushed
//! apart while every recorded step stays about one step long, so the largest distance the
//! steps allow is the shortest path through them rather than a random walk's time.
//!
//! Used as the terminal cost of a short plan, it lets the planner see past walls.

use burn::nn::{Linear, LinearConfig, Relu};
use burn::prelude::*;
use rand::RngExt;

use super::trainer::SmallTrainer;
use crate::plan::numeric::to_vec;

/// A steps-to-goal critic on `[z, z_goal, z − z_goal]`.
///
/// The defaults as measured on a two_rooms checkpoint (`kennel eval`'s cost diagnostic, rank
/// correlation with the true shortest-path distance, 800 exploration episodes, three seeds
/// each): forward-only hindsight with chaining and "far" for paths through hazards 0.54–0.61;
/// both orders with the hazard penalty, no chaining, cosine-decayed learning rate 0.81–0.84.
/// Chaining (0.80–0.81), a 256-wide critic (0.81–0.83), 20,000 steps (0.77–0.80), "far" at 100
/// or 400 steps instead of the episode length (0.73–0.76, 0.80–0.81), and shortcuts between
/// frames of one episode whose latents nearly coincide (0.76–0.78 against 0.74–0.84 without,
/// measured before the learning-rate decay) did not help.
///
/// Neither form (hindsight or quasimetric) is what holds two_rooms back: a critic regressed on
/// the *true* shortest-path distance (privileged labels, encoder and imagined latents, rank
/// correlation 0.95–0.97) planned to only 12–22% on the same model; its agent reaches the door
/// and hovers in it. The model's prediction of the narrow door, not the cost's ranking, is
/// what limits it.
#[derive(Config, Debug)]
pub struct CriticConfig {
    /// Size of the latent vector.
    #[config(default = 64)]
    pub latent_dim: usize,
    /// Width of the two hidden layers (128: the critic runs on every imagined step of every
    /// candidate, inside the planning budget).
    #[config(default = 128)]
    pub hidden: usize,
    /// The label of pairs from different episodes, and the largest distance predicted, in
    /// steps.
    #[config(default = 200.0)]
    pub max_steps: f64,
    /// Fraction of training pairs drawn from different episodes.
    #[config(default = 0.1)]
    pub negative_fraction: f64,
    /// Steps between copies of the critic into its slow target (0: no chaining, plain
    /// hindsight labels).
    #[config(default = 0)]
    pub target_every: usize,
    /// The agent can always walk back (navigation): pairs are drawn in both orders. Not when
    /// an object is pushed, which does not move back by itself.
    #[config(default = true)]
    pub reversible: bool,
    /// Steps added to a pair's label for every frame inside a hazard its walk stepped into.
    #[config(default = 10.0)]
    pub hazard_penalty: f64,
    /// Learn shortest paths instead of hindsight times: a (quasi)metric on embedded latents,
    /// pushed apart on random pairs while every recorded step stays about as long as its cost
    /// (one step, plus `hazard_penalty` where it touches a hazard, within `slack`). On the
    /// two_rooms data above: rank correlation 0.75–0.78 (two seeds), success 50% against 44–48%
    /// for the hindsight critic (50 episodes).
    #[config(default = false)]
    pub quasimetric: bool,
    /// Size of the embedding the quasimetric is measured in (16: ρ 0.76 on two_rooms where 64
    /// gave 0.72).
    #[config(default = 16)]
    pub embedding: usize,
    /// Fraction of the quasimetric's far pairs whose goal is drawn from all episodes (the rest
    /// from the same one). On two_rooms: 0.5 ρ 0.72–0.78; 0.1 0.34; 0 0.40; 0.9 0.67; all
    /// from other episodes 0.71 (one seed 0.32).
    #[config(default = 0.5)]
    pub other_episode_goals: f64,
    /// Allowed root-mean-square excess of a recorded step over its cost, in steps.
    #[config(default = 0.25)]
    pub slack: f64,
    /// Rate of the (multiplicative) dual ascent on the step constraint's multiplier.
    #[config(default = 0.01)]
    pub dual_rate: f64,
}

/// Estimates steps to a goal. As a plan's terminal cost it ranked candidate plans by the
/// shortest path (rank correlation 0.88) where raw latent distance ranked them no better than
/// chance (−0.15), in the experiment of `shared/RESEARCH.md`.
#[derive(Module, Debug)]
pub struct Critic {
    fc1: Linear,
    fc2: Linear,
    out: Linear,
    activation: Relu,
    #[module(skip)]
    max_steps: f64,
    /// What the network's output is.
    #[module(skip)]
    head: Head,
}

/// The two forms of the critic.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Head {
    /// A regression of the normalised distance on the pair `[z, z_goal, z − z_goal]`.
    Regression,
    /// An embedding of each latent, the critic being a distance between embeddings: symmetric
    /// when the agent can walk back (`reversible`), a quasimetric otherwise.
    Quasimetric {
        /// The agent can always walk back.
        reversible: bool,
    },
}

impl CriticConfig {
    /// Builds the critic on `device`.
    pub fn init(&self, device: &Device) -> Critic {
        let (inputs, outputs) = if self.quasimetric {
            // At least two: a quasimetric splits its embedding in halves.
            (self.latent_dim, self.embedding.max(2))
        } else {
            (3 * self.latent_dim, 1)
        };
        Critic {
            fc1: LinearConfig::new(inputs, self.hidden).init(device),
            fc2: LinearConfig::new(self.hidden, self.hidden).init(device),
            out: LinearConfig::new(self.hidden, outputs).init(device),
            activation: Relu::new(),
            max_steps: self.max_steps,
            head: if self.quasimetric {
                Head::Quasimetric {
                    reversible: self.reversible,
                }
            } else {
                Head::Regression
            },
        }
    }
}

impl Critic {
    /// Distance to the goal as a fraction of `max_steps`, never negative (a softplus, or a
    /// distance between embeddings).
    ///
    /// # Shapes
    /// - `latent`, `goal`: `[batch, latent_dim]` → `[batch]`
    pub fn forward_normalised(&self, latent: Tensor<2>, goal: Tensor<2>) -> Tensor<1> {
        if let Head::Quasimetric { reversible } = self.head {
            return quasimetric(self.embed(latent), self.embed(goal), reversible);
        }
        let [batch, _] = latent.dims();
        let x = Tensor::cat(vec![latent.clone(), goal.clone(), latent - goal], 1); // [batch, 3d]
        let x = self.activation.forward(self.fc1.forward(x));
        let x = self.activation.forward(self.fc2.forward(x));
        burn::tensor::activation::softplus(self.out.forward(x), 1.0).reshape([batch])
    }

    /// The embedding the quasimetric is measured in.
    ///
    /// # Shapes
    /// - `latent`: `[batch, latent_dim]` → `[batch, embedding]`
    fn embed(&self, latent: Tensor<2>) -> Tensor<2> {
        let x = self.activation.forward(self.fc1.forward(latent));
        let x = self.activation.forward(self.fc2.forward(x));
        self.out.forward(x)
    }

    /// Estimated steps from each latent to its goal.
    ///
    /// # Shapes
    /// - `latent`, `goal`: `[batch, latent_dim]` → `[batch]`
    pub fn steps(&self, latent: Tensor<2>, goal: Tensor<2>) -> Tensor<1> {
        self.forward_normalised(latent, goal)
            .mul_scalar(self.max_steps)
    }

    /// The quasimetric's embedding of `latent` (`None` for a regression critic, which has
    /// none). Embed once and measure many pairs with [`embedded_steps`](Self::embedded_steps).
    ///
    /// # Shapes
    /// - `latent`: `[batch, latent_dim]` → `[batch, embedding]`
    pub fn embedding(&self, latent: Tensor<2>) -> Option<Tensor<2>> {
        match self.head {
            Head::Quasimetric { .. } => Some(self.embed(latent)),
            Head::Regression => None,
        }
    }

    /// Estimated steps from every row of `from` to every row of `to`, both embeddings from
    /// [`embedding`](Self::embedding) (`None` for a regression critic, which has none).
    ///
    /// # Shapes
    /// - `from`: `[m, embedding]`, `to`: `[n, embedding]` → `[m, n]`
    pub fn embedded_steps(&self, from: Tensor<2>, to: Tensor<2>) -> Option<Tensor<2>> {
        let ([m, width], [n, _]) = (from.dims(), to.dims());
        let Head::Quasimetric { reversible } = self.head else {
            return None;
        };
        if reversible {
            // |a − b|² = |a|² + |b|² − 2 a·b: one matrix product instead of an `[m · n,
            // embedding]` temporary (the planner measures every candidate against every
            // landmark).
            let from_sq = from.clone().powi_scalar(2).sum_dim(1); // [m, 1]
            let to_sq = to.clone().powi_scalar(2).sum_dim(1).reshape([1, n]);
            let cross = from.matmul(to.transpose()); // [m, n]
            let squared = from_sq.expand([m, n]) + to_sq.expand([m, n]) - cross.mul_scalar(2.0);
            return Some(
                (squared.clamp_min(0.0) + 1e-8)
                    .sqrt()
                    .mul_scalar(self.max_steps),
            );
        }
        let from = from
            .unsqueeze_dim::<3>(1)
            .expand([m, n, width])
            .reshape([m * n, width]);
        let to = to
            .unsqueeze_dim::<3>(0)
            .expand([m, n, width])
            .reshape([m * n, width]);
        Some(
            quasimetric(from, to, reversible)
                .mul_scalar(self.max_steps)
                .reshape([m, n]),
        )
    }

    /// Estimated steps from each latent to one goal (the planner's case: every imagined
    /// step against the goal image). The quasimetric embeds the goal once, not per row.
    ///
    /// # Shapes
    /// - `latent`: `[batch, latent_dim]`, `goal`: `[1, latent_dim]` → `[batch]`
    pub fn steps_to(&self, latent: Tensor<2>, goal: Tensor<2>) -> Tensor<1> {
        let [batch, d] = latent.dims();
        let normalised = match self.head {
            Head::Quasimetric { reversible } => {
                let goal = self.embed(goal);
                let width = goal.dims()[1];
                quasimetric(self.embed(latent), goal.expand([batch, width]), reversible)
            }
            Head::Regression => self.forward_normalised(latent, goal.expand([batch, d])),
        };
        normalised.mul_scalar(self.max_steps)
    }
}

/// Reversible: the Euclidean distance between embeddings. Otherwise half the embedding is
/// measured that way and the other half by its largest rise from latent to goal (a
/// quasimetric: going back may cost more).
///
/// # Shapes
/// - `latent`, `goal`: `[batch, embedding]` → `[batch]`
fn quasimetric(latent: Tensor<2>, goal: Tensor<2>, reversible: bool) -> Tensor<1> {
    let [batch, width] = latent.dims();
    let difference = goal - latent; // [batch, embedding]
    let euclidean = |d: Tensor<2>| (d.powi_scalar(2).sum_dim(1) + 1e-8).sqrt().reshape([batch]);
    if reversible {
        return euclidean(difference);
    }
    let half = width / 2;
    let symmetric = euclidean(difference.clone().narrow(1, 0, half));
    let rise = burn::tensor::activation::relu(difference.narrow(1, half, width - half))
        .max_dim(1)
        .reshape([batch]);
    symmetric + rise
}

/// Latent trajectories to learn from: each episode's latents, `[steps + 1][latent_dim]`.
pub struct Trajectories<'a> {
    /// One entry per episode.
    pub episodes: &'a [Vec<Vec<f32>>],
    /// Per episode and frame, whether the agent was inside a hazard (`None`: no hazards).
    /// Time spent in hazards is charged `hazard_penalty` a frame, so imagined paths through
    /// hazards cost more than the ways round them.
    pub hazards: Option<&'a [Vec<bool>]>,
}

/// A batch of hindsight pairs, or for the quasimetric recorded steps and random goals.
pub struct CriticBatch {
    /// `[batch · latent_dim]`
    pub latents: Vec<f32>,
    /// The latent one step after each of `latents` (itself at an episode's end),
    /// `[batch · latent_dim]`.
    pub next_latents: Vec<f32>,
    /// `[batch · latent_dim]`
    pub goals: Vec<f32>,
    /// Hindsight steps from the latent to the goal plus the hazard penalty (`max_steps` for
    /// pairs from different episodes); for the quasimetric, the cost of the step to the next
    /// latent (1, plus the penalty when it enters a hazard), `[batch]`.
    pub steps: Vec<f32>,
    /// Chaining through the next latent may tighten `steps`: the pair is from one episode and
    /// the next step is not into a hazard, `[batch]`.
    pub chain: Vec<bool>,
}

impl Trajectories<'_> {
    /// Samples `batch` pairs: mostly two frames of one episode (`(z_t, z_u)`, `u` uniform over
    /// the episode when reversible, from `t` on otherwise), some from two different episodes.
    pub fn sample(
        &self,
        rng: &mut impl rand::Rng,
        batch: usize,
        config: &CriticConfig,
    ) -> Option<CriticBatch> {
        let usable: Vec<usize> = (0..self.episodes.len())
            .filter(|e| self.episodes[*e].len() >= 2)
            .collect();
        if usable.is_empty() {
            return None;
        }
        let mut out = CriticBatch {
            latents: Vec::new(),
            next_latents: Vec::new(),
            goals: Vec::new(),
            steps: Vec::new(),
            chain: Vec::new(),
        };
        let in_hazard = |episode: usize, t: usize| {
            self.hazards
                .and_then(|h| h.get(episode))
                .and_then(|flags| flags.get(t))
                .copied()
                .unwrap_or(false)
        };
        if config.quasimetric {
            // One recorded step and one goal, per row.
            for _ in 0..batch {
                let episode = usable[rng.random_range(0..usable.len())];
                let a = &self.episodes[episode];
                let t = rng.random_range(0..a.len() - 1);
                // A step into a hazard may be longer. With a symmetric distance a recorded
                // step out of one still bounds the way in, so the penalty mostly cancels
                // there; charging steps out too measured worse (ρ 0.70 against 0.78), and the
                // guardrail keeps plans out of hazards either way.
                let penalty = if in_hazard(episode, t + 1) {
                    config.hazard_penalty
                } else {
                    0.0
                };
                out.latents.extend_from_slice(&a[t]);
                out.next_latents.extend_from_slice(&a[t + 1]);
                // Goals mostly from the same episode: another episode may be another world
                // (a door elsewhere), where no recorded step bounds the distance.
                let b = if rng.random_range(0.0..1.0) < config.other_episode_goals {
                    &self.episodes[usable[rng.random_range(0..usable.len())]]
                } else {
                    a
                };
                out.goals
                    .extend_from_slice(&b[rng.random_range(0..b.len())]);
                out.steps.push((1.0 + penalty) as f32);
                out.chain.push(false);
            }
            return Some(out);
        }
        for _ in 0..batch {
            let episode = usable[rng.random_range(0..usable.len())];
            let a = &self.episodes[episode];
            let negative =
                usable.len() > 1 && rng.random_range(0.0..1.0) < config.negative_fraction;
            if negative {
                let b = loop {
                    let b = usable[rng.random_range(0..usable.len())];
                    if b != episode {
                        break &self.episodes[b];
                    }
                };
                let t = rng.random_range(0..a.len());
                out.chain.push(false);
                out.latents.extend_from_slice(&a[t]);
                out.next_latents
                    .extend_from_slice(&a[(t + 1).min(a.len() - 1)]);
                out.goals
                    .extend_from_slice(&b[rng.random_range(0..b.len())]);
                out.steps.push(config.max_steps as f32);
            } else {
                let t = rng.random_range(0..a.len());
                let u = if config.reversible {
                    rng.random_range(0..a.len())
                } else {
                    rng.random_range(t..a.len())
                };
                // The frames the walk stepped into on its way from t to u.
                let entered = if u >= t { t + 1..u + 1 } else { u..t };
                let hazard_frames = entered.clone().filter(|s| in_hazard(episode, *s)).count();
                let steps = entered.len() as f64 + config.hazard_penalty * hazard_frames as f64;
                out.chain
                    .push(!in_hazard(episode, (t + 1).min(a.len() - 1)));
                out.latents.extend_from_slice(&a[t]);
                out.next_latents
                    .extend_from_slice(&a[(t + 1).min(a.len() - 1)]);
                out.goals.extend_from_slice(&a[u]);
                out.steps.push(steps.min(config.max_steps) as f32);
            }
        }
        Some(out)
    }
}

/// Trains a [`Critic`] with AdamW on hindsight pairs.
pub struct CriticTrainer {
    config: CriticConfig,
    trainer: SmallTrainer<Critic>,
    /// Slow copy for the chained labels.
    target: Critic,
    steps: usize,
    /// The quasimetric's Lagrange multiplier on its step constraint.
    multiplier: f64,
}

impl CriticTrainer {
    /// A fresh critic on `device` (made autodiff).
    pub fn new(config: CriticConfig, device: &Device) -> Self {
        let trainer = SmallTrainer::new(device, |device| config.init(device));
        let target = trainer.valid();
        Self {
            config,
            trainer,
            target,
            steps: 0,
            multiplier: 1.0,
        }
    }

    /// The labels of a batch: the pairs' bounds ("far" when unknown), tightened by chaining
    /// through the target critic once it has had `target_every` steps to learn, where the
    /// pair allows it (one episode, no step into a hazard).
    fn labels(&self, batch: &CriticBatch) -> Vec<f32> {
        let max = self.config.max_steps as f32;
        let chaining = self.config.target_every > 0 && self.steps >= self.config.target_every;
        if !chaining {
            return batch.steps.clone();
        }
        let (n, d) = (batch.steps.len(), self.config.latent_dim);
        let inference = self.trainer.device().clone().inner();
        let next = Tensor::<2>::from_data(
            TensorData::new(batch.next_latents.clone(), [n, d]),
            &inference,
        );
        let goals =
            Tensor::<2>::from_data(TensorData::new(batch.goals.clone(), [n, d]), &inference);
        let chained = to_vec(self.target.steps(next, goals));
        (0..batch.steps.len())
            .map(|i| {
                let k = batch.steps[i];
                if batch.chain[i] && k >= 1.0 {
                    k.min(1.0 + chained[i]).min(max)
                } else {
                    k
                }
            })
            .collect()
    }

    /// One step on a batch; returns the loss (squared error of normalised distances; for the
    /// quasimetric, the mean squared excess of recorded steps over their cost, in steps²).
    pub fn train_step(&mut self, batch: &CriticBatch, learning_rate: f64) -> f32 {
        if self.config.quasimetric {
            return self.quasimetric_step(batch, learning_rate);
        }
        let (n, d) = (batch.steps.len(), self.config.latent_dim);
        let device = self.trainer.device();
        let latents =
            Tensor::<2>::from_data(TensorData::new(batch.latents.clone(), [n, d]), device);
        let goals = Tensor::<2>::from_data(TensorData::new(batch.goals.clone(), [n, d]), device);
        let labels = self.labels(batch);
        let target = Tensor::<1>::from_data(TensorData::new(labels, [n]), device)
            .div_scalar(self.config.max_steps);
        let loss = (self.trainer.module().forward_normalised(latents, goals) - target)
            .powi_scalar(2)
            .mean();
        let value = self.trainer.step(loss, learning_rate);
        self.steps += 1;
        if self.config.target_every > 0 && self.steps.is_multiple_of(self.config.target_every) {
            self.target = self.trainer.valid();
        }
        value
    }

    /// Shortest paths as a constrained problem (quasimetric RL, Wang et al. 2023): make
    /// random pairs as far apart as the recorded steps allow, each step costing at most its
    /// cost (plus `slack`). The largest distance with every step that short is the shortest
    /// path through the recorded steps, which random walks cross the door in far more often
    /// than they time it. The multiplier rises by dual ascent while the constraint is broken.
    fn quasimetric_step(&mut self, batch: &CriticBatch, learning_rate: f64) -> f32 {
        let (n, d) = (batch.steps.len(), self.config.latent_dim);
        let max = self.config.max_steps;
        let device = self.trainer.device();
        let tensor = |values: &[f32]| {
            Tensor::<2>::from_data(TensorData::new(values.to_vec(), [n, d]), device)
        };
        let (latents, next, goals) = (
            tensor(&batch.latents),
            tensor(&batch.next_latents),
            tensor(&batch.goals),
        );
        let cost = Tensor::<1>::from_data(TensorData::new(batch.steps.clone(), [n]), device);
        let critic = self.trainer.module();
        let step = critic
            .forward_normalised(latents.clone(), next)
            .mul_scalar(max);
        let excess = burn::tensor::activation::relu(step - cost)
            .powi_scalar(2)
            .mean();
        // Far pairs: push apart, softly saturating at `max_steps` (1 normalised).
        const SHARPNESS: f64 = 20.0;
        let far = critic.forward_normalised(latents, goals);
        let spread = burn::tensor::activation::softplus(
            far.neg().add_scalar(1.0).mul_scalar(SHARPNESS),
            1.0,
        )
        .mean()
        .div_scalar(SHARPNESS);
        let violation = excess.clone().into_scalar::<f32>();
        let loss = spread + excess.mul_scalar(self.multiplier);
        self.trainer.descend(loss, learning_rate);
        // Multiplicative, with the relative violation clipped: the first steps of a fresh
        // network break the constraint by orders of magnitude, and an additive update would
        // leave the multiplier far too large for the rest of the fit.
        let target = self.config.slack.powi(2);
        let relative = ((f64::from(violation) - target) / target).clamp(-1.0, 1.0);
        // Bounded, so a long stretch of violation cannot overflow the loss.
        self.multiplier =
            (self.multiplier * (self.config.dual_rate * relative).exp()).clamp(1e-3, 1e6);
        self.steps += 1;
        violation
    }

    /// An inference copy of the critic.
    pub fn critic(&self) -> Critic {
        self.trainer.valid()
    }
}
