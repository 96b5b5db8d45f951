//! The cost models of one checkpoint: its learned cost parts, fitted, saved and loaded together.
//!
//! They are fitted on the model's own encoded exploration ([`CostModels::fit`]) and saved in a
//! folder beside the checkpoint ([`CostModels::save`], [`CostModels::load`]). They depend on
//! the encoder's latent space, so each checkpoint has its own.

mod config;
mod fit;
mod folder;

pub use self::config::{CostModelsConfig, FitReport};
pub use self::fit::CostModels;
pub use self::folder::{CostModelsError, FolderFileError};
