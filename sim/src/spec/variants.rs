//! World variants: named changes to a world, for measuring whether what was learned in it
//! transfers. A variant file (`worlds/variants/<world>.json`) names its base world and lists
//! variants, each a JSON Patch (RFC 6902) applied to the base world's JSON; the patched world
//! is validated like any world file.
//!
//! ```json
//! { "base": "two_rooms",
//!   "variants": [
//!     { "name": "narrow_door", "description": "A door 0.2 m wide (trained: 0.26–0.4 m)",
//!       "patch": [{ "op": "replace", "path": "/randomisation/0/range", "value": [0.2, 0.2] }] } ] }
//! ```

use std::path::Path;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::load::{parse, read_file};
use super::{SpecError, SpecErrorKind, WorldSpec};

/// Where a variant lies relative to the family of worlds the agent trains on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum VariantReach {
    /// Inside the training family's ranges (a particular corner of it).
    #[default]
    Within,
    /// Just beyond one of the training family's ranges.
    Beyond,
    /// Far outside anything trained on: only safety is expected to hold there.
    Far,
}

impl VariantReach {
    /// The word used in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            VariantReach::Within => "within",
            VariantReach::Beyond => "beyond",
            VariantReach::Far => "far",
        }
    }
}

/// One variant: a name, what it changes, and the change as a JSON Patch.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantSpec {
    /// Short identifier (letters, digits, `_`, `-`), unique in its file.
    pub name: String,
    /// What it changes, for people (with the trained range where there is one).
    #[serde(default)]
    pub description: String,
    /// Where it lies relative to the training family (default `within`).
    #[serde(default)]
    pub reach: VariantReach,
    /// Kept out of every choice of ranges and settings: a test of what was not tuned on.
    #[serde(default)]
    pub held_out: bool,
    /// RFC 6902 operations on the base world's JSON (`add`, `remove`, `replace`, `move`,
    /// `copy`, `test`), paths as JSON Pointers such as `/walls/4/door/centre`.
    #[schemars(with = "Vec<serde_json::Value>")]
    pub patch: json_patch::Patch,
}

/// A variant file: a base world and its variants.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantSetSpec {
    /// The name of the world the variants change (the `name` in its world file).
    pub base: String,
    /// For people.
    #[serde(default)]
    pub description: String,
    /// The variants, in the order tables list them.
    pub variants: Vec<VariantSpec>,
}

impl VariantSetSpec {
    /// Reads and parses a variant file (the variants are checked against a base world by
    /// [`VariantSetSpec::worlds`]).
    pub fn from_json_file(path: impl AsRef<Path>) -> Result<Self, SpecError> {
        let (text, origin) = read_file(
            path.as_ref(),
            "the variant file",
            "shipped variant files are in worlds/variants/",
        )?;
        Self::from_json_str(&text, &origin)
    }

    /// Parses variant-file text; `origin` names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, SpecError> {
        let set: VariantSetSpec = parse(text, origin)?;
        let mut seen = std::collections::HashSet::new();
        for (i, variant) in set.variants.iter().enumerate() {
            let at = format!("$.variants[{i}].name");
            let plain = !variant.name.is_empty()
                && variant
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !plain {
                return Err(SpecError::new(
                    SpecErrorKind::OutOfRange,
                    at,
                    format!(
                        "a variant name is letters, digits, `_` and `-`, got {:?}",
                        variant.name
                    ),
                )
                .with_origin(origin));
            }
            if !seen.insert(variant.name.as_str()) {
                return Err(SpecError::new(
                    SpecErrorKind::BadReference,
                    at,
                    format!("the variant name `{}` is used twice", variant.name),
                )
                .with_origin(origin));
            }
        }
        if set.variants.is_empty() {
            return Err(SpecError::new(
                SpecErrorKind::OutOfRange,
                "$.variants",
                "a variant file needs at least one variant",
            )
            .with_origin(origin));
        }
        Ok(set)
    }

    /// Applies every variant to `base` (which must be the world named in `base`), validating
    /// each patched world; `origin` names the variant file in errors.
    pub fn worlds(
        &self,
        base: &WorldSpec,
        origin: &str,
    ) -> Result<Vec<(VariantSpec, WorldSpec)>, SpecError> {
        self.check_base(base, origin)?;
        self.variants
            .iter()
            .enumerate()
            .map(|(i, variant)| Ok((variant.clone(), variant.apply(base, i, origin)?)))
            .collect()
    }

    /// [`worlds`](Self::worlds), of the variants called `names` only, in that order (all of
    /// them when `names` is empty); a variant that does not fit `base` stands in the way only
    /// when it is asked for.
    pub fn worlds_named(
        &self,
        base: &WorldSpec,
        origin: &str,
        names: &[String],
    ) -> Result<Vec<(VariantSpec, WorldSpec)>, SpecError> {
        if names.is_empty() {
            return self.worlds(base, origin);
        }
        let mut picked = Self {
            variants: Vec::new(),
            ..self.clone()
        };
        let mut indices = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let found = self.variants.iter().position(|v| &v.name == name);
            let Some(index) = found.filter(|_| !names[..i].contains(name)) else {
                let message = if found.is_some() {
                    format!("the variant `{name}` is asked for twice")
                } else {
                    format!(
                        "no variant `{name}`; the variants: {}",
                        self.variants
                            .iter()
                            .map(|v| v.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                return Err(
                    SpecError::new(SpecErrorKind::BadReference, "$.variants", message)
                        .with_origin(origin),
                );
            };
            picked.variants.push(self.variants[index].clone());
            indices.push(index);
        }
        // Patched with their places in the whole file, so errors give the file's indices.
        self.check_base(base, origin)?;
        picked
            .variants
            .iter()
            .zip(indices)
            .map(|(variant, i)| Ok((variant.clone(), variant.apply(base, i, origin)?)))
            .collect()
    }
}

impl VariantSetSpec {
    /// An error unless `base` is the world these variants change.
    fn check_base(&self, base: &WorldSpec, origin: &str) -> Result<(), SpecError> {
        if base.name == self.base {
            return Ok(());
        }
        Err(SpecError::new(
            SpecErrorKind::BadReference,
            "$.base",
            format!(
                "these variants change the world `{}`, not `{}`; pass --world {} or another variant file",
                self.base, base.name, self.base
            ),
        )
        .with_origin(origin))
    }
}

impl VariantSpec {
    /// The base world with this variant's patch applied, validated. `index` is the variant's
    /// place in its file, for errors.
    pub fn apply(
        &self,
        base: &WorldSpec,
        index: usize,
        origin: &str,
    ) -> Result<WorldSpec, SpecError> {
        // Through text, so that numbers read as the file wrote them (0.32, not the f32's
        // 0.3199999928) and a `test` of a number can match.
        let text = serde_json::to_string(base).map_err(|err| {
            SpecError::new(
                SpecErrorKind::Io,
                "$",
                format!("cannot serialise the base world: {err}"),
            )
            .with_origin(origin)
        })?;
        let mut value: serde_json::Value = serde_json::from_str(&text).map_err(|err| {
            SpecError::new(
                SpecErrorKind::Io,
                "$",
                format!("cannot read the base world back: {err}"),
            )
            .with_origin(origin)
        })?;
        json_patch::patch(&mut value, &self.patch).map_err(|err| {
            let why = match self.patch.0.get(err.operation) {
                Some(json_patch::PatchOperation::Test(test)) => format!(
                    "the world holds something else there than {} (the variant was written for another version of the world: fix its paths)",
                    test.value
                ),
                _ => format!(
                    "{} (paths are JSON Pointers into the world file, e.g. /walls/4/door/centre)",
                    err.kind
                ),
            };
            SpecError::new(
                SpecErrorKind::BadReference,
                format!("$.variants[{index}].patch[{}]", err.operation),
                format!(
                    "variant `{}`: the operation on `{}` cannot be applied to the world `{}`: {why}",
                    self.name, err.path, base.name
                ),
            )
            .with_origin(origin)
        })?;
        let text = value.to_string();
        WorldSpec::from_json_str(&text, &format!("{origin}: variant `{}`", self.name))
    }
}
