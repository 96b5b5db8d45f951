//! Policies that drive environments without a learner: exploration for rollouts and benches.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{ACTION_DIM, Action, Observation, SeedSequence};

/// Chooses one action per environment from a batch of observations.
pub trait Policy: Send {
    /// Writes one action per observation into `actions` (cleared first).
    fn act(&mut self, observations: &[Observation], actions: &mut Vec<Action>);
}

impl<F> Policy for F
where
    F: FnMut(&[Observation]) -> Vec<Action> + Send,
{
    fn act(&mut self, observations: &[Observation], actions: &mut Vec<Action>) {
        *actions = self(observations);
    }
}

/// Smooth random exploration: per environment, an action that follows a mean-reverting random
/// walk (Ornstein–Uhlenbeck) in `[-1, 1]²`, so the agent travels rather than jitters in place.
pub struct SmoothRandomPolicy {
    rngs: Vec<ChaCha8Rng>,
    current: Vec<[f32; ACTION_DIM]>,
    /// How much of the previous action is kept each step, in `[0, 1)` (default 0.8).
    pub smoothing: f32,
}

impl SmoothRandomPolicy {
    /// One random stream per environment, derived from `seed`.
    pub fn new(num_envs: usize, seed: u64) -> Self {
        // Stream ids above any env index keep these apart from episode seeds.
        let seeds = SeedSequence::new(seed);
        let rngs = (0..num_envs)
            .map(|i| ChaCha8Rng::seed_from_u64(seeds.derive(1 << 32, i as u64)))
            .collect();
        Self {
            rngs,
            current: vec![[0.0; ACTION_DIM]; num_envs],
            smoothing: 0.8,
        }
    }

    /// The next action of environment `env`.
    pub fn next_action(&mut self, env: usize) -> Action {
        let keep = self.smoothing;
        let fresh = (1.0 - keep * keep).sqrt();
        let (rng, current) = (&mut self.rngs[env], &mut self.current[env]);
        for v in current.iter_mut() {
            let noise: f32 = rng.random_range(-1.0..1.0);
            *v = (keep * *v + fresh * noise * 1.5).clamp(-1.0, 1.0);
        }
        Action(*current)
    }
}

impl Policy for SmoothRandomPolicy {
    fn act(&mut self, observations: &[Observation], actions: &mut Vec<Action>) {
        actions.clear();
        for env in 0..observations.len().min(self.rngs.len()) {
            let action = self.next_action(env);
            actions.push(action);
        }
    }
}
