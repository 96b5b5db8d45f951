//! Reading world files: one clear error naming the file, the JSON path and what was expected.

use std::path::Path;

use super::WorldSpec;

/// What went wrong with a world file, coarsely, so callers and tests can match on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpecErrorKind {
    /// The file could not be read.
    Io,
    /// The text is not JSON.
    Syntax,
    /// A field the format does not have (often a typo).
    UnknownField,
    /// A required field is absent.
    MissingField,
    /// A value of the wrong JSON type.
    WrongType,
    /// A value outside its allowed range, or inconsistent with another.
    OutOfRange,
    /// A file written for another version of the format.
    UnsupportedVersion,
    /// A name that refers to nothing, or a name used twice.
    BadReference,
}

/// A world file that cannot be used, with where and why.
#[derive(Clone, Debug, thiserror::Error)]
#[error("{origin}: {location}: {message}")]
pub struct SpecError {
    /// The file (or `<string>` for text given directly).
    pub origin: String,
    /// A JSON path such as `$.bodies[2].shapes[0].shape.radius`, or `line 3, column 7`.
    pub location: String,
    /// What was found and what was expected.
    pub message: String,
    /// The class of the error.
    pub kind: SpecErrorKind,
}

impl SpecError {
    pub(crate) fn new(
        kind: SpecErrorKind,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            origin: "<string>".to_owned(),
            location: location.into(),
            message: message.into(),
            kind,
        }
    }

    fn with_origin(mut self, origin: &str) -> Self {
        origin.clone_into(&mut self.origin);
        self
    }
}

impl WorldSpec {
    /// Reads, parses and validates a world file.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self, SpecError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| {
            SpecError::new(
                SpecErrorKind::Io,
                "file",
                format!("cannot read the world file: {err} (check the path; `kennel worlds list` shows the shipped worlds)"),
            )
            .with_origin(&origin)
        })?;
        Self::from_json_str(&text, &origin)
    }

    /// Parses and validates world-file text; `origin` names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, SpecError> {
        let deserializer = &mut serde_json::Deserializer::from_str(text);
        let spec: WorldSpec = serde_path_to_error::deserialize(deserializer)
            .map_err(|err| parse_error(&err).with_origin(origin))?;
        spec.validate().map_err(|err| err.with_origin(origin))?;
        Ok(spec)
    }

    /// Serialises the spec as pretty JSON (the format `from_json_str` reads).
    pub fn to_json_pretty(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

fn parse_error(err: &serde_path_to_error::Error<serde_json::Error>) -> SpecError {
    let inner = err.inner();
    let path = err.path().to_string();
    let location = if path == "." || path.is_empty() {
        format!("line {}, column {}", inner.line(), inner.column())
    } else {
        format!(
            "$.{path} (line {}, column {})",
            inner.line(),
            inner.column()
        )
    };
    // serde_json appends " at line L column C"; the location already says it.
    let text = inner.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(head, _)| head)
        .to_owned();
    let kind = match inner.classify() {
        serde_json::error::Category::Io => SpecErrorKind::Io,
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
            SpecErrorKind::Syntax
        }
        serde_json::error::Category::Data => {
            if message.starts_with("unknown field") || message.starts_with("unknown variant") {
                SpecErrorKind::UnknownField
            } else if message.starts_with("missing field") {
                SpecErrorKind::MissingField
            } else {
                SpecErrorKind::WrongType
            }
        }
    };
    let message = match kind {
        SpecErrorKind::Syntax => format!("not valid JSON: {message}"),
        SpecErrorKind::UnknownField => {
            format!(
                "{message} (fix the spelling or remove it; `kennel worlds schema` lists every field)"
            )
        }
        _ => message,
    };
    SpecError::new(kind, location, message)
}

/// The JSON Schema of world files, generated from the types.
pub fn world_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(WorldSpec)).unwrap_or_default()
}
