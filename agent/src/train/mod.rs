//! Training the world model: the optimiser loop with its schedule and NaN rollback,
//! checkpoints that resume exactly, and the learner thread fed by the simulator's stream.

mod checkpoint;
mod learner;
mod trainer;

pub use self::checkpoint::{
    CheckpointState, checkpoint_config, latest_checkpoint, load_model, resolve_checkpoint,
};
pub use self::learner::{
    Learner, LearnerConfig, LearnerControl, LearnerEvent, LearnerLockstep, LearnerSummary,
    WeightsSnapshot,
};
pub use self::trainer::{StepReport, TrainConfig, TrainError, Trainer, check_camera};
