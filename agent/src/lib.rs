//! kennel's agent: the JEPA world model, its training on streamed transitions, the replay
//! buffer, and probes. It sees only `sim`'s public types (observations, actions, specs), never
//! Rapier or Bevy, and never picks a device: the binary does.

pub mod bench;
pub mod dataset;
pub mod eval;
pub mod model;
pub mod pipeline;
pub mod plan;
pub mod probe;
mod replay;
pub mod session;
pub mod train;

pub use replay::{Episode, ReplayBuffer, SequenceBatch};
