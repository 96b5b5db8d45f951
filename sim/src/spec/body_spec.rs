//! Bodies, shapes, materials, walls and the agent.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a body moves.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BodyKind {
    /// Never moves (walls, ground, ramps).
    #[default]
    Static,
    /// Moved by forces and contacts.
    Dynamic,
    /// Moved at its given velocity, pushes dynamic bodies, is never pushed.
    Kinematic,
}

/// A rigid body made of one or more shapes (several make a compound, e.g. a T-shaped block).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BodySpec {
    /// Unique name; randomisation entries and push tasks refer to bodies by it.
    pub name: String,
    /// `static` (default), `dynamic` or `kinematic`.
    #[serde(default)]
    pub kind: BodyKind,
    /// Position of the body's origin in the world.
    #[serde(default)]
    pub position: [f32; 3],
    /// Orientation as `[roll, pitch, yaw]` in degrees, applied as yaw·pitch·roll (z·y·x).
    #[serde(default)]
    pub rotation_deg: [f32; 3],
    /// The shapes, each placed relative to the body's origin (at least one).
    pub shapes: Vec<PlacedShapeSpec>,
    /// Colour and contact properties, shared by all the body's shapes.
    #[serde(default)]
    pub material: MaterialSpec,
    /// Initial linear velocity in m/s (the constant velocity of a kinematic body).
    #[serde(default)]
    pub linear_velocity: [f32; 3],
    /// Initial angular velocity in degrees per second.
    #[serde(default)]
    pub angular_velocity_deg: [f32; 3],
}

/// A shape and where it sits on its body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlacedShapeSpec {
    /// The geometry.
    pub shape: ShapeSpec,
    /// Offset from the body's origin, in the body's frame.
    #[serde(default)]
    pub offset: [f32; 3],
    /// Rotation relative to the body, `[roll, pitch, yaw]` in degrees.
    #[serde(default)]
    pub rotation_deg: [f32; 3],
}

/// Geometry. Cylinders and capsules stand along their local z axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ShapeSpec {
    /// A box with the given half extents (x, y, z).
    Box {
        /// Half sizes in metres, each > 0.
        half_extents: [f32; 3],
    },
    /// A sphere.
    Sphere {
        /// Radius in metres, > 0.
        radius: f32,
    },
    /// An upright cylinder.
    Cylinder {
        /// Radius in metres, > 0.
        radius: f32,
        /// Half of the height in metres, > 0.
        half_height: f32,
    },
    /// An upright capsule (a cylinder with hemispherical caps).
    Capsule {
        /// Radius in metres, > 0.
        radius: f32,
        /// Half of the straight part's height in metres, > 0.
        half_height: f32,
    },
    /// The ground: an infinite half-space below its body's z = 0 (only on static bodies),
    /// drawn as a rectangle of the given half extents.
    Plane {
        /// Half width and depth of the drawn rectangle, each > 0.
        half_extents: [f32; 2],
    },
}

impl ShapeSpec {
    /// The radius of a circle in the ground plane that contains the shape (for clearances).
    pub fn footprint_radius(&self) -> f32 {
        match *self {
            ShapeSpec::Box { half_extents } => half_extents[0].hypot(half_extents[1]),
            ShapeSpec::Sphere { radius }
            | ShapeSpec::Cylinder { radius, .. }
            | ShapeSpec::Capsule { radius, .. } => radius,
            ShapeSpec::Plane { half_extents } => half_extents[0].hypot(half_extents[1]),
        }
    }

    /// Distance from the shape's centre down to its lowest point (so it can rest on z = 0).
    pub fn half_height(&self) -> f32 {
        match *self {
            ShapeSpec::Box { half_extents } => half_extents[2],
            ShapeSpec::Sphere { radius } => radius,
            ShapeSpec::Cylinder { half_height, .. } => half_height,
            ShapeSpec::Capsule {
                radius,
                half_height,
            } => half_height + radius,
            ShapeSpec::Plane { .. } => 0.0,
        }
    }
}

/// Appearance and contact properties.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaterialSpec {
    /// RGB in `[0, 1]` (display values, no gamma) (default mid grey).
    #[serde(default = "default_colour")]
    pub colour: [f32; 3],
    /// Coulomb friction coefficient, ≥ 0 (default 0.5).
    #[serde(default = "default_friction")]
    pub friction: f32,
    /// Restitution (bounciness) in `[0, 1]` (default 0).
    #[serde(default)]
    pub restitution: f32,
    /// Density in kg/m³, > 0 (default 1000, water); masses follow from the shapes' volumes.
    #[serde(default = "default_density")]
    pub density: f32,
}

fn default_colour() -> [f32; 3] {
    [0.6, 0.6, 0.6]
}
fn default_friction() -> f32 {
    0.5
}
fn default_density() -> f32 {
    1000.0
}

impl Default for MaterialSpec {
    fn default() -> Self {
        Self {
            colour: default_colour(),
            friction: default_friction(),
            restitution: 0.0,
            density: default_density(),
        }
    }
}

/// A straight static wall standing on the ground from `from` to `to`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WallSpec {
    /// Unique name (shared with bodies).
    pub name: String,
    /// Start of the wall's centre line on the ground, `[x, y]`.
    pub from: [f32; 2],
    /// End of the wall's centre line on the ground, `[x, y]`.
    pub to: [f32; 2],
    /// Thickness in metres, > 0.
    pub thickness: f32,
    /// Height in metres, > 0.
    pub height: f32,
    /// Appearance and contact properties.
    #[serde(default)]
    pub material: MaterialSpec,
    /// An opening, if any.
    #[serde(default)]
    pub door: Option<DoorSpec>,
}

/// An opening in a wall; its centre is drawn per episode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DoorSpec {
    /// Width of the opening in metres; must be smaller than the wall.
    pub width: f32,
    /// Range of the opening's centre as fractions of the wall's length from `from` (`0..=1`);
    /// the centre is drawn uniformly in it each episode and clamped so the door stays in the wall.
    pub centre: [f32; 2],
}

/// The agent: the one body that the actions drive.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSpec {
    /// Name of the agent body (default `"agent"`).
    #[serde(default = "default_agent_name")]
    pub name: String,
    /// Its geometry (sphere, cylinder, box or capsule); it starts resting on the ground.
    pub shape: ShapeSpec,
    /// Colour and contact properties.
    #[serde(default)]
    pub material: MaterialSpec,
    /// How an action moves it.
    pub actuator: ActuatorSpec,
    /// Lower bounds of the 2-D action (default `[-1, -1]`); actions outside are clipped.
    #[serde(default = "default_action_low")]
    pub action_low: [f32; 2],
    /// Upper bounds of the 2-D action (default `[1, 1]`).
    #[serde(default = "default_action_high")]
    pub action_high: [f32; 2],
    /// Physics steps per env step, the action held throughout (default 5).
    #[serde(default = "default_action_repeat")]
    pub action_repeat: u32,
    /// Keep the agent upright (no tipping or rolling; default true).
    #[serde(default = "default_true")]
    pub lock_rotations: bool,
}

fn default_agent_name() -> String {
    "agent".to_owned()
}
fn default_action_low() -> [f32; 2] {
    [-1.0, -1.0]
}
fn default_action_high() -> [f32; 2] {
    [1.0, 1.0]
}
fn default_action_repeat() -> u32 {
    5
}
fn default_true() -> bool {
    true
}

/// How a 2-D action `a` (within bounds) drives the agent in the ground plane.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ActuatorSpec {
    /// A horizontal force `a · max_force` newtons applied at the centre of mass.
    PlanarForce {
        /// Force at |a| = 1, in newtons, > 0.
        max_force: f32,
    },
    /// The horizontal velocity is set to `a · max_speed` m/s every physics step (vertical
    /// velocity is left to gravity and contacts).
    TargetVelocity {
        /// Speed at |a| = 1, in m/s, > 0.
        max_speed: f32,
    },
}
