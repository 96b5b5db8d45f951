//! The top level of a world file.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{AgentSpec, BodySpec, HazardSpec, RandomisationSpec, TaskSpec, WallSpec};

/// The world-file format version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

/// A whole world: arena, bodies, the agent, cameras, light, task, randomisation and hazards.
///
/// Loaded from `worlds/*.json` with [`WorldSpec::from_json_file`] (which validates it), or built
/// in code and checked with [`WorldSpec::validate`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WorldSpec {
    /// Must equal the version this build reads (currently 1).
    pub schema_version: u32,
    /// Short identifier, e.g. `two_rooms`.
    pub name: String,
    /// One or two sentences for people.
    #[serde(default)]
    pub description: String,
    /// Time step and gravity.
    #[serde(default)]
    pub physics: PhysicsSpec,
    /// The playable area: default cameras frame it, regions must lie inside it.
    pub arena: ArenaSpec,
    /// Static, dynamic and kinematic bodies (the ground plane is one of them).
    #[serde(default)]
    pub bodies: Vec<BodySpec>,
    /// Straight walls on the ground, optionally with a door whose position is randomised.
    #[serde(default)]
    pub walls: Vec<WallSpec>,
    /// The one body the actions drive.
    pub agent: AgentSpec,
    /// Cameras; the first is the learner's. Empty means one top-down camera framing the arena.
    #[serde(default)]
    pub cameras: Vec<CameraSpec>,
    /// The directional light and ambient term of the renderer.
    #[serde(default)]
    pub light: LightSpec,
    /// How starts and goals are drawn, what success means, how long an episode lasts.
    pub task: TaskSpec,
    /// Per-episode randomisation applied from the episode seed.
    #[serde(default)]
    pub randomisation: Vec<RandomisationSpec>,
    /// Floor regions the agent must not enter.
    #[serde(default)]
    pub hazards: Vec<HazardSpec>,
}

/// Integration settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhysicsSpec {
    /// Fixed physics time step in seconds (default `1/60`; allowed `(0, 0.1]`).
    #[serde(default = "default_dt")]
    pub dt: f32,
    /// Gravity in m/s² (default `[0, 0, -9.81]`).
    #[serde(default = "default_gravity")]
    pub gravity: [f32; 3],
}

fn default_dt() -> f32 {
    1.0 / 60.0
}
fn default_gravity() -> [f32; 3] {
    [0.0, 0.0, -9.81]
}

impl Default for PhysicsSpec {
    fn default() -> Self {
        Self {
            dt: default_dt(),
            gravity: default_gravity(),
        }
    }
}

/// The playable rectangle, centred on the origin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArenaSpec {
    /// Half width (x) and half depth (y) in metres; the arena spans `[-hx, hx] × [-hy, hy]`.
    pub half_extents: [f32; 2],
}

/// A pinhole camera.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CameraSpec {
    /// Name used by `--camera` (default `"main"`).
    #[serde(default = "default_camera_name")]
    pub name: String,
    /// Eye position in the world.
    pub position: [f32; 3],
    /// Point the camera looks at.
    pub look_at: [f32; 3],
    /// Which way is up in the image (default `[0, 1, 0]`: +y up, right for top-down views).
    #[serde(default = "default_up")]
    pub up: [f32; 3],
    /// Vertical field of view in degrees (default 60; allowed `(0, 170)`).
    #[serde(default = "default_fov")]
    pub fov_deg: f32,
    /// Image width in pixels (default 64; allowed 1..=1024).
    #[serde(default = "default_resolution")]
    pub width: u32,
    /// Image height in pixels (default 64; allowed 1..=1024).
    #[serde(default = "default_resolution")]
    pub height: u32,
    /// Supersampling factor per axis: 1 (off, default) or 2 (2×2, smoother edges).
    #[serde(default = "default_supersample")]
    pub supersample: u32,
}

fn default_camera_name() -> String {
    "main".to_owned()
}
fn default_up() -> [f32; 3] {
    [0.0, 1.0, 0.0]
}
fn default_fov() -> f32 {
    60.0
}
fn default_resolution() -> u32 {
    64
}
fn default_supersample() -> u32 {
    1
}

impl CameraSpec {
    /// The default camera: straight down on the arena centre, framing the whole arena. Its
    /// narrow field of view (40°) keeps parallax small, so tall things appear where they stand.
    pub fn top_down(arena: &ArenaSpec) -> Self {
        let fov_deg: f32 = 40.0;
        let half_fov = (fov_deg.to_radians() * 0.5).tan();
        // A 6% margin so the outer walls stay inside the frame.
        let half_extent = arena.half_extents[0].max(arena.half_extents[1]) * 1.06;
        Self {
            name: "top".to_owned(),
            position: [0.0, 0.0, half_extent / half_fov],
            look_at: [0.0, 0.0, 0.0],
            up: default_up(),
            fov_deg,
            width: default_resolution(),
            height: default_resolution(),
            supersample: default_supersample(),
        }
    }
}

/// One directional light plus an ambient term (Lambert shading).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LightSpec {
    /// Direction the light travels, in the world (default `[-0.4, -0.3, -1]`, from above).
    #[serde(default = "default_light_direction")]
    pub direction: [f32; 3],
    /// Ambient intensity in `[0, 1]` (default 0.45).
    #[serde(default = "default_ambient")]
    pub ambient: f32,
    /// Diffuse intensity in `[0, 1]` (default 0.6).
    #[serde(default = "default_diffuse")]
    pub diffuse: f32,
    /// Colour of pixels that see no surface (default a light grey-blue).
    #[serde(default = "default_background")]
    pub background: [f32; 3],
}

fn default_light_direction() -> [f32; 3] {
    [-0.4, -0.3, -1.0]
}
fn default_ambient() -> f32 {
    0.45
}
fn default_diffuse() -> f32 {
    0.6
}
fn default_background() -> [f32; 3] {
    [0.78, 0.82, 0.88]
}

impl Default for LightSpec {
    fn default() -> Self {
        Self {
            direction: default_light_direction(),
            ambient: default_ambient(),
            diffuse: default_diffuse(),
            background: default_background(),
        }
    }
}

impl WorldSpec {
    /// The cameras in use: the file's, or the default top-down camera when it lists none.
    pub fn effective_cameras(&self) -> Vec<CameraSpec> {
        if self.cameras.is_empty() {
            vec![CameraSpec::top_down(&self.arena)]
        } else {
            self.cameras.clone()
        }
    }

    /// The learner's camera (the first one).
    pub fn learner_camera(&self) -> CameraSpec {
        self.cameras
            .first()
            .cloned()
            .unwrap_or_else(|| CameraSpec::top_down(&self.arena))
    }

    /// The bounds of the arena as `[min_x, min_y, max_x, max_y]`.
    pub fn arena_bounds(&self) -> [f32; 4] {
        let [hx, hy] = self.arena.half_extents;
        [-hx, -hy, hx, hy]
    }
}
