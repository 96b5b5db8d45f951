//! What a surface says to a running session ([`Command`]) and what it hears back
//! ([`Event`]).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use sim::{Drawable, Goal, WorldSpec};

use crate::train::StepReport;

/// What a surface can tell a running session.
#[derive(Clone, Debug)]
pub enum Command {
    /// Stop stepping the actor's episode (learning goes on unless turned off).
    Pause,
    /// Step the actor's episode again.
    Resume,
    /// While paused: one decision and one step.
    Step,
    /// End the actor's episode now and start the next (not counted as an outcome).
    ResetEpisode,
    /// Plan towards this goal in the current episode; its goal image is rendered.
    SetGoal(Goal),
    /// Take this action at the next step instead of the plan's (driving by hand); the
    /// episode's transitions reach the learner like any other.
    Teleop([f32; 2]),
    /// How fast the actor's episode runs against wall time (with [`Clock::RealTime`](super::Clock::RealTime)).
    SetSpeed(Speed),
    /// Train (`true`) or hold the learner (`false`).
    SetLearning(bool),
    /// Plan with (`true`) or without (`false`) the hazard guardrail.
    SetGuardrail(bool),
    /// Continue in another world (its frames must have the model's size): the simulator
    /// threads and the actor's episode switch to it and the cost models are refitted.
    SwitchWorld(Arc<WorldSpec>),
    /// Write a checkpoint of the learner now ([`Event::Checkpoint`] says where).
    SaveCheckpoint,
    /// Continue learning and planning from this checkpoint.
    LoadCheckpoint(PathBuf),
    /// End the session (the learner writes a final checkpoint).
    Stop,
}

/// The pace of the actor's episode.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Speed {
    /// A step every dt × action repeat of wall time, multiplied by this factor (1: real time).
    Times(f64),
    /// As fast as planning goes.
    Unpaced,
}

/// What the session is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Streaming exploration to the learner; not planning yet.
    Exploring,
    /// Fitting the cost models on the newest weights.
    Fitting,
    /// Planning practice episodes with the newest fitted models while learning goes on.
    Practising,
    /// The learner has stopped: the final fit and evaluation.
    Evaluating,
    /// Done.
    Finished,
}

/// The learner's newest figures.
#[derive(Clone, Debug)]
pub struct Metrics {
    /// Its last step: loss terms, collapse indicators, learning rate.
    pub step: StepReport,
    /// Frames through the encoder per second.
    pub samples_per_s: f64,
    /// Fraction of the learning budget spent.
    pub progress: f64,
    /// Transitions in the replay buffer.
    pub replay_transitions: usize,
}

/// One decision of the actor's planner.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Decision {
    /// The actor's episode step it was taken at.
    pub step: u32,
    /// The chosen action sequence, `[horizon · 2]`.
    pub actions: Vec<f32>,
    /// The action taken (the plan's first, a replacement for a missed deadline, or the
    /// driver's).
    pub taken: [f32; 2],
    /// The agent's positions along what the model imagines the plan does, where a readout
    /// of them exists (push); empty otherwise.
    pub imagined_positions: Vec<[f32; 2]>,
    /// The best cost after each optimiser iteration.
    pub cost_per_iteration: Vec<f32>,
    /// Candidates the guardrail rejected, over all iterations.
    pub rejected: usize,
    /// Candidates evaluated.
    pub evaluated: usize,
    /// Whether the guardrail rejected every candidate (the safest was taken).
    pub all_rejected: bool,
    /// The deadline it planned under, milliseconds (0: none, a fixed budget).
    pub deadline_ms: f64,
    /// How long it took, milliseconds.
    pub elapsed_ms: f64,
    /// Real time: it took longer than a step and the previous plan's next action was taken.
    pub missed_deadline: bool,
    /// The driver's action was taken.
    pub teleop: bool,
}

/// How one of the actor's episodes ended.
#[derive(Clone, Debug, Serialize)]
pub struct EpisodeOutcome {
    /// Minutes since the session started.
    pub minutes: f64,
    /// The learner step of the weights it planned with.
    pub weights_step: u64,
    /// The task succeeded.
    pub success: bool,
    /// Hazards the agent entered.
    pub hazard_entries: u64,
    /// Env steps.
    pub steps: u64,
    /// Decisions replaced for a missed deadline (real time).
    pub missed_deadlines: u64,
    /// Steps driven by hand.
    pub teleop_steps: u64,
    /// Handed to the learner's queue.
    pub handed_to_learner: bool,
    /// The learned planner acted (`false`: the episode wandered as the exploration does,
    /// before any model was fitted; not counted as practice).
    pub planned: bool,
}

/// What a session reports; bounded, and a slow reader loses frames and metrics, never the
/// other events.
#[derive(Clone, Debug)]
pub enum Event {
    /// The phase changed.
    Phase(Phase),
    /// The learner is filling its replay buffer.
    Filling {
        /// Transitions so far.
        transitions: usize,
    },
    /// The learner took a step.
    Metrics(Metrics),
    /// The actor's planner decided.
    Decision(Decision),
    /// The actor's newest frame (64×64 RGB, the learner's input), and the goal image when it
    /// changed.
    Frame {
        /// Frame side in pixels.
        size: usize,
        /// `[size, size, 3]` bytes.
        rgb: Vec<u8>,
        /// The agent's planar position.
        agent: [f32; 2],
        /// The goal image, when it changed since the last frame.
        goal: Option<Vec<u8>>,
        /// The episode's goal (where it puts the agent, and the pushed object).
        goal_state: Goal,
        /// Every drawable of the world as it stands (for viewers that draw it themselves).
        scene: Vec<Drawable>,
        /// Steps of the actor's episode so far.
        episode_steps: u64,
        /// Hazards entered in it so far.
        hazard_entries: u64,
    },
    /// One of the actor's episodes ended.
    EpisodeEnded(EpisodeOutcome),
    /// The cost models were fitted on the step-`step` weights.
    Fitted {
        /// The learner step of the weights.
        step: u64,
    },
    /// A checkpoint was written.
    Checkpoint(PathBuf),
    /// Learning and planning continue from a loaded checkpoint.
    Loaded(PathBuf),
    /// The session runs in another world.
    WorldSwitched(String),
    /// How far the current phase is (the final fit and evaluation), for a progress display.
    Progress {
        /// What is being done.
        what: String,
        /// Fraction done.
        done: f64,
    },
    /// A fit or a load has advice for the user (nothing failed).
    Notice(String),
    /// A command could not be carried out (the session goes on); the text says why.
    Refused(String),
}
