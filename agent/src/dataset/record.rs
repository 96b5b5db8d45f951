//! Recording one episode: a pure function of (world, master seed, episode index, policy).

use std::sync::Arc;

use burn::prelude::Device;
use sim::{
    Action, Env, Observation, Policy, SeedSequence, SimError, SmoothRandomPolicy, Step, WorldSpec,
};

use crate::eval::{EpisodePlanner, LearnedPolicy};

/// Seed stream of dataset episodes: apart from the per-environment streams (small numbers)
/// and the exploration policies' (`1 << 32` and up).
const EPISODE_STREAM: u64 = 1 << 48;

/// The seed of episode `episode` of a dataset with master seed `master`: it draws the
/// episode's start, goal and variations and seeds its policy.
pub fn episode_seed(master: u64, episode: u64) -> u64 {
    SeedSequence::new(master).derive(EPISODE_STREAM, episode)
}

/// One whole episode, as a shard stores it: `rows` frames and `rows - 1` actions.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordedEpisode {
    /// Its index in the dataset.
    pub index: u64,
    /// Frames, `[rows, H, W, 3]` bytes.
    pub frames: Vec<u8>,
    /// The action taken from each frame but the last, as the policy gave it (the simulator
    /// clips it to the world's bounds), `[rows - 1]`.
    pub actions: Vec<[f32; 2]>,
    /// Proprioception of each frame, `[rows]`.
    pub proprio: Vec<[f32; 2]>,
    /// True state of each frame, `[rows, state_dim]`.
    pub states: Vec<f32>,
    /// It ended in success.
    pub terminated: bool,
    /// It hit the step limit.
    pub truncated: bool,
}

impl RecordedEpisode {
    fn start(index: u64, obs: &Observation, max_steps: usize, mut frames: Vec<u8>) -> Self {
        // Room for the longest episode: growing 2 MB by doubling, or a fresh buffer per
        // episode, costs page faults that took as long as the simulation.
        frames.clear();
        frames.reserve(obs.rgb.rgb.len() * (max_steps + 1));
        frames.extend_from_slice(&obs.rgb.rgb);
        Self {
            index,
            frames,
            actions: Vec::new(),
            proprio: vec![obs.proprio],
            states: obs.state.clone(),
            terminated: false,
            truncated: false,
        }
    }

    fn push(&mut self, action: Action, step: &Step) {
        self.frames.extend_from_slice(&step.obs.rgb.rgb);
        self.actions.push(action.0);
        self.proprio.push(step.obs.proprio);
        self.states.extend_from_slice(&step.obs.state);
        self.terminated = step.terminated;
        self.truncated = step.truncated;
    }

    /// Frames (rows) it holds.
    pub fn rows(&self) -> usize {
        self.proprio.len()
    }

    /// Bytes it takes in a shard.
    pub fn shard_bytes(&self) -> usize {
        // frames + actions, proprio (2 f32 each) + states + index (i64), step (i32), 2 flags.
        self.frames.len() + self.rows() * (8 + 8 + 8 + 4 + 2) + self.states.len() * 4
    }

    /// As the replay buffer's episode (for training).
    pub fn into_episode(self) -> crate::Episode {
        crate::Episode {
            env_id: 0,
            seed: self.index,
            frames: self.frames,
            actions: self.actions,
            states: self.states,
            finished: true,
        }
    }
}

/// What acts in a dataset's episodes.
pub trait EpisodeSource: Sync {
    /// Records episode `index` of the dataset of master seed `master`, its frames in `frames`
    /// (a recycled buffer: cleared first, its memory reused), in `env` (the calling thread's
    /// environment, created on first use and reset for each episode: a reset builds the world
    /// anew from the seed, so what ran in it before does not matter).
    fn record(
        &self,
        master: u64,
        index: u64,
        frames: Vec<u8>,
        env: &mut Option<Env>,
    ) -> Result<RecordedEpisode, SimError>;
}

/// Plays an episode of `spec` from `seed`, asking `decide` for each action.
fn play(
    spec: &Arc<WorldSpec>,
    index: u64,
    seed: u64,
    frames: Vec<u8>,
    env: &mut Option<Env>,
    mut decide: impl FnMut(&mut Env, &Observation) -> Result<Action, SimError>,
) -> Result<RecordedEpisode, SimError> {
    let env = env.get_or_insert_with(|| Env::new(Arc::clone(spec)));
    let (mut obs, _) = env.reset(seed)?;
    let mut episode = RecordedEpisode::start(index, &obs, spec.task.episode_steps as usize, frames);
    loop {
        let action = decide(env, &obs)?;
        let step = env.step(&action)?;
        episode.push(action, &step);
        if step.terminated || step.truncated {
            return Ok(episode);
        }
        obs = step.obs;
    }
}

/// The world's exploration ([`SmoothRandomPolicy::for_world`]), seeded per episode.
pub struct SmoothRandomSource {
    spec: Arc<WorldSpec>,
}

impl SmoothRandomSource {
    /// Exploration of `spec`.
    pub fn new(spec: Arc<WorldSpec>) -> Self {
        Self { spec }
    }
}

impl EpisodeSource for SmoothRandomSource {
    fn record(
        &self,
        master: u64,
        index: u64,
        frames: Vec<u8>,
        env: &mut Option<Env>,
    ) -> Result<RecordedEpisode, SimError> {
        let seed = episode_seed(master, index);
        let mut policy = SmoothRandomPolicy::for_world(&self.spec, 1, seed);
        let mut actions = Vec::with_capacity(1);
        play(&self.spec, index, seed, frames, env, |_, obs| {
            policy.act(std::slice::from_ref(obs), &mut actions);
            Ok(actions[0])
        })
    }
}

/// The learned planner acting to each episode's goal (expert data). Its search runs its full
/// budget every step, with no wall-clock deadline, so that episodes do not depend on the
/// machine's speed.
pub struct PlannerSource<'a> {
    spec: Arc<WorldSpec>,
    policy: LearnedPolicy<'a>,
    device: Device,
}

impl<'a> PlannerSource<'a> {
    /// The planner of `policy` in `spec` (its deadline is removed).
    pub fn new(spec: Arc<WorldSpec>, mut policy: LearnedPolicy<'a>, device: Device) -> Self {
        policy.planner.deadline = None;
        Self {
            spec,
            policy,
            device,
        }
    }
}

impl EpisodeSource for PlannerSource<'_> {
    fn record(
        &self,
        master: u64,
        index: u64,
        frames: Vec<u8>,
        env: &mut Option<Env>,
    ) -> Result<RecordedEpisode, SimError> {
        let seed = episode_seed(master, index);
        let mut planner: Option<EpisodePlanner<'_>> = None;
        play(&self.spec, index, seed, frames, env, |env, obs| {
            if planner.is_none() {
                let goal = env.render_goal()?;
                planner = Some(EpisodePlanner::new(
                    self.policy.clone(),
                    env,
                    &goal,
                    seed,
                    &self.device,
                )?);
            }
            let Some(planner) = planner.as_mut() else {
                return Err(SimError::NotReset);
            };
            let latent = planner.observe(obs, &self.device);
            let plan = planner.decide(latent, &mut |_, _| {});
            Ok(Action([plan.actions[0], plan.actions[1]]))
        })
    }
}
