//! Planning by optimisation over action sequences: CEM and MPPI, receding horizon with warm
//! starts and an anytime wall-clock deadline. The optimisers are generic over a batched cost
//! function, so the same code plans in the learned model, in the true simulator (the oracle)
//! and in the tests' known cost functions.

mod cost_models;
mod critic;
mod exploration;
mod files;
mod goal_cost;
mod guardrail;
mod landmarks;
mod latent_cost;
mod numeric;
mod optimizer;
mod pose_dynamics;
mod pose_readout;
mod predictor_fit;
mod replay_graph;
mod route;

pub use self::cost_models::{CostModels, CostModelsConfig, FitReport};
pub use self::critic::{Critic, CriticBatch, CriticConfig, CriticTrainer, Trajectories};
pub use self::exploration::{LabelledEpisode, LatentEpisodes, collect_exploration, encode_frames};
pub use self::goal_cost::{GoalCost, GoalCostConfig, decide, decide_watching};
pub use self::guardrail::{HazardClassifier, HazardClassifierConfig, HazardClassifierTrainer};
pub use self::landmarks::{LandmarkGraph, LandmarkSet};
pub use self::latent_cost::{LatentCostConfig, imagine, latent_costs, latent_distance_costs};
pub use self::numeric::cosine_decay;
pub use self::optimizer::{
    ActionSequences, CemConfig, MppiConfig, Plan, PlanMethod, PlanStats, Planner, PlannerConfig,
};
pub use self::pose_dynamics::{
    POSE_DYNAMICS_ROLLOUT, POSE_FEATURES, PoseDynamics, PoseDynamicsConfig, PoseDynamicsFitConfig,
    PoseDynamicsReport, fit_pose_dynamics,
};
pub use self::pose_readout::{
    POSE_DIM, PoseReadout, PoseReadoutConfig, PoseReadoutReport, PoseReadoutTrainer, PushPoses,
    path_costs, readout_errors,
};
pub use self::predictor_fit::{
    ImaginedPoseErrors, PredictorFitConfig, PredictorFitReport, fit_predictor,
};
pub use self::replay_graph::{ReplayFrames, ReplayGraph, ReplayGraphConfig};
pub use self::route::LandmarkRoute;
