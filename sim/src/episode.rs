//! What is drawn anew each episode from its seed: door positions and widths, body and hazard
//! variations, the light, start and goal.

use std::collections::BTreeMap;
use std::f32::consts::PI;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::{GoalSpec, RandomisationSpec, RegionSpec, SimError, WorldSpec};

/// How many draws a rejection sampler makes before it reports the task as impossible.
const MAX_TRIES: u32 = 10_000;

/// A position and yaw on the ground plane.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlanarPose {
    /// `[x, y]` in metres.
    pub position: [f32; 2],
    /// Rotation about z in radians.
    pub yaw: f32,
}

/// The state an episode asks for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Goal {
    /// The agent's goal position (reach tasks), or where it rests in the goal image (push).
    pub agent_position: [f32; 2],
    /// The pushed object's goal pose (push tasks only).
    pub object_pose: Option<PlanarPose>,
}

/// Per-body changes drawn by the world's `randomisation` entries.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BodyVariation {
    /// Added to the body's x and y.
    pub offset: [f32; 2],
    /// Added to the body's yaw, radians.
    pub yaw: f32,
    /// Uniform scale of its shapes and their offsets.
    pub scale: f32,
    /// Added to its colour channels (then clamped to `[0, 1]`).
    pub colour_shift: [f32; 3],
    /// Factor of its friction coefficient.
    pub friction_scale: f32,
    /// Factor of its density (and so of its mass).
    pub mass_scale: f32,
}

impl Default for BodyVariation {
    fn default() -> Self {
        Self {
            offset: [0.0; 2],
            yaw: 0.0,
            scale: 1.0,
            colour_shift: [0.0; 3],
            friction_scale: 1.0,
            mass_scale: 1.0,
        }
    }
}

/// A hazard as it lies in one episode.
#[derive(Clone, Debug, PartialEq)]
pub struct EpisodeHazard {
    /// The rectangle on the ground.
    pub region: RegionSpec,
    /// Its colour.
    pub colour: [f32; 3],
}

/// Everything random about one episode, drawn from its seed by [`EpisodeParams::sample`].
#[derive(Clone, Debug, PartialEq)]
pub struct EpisodeParams {
    /// The seed everything here was drawn from.
    pub seed: u64,
    /// For each wall, in file order: its door's centre as a fraction of its length (`None`
    /// for walls without a door).
    pub door_centres: Vec<Option<f32>>,
    /// For each wall, in file order: its door's width in metres (`None` for walls without a
    /// door).
    pub door_widths: Vec<Option<f32>>,
    /// Variations by body name (bodies not listed are unchanged).
    pub variations: BTreeMap<String, BodyVariation>,
    /// The hazards of this episode, in file order: the file's regions moved and scaled by
    /// their variations.
    pub hazards: Vec<EpisodeHazard>,
    /// The light's ambient and diffuse intensities this episode.
    pub light: [f32; 2],
    /// Where the agent starts, `[x, y]`.
    pub agent_start: [f32; 2],
    /// Where the pushed object starts (push tasks only).
    pub object_start: Option<PlanarPose>,
    /// The goal.
    pub goal: Goal,
}

/// A uniform draw in `range`; a range pinned to one value still takes a draw, so pinning one
/// entry (as a variant does) leaves every later draw as it was.
fn uniform(rng: &mut ChaCha8Rng, range: [f32; 2]) -> f32 {
    let unit: f32 = rng.random_range(0.0..1.0);
    if range[0] < range[1] {
        (range[0] + unit * (range[1] - range[0])).min(range[1])
    } else {
        range[0]
    }
}

fn point_in(rng: &mut ChaCha8Rng, region: &RegionSpec, margin: f32) -> [f32; 2] {
    // Keep a footprint of `margin` inside the region when the region is wide enough.
    let axis = |rng: &mut ChaCha8Rng, lo: f32, hi: f32| {
        if hi - lo > 2.0 * margin {
            uniform(rng, [lo + margin, hi - margin])
        } else {
            0.5 * (lo + hi)
        }
    };
    [
        axis(rng, region.min[0], region.max[0]),
        axis(rng, region.min[1], region.max[1]),
    ]
}

fn distance(a: [f32; 2], b: [f32; 2]) -> f32 {
    (a[0] - b[0]).hypot(a[1] - b[1])
}

impl EpisodeParams {
    /// Draws an episode of `spec` from `seed`.
    ///
    /// The order of draws is fixed (doors, then randomisation entries, on one stream of the
    /// seed; object start, agent start and goal on another), so the same seed always gives the
    /// same episode, and a variant that changes the world's appearance or layout keeps its
    /// starts and goals (unless its hazards now cover them).
    pub fn sample(spec: &WorldSpec, seed: u64) -> Result<Self, SimError> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let door_centres = spec
            .walls
            .iter()
            .map(|wall| {
                wall.door
                    .as_ref()
                    .map(|door| uniform(&mut rng, door.centre))
            })
            .collect();

        let mut door_widths: Vec<Option<f32>> = spec
            .walls
            .iter()
            .map(|wall| wall.door.as_ref().map(|door| door.width))
            .collect();
        let mut light = [spec.light.ambient, spec.light.diffuse];
        let mut variations: BTreeMap<String, BodyVariation> = BTreeMap::new();
        let mut unused = BodyVariation::default();
        for entry in &spec.randomisation {
            let variation = match entry.target() {
                Some(target) => variations.entry(target.to_owned()).or_default(),
                None => &mut unused,
            };
            match entry {
                RandomisationSpec::Position { x, y, .. } => {
                    variation.offset = [uniform(&mut rng, *x), uniform(&mut rng, *y)];
                }
                RandomisationSpec::Yaw { range_deg, .. } => {
                    variation.yaw = uniform(&mut rng, *range_deg).to_radians();
                }
                RandomisationSpec::Scale { range, .. } => {
                    variation.scale = uniform(&mut rng, *range);
                }
                RandomisationSpec::Colour { jitter, .. } => {
                    let j = *jitter;
                    variation.colour_shift = [
                        uniform(&mut rng, [-j, j]),
                        uniform(&mut rng, [-j, j]),
                        uniform(&mut rng, [-j, j]),
                    ];
                }
                RandomisationSpec::DoorWidth { wall, range } => {
                    let width = uniform(&mut rng, *range);
                    if let Some(i) = spec.walls.iter().position(|w| &w.name == wall) {
                        door_widths[i] = Some(width);
                    }
                }
                RandomisationSpec::Material { friction, mass, .. } => {
                    variation.friction_scale = uniform(&mut rng, *friction);
                    variation.mass_scale = uniform(&mut rng, *mass);
                }
                RandomisationSpec::Light { ambient, diffuse } => {
                    light = [uniform(&mut rng, *ambient), uniform(&mut rng, *diffuse)];
                }
            }
        }
        let hazards: Vec<EpisodeHazard> = spec
            .hazards
            .iter()
            .map(|hazard| {
                let v = variations.get(&hazard.name).copied().unwrap_or_default();
                let r = hazard.region;
                let centre = [
                    0.5 * (r.min[0] + r.max[0]) + v.offset[0],
                    0.5 * (r.min[1] + r.max[1]) + v.offset[1],
                ];
                let half = [
                    0.5 * (r.max[0] - r.min[0]) * v.scale,
                    0.5 * (r.max[1] - r.min[1]) * v.scale,
                ];
                EpisodeHazard {
                    region: RegionSpec {
                        min: [centre[0] - half[0], centre[1] - half[1]],
                        max: [centre[0] + half[0], centre[1] + half[1]],
                    },
                    colour: shifted_colour(hazard.colour, v.colour_shift),
                }
            })
            .collect();

        // Starts and goals on their own stream: the same whatever the randomisation draws.
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(1);
        let sampler = Sampler {
            world: &spec.name,
            hazards: &hazards,
        };
        let agent_radius = spec.agent.shape.footprint_radius();
        let task = &spec.task;
        let (agent_start, object_start, goal) = match &task.goal {
            GoalSpec::AgentPosition {
                regions,
                other_region_than_start,
                min_distance,
                ..
            } => {
                let (start, start_region) = sampler.draw(
                    &mut rng,
                    &task.start_regions,
                    agent_radius,
                    "an agent start outside every hazard",
                    |_, _| true,
                )?;
                let (goal, _) = sampler.draw(
                    &mut rng,
                    regions,
                    agent_radius,
                    "a goal outside every hazard, far enough from the start",
                    |p, region| {
                        (!*other_region_than_start || region != start_region)
                            && distance(p, start) >= *min_distance
                    },
                )?;
                let goal = Goal {
                    agent_position: goal,
                    object_pose: None,
                };
                (start, None, goal)
            }
            GoalSpec::ObjectPose {
                object,
                object_start_regions,
                object_start_yaw_deg,
                regions,
                yaw_deg,
                success_position_error,
                ..
            } => {
                let scale = variations.get(object).map_or(1.0, |v| v.scale);
                let object_radius = object_footprint_radius(spec, object, scale);
                let (object_position, _) = sampler.draw(
                    &mut rng,
                    object_start_regions,
                    object_radius,
                    "an object start outside every hazard",
                    |_, _| true,
                )?;
                let object_start = PlanarPose {
                    position: object_position,
                    yaw: uniform(&mut rng, *object_start_yaw_deg).to_radians(),
                };
                let clear = agent_radius + object_radius;
                let (start, _) = sampler.draw(
                    &mut rng,
                    &task.start_regions,
                    agent_radius,
                    "an agent start clear of the object and of hazards",
                    |p, _| distance(p, object_position) > clear,
                )?;
                // Farther than the success tolerance, so no episode starts solved.
                let (goal_position, _) = sampler.draw(
                    &mut rng,
                    regions,
                    object_radius,
                    "an object goal outside every hazard, away from the object's start",
                    |p, _| distance(p, object_position) > *success_position_error,
                )?;
                let object_goal = PlanarPose {
                    position: goal_position,
                    yaw: uniform(&mut rng, *yaw_deg).to_radians(),
                };
                let (agent_goal, _) = sampler.draw(
                    &mut rng,
                    &task.start_regions,
                    agent_radius,
                    "an agent position for the goal image clear of the object's goal",
                    |p, _| distance(p, goal_position) > clear,
                )?;
                let goal = Goal {
                    agent_position: agent_goal,
                    object_pose: Some(object_goal),
                };
                (start, Some(object_start), goal)
            }
        };
        Ok(Self {
            seed,
            door_centres,
            door_widths,
            variations,
            hazards,
            light,
            agent_start,
            object_start,
            goal,
        })
    }

    /// The variation of a body (identity when it has none).
    pub fn variation(&self, body: &str) -> BodyVariation {
        self.variations.get(body).copied().unwrap_or_default()
    }
}

/// The radius of the disc around a body's origin that holds its footprint (metres), at
/// `scale`; 0 for a body the spec does not have.
pub(crate) fn object_footprint_radius(spec: &WorldSpec, object: &str, scale: f32) -> f32 {
    spec.bodies
        .iter()
        .find(|b| b.name == object)
        .map_or(0.0, |b| {
            scale
                * b.shapes
                    .iter()
                    .map(|s| s.offset[0].hypot(s.offset[1]) + s.shape.footprint_radius())
                    .fold(0.0, f32::max)
        })
}

/// A colour with a shift added to each channel, clamped to `[0, 1]`.
pub(crate) fn shifted_colour(colour: [f32; 3], shift: [f32; 3]) -> [f32; 3] {
    [
        (colour[0] + shift[0]).clamp(0.0, 1.0),
        (colour[1] + shift[1]).clamp(0.0, 1.0),
        (colour[2] + shift[2]).clamp(0.0, 1.0),
    ]
}

/// Rejection sampling of points in regions, away from this episode's hazards.
struct Sampler<'a> {
    world: &'a str,
    hazards: &'a [EpisodeHazard],
}

impl Sampler<'_> {
    fn draw(
        &self,
        rng: &mut ChaCha8Rng,
        regions: &[RegionSpec],
        radius: f32,
        what: &'static str,
        accept: impl Fn([f32; 2], usize) -> bool,
    ) -> Result<([f32; 2], usize), SimError> {
        for _ in 0..MAX_TRIES {
            let index = rng.random_range(0..regions.len());
            let p = point_in(rng, &regions[index], radius);
            let in_hazard = self
                .hazards
                .iter()
                .any(|h| h.region.overlaps_disc(p, radius));
            if !in_hazard && accept(p, index) {
                return Ok((p, index));
            }
        }
        Err(SimError::Sampling {
            world: self.world.to_owned(),
            what,
            tries: MAX_TRIES,
        })
    }
}

/// Wraps an angle to `(-π, π]`.
pub fn wrap_angle(angle: f32) -> f32 {
    let mut a = angle % (2.0 * PI);
    if a > PI {
        a -= 2.0 * PI;
    } else if a <= -PI {
        a += 2.0 * PI;
    }
    a
}
