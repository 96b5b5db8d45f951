//! Checks that a parsed world is usable: ranges, consistency and names.

use std::collections::HashSet;

use rapier3d::glamx::Vec3;

use super::{
    ActuatorSpec, BodyKind, CameraSpec, GoalSpec, MaterialSpec, RandomisationSpec, RegionSpec,
    SCHEMA_VERSION, ShapeSpec, SpecError, SpecErrorKind, WorldSpec,
};

/// Largest image side the renderer accepts, in pixels.
pub const MAX_RESOLUTION: u32 = 1024;

/// Largest size, and largest distance from the origin, in metres, that a world may use. Far
/// beyond any arena (and the renderer's 500 m far plane), so it only stops the absurd: Rapier's
/// contact queries panic on shapes ~1e19 m across, and f32 positions 1 km out still resolve
/// 0.1 mm.
pub const MAX_LENGTH: f32 = 1000.0;

/// Largest factor a `scale` randomisation entry may draw.
pub const MAX_SCALE: f32 = 100.0;

fn out_of_range(path: impl Into<String>, message: impl Into<String>) -> SpecError {
    SpecError::new(SpecErrorKind::OutOfRange, path, message)
}

fn positive(path: &str, value: f32, what: &str) -> Result<(), SpecError> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(out_of_range(
            path,
            format!("{what} must be a positive number, got {value}"),
        ))
    }
}

/// A length in metres: positive and at most [`MAX_LENGTH`].
fn metres(path: &str, value: f32, what: &str) -> Result<(), SpecError> {
    if value.is_finite() && value > 0.0 && value <= MAX_LENGTH {
        Ok(())
    } else {
        Err(out_of_range(
            path,
            format!("{what} must be a positive length of at most {MAX_LENGTH} m, got {value}"),
        ))
    }
}

/// Coordinates in metres: finite and within [`MAX_LENGTH`] of the origin on each axis.
fn coordinates(path: &str, values: &[f32]) -> Result<(), SpecError> {
    finite(path, values)?;
    match values.iter().find(|v| v.abs() > MAX_LENGTH) {
        Some(v) => Err(out_of_range(
            path,
            format!("coordinates must lie within ±{MAX_LENGTH} m of the origin, got {v}"),
        )),
        None => Ok(()),
    }
}

fn finite(path: &str, values: &[f32]) -> Result<(), SpecError> {
    match values.iter().find(|v| !v.is_finite()) {
        Some(v) => Err(out_of_range(
            path,
            format!("expected finite numbers, got {v}"),
        )),
        None => Ok(()),
    }
}

fn in_unit_interval(path: &str, values: &[f32], what: &str) -> Result<(), SpecError> {
    match values.iter().find(|v| !(0.0..=1.0).contains(*v)) {
        Some(v) => Err(out_of_range(
            path,
            format!("{what} must lie in [0, 1], got {v}"),
        )),
        None => Ok(()),
    }
}

/// A range of factors (`what`: "scale", "mass factor", …): ordered, positive, at most
/// [`MAX_SCALE`].
fn factor_range(path: &str, range: [f32; 2], what: &str) -> Result<(), SpecError> {
    ordered_range(path, range, &format!("the {what} range"))?;
    positive(
        &format!("{path}[0]"),
        range[0],
        &format!("the smallest {what}"),
    )?;
    if range[1] > MAX_SCALE {
        return Err(out_of_range(
            format!("{path}[1]"),
            format!(
                "the largest {what} must be at most {MAX_SCALE}, got {}",
                range[1]
            ),
        ));
    }
    Ok(())
}

fn ordered_range(path: &str, range: [f32; 2], what: &str) -> Result<(), SpecError> {
    finite(path, &range)?;
    if range[0] <= range[1] {
        Ok(())
    } else {
        Err(out_of_range(
            path,
            format!("{what} must be [low, high] with low <= high, got {range:?}"),
        ))
    }
}

impl WorldSpec {
    /// Checks ranges, cross-references and geometry; the first problem is returned.
    pub fn validate(&self) -> Result<(), SpecError> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(SpecError::new(
                SpecErrorKind::UnsupportedVersion,
                "$.schema_version",
                format!(
                    "this build reads schema_version {SCHEMA_VERSION}, the file says {}",
                    self.schema_version
                ),
            ));
        }
        let dt = self.physics.dt;
        if !(dt.is_finite() && dt > 0.0 && dt <= 0.1) {
            return Err(out_of_range(
                "$.physics.dt",
                format!("the time step must be in (0, 0.1] seconds, got {dt}"),
            ));
        }
        finite("$.physics.gravity", &self.physics.gravity)?;
        let [hx, hy] = self.arena.half_extents;
        metres("$.arena.half_extents[0]", hx, "the arena half width")?;
        metres("$.arena.half_extents[1]", hy, "the arena half depth")?;

        let mut names = HashSet::new();
        let mut claim = |path: String, name: &str| {
            if names.insert(name.to_owned()) {
                Ok(())
            } else {
                Err(SpecError::new(
                    SpecErrorKind::BadReference,
                    path,
                    format!("the name `{name}` is used twice; names must be unique"),
                ))
            }
        };
        claim("$.agent.name".to_owned(), &self.agent.name)?;
        for (i, body) in self.bodies.iter().enumerate() {
            let at = format!("$.bodies[{i}]");
            claim(format!("{at}.name"), &body.name)?;
            coordinates(&format!("{at}.position"), &body.position)?;
            finite(&format!("{at}.rotation_deg"), &body.rotation_deg)?;
            finite(&format!("{at}.linear_velocity"), &body.linear_velocity)?;
            finite(
                &format!("{at}.angular_velocity_deg"),
                &body.angular_velocity_deg,
            )?;
            if body.shapes.is_empty() {
                return Err(out_of_range(
                    format!("{at}.shapes"),
                    "a body needs at least one shape",
                ));
            }
            for (j, placed) in body.shapes.iter().enumerate() {
                let at = format!("{at}.shapes[{j}]");
                coordinates(&format!("{at}.offset"), &placed.offset)?;
                finite(&format!("{at}.rotation_deg"), &placed.rotation_deg)?;
                validate_shape(&format!("{at}.shape"), &placed.shape)?;
                if matches!(placed.shape, ShapeSpec::Plane { .. }) && body.kind != BodyKind::Static
                {
                    return Err(out_of_range(
                        format!("{at}.shape"),
                        "a plane (the ground) can only belong to a static body",
                    ));
                }
            }
            validate_material(&format!("{at}.material"), &body.material)?;
        }
        for (i, wall) in self.walls.iter().enumerate() {
            let at = format!("$.walls[{i}]");
            claim(format!("{at}.name"), &wall.name)?;
            coordinates(&format!("{at}.from"), &wall.from)?;
            coordinates(&format!("{at}.to"), &wall.to)?;
            metres(&format!("{at}.thickness"), wall.thickness, "the thickness")?;
            metres(&format!("{at}.height"), wall.height, "the height")?;
            validate_material(&format!("{at}.material"), &wall.material)?;
            let length = (wall.to[0] - wall.from[0]).hypot(wall.to[1] - wall.from[1]);
            positive(&format!("{at}.to"), length, "the wall's length (from → to)")?;
            if let Some(door) = &wall.door {
                metres(&format!("{at}.door.width"), door.width, "the door width")?;
                if door.width >= length {
                    return Err(out_of_range(
                        format!("{at}.door.width"),
                        format!(
                            "the door ({} m) must be narrower than its wall ({length} m)",
                            door.width
                        ),
                    ));
                }
                ordered_range(&format!("{at}.door.centre"), door.centre, "the door centre")?;
                in_unit_interval(
                    &format!("{at}.door.centre"),
                    &door.centre,
                    "the door centre (a fraction of the wall's length)",
                )?;
            }
        }

        let agent = &self.agent;
        validate_shape("$.agent.shape", &agent.shape)?;
        if matches!(agent.shape, ShapeSpec::Plane { .. }) {
            return Err(out_of_range(
                "$.agent.shape",
                "the agent cannot be a plane; use a sphere, cylinder, box or capsule",
            ));
        }
        validate_material("$.agent.material", &agent.material)?;
        match agent.actuator {
            ActuatorSpec::PlanarForce { max_force } => {
                positive("$.agent.actuator.max_force", max_force, "max_force")?;
            }
            ActuatorSpec::TargetVelocity { max_speed } => {
                positive("$.agent.actuator.max_speed", max_speed, "max_speed")?;
            }
        }
        finite("$.agent.action_low", &agent.action_low)?;
        finite("$.agent.action_high", &agent.action_high)?;
        for axis in 0..2 {
            if agent.action_low[axis] >= agent.action_high[axis] {
                return Err(out_of_range(
                    "$.agent.action_high",
                    format!(
                        "each action bound must satisfy low < high, got low {:?} and high {:?}",
                        agent.action_low, agent.action_high
                    ),
                ));
            }
        }
        if agent.action_repeat == 0 || agent.action_repeat > 100 {
            return Err(out_of_range(
                "$.agent.action_repeat",
                format!(
                    "action_repeat must be in 1..=100 physics steps, got {}",
                    agent.action_repeat
                ),
            ));
        }

        for (i, camera) in self.cameras.iter().enumerate() {
            self.validate_camera(&format!("$.cameras[{i}]"), camera)?;
        }
        let light = &self.light;
        finite("$.light.direction", &light.direction)?;
        if Vec3::from(light.direction).length() < 1e-6 {
            return Err(out_of_range(
                "$.light.direction",
                "the light direction must not be zero",
            ));
        }
        in_unit_interval("$.light.ambient", &[light.ambient], "ambient")?;
        in_unit_interval("$.light.diffuse", &[light.diffuse], "diffuse")?;
        in_unit_interval("$.light.background", &light.background, "colour channels")?;

        for (i, hazard) in self.hazards.iter().enumerate() {
            let at = format!("$.hazards[{i}]");
            claim(format!("{at}.name"), &hazard.name)?;
            self.validate_region(&format!("{at}.region"), &hazard.region)?;
            in_unit_interval(&format!("{at}.colour"), &hazard.colour, "colour channels")?;
        }
        self.validate_task()?;

        for (i, entry) in self.randomisation.iter().enumerate() {
            let at = format!("$.randomisation[{i}]");
            if let Some(target) = entry.target()
                && !names.contains(target)
            {
                let field = match entry {
                    RandomisationSpec::DoorWidth { .. } => "wall",
                    _ => "body",
                };
                return Err(SpecError::new(
                    SpecErrorKind::BadReference,
                    format!("{at}.{field}"),
                    format!("no body, wall, agent or hazard is named `{target}`"),
                ));
            }
            let hazard = entry
                .target()
                .is_some_and(|t| self.hazards.iter().any(|h| h.name == t));
            match entry {
                RandomisationSpec::Position { x, y, .. } => {
                    ordered_range(&format!("{at}.x"), *x, "the x range")?;
                    ordered_range(&format!("{at}.y"), *y, "the y range")?;
                    coordinates(&format!("{at}.x"), x)?;
                    coordinates(&format!("{at}.y"), y)?;
                }
                RandomisationSpec::Yaw { range_deg, body } => {
                    if hazard {
                        return Err(out_of_range(
                            format!("{at}.body"),
                            format!(
                                "`{body}` is a hazard, an axis-aligned rectangle: it can be moved (position), resized (scale) and recoloured (colour), not turned"
                            ),
                        ));
                    }
                    ordered_range(&format!("{at}.range_deg"), *range_deg, "the yaw range")?;
                }
                RandomisationSpec::Scale { range, .. } => {
                    factor_range(&format!("{at}.range"), *range, "scale")?;
                }
                RandomisationSpec::Colour { jitter, .. } => {
                    in_unit_interval(&format!("{at}.jitter"), &[*jitter], "the colour jitter")?;
                }
                RandomisationSpec::DoorWidth { wall, range } => {
                    let Some(spec) = self.walls.iter().find(|w| &w.name == wall) else {
                        return Err(SpecError::new(
                            SpecErrorKind::BadReference,
                            format!("{at}.wall"),
                            format!("`{wall}` is not a wall"),
                        ));
                    };
                    if spec.door.is_none() {
                        return Err(SpecError::new(
                            SpecErrorKind::BadReference,
                            format!("{at}.wall"),
                            format!("the wall `{wall}` has no door to resize; give it a `door`"),
                        ));
                    }
                    ordered_range(&format!("{at}.range"), *range, "the width range")?;
                    metres(&format!("{at}.range[0]"), range[0], "the narrowest door")?;
                    let length = (spec.to[0] - spec.from[0]).hypot(spec.to[1] - spec.from[1]);
                    if range[1] >= length {
                        return Err(out_of_range(
                            format!("{at}.range[1]"),
                            format!(
                                "the widest door must be narrower than its wall ({length} m), got {}",
                                range[1]
                            ),
                        ));
                    }
                }
                RandomisationSpec::Material {
                    body,
                    friction,
                    mass,
                } => {
                    if hazard {
                        return Err(out_of_range(
                            format!("{at}.body"),
                            format!(
                                "`{body}` is a hazard, a patch on the floor without physics: give the friction and mass to a body, a wall or the agent"
                            ),
                        ));
                    }
                    factor_range(&format!("{at}.friction"), *friction, "friction factor")?;
                    factor_range(&format!("{at}.mass"), *mass, "mass factor")?;
                }
                RandomisationSpec::Light { ambient, diffuse } => {
                    ordered_range(&format!("{at}.ambient"), *ambient, "the ambient range")?;
                    ordered_range(&format!("{at}.diffuse"), *diffuse, "the diffuse range")?;
                    in_unit_interval(&format!("{at}.ambient"), ambient, "ambient")?;
                    in_unit_interval(&format!("{at}.diffuse"), diffuse, "diffuse")?;
                }
            }
        }
        self.validate_hazard_ranges()
    }

    /// Every hazard stays inside the arena however its `position` and `scale` entries draw.
    fn validate_hazard_ranges(&self) -> Result<(), SpecError> {
        for hazard in &self.hazards {
            let (mut offset, mut scale, mut at) = ([[0.0f32; 2]; 2], 1.0f32, None);
            for (i, entry) in self.randomisation.iter().enumerate() {
                match entry {
                    RandomisationSpec::Position { body, x, y } if *body == hazard.name => {
                        offset = [*x, *y];
                        at = Some(i);
                    }
                    RandomisationSpec::Scale { body, range } if *body == hazard.name => {
                        scale = range[1];
                        at = Some(i);
                    }
                    _ => {}
                }
            }
            let Some(i) = at else { continue };
            let r = hazard.region;
            let centre = [0.5 * (r.min[0] + r.max[0]), 0.5 * (r.min[1] + r.max[1])];
            let half = [
                0.5 * (r.max[0] - r.min[0]) * scale,
                0.5 * (r.max[1] - r.min[1]) * scale,
            ];
            let widest = RegionSpec {
                min: [
                    centre[0] + offset[0][0] - half[0],
                    centre[1] + offset[1][0] - half[1],
                ],
                max: [
                    centre[0] + offset[0][1] + half[0],
                    centre[1] + offset[1][1] + half[1],
                ],
            };
            let [min_x, min_y, max_x, max_y] = self.arena_bounds();
            if widest.min[0] < min_x
                || widest.min[1] < min_y
                || widest.max[0] > max_x
                || widest.max[1] > max_y
            {
                return Err(out_of_range(
                    format!("$.randomisation[{i}]"),
                    format!(
                        "the hazard `{}` can reach {:?}..{:?} when moved and scaled, which leaves the arena [{min_x}, {max_x}] × [{min_y}, {max_y}]; narrow its position or scale ranges",
                        hazard.name, widest.min, widest.max
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_region(&self, path: &str, region: &RegionSpec) -> Result<(), SpecError> {
        finite(&format!("{path}.min"), &region.min)?;
        finite(&format!("{path}.max"), &region.max)?;
        if region.min[0] >= region.max[0] || region.min[1] >= region.max[1] {
            return Err(out_of_range(
                format!("{path}.max"),
                format!(
                    "a region needs min < max on both axes, got min {:?} and max {:?}",
                    region.min, region.max
                ),
            ));
        }
        let [min_x, min_y, max_x, max_y] = self.arena_bounds();
        if region.min[0] < min_x
            || region.min[1] < min_y
            || region.max[0] > max_x
            || region.max[1] > max_y
        {
            return Err(out_of_range(
                path,
                format!(
                    "the region {:?}..{:?} leaves the arena [{min_x}, {max_x}] × [{min_y}, {max_y}]",
                    region.min, region.max
                ),
            ));
        }
        Ok(())
    }

    fn validate_regions(&self, path: &str, regions: &[RegionSpec]) -> Result<(), SpecError> {
        if regions.is_empty() {
            return Err(out_of_range(path, "at least one region is needed"));
        }
        for (i, region) in regions.iter().enumerate() {
            self.validate_region(&format!("{path}[{i}]"), region)?;
        }
        Ok(())
    }

    fn validate_task(&self) -> Result<(), SpecError> {
        let task = &self.task;
        if task.episode_steps == 0 {
            return Err(out_of_range(
                "$.task.episode_steps",
                "an episode needs at least one step",
            ));
        }
        self.validate_regions("$.task.start_regions", &task.start_regions)?;
        match &task.goal {
            GoalSpec::AgentPosition {
                regions,
                other_region_than_start,
                min_distance,
                success_radius,
            } => {
                self.validate_regions("$.task.goal.regions", regions)?;
                if *other_region_than_start
                    && (regions.len() != task.start_regions.len() || regions.len() < 2)
                {
                    return Err(out_of_range(
                        "$.task.goal.other_region_than_start",
                        format!(
                            "needs as many goal regions as start regions, at least two (got {} and {})",
                            regions.len(),
                            task.start_regions.len()
                        ),
                    ));
                }
                if !(min_distance.is_finite() && *min_distance >= 0.0) {
                    return Err(out_of_range(
                        "$.task.goal.min_distance",
                        format!("must be a number >= 0, got {min_distance}"),
                    ));
                }
                positive(
                    "$.task.goal.success_radius",
                    *success_radius,
                    "the success radius",
                )?;
            }
            GoalSpec::ObjectPose {
                object,
                object_start_regions,
                object_start_yaw_deg,
                regions,
                yaw_deg,
                success_position_error,
                success_yaw_error_deg,
            } => {
                match self.bodies.iter().find(|b| &b.name == object) {
                    Some(body) if body.kind == BodyKind::Dynamic => {}
                    Some(_) => {
                        return Err(SpecError::new(
                            SpecErrorKind::BadReference,
                            "$.task.goal.object",
                            format!("`{object}` must be a dynamic body to be pushed"),
                        ));
                    }
                    None => {
                        return Err(SpecError::new(
                            SpecErrorKind::BadReference,
                            "$.task.goal.object",
                            format!("no body is named `{object}`"),
                        ));
                    }
                }
                self.validate_regions("$.task.goal.object_start_regions", object_start_regions)?;
                ordered_range(
                    "$.task.goal.object_start_yaw_deg",
                    *object_start_yaw_deg,
                    "the start yaw range",
                )?;
                self.validate_regions("$.task.goal.regions", regions)?;
                ordered_range("$.task.goal.yaw_deg", *yaw_deg, "the goal yaw range")?;
                positive(
                    "$.task.goal.success_position_error",
                    *success_position_error,
                    "the position tolerance",
                )?;
                positive(
                    "$.task.goal.success_yaw_error_deg",
                    *success_yaw_error_deg,
                    "the yaw tolerance",
                )?;
            }
        }
        if let Some(marker) = &task.goal_marker {
            positive(
                "$.task.goal_marker.radius",
                marker.radius,
                "the marker radius",
            )?;
            in_unit_interval(
                "$.task.goal_marker.colour",
                &marker.colour,
                "colour channels",
            )?;
        }
        Ok(())
    }

    fn validate_camera(&self, path: &str, camera: &CameraSpec) -> Result<(), SpecError> {
        coordinates(&format!("{path}.position"), &camera.position)?;
        coordinates(&format!("{path}.look_at"), &camera.look_at)?;
        finite(&format!("{path}.up"), &camera.up)?;
        for (field, value) in [("width", camera.width), ("height", camera.height)] {
            if value == 0 || value > MAX_RESOLUTION {
                return Err(out_of_range(
                    format!("{path}.{field}"),
                    format!("the resolution must be in 1..={MAX_RESOLUTION} pixels, got {value}"),
                ));
            }
        }
        if !(camera.fov_deg.is_finite() && camera.fov_deg > 0.0 && camera.fov_deg < 170.0) {
            return Err(out_of_range(
                format!("{path}.fov_deg"),
                format!(
                    "the field of view must be in (0, 170) degrees, got {}",
                    camera.fov_deg
                ),
            ));
        }
        if !matches!(camera.supersample, 1 | 2) {
            return Err(out_of_range(
                format!("{path}.supersample"),
                format!("supersample must be 1 or 2, got {}", camera.supersample),
            ));
        }
        let forward = Vec3::from(camera.look_at) - Vec3::from(camera.position);
        if forward.length() < 1e-6 {
            return Err(out_of_range(
                format!("{path}.look_at"),
                "the camera looks at nothing: look_at equals position",
            ));
        }
        let up = Vec3::from(camera.up);
        if up.length() < 1e-6 || forward.normalize().cross(up.normalize()).length() < 1e-4 {
            return Err(out_of_range(
                format!("{path}.up"),
                "`up` must be non-zero and not parallel to the viewing direction",
            ));
        }
        if !crate::render::Camera::from_spec(camera).sees_any(&self.arena_probe_points()) {
            return Err(out_of_range(
                path,
                "the camera looks at nothing: no part of the arena is in its field of view",
            ));
        }
        Ok(())
    }

    /// Points on the arena floor used to check that a camera sees some of it.
    fn arena_probe_points(&self) -> Vec<Vec3> {
        let [hx, hy] = self.arena.half_extents;
        let mut points = Vec::with_capacity(25);
        for i in 0..5 {
            for j in 0..5 {
                let fx = i as f32 / 4.0 * 2.0 - 1.0;
                let fy = j as f32 / 4.0 * 2.0 - 1.0;
                points.push(Vec3::new(fx * hx, fy * hy, 0.0));
            }
        }
        points
    }
}

fn validate_shape(path: &str, shape: &ShapeSpec) -> Result<(), SpecError> {
    match *shape {
        ShapeSpec::Box { half_extents } => {
            for (i, h) in half_extents.iter().enumerate() {
                metres(&format!("{path}.half_extents[{i}]"), *h, "a half extent")?;
            }
        }
        ShapeSpec::Sphere { radius } => metres(&format!("{path}.radius"), radius, "the radius")?,
        ShapeSpec::Cylinder {
            radius,
            half_height,
        }
        | ShapeSpec::Capsule {
            radius,
            half_height,
        } => {
            metres(&format!("{path}.radius"), radius, "the radius")?;
            metres(
                &format!("{path}.half_height"),
                half_height,
                "the half height",
            )?;
        }
        ShapeSpec::Plane { half_extents } => {
            for (i, h) in half_extents.iter().enumerate() {
                metres(&format!("{path}.half_extents[{i}]"), *h, "a half extent")?;
            }
        }
    }
    Ok(())
}

fn validate_material(path: &str, material: &MaterialSpec) -> Result<(), SpecError> {
    in_unit_interval(
        &format!("{path}.colour"),
        &material.colour,
        "colour channels",
    )?;
    if !(material.friction.is_finite() && material.friction >= 0.0) {
        return Err(out_of_range(
            format!("{path}.friction"),
            format!("friction must be >= 0, got {}", material.friction),
        ));
    }
    in_unit_interval(
        &format!("{path}.restitution"),
        &[material.restitution],
        "restitution",
    )?;
    positive(&format!("{path}.density"), material.density, "the density")
}
