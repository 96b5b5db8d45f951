//! `Env`: one world, its camera and its task behind Gymnasium's `reset`/`step`.

use std::sync::Arc;

use crate::episode::Goal;
use crate::{Frame, Renderer, SimError, World, WorldSpec};

/// Dimensions of an action: a planar command `[x, y]`.
pub const ACTION_DIM: usize = 2;

/// One command for the agent's actuator, in the world's action units (see
/// [`crate::AgentSpec`]): values outside the bounds are clipped and counted; NaN is an error.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Action(pub [f32; ACTION_DIM]);

/// What the agent senses after a reset or a step.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    /// The learner camera's frame, `H × W × 3` bytes.
    pub rgb: Frame,
    /// Proprioception: the agent's own planar position `[x, y]` in metres, what a robot
    /// knows of itself from its joints (its velocity is the action it was given). Equal to
    /// the first two numbers of [`state`](Self::state). Models read it only when configured
    /// to (push's, by default).
    pub proprio: [f32; 2],
    /// The true simulator state ([`World::state`]): for probes and evaluation only.
    pub state: Vec<f32>,
}

/// Side information of a reset or a step.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Info {
    /// The task's success predicate holds now.
    pub success: bool,
    /// The agent overlaps a hazard zone now.
    pub in_hazard: bool,
    /// Hazard entries (outside → inside, checked every physics step) during this step.
    pub hazard_entries_this_step: u32,
    /// Hazard entries since the episode began.
    pub hazard_entries: u32,
    /// Whether this step's action had to be clipped to the bounds.
    pub action_clipped: bool,
    /// Clipped actions since the episode began.
    pub clipped_actions: u32,
    /// Env steps taken in this episode.
    pub episode_step: u32,
    /// The seed this episode was drawn from.
    pub episode_seed: u64,
    /// True on the observation that starts an episode (a reset, or a vector env's autoreset).
    pub is_first: bool,
}

/// The result of [`Env::step`], with Gymnasium's meanings.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// The observation after the step.
    pub obs: Observation,
    /// 1 on the step the task succeeds, else 0 (sparse).
    pub reward: f32,
    /// The episode ended inside the task (success).
    pub terminated: bool,
    /// The episode was cut by its step limit.
    pub truncated: bool,
    /// Side information.
    pub info: Info,
}

/// A single environment: a [`World`] per episode, a [`Renderer`] and the task's bookkeeping.
pub struct Env {
    spec: Arc<WorldSpec>,
    renderer: Renderer,
    world: Option<World>,
    info: Info,
}

impl Env {
    /// An environment of `spec`; call [`reset`](Self::reset) before stepping.
    pub fn new(spec: Arc<WorldSpec>) -> Self {
        let renderer = Renderer::new(&spec);
        Self {
            spec,
            renderer,
            world: None,
            info: Info::default(),
        }
    }

    /// The world file.
    pub fn spec(&self) -> &Arc<WorldSpec> {
        &self.spec
    }

    /// The current episode's world (after a reset).
    pub fn world(&self) -> Option<&World> {
        self.world.as_ref()
    }

    /// The current episode's goal (after a reset).
    pub fn goal(&self) -> Option<&Goal> {
        self.world.as_ref().map(World::goal)
    }

    /// Starts episode `seed`: draws it, builds it, returns the first observation.
    pub fn reset(&mut self, seed: u64) -> Result<(Observation, Info), SimError> {
        let world = World::from_seed(Arc::clone(&self.spec), seed)?;
        self.info = Info {
            success: world.is_success(),
            in_hazard: world.in_hazard(),
            episode_seed: seed,
            is_first: true,
            ..Info::default()
        };
        self.world = Some(world);
        Ok((self.observe()?, self.info))
    }

    /// Applies `action` for the world's action repeat physics steps and observes.
    pub fn step(&mut self, action: &Action) -> Result<Step, SimError> {
        if action.0.iter().any(|v| !v.is_finite()) {
            return Err(SimError::NonFiniteAction { action: action.0 });
        }
        let world = self.world.as_mut().ok_or(SimError::NotReset)?;
        let agent = &self.spec.agent;
        let mut clipped = [0.0; ACTION_DIM];
        for (i, v) in action.0.iter().enumerate() {
            clipped[i] = v.clamp(agent.action_low[i], agent.action_high[i]);
        }
        let action_clipped = clipped != action.0;
        world.set_action(clipped);
        let mut entries = 0;
        let mut in_hazard = self.info.in_hazard;
        for _ in 0..agent.action_repeat {
            world.step();
            let now = world.in_hazard();
            if now && !in_hazard {
                entries += 1;
            }
            in_hazard = now;
        }
        let success = world.is_success();
        let info = &mut self.info;
        info.episode_step += 1;
        info.success = success;
        info.in_hazard = in_hazard;
        info.hazard_entries_this_step = entries;
        info.hazard_entries += entries;
        info.action_clipped = action_clipped;
        info.clipped_actions += u32::from(action_clipped);
        info.is_first = false;
        let truncated = !success && info.episode_step >= self.spec.task.episode_steps;
        let info = *info;
        Ok(Step {
            obs: self.observe()?,
            reward: if success { 1.0 } else { 0.0 },
            terminated: success,
            truncated,
            info,
        })
    }

    /// The current observation.
    pub fn observe(&mut self) -> Result<Observation, SimError> {
        let world = self.world.as_ref().ok_or(SimError::NotReset)?;
        let mut obs = Observation::default();
        self.renderer.render_into(world, &mut obs.rgb);
        let p = world.agent_position();
        obs.proprio = [p[0], p[1]];
        obs.state = world.state();
        Ok(obs)
    }

    /// Replaces the current episode's goal ([`World::set_goal`]).
    pub fn set_goal(&mut self, goal: Goal) -> Result<(), SimError> {
        let world = self.world.as_mut().ok_or(SimError::NotReset)?;
        world.set_goal(goal)?;
        self.info.success = world.is_success();
        Ok(())
    }

    /// The image of the current episode's goal state, from the learner camera.
    pub fn render_goal(&mut self) -> Result<Frame, SimError> {
        let world = self.world.as_ref().ok_or(SimError::NotReset)?;
        Ok(self.renderer.render_goal(world))
    }
}
