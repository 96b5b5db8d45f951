//! kennel's simulator: world files, Rapier physics, a CPU renderer, `Env`/`VecEnv` and
//! streaming of transitions to a learner.
//!
//! Data flows one way: a [`WorldSpec`] (a validated `worlds/*.json`) and an episode seed make a
//! [`World`] (Rapier); a [`Renderer`] turns it into RGB frames; [`Env`] wraps both with
//! Gymnasium's `reset`/`step`; [`VecEnv`] runs many over a thread pool; [`stream`] sends their
//! transitions over a bounded channel. Nothing here knows about learning.

mod build;
mod env;
mod episode;
mod error;
mod navigation;
mod policy;
pub mod render;
mod seed;
mod spec;
pub mod stream;
mod vec_env;
mod visual;
mod world;

pub use env::{ACTION_DIM, Action, Env, Info, Observation, Step};
pub use episode::{BodyVariation, EpisodeHazard, EpisodeParams, Goal, PlanarPose, wrap_angle};
pub use error::SimError;
pub use navigation::{DistanceField, object_pose_error, push_cost_to_go};
pub use policy::{ObjectSeeking, Policy, SmoothRandomPolicy};
pub use render::{Frame, Renderer};
pub use seed::SeedSequence;
pub use spec::*;
pub use vec_env::VecEnv;
pub use visual::{Drawable, MeshKind};
pub use world::{STATE_PER_BODY, World, WorldSnapshot};
