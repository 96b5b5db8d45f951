//! Planning: choosing actions by optimising action sequences against a cost in the learned model.
//!
//! Its parts: `search` (CEM and MPPI, receding horizon, anytime), `objective` (the cost
//! the search minimises, and the decision), `graph` (search through recorded latents), `learned`
//! (the cost's learned parts) and `cost_models` (fits, saves and loads those for a checkpoint,
//! on `exploration` encoded by its model). Every public name is re-exported here, flat.

mod cost_models;
mod exploration;
mod familiarity;
mod graph;
mod learned;
mod numeric;
mod objective;
mod poses;
mod search;

pub use self::cost_models::{
    CostModels, CostModelsConfig, CostModelsError, FitReport, FolderFileError,
};
pub use self::exploration::{
    LabelledEpisode, LatentEpisodes, collect_exploration, encode_frames, explore_each,
};
pub use self::familiarity::Familiarity;
pub use self::graph::{
    GraphFileError, LandmarkGraph, LandmarkRoute, LandmarkSet, ReplayFrames, ReplayGraph,
    ReplayGraphConfig,
};
pub use self::learned::{
    Critic, CriticBatch, CriticConfig, CriticTrainer, HazardClassifier, HazardClassifierConfig,
    HazardClassifierTrainer, HazardSight, HazardSightConfig, HazardSightData, HazardSightReport,
    ImaginedPoseErrors, POSE_DYNAMICS_ROLLOUT, POSE_FEATURES, PoseDynamics, PoseDynamicsConfig,
    PoseDynamicsFitConfig, PoseDynamicsReport, PoseReadout, PoseReadoutConfig, PoseReadoutReport,
    PoseReadoutTrainer, PredictorFitConfig, PredictorFitError, PredictorFitReport, SIGHT_STEPS,
    Trajectories, fit_pose_dynamics, fit_predictor, readout_errors,
};
pub use self::numeric::cosine_decay;
pub use self::objective::{
    GoalCost, GoalCostConfig, LatentCostConfig, SightView, decide, decide_watching, imagine,
    latent_costs, latent_distance_costs,
};
pub use self::poses::{POSE_DIM, PushPoses, path_costs};
pub use self::search::{
    ActionSequences, CemConfig, MppiConfig, Plan, PlanMethod, PlanStats, Planner, PlannerConfig,
};
