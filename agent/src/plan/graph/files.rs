//! The planner's postcard files (landmarks, recorded exploration).

use std::path::Path;

use serde::Serialize;

/// Writes `value` to `path` as postcard bytes.
pub(crate) fn save_postcard<T: Serialize>(value: &T, path: &Path) -> Result<(), String> {
    let bytes = postcard::to_allocvec(value).map_err(|e| e.to_string())?;
    std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads what [`save_postcard`] wrote; `what` names the expected content in the error.
pub(crate) fn load_postcard<T: serde::de::DeserializeOwned>(
    path: &Path,
    what: &str,
) -> Result<T, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    postcard::from_bytes(&bytes).map_err(|e| format!("{}: not {what}: {e}", path.display()))
}
