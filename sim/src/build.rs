//! Turns a world spec and an episode's parameters into Rapier bodies and drawables.

use std::f32::consts::FRAC_PI_2;

use rapier3d::glamx::{EulerRot, Mat4, Quat, Vec3};
use rapier3d::prelude::*;

use crate::episode::{BodyVariation, EpisodeParams, shifted_colour};
use crate::visual::{Layer, MeshKind, Visual};
use crate::{
    ActuatorSpec, BodyKind, GoalSpec, MaterialSpec, PlacedShapeSpec, ShapeSpec, WallSpec, WorldSpec,
};

/// Height of floor decals above the ground. The CPU renderer orders them by layer instead;
/// the lift is for viewers that draw the scene with a plain depth test.
const HAZARD_LIFT: f32 = 0.002;
const GOAL_MARKER_LIFT: f32 = 0.004;

/// The result of building: Rapier's sets plus what the world needs to find its bodies again.
pub(crate) struct BuiltWorld {
    pub physics: PhysicsWorld,
    pub agent: RigidBodyHandle,
    /// Dynamic and kinematic bodies (not the agent), in file order: name and handle.
    pub tracked: Vec<(String, RigidBodyHandle)>,
    /// The pushed object of a push task.
    pub object: Option<RigidBodyHandle>,
    pub visuals: Vec<Visual>,
}

/// `[roll, pitch, yaw]` in degrees to a quaternion (yaw·pitch·roll).
pub(crate) fn rotation_from_deg(rpy: [f32; 3]) -> Quat {
    Quat::from_euler(
        EulerRot::ZYX,
        rpy[2].to_radians(),
        rpy[1].to_radians(),
        rpy[0].to_radians(),
    )
}

/// What a shape is made of: Rapier's shape, the rotation from the shape's frame to Rapier's
/// (cylinders stand along y there, along z here), and the unit meshes that draw it with their
/// `shape_from_mesh` transforms.
struct ShapeParts {
    collider: SharedShape,
    shape_from_collider: Quat,
    meshes: Vec<(MeshKind, Mat4)>,
}

fn shape_parts(shape: &ShapeSpec, scale: f32) -> ShapeParts {
    let parts = |collider, meshes| ShapeParts {
        collider,
        shape_from_collider: Quat::IDENTITY,
        meshes,
    };
    match *shape {
        ShapeSpec::Box { half_extents } => {
            let h = Vec3::from(half_extents) * scale;
            parts(
                SharedShape::cuboid(h.x, h.y, h.z),
                vec![(MeshKind::Cube, Mat4::from_scale(h))],
            )
        }
        ShapeSpec::Sphere { radius } => {
            let r = radius * scale;
            parts(
                SharedShape::ball(r),
                vec![(MeshKind::Sphere, Mat4::from_scale(Vec3::splat(r)))],
            )
        }
        ShapeSpec::Cylinder {
            radius,
            half_height,
        } => {
            let (r, h) = (radius * scale, half_height * scale);
            ShapeParts {
                collider: SharedShape::cylinder(h, r),
                shape_from_collider: Quat::from_rotation_x(FRAC_PI_2),
                meshes: vec![(MeshKind::Cylinder, Mat4::from_scale(Vec3::new(r, r, h)))],
            }
        }
        ShapeSpec::Capsule {
            radius,
            half_height,
        } => {
            let (r, h) = (radius * scale, half_height * scale);
            parts(
                SharedShape::capsule_z(h, r),
                vec![
                    (MeshKind::Cylinder, Mat4::from_scale(Vec3::new(r, r, h))),
                    (
                        MeshKind::Sphere,
                        Mat4::from_scale_rotation_translation(
                            Vec3::splat(r),
                            Quat::IDENTITY,
                            Vec3::new(0.0, 0.0, h),
                        ),
                    ),
                    (
                        MeshKind::Sphere,
                        Mat4::from_scale_rotation_translation(
                            Vec3::splat(r),
                            Quat::IDENTITY,
                            Vec3::new(0.0, 0.0, -h),
                        ),
                    ),
                ],
            )
        }
        ShapeSpec::Plane { half_extents } => parts(
            SharedShape::halfspace(Vec3::Z),
            vec![(
                MeshKind::Quad,
                Mat4::from_scale(Vec3::new(half_extents[0], half_extents[1], 1.0)),
            )],
        ),
    }
}

fn collider_for(shape: SharedShape, material: &MaterialSpec, pose: Pose) -> Collider {
    ColliderBuilder::new(shape)
        .position(pose)
        .friction(material.friction)
        .restitution(material.restitution)
        .density(material.density)
        .build()
}

struct Builder<'a> {
    params: &'a EpisodeParams,
    physics: PhysicsWorld,
    visuals: Vec<Visual>,
}

impl Builder<'_> {
    /// Inserts a body with its shapes; returns its handle.
    fn body(
        &mut self,
        body: RigidBodyBuilder,
        shapes: &[PlacedShapeSpec],
        material: &MaterialSpec,
        variation: &BodyVariation,
    ) -> RigidBodyHandle {
        let handle = self.physics.bodies.insert(body);
        let colour = shifted_colour(material.colour, variation.colour_shift);
        let material = &MaterialSpec {
            friction: material.friction * variation.friction_scale,
            density: material.density * variation.mass_scale,
            ..material.clone()
        };
        for placed in shapes {
            let layer = match placed.shape {
                ShapeSpec::Plane { .. } => Layer::Ground,
                _ => Layer::Solid,
            };
            let offset = Vec3::from(placed.offset) * variation.scale;
            let rotation = rotation_from_deg(placed.rotation_deg);
            let parts = shape_parts(&placed.shape, variation.scale);
            let body_from_collider = Pose::from_parts(offset, rotation * parts.shape_from_collider);
            let collider = collider_for(parts.collider, material, body_from_collider);
            self.physics
                .colliders
                .insert_with_parent(collider, handle, &mut self.physics.bodies);
            let body_from_shape = Mat4::from_rotation_translation(rotation, offset);
            for (mesh, shape_from_mesh) in parts.meshes {
                self.visuals.push(Visual {
                    mesh,
                    layer,
                    body: Some(handle),
                    transform: body_from_shape * shape_from_mesh,
                    colour,
                });
            }
        }
        handle
    }

    /// A wall, split around its door at `(centre, width)` when it has one.
    fn wall(&mut self, wall: &WallSpec, door: Option<(f32, f32)>) {
        let from = Vec3::new(wall.from[0], wall.from[1], 0.0);
        let to = Vec3::new(wall.to[0], wall.to[1], 0.0);
        let length = (to - from).length();
        let along = (to - from) / length;
        let yaw = along.y.atan2(along.x);
        // Segments as [start, end] distances along the wall; walls reach thickness/2 past both
        // ends so that walls meeting at a corner close it.
        let half_t = 0.5 * wall.thickness;
        let mut segments = Vec::with_capacity(2);
        match door {
            Some((centre, width)) => {
                let half_door = 0.5 * width;
                let c = (centre * length).clamp(half_door, length - half_door);
                segments.push([-half_t, c - half_door]);
                segments.push([c + half_door, length + half_t]);
            }
            _ => segments.push([-half_t, length + half_t]),
        }
        let variation = self.params.variation(&wall.name);
        for [start, end] in segments {
            if end - start < 1e-4 {
                continue;
            }
            let mid = from + along * (0.5 * (start + end)) + Vec3::Z * (0.5 * wall.height);
            let shape = PlacedShapeSpec {
                shape: ShapeSpec::Box {
                    half_extents: [0.5 * (end - start), half_t, 0.5 * wall.height],
                },
                offset: [0.0; 3],
                rotation_deg: [0.0; 3],
            };
            let body =
                RigidBodyBuilder::fixed().pose(Pose::from_parts(mid, Quat::from_rotation_z(yaw)));
            let no_scale = BodyVariation {
                scale: 1.0,
                ..variation
            };
            self.body(body, &[shape], &wall.material, &no_scale);
        }
    }

    fn decal(
        &mut self,
        mesh: MeshKind,
        centre: [f32; 2],
        half: [f32; 2],
        lift: f32,
        colour: [f32; 3],
    ) {
        self.visuals.push(Visual {
            mesh,
            layer: Layer::Decal,
            body: None,
            transform: Mat4::from_scale_rotation_translation(
                Vec3::new(half[0], half[1], 1.0),
                Quat::IDENTITY,
                Vec3::new(centre[0], centre[1], lift),
            ),
            colour,
        });
    }
}

/// Builds the Rapier world and the drawables of one episode.
pub(crate) fn build_world(spec: &WorldSpec, params: &EpisodeParams) -> BuiltWorld {
    let mut physics = PhysicsWorld::new();
    physics.gravity = Vec3::from(spec.physics.gravity);
    physics.integration_parameters.dt = spec.physics.dt;
    let mut builder = Builder {
        params,
        physics,
        visuals: Vec::new(),
    };

    let object_name = match &spec.task.goal {
        GoalSpec::ObjectPose { object, .. } => Some(object.as_str()),
        GoalSpec::AgentPosition { .. } => None,
    };
    let mut tracked = Vec::new();
    let mut object = None;
    for body in &spec.bodies {
        let variation = params.variation(&body.name);
        let mut position = Vec3::from(body.position);
        position.x += variation.offset[0];
        position.y += variation.offset[1];
        let mut rotation =
            Quat::from_rotation_z(variation.yaw) * rotation_from_deg(body.rotation_deg);
        if Some(body.name.as_str()) == object_name
            && let Some(start) = params.object_start
        {
            position.x = start.position[0];
            position.y = start.position[1];
            rotation = Quat::from_rotation_z(start.yaw) * rotation_from_deg(body.rotation_deg);
        }
        let angvel = Vec3::from(body.angular_velocity_deg) * (std::f32::consts::PI / 180.0);
        let rigid_body = match body.kind {
            BodyKind::Static => RigidBodyBuilder::fixed(),
            BodyKind::Dynamic => RigidBodyBuilder::dynamic(),
            BodyKind::Kinematic => RigidBodyBuilder::kinematic_velocity_based(),
        }
        .pose(Pose::from_parts(position, rotation))
        .linvel(Vec3::from(body.linear_velocity))
        .angvel(angvel);
        let handle = builder.body(rigid_body, &body.shapes, &body.material, &variation);
        if body.kind != BodyKind::Static {
            tracked.push((body.name.clone(), handle));
        }
        if Some(body.name.as_str()) == object_name {
            object = Some(handle);
        }
    }
    for ((wall, door_centre), door_width) in spec
        .walls
        .iter()
        .zip(&params.door_centres)
        .zip(&params.door_widths)
    {
        builder.wall(wall, door_centre.zip(*door_width));
    }
    for hazard in &params.hazards {
        let r = hazard.region;
        builder.decal(
            MeshKind::Quad,
            [0.5 * (r.min[0] + r.max[0]), 0.5 * (r.min[1] + r.max[1])],
            [0.5 * (r.max[0] - r.min[0]), 0.5 * (r.max[1] - r.min[1])],
            HAZARD_LIFT,
            hazard.colour,
        );
    }
    if let Some(marker) = &spec.task.goal_marker {
        let goal = params
            .goal
            .object_pose
            .map_or(params.goal.agent_position, |p| p.position);
        builder.decal(
            MeshKind::Disc,
            goal,
            [marker.radius; 2],
            GOAL_MARKER_LIFT,
            marker.colour,
        );
    }

    let agent_spec = &spec.agent;
    let agent_variation = params.variation(&agent_spec.name);
    let z = agent_spec.shape.half_height() * agent_variation.scale + 1e-3;
    let mut agent_body = RigidBodyBuilder::dynamic()
        .translation(Vec3::new(params.agent_start[0], params.agent_start[1], z))
        .can_sleep(false);
    if agent_spec.lock_rotations {
        agent_body = agent_body.lock_rotations();
    }
    if let ActuatorSpec::PlanarForce { .. } = agent_spec.actuator {
        // Without rolling, only friction would slow a pushed agent; a little damping keeps
        // its top speed bounded and its motion controllable.
        agent_body = agent_body.linear_damping(2.0);
    }
    let agent_shape = PlacedShapeSpec {
        shape: agent_spec.shape.clone(),
        offset: [0.0; 3],
        rotation_deg: [0.0; 3],
    };
    let agent = builder.body(
        agent_body,
        &[agent_shape],
        &agent_spec.material,
        &agent_variation,
    );

    // Draw order is layer order; within a layer, build order (so a goal pad covers a hazard).
    builder.visuals.sort_by_key(|visual| visual.layer);
    BuiltWorld {
        physics: builder.physics,
        agent,
        tracked,
        object,
        visuals: builder.visuals,
    }
}
