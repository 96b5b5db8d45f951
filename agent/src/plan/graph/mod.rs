//! Graph search over recorded latents: shortest paths to a goal through frames seen before.
//!
//! The critic's landmarks ([`LandmarkSet`], [`LandmarkGraph`]) and the recorded exploration
//! itself ([`ReplayFrames`], [`ReplayGraph`]) become graphs of seen frames, searched once per
//! goal into a [`LandmarkRoute`] that measures any latent's steps to the goal as one short hop
//! onto the graph and on along it.

mod files;
mod landmarks;
mod replay;
mod route;

pub use self::files::GraphFileError;
pub use self::landmarks::{LandmarkGraph, LandmarkSet};
pub use self::replay::{ReplayFrames, ReplayGraph, ReplayGraphConfig};
pub use self::route::LandmarkRoute;
