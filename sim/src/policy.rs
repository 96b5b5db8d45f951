//! Policies that drive environments without a learner: exploration for rollouts and benches.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{ACTION_DIM, Action, GoalSpec, Observation, STATE_PER_BODY, SeedSequence, WorldSpec};

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
/// With [`ObjectSeeking`] it also, in phases, steers at points around the world's first
/// movable body, so that the exploration holds contacts.
pub struct SmoothRandomPolicy {
    rngs: Vec<ChaCha8Rng>,
    current: Vec<[f32; ACTION_DIM]>,
    /// How much of the previous action is kept each step, in `[0, 1)` (default 0.8).
    pub smoothing: f32,
    seed: u64,
    seeking: Option<Seeking>,
}

/// Phases of exploration that steer the agent at the world's first movable body (push's
/// block) from random sides.
///
/// Why: a random walk in `push` touches the block in few of its steps (the block covers ~2%
/// of the arena), so a world model learned from it sees the block move too rarely to learn
/// how a push moves and turns it, and has little reason to keep the block's orientation in
/// its latent. Scripted or human pushes are how published Push-T world models get their data
/// (DINO-WM and LeWM learn from recorded pushing demonstrations); this is the cheapest such
/// script: it needs the block's position from the simulator's state, never a goal.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ObjectSeeking {
    /// Mean fraction of steps spent seeking; the rest is plain random walk.
    pub seek_fraction: f32,
    /// Mean length of a phase, steps: each step a new phase (seek or wander, and a new aim
    /// point) is drawn with probability 1 / this.
    pub mean_phase_steps: f32,
    /// Aim points lie uniformly in a disc of this radius (metres) around the body's centre:
    /// points inside the body keep pushing it, points beside it make the agent graze or
    /// circle it.
    pub aim_radius: f32,
    /// Weight of the unit pull towards the aim point added to the random action, which keeps
    /// its noise (actions are clamped to `[-1, 1]`). Measured on 12 push episodes of 150
    /// steps: the block moves in 28–30% of the steps with a pull of 1 or 2 (4% in a random
    /// walk) and turns 5.8× as much as in a random walk with 2, 3.3× with 1.
    pub pull: f32,
}

impl Default for ObjectSeeking {
    fn default() -> Self {
        Self {
            seek_fraction: 0.6,
            mean_phase_steps: 30.0,
            aim_radius: 0.3,
            pull: 2.0,
        }
    }
}

/// Per-environment state of object seeking.
struct Seeking {
    config: ObjectSeeking,
    rngs: Vec<ChaCha8Rng>,
    /// Per environment: the aim point's offset from the body's centre while seeking.
    aims: Vec<Option<[f32; 2]>>,
}

impl Seeking {
    /// Draws env `env`'s phase for this step: usually the current one, sometimes a new one.
    fn update_phase(&mut self, env: usize) -> Option<[f32; 2]> {
        let config = self.config;
        let rng = &mut self.rngs[env];
        if rng.random::<f32>() * config.mean_phase_steps.max(1.0) < 1.0 {
            self.aims[env] = (rng.random::<f32>() < config.seek_fraction).then(|| {
                let radius = config.aim_radius * rng.random::<f32>().sqrt();
                let angle = rng.random_range(-std::f32::consts::PI..std::f32::consts::PI);
                [radius * angle.cos(), radius * angle.sin()]
            });
        }
        self.aims[env]
    }
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
            seed,
            seeking: None,
        }
    }

    /// The exploration suited to `spec`: object seeking ([`ObjectSeeking::default`]) when its
    /// task is to move an object (push), the plain random walk otherwise.
    pub fn for_world(spec: &WorldSpec, num_envs: usize, seed: u64) -> Self {
        let policy = Self::new(num_envs, seed);
        match spec.task.goal {
            GoalSpec::ObjectPose { .. } => policy.with_object_seeking(ObjectSeeking::default()),
            _ => policy,
        }
    }

    /// Adds phases that steer at the world's first movable body (see [`ObjectSeeking`]);
    /// they need the observations' `state` ([`Policy::act`], [`Self::act_one`]).
    pub fn with_object_seeking(mut self, config: ObjectSeeking) -> Self {
        let n = self.rngs.len();
        // Their own streams: the random walk's actions stay those of `new` with this seed.
        let seeds = SeedSequence::new(self.seed);
        self.seeking = Some(Seeking {
            config,
            rngs: (0..n)
                .map(|i| ChaCha8Rng::seed_from_u64(seeds.derive(1 << 33, i as u64)))
                .collect(),
            aims: vec![None; n],
        });
        self
    }

    /// Object seeking's settings, if on.
    pub fn object_seeking(&self) -> Option<ObjectSeeking> {
        self.seeking.as_ref().map(|s| s.config)
    }

    /// The next action of environment `env` given its latest observation: the random walk's,
    /// plus the pull of object seeking while env `env` is in a seeking phase and its world has
    /// a movable body.
    pub fn act_one(&mut self, env: usize, observation: &Observation) -> Action {
        let Action(mut action) = self.next_action(env);
        let Some(seeking) = self.seeking.as_mut() else {
            return Action(action);
        };
        let aim = seeking.update_phase(env);
        let body = observation.state.get(STATE_PER_BODY..STATE_PER_BODY + 2);
        if let (Some(offset), Some(body)) = (aim, body) {
            // The agent's own position is its proprioception; only the body's is privileged.
            let agent = observation.proprio;
            let to_aim = [
                body[0] + offset[0] - agent[0],
                body[1] + offset[1] - agent[1],
            ];
            // Full pull beyond 0.1 m, fading to nothing at the aim point.
            let scale = seeking.config.pull / (to_aim[0].hypot(to_aim[1])).max(0.1);
            for (a, d) in action.iter_mut().zip(to_aim) {
                *a = (*a + scale * d).clamp(-1.0, 1.0);
            }
        }
        Action(action)
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
        for (env, observation) in observations.iter().enumerate().take(self.rngs.len()) {
            let action = self.act_one(env, observation);
            actions.push(action);
        }
    }
}
