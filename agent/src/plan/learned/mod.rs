//! The learned parts of the cost: small networks fitted on a model's encoded exploration.
//!
//! Each is a config, a module and its fit: the steps-to-goal critic, the hazard classifier (the
//! guardrail on latents), the hazard sight (the guardrail that looks at the frame), push's pose
//! readout and pose dynamics, and the predictor's refit on the frozen encoder's latents.

mod critic;
mod hazard_classifier;
mod hazard_sight;
mod pose_dynamics;
mod pose_readout;
mod predictor_fit;
mod trainer;

pub use self::critic::{Critic, CriticBatch, CriticConfig, CriticTrainer, Trajectories};
pub use self::hazard_classifier::{
    HazardClassifier, HazardClassifierConfig, HazardClassifierTrainer,
};
pub use self::hazard_sight::{
    HazardSight, HazardSightConfig, HazardSightData, HazardSightReport, SIGHT_STEPS,
};
pub use self::pose_dynamics::{
    POSE_DYNAMICS_ROLLOUT, POSE_FEATURES, PoseDynamics, PoseDynamicsConfig, PoseDynamicsFitConfig,
    PoseDynamicsReport, fit_pose_dynamics,
};
pub use self::pose_readout::{
    PoseReadout, PoseReadoutConfig, PoseReadoutReport, PoseReadoutTrainer, readout_errors,
};
pub use self::predictor_fit::{
    ImaginedPoseErrors, PredictorFitConfig, PredictorFitError, PredictorFitReport, fit_predictor,
};
