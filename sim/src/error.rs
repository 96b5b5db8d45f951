//! Errors of the simulator at run time (world files have their own, [`crate::SpecError`]).

/// What can go wrong while building or stepping a world.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The world file is unusable.
    #[error(transparent)]
    Spec(#[from] crate::SpecError),
    /// An action had a NaN or infinite component.
    #[error("action {action:?} has a non-finite component; actions must be finite numbers")]
    NonFiniteAction {
        /// The offending action.
        action: [f32; 2],
    },
    /// A batch of actions did not match the number of environments.
    #[error("got {got} actions for {expected} environments")]
    ActionCount {
        /// Environments in the batch.
        expected: usize,
        /// Actions given.
        got: usize,
    },
    /// No start or goal could be drawn that avoids hazards and meets the task's constraints.
    #[error(
        "world `{world}`: could not draw {what} after {tries} tries; widen the task's regions or shrink its hazards"
    )]
    Sampling {
        /// The world's name.
        world: String,
        /// What was being drawn.
        what: &'static str,
        /// How many tries were made.
        tries: u32,
    },
    /// A snapshot could not be written or read back.
    #[error("snapshot: {0}")]
    Snapshot(String),
    /// A goal set by hand lies outside the arena or is not finite.
    #[error(
        "goal {position:?} lies outside the arena (x within ±{half_extents:?}[0], y within ±{half_extents:?}[1]) or is not finite; pick a point on the floor"
    )]
    GoalOutsideArena {
        /// The goal's planar position.
        position: [f32; 2],
        /// The arena's half extents.
        half_extents: [f32; 2],
    },
    /// `step` was called before `reset`.
    #[error("the environment must be reset before it is stepped")]
    NotReset,
    /// A worker thread pool could not be built.
    #[error("cannot build a thread pool of {threads} threads: {message}")]
    ThreadPool {
        /// Threads asked for.
        threads: usize,
        /// Why it failed.
        message: String,
    },
    /// A stream's producer other than the simulator (recorded data, say) failed.
    #[error("{0}")]
    Producer(String),
}
