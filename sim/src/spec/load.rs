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

    pub(crate) fn with_origin(mut self, origin: &str) -> Self {
        origin.clone_into(&mut self.origin);
        self
    }
}

/// A file's text and its name for errors; `what` ("the world file") and `hint` (where to look)
/// go into the error when it cannot be read.
pub(super) fn read_file(
    path: &Path,
    what: &str,
    hint: &str,
) -> Result<(String, String), SpecError> {
    let origin = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok((text, origin)),
        Err(err) => Err(SpecError::new(
            SpecErrorKind::Io,
            "file",
            format!("cannot read {what}: {err} ({hint})"),
        )
        .with_origin(&origin)),
    }
}

/// JSON text as a `T`, every error a [`SpecError`] naming `origin` and the JSON path.
pub(super) fn parse<T: serde::de::DeserializeOwned>(
    text: &str,
    origin: &str,
) -> Result<T, SpecError> {
    let deserializer = &mut serde_json::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer)
        .map_err(|err| parse_error(&err, text).with_origin(origin))
}

impl WorldSpec {
    /// Reads, parses and validates a world file.
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self, SpecError> {
        let (text, origin) = read_file(
            path.as_ref(),
            "the world file",
            "check the path; `kennel worlds list` shows the shipped worlds",
        )?;
        Self::from_json_str(&text, &origin)
    }

    /// Parses and validates world-file text; `origin` names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, SpecError> {
        let spec: WorldSpec = parse(text, origin)?;
        spec.validate().map_err(|err| err.with_origin(origin))?;
        Ok(spec)
    }

    /// Serialises the spec as pretty JSON (the format `from_json_str` reads).
    pub fn to_json_pretty(&self) -> String {
        // Serialising plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}

/// One error of `serde_json` (through `serde_path_to_error`) as a [`SpecError`]; `text` is the
/// whole file, read again only to tell bad JSON from good JSON of the wrong shape.
fn parse_error(err: &serde_path_to_error::Error<serde_json::Error>, text: &str) -> SpecError {
    use serde_json::error::Category;
    let inner = err.inner();
    // serde_json appends " at line L column C"; the location says it.
    let full = inner.to_string();
    let message = full
        .rsplit_once(" at line ")
        .map_or(full.as_str(), |(head, _)| head)
        .to_owned();
    let kind = match inner.classify() {
        Category::Io => SpecErrorKind::Io,
        // serde_json reports some shape errors in valid JSON as syntax errors: an array longer
        // than a fixed-size field ("trailing characters"), a non-string where a name of a kind
        // is expected ("expected value").
        Category::Syntax | Category::Eof
            if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() =>
        {
            SpecErrorKind::Syntax
        }
        Category::Syntax | Category::Eof => SpecErrorKind::WrongType,
        Category::Data => {
            if message.starts_with("unknown field") || message.starts_with("unknown variant") {
                SpecErrorKind::UnknownField
            } else if message.starts_with("missing field") {
                SpecErrorKind::MissingField
            } else {
                SpecErrorKind::WrongType
            }
        }
    };
    let path = json_path(err.path());
    let line_column = format!("line {}, column {}", inner.line(), inner.column());
    // Text that is not JSON may have no path to name; every other error has one, if only the
    // document's (`$`, e.g. a missing top-level field).
    let location = if path == "$" && kind == SpecErrorKind::Syntax {
        line_column
    } else {
        format!("{path} ({line_column})")
    };
    let message = match kind {
        SpecErrorKind::Syntax => format!("not valid JSON: {message}"),
        SpecErrorKind::UnknownField => {
            format!(
                "{message} (fix the spelling or remove it; `kennel worlds schema` lists every field)"
            )
        }
        SpecErrorKind::WrongType if inner.classify() != Category::Data => {
            if message.starts_with("trailing characters") {
                "the array has more elements than this field takes".to_owned()
            } else {
                "a value of the wrong type for this field (`kennel worlds schema` shows what each field takes)".to_owned()
            }
        }
        _ => message,
    };
    SpecError::new(kind, location, message)
}

/// The path as JSONPath: `$`, then `.key` (or `["odd key"]`, JSON-quoted, for keys that are not
/// plain identifiers) and `[index]`; it stops at a step serde cannot name (inside a tagged
/// enum's buffered content), so it names the innermost value known to hold the error.
fn json_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = "$".to_owned();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                let plain =
                    !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if plain {
                    out.push('.');
                    out.push_str(key);
                } else {
                    // Quoting a string as JSON cannot fail.
                    let quoted = serde_json::to_string(key).unwrap_or_default();
                    out.push_str(&format!("[{quoted}]"));
                }
            }
            Segment::Unknown => break,
        }
    }
    out
}

/// The JSON Schema of world files, generated from the types.
pub fn world_schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(WorldSpec)).unwrap_or_default()
}
