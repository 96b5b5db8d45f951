//! The graphs' postcard files (landmarks, recorded exploration), and why one cannot be written
//! or read.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// Why a graph's file (landmarks, recorded exploration) cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum GraphFileError {
    /// The value could not be encoded.
    #[error("{0}")]
    Encode(#[source] postcard::Error),
    /// The file could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file does not hold `what`.
    #[error("{}: not {what}: {source}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// What it should hold.
        what: &'static str,
        /// Why it does not.
        #[source]
        source: postcard::Error,
    },
    /// A landmark set's `numbers` do not make whole latents of `latent_dim`.
    #[error("{}: {numbers} numbers do not make latents of {latent_dim}", path.display())]
    Landmarks {
        /// The file.
        path: PathBuf,
        /// How many numbers it holds.
        numbers: usize,
        /// The latent size it gives.
        latent_dim: usize,
    },
    /// Some episode of recorded frames does not make whole latents of `latent_dim`.
    #[error("{}: its numbers do not make latents of {latent_dim}", path.display())]
    Frames {
        /// The file.
        path: PathBuf,
        /// The latent size it gives.
        latent_dim: usize,
    },
}

/// Writes `value` to `path` as postcard bytes.
pub(crate) fn save_postcard<T: Serialize>(value: &T, path: &Path) -> Result<(), GraphFileError> {
    let bytes = postcard::to_allocvec(value).map_err(GraphFileError::Encode)?;
    std::fs::write(path, bytes).map_err(|source| GraphFileError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Reads what [`save_postcard`] wrote; `what` names the expected content in the error.
pub(crate) fn load_postcard<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &'static str,
) -> Result<T, GraphFileError> {
    let bytes = std::fs::read(path).map_err(|source| GraphFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    postcard::from_bytes(&bytes).map_err(|source| GraphFileError::Decode {
        path: path.to_owned(),
        what,
        source,
    })
}
