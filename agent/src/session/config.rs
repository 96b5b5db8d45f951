//! How a session runs: its world, its learner, its clock, its budget and what it does at the
//! end.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sim::WorldSpec;

use crate::pipeline::PlanningConfig;
use crate::train::TrainConfig;

/// How the simulator's time relates to wall time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The actor's episode advances at the world's dt (times its action repeat) in wall time;
    /// a decision that takes longer than a step is replaced by the previous plan's next
    /// action, and counted.
    RealTime,
    /// Everything as fast as it goes (the headless demo).
    AsFastAsPossible,
    /// Reproducible: the learner takes a fixed number of new transitions per step and waits
    /// for the actor at fixed steps; the planner has a fixed search budget instead of a
    /// deadline. The same seed gives the same report, apart from timings. Needs
    /// [`Budget::LearnerSteps`].
    Lockstep,
}

/// How long the session learns before its final fit and evaluation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Budget {
    /// This much wall time of learning.
    Time(Duration),
    /// This many learner steps.
    LearnerSteps(u64),
    /// Until [`Command::Stop`](super::Command::Stop) (the desktop app); the exploration
    /// share is taken of ten minutes.
    Unlimited,
}

/// The final evaluation of a session with a budget.
#[derive(Clone, Debug, PartialEq)]
pub struct FinalEvaluation {
    /// Episodes per policy.
    pub episodes: usize,
    /// Master seed of the episodes.
    pub seed: u64,
    /// Also the reference rows (random, oracle, no critic, no guardrail).
    pub baselines: bool,
}

/// Everything a session needs.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// The world.
    pub world: Arc<WorldSpec>,
    /// The run folder: metrics, checkpoints (the surface writes its own files there too).
    pub run_dir: PathBuf,
    /// The learner's model, optimiser and seed.
    pub train: TrainConfig,
    /// Seed of the data, the practice episodes and the fits.
    pub seed: u64,
    /// Simulated environments streaming to the learner.
    pub envs: usize,
    /// Replay buffer cap in bytes.
    pub replay_bytes: usize,
    /// Hard-sequence selection's candidates per sequence (1: uniform replay).
    pub sequence_pool: usize,
    /// Stream batches (of `envs` transitions) the learner takes per step; in lockstep,
    /// exactly that many.
    pub stream_batches_per_step: usize,
    /// How time runs.
    pub clock: Clock,
    /// How long to learn.
    pub budget: Budget,
    /// Fraction of the budget spent exploring before the actor plans.
    pub explore_fraction: f64,
    /// Lockstep: learner steps between practice episodes.
    pub practice_every_steps: u64,
    /// Hand the actor's episodes to the learner.
    pub practice_learning: bool,
    /// While exploring (before any model is fitted), the actor plays episodes with the
    /// exploration's random walk, so that a viewer sees the world move and a person can
    /// drive; off in the headless demo, which has no one watching.
    pub wander_while_exploring: bool,
    /// The planner and the fit of its cost models.
    pub planning: PlanningConfig,
    /// The final fit and evaluation (`None`: the session ends when the learner does).
    pub evaluation: Option<FinalEvaluation>,
}

impl SessionConfig {
    /// The planning settings the session uses: in lockstep, without a deadline (a fixed
    /// search budget, so that every run makes the same decisions).
    pub fn planning_in_effect(&self) -> PlanningConfig {
        let mut planning = self.planning.clone();
        if self.clock == Clock::Lockstep {
            planning.deadline_ms = 0.0;
        }
        planning
    }

    /// A session on `world` writing to `run_dir`, with the defaults of `kennel demo`: ten
    /// minutes as fast as possible, 60% exploring, 16 environments, a 50-episode evaluation
    /// with the reference rows.
    pub fn new(world: Arc<WorldSpec>, run_dir: PathBuf, train: TrainConfig) -> Self {
        Self {
            world,
            run_dir,
            seed: train.seed,
            train,
            envs: 16,
            replay_bytes: 384 << 20,
            sequence_pool: 1,
            stream_batches_per_step: 2,
            clock: Clock::AsFastAsPossible,
            budget: Budget::Time(Duration::from_secs(600)),
            explore_fraction: 0.6,
            practice_every_steps: 8,
            practice_learning: true,
            wander_while_exploring: false,
            planning: PlanningConfig::default(),
            evaluation: Some(FinalEvaluation {
                episodes: 50,
                seed: 1000,
                baselines: true,
            }),
        }
    }
}
