//! Tasks (starts, goals, success), randomisation and hazard zones.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What an episode asks of the agent.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TaskSpec {
    /// Env steps before an episode is truncated (default 200).
    #[serde(default = "default_episode_steps")]
    pub episode_steps: u32,
    /// Rectangles the agent's start is drawn from (one is picked uniformly, then a point in it).
    pub start_regions: Vec<RegionSpec>,
    /// The goal and the success predicate.
    pub goal: GoalSpec,
    /// A flat marker drawn on the floor at the goal (a goal pad); none by default.
    #[serde(default)]
    pub goal_marker: Option<GoalMarkerSpec>,
}

fn default_episode_steps() -> u32 {
    200
}

/// An axis-aligned rectangle on the ground.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegionSpec {
    /// Lower corner `[x, y]`.
    pub min: [f32; 2],
    /// Upper corner `[x, y]`; each coordinate greater than `min`'s.
    pub max: [f32; 2],
}

impl RegionSpec {
    /// Whether a disc of `radius` around `p` overlaps the rectangle.
    pub fn overlaps_disc(&self, p: [f32; 2], radius: f32) -> bool {
        let dx = (self.min[0] - p[0]).max(0.0).max(p[0] - self.max[0]);
        let dy = (self.min[1] - p[1]).max(0.0).max(p[1] - self.max[1]);
        dx * dx + dy * dy < radius * radius
    }

    /// Whether `p` lies inside the rectangle (edges included).
    pub fn contains(&self, p: [f32; 2]) -> bool {
        p[0] >= self.min[0] && p[0] <= self.max[0] && p[1] >= self.min[1] && p[1] <= self.max[1]
    }
}

/// The goal of an episode and when it counts as reached.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum GoalSpec {
    /// Bring the agent's centre within `success_radius` of a goal point.
    AgentPosition {
        /// Rectangles the goal point is drawn from.
        regions: Vec<RegionSpec>,
        /// Draw the goal from a region other than the start's (same index = same room);
        /// needs as many goal regions as start regions, at least two.
        #[serde(default)]
        other_region_than_start: bool,
        /// Minimum start-to-goal distance in metres (default 0).
        #[serde(default)]
        min_distance: f32,
        /// Success when the agent's centre is this close to the goal (metres, > 0).
        success_radius: f32,
    },
    /// Bring a dynamic body to a goal position and yaw.
    ObjectPose {
        /// Name of the dynamic body to push.
        object: String,
        /// Rectangles the object's start position is drawn from.
        object_start_regions: Vec<RegionSpec>,
        /// Range of the object's start yaw in degrees.
        object_start_yaw_deg: [f32; 2],
        /// Rectangles the goal position is drawn from.
        regions: Vec<RegionSpec>,
        /// Range of the goal yaw in degrees.
        yaw_deg: [f32; 2],
        /// Success needs the position error below this (metres, > 0).
        success_position_error: f32,
        /// Success needs the yaw error below this (degrees, > 0).
        success_yaw_error_deg: f32,
    },
}

/// A flat disc drawn on the floor at the goal position.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GoalMarkerSpec {
    /// Radius in metres, > 0.
    pub radius: f32,
    /// RGB in `[0, 1]` (display values, no gamma).
    pub colour: [f32; 3],
}

/// Something drawn anew each episode from the episode seed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RandomisationSpec {
    /// Offset a body's start position (a hazard's centre) by a uniform amount per axis.
    Position {
        /// Body name (a body, a wall, the agent or a hazard).
        body: String,
        /// Range of the x offset in metres.
        x: [f32; 2],
        /// Range of the y offset in metres.
        y: [f32; 2],
    },
    /// Add a uniform yaw to a body's start orientation.
    Yaw {
        /// Body name.
        body: String,
        /// Range in degrees.
        range_deg: [f32; 2],
    },
    /// Scale a body uniformly (shapes and offsets; a hazard's half extents about its centre).
    Scale {
        /// Body name (a body, the agent or a hazard).
        body: String,
        /// Range of the factor, each > 0.
        range: [f32; 2],
    },
    /// Shift each colour channel of a body by a uniform amount in `[-jitter, jitter]`.
    Colour {
        /// Body name (a body, a wall, the agent or a hazard).
        body: String,
        /// Largest shift per channel, in `[0, 1]`.
        jitter: f32,
    },
    /// Draw a door's width uniformly in a range (the door's own `width` otherwise).
    DoorWidth {
        /// Name of a wall with a door.
        wall: String,
        /// Range of the width in metres, each > 0 and smaller than the wall.
        range: [f32; 2],
    },
    /// Scale a body's friction and mass (its density) by factors drawn uniformly in ranges:
    /// physics that differs between episodes where the picture does not.
    Material {
        /// Body name (a body, a wall or the agent; hazards have no physics).
        body: String,
        /// Range of the friction factor, each > 0 (default `[1, 1]`: unchanged).
        #[serde(default = "unit_range")]
        friction: [f32; 2],
        /// Range of the mass (density) factor, each > 0 (default `[1, 1]`: unchanged).
        #[serde(default = "unit_range")]
        mass: [f32; 2],
    },
    /// Draw the light's ambient and diffuse intensities uniformly in ranges (`light`'s own
    /// values otherwise).
    Light {
        /// Range of the ambient intensity, within `[0, 1]`.
        ambient: [f32; 2],
        /// Range of the diffuse intensity, within `[0, 1]`.
        diffuse: [f32; 2],
    },
}

impl RandomisationSpec {
    /// The body, wall, agent or hazard the entry acts on (`None` for the light).
    ///
    /// `position`, `scale` and `colour` also apply to hazards: they move the patch's centre,
    /// scale its half extents about the centre and shift its colour.
    pub fn target(&self) -> Option<&str> {
        match self {
            RandomisationSpec::Position { body, .. }
            | RandomisationSpec::Yaw { body, .. }
            | RandomisationSpec::Scale { body, .. }
            | RandomisationSpec::Colour { body, .. }
            | RandomisationSpec::Material { body, .. } => Some(body),
            RandomisationSpec::DoorWidth { wall, .. } => Some(wall),
            RandomisationSpec::Light { .. } => None,
        }
    }
}

fn unit_range() -> [f32; 2] {
    [1.0, 1.0]
}

/// A floor rectangle the agent must not enter; drawn as a coloured patch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HazardSpec {
    /// Unique name.
    pub name: String,
    /// The rectangle on the ground.
    pub region: RegionSpec,
    /// RGB in `[0, 1]` (display values, no gamma) (default a warning red).
    #[serde(default = "default_hazard_colour")]
    pub colour: [f32; 3],
}

fn default_hazard_colour() -> [f32; 3] {
    [0.85, 0.2, 0.15]
}
