//! World files: the serde types of `worlds/*.json`, their loading and their validation.
//!
//! Conventions for every world file: the world frame is right-handed with **z up** (x right,
//! y forward on the ground plane), lengths are metres, times seconds, angles degrees (fields
//! end in `_deg`), colours linear RGB in `[0, 1]`. Sizes are at most 1000 m and coordinates
//! lie within ±1000 m of the origin (`validate.rs`, `MAX_LENGTH`).

mod body_spec;
mod load;
mod task_spec;
mod validate;
mod variants;
mod world_spec;

pub use self::body_spec::{
    ActuatorSpec, AgentSpec, BodyKind, BodySpec, DoorSpec, MaterialSpec, PlacedShapeSpec,
    ShapeSpec, WallSpec,
};
pub use self::load::{SpecError, SpecErrorKind, world_schema};
pub use self::task_spec::{
    GoalMarkerSpec, GoalSpec, HazardSpec, RandomisationSpec, RegionSpec, TaskSpec,
};
pub use self::variants::{VariantReach, VariantSetSpec, VariantSpec};
pub use self::world_spec::{
    ArenaSpec, CameraSpec, LightSpec, PhysicsSpec, SCHEMA_VERSION, WorldSpec,
};
