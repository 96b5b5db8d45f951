//! `World`: one episode's Rapier simulation, stepped with a fixed dt, snapshot-able and hashable.

use std::sync::Arc;

use rapier3d::glamx::{Mat4, Vec3};
use rapier3d::prelude::*;
use serde::{Deserialize, Serialize};

use crate::build::{BuiltWorld, build_world};
use crate::episode::{EpisodeParams, Goal, PlanarPose, wrap_angle};
use crate::visual::{Drawable, Layer, MeshKind, Visual};
use crate::{ActuatorSpec, GoalSpec, SimError, WorldSpec};

/// Numbers per tracked body in [`World::state`]: position (3), orientation quaternion
/// `x y z w` (4), linear velocity (3), angular velocity (3).
pub const STATE_PER_BODY: usize = 13;

/// A saved [`World`] to [`World::restore`] later: Rapier's sets (serialised, Rapier's own
/// snapshot mechanism) and the world's counters.
#[derive(Clone, Debug)]
pub struct WorldSnapshot {
    physics: Vec<u8>,
    extra: SnapshotExtra,
}

#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
struct SnapshotExtra {
    action: [f32; 2],
    physics_steps: u64,
}

impl WorldSnapshot {
    /// Size of the snapshot in bytes.
    pub fn len_bytes(&self) -> usize {
        self.physics.len()
    }
}

/// One episode of a world: Rapier's sets built from a [`WorldSpec`] and [`EpisodeParams`].
///
/// `World` is `Send`, steps with the spec's fixed dt, can [`snapshot`](Self::snapshot) and
/// [`restore`](Self::restore), and hashes its state bit for bit
/// ([`state_hash`](Self::state_hash)).
pub struct World {
    spec: Arc<WorldSpec>,
    params: EpisodeParams,
    physics: PhysicsWorld,
    agent: RigidBodyHandle,
    tracked: Vec<(String, RigidBodyHandle)>,
    object: Option<RigidBodyHandle>,
    visuals: Vec<Visual>,
    /// The action held by the actuator (already clipped to the bounds).
    action: [f32; 2],
    physics_steps: u64,
}

impl World {
    /// Builds the episode `params` of `spec`.
    pub fn new(spec: Arc<WorldSpec>, params: EpisodeParams) -> Self {
        let BuiltWorld {
            physics,
            agent,
            tracked,
            object,
            visuals,
        } = build_world(&spec, &params);
        Self {
            spec,
            params,
            physics,
            agent,
            tracked,
            object,
            visuals,
            action: [0.0; 2],
            physics_steps: 0,
        }
    }

    /// Draws episode `seed` of `spec` and builds it.
    pub fn from_seed(spec: Arc<WorldSpec>, seed: u64) -> Result<Self, SimError> {
        let params = EpisodeParams::sample(&spec, seed)?;
        Ok(Self::new(spec, params))
    }

    /// The world file this was built from.
    pub fn spec(&self) -> &WorldSpec {
        &self.spec
    }

    /// The shared spec.
    pub fn spec_arc(&self) -> &Arc<WorldSpec> {
        &self.spec
    }

    /// What was drawn for this episode.
    pub fn episode(&self) -> &EpisodeParams {
        &self.params
    }

    /// The episode's goal.
    pub fn goal(&self) -> &Goal {
        &self.params.goal
    }

    /// Replaces the episode's goal (a goal given by hand): success and the goal image follow
    /// it. Every position in it must be finite and inside the arena.
    pub fn set_goal(&mut self, goal: Goal) -> Result<(), SimError> {
        let half = self.spec.arena.half_extents;
        let inside = |p: [f32; 2]| {
            p.iter().all(|v| v.is_finite()) && p[0].abs() <= half[0] && p[1].abs() <= half[1]
        };
        let positions =
            std::iter::once(goal.agent_position).chain(goal.object_pose.map(|pose| pose.position));
        for position in positions {
            if !inside(position) {
                return Err(SimError::GoalOutsideArena {
                    position,
                    half_extents: half,
                });
            }
        }
        if goal.object_pose.is_some_and(|pose| !pose.yaw.is_finite()) {
            return Err(SimError::GoalOutsideArena {
                position: goal.agent_position,
                half_extents: half,
            });
        }
        self.params.goal = goal;
        Ok(())
    }

    /// Physics steps taken since the episode was built.
    pub fn physics_steps(&self) -> u64 {
        self.physics_steps
    }

    /// Sets the actuator's input, held until the next call. `action` must already lie within
    /// the spec's bounds ([`crate::Env`] clips it).
    pub fn set_action(&mut self, action: [f32; 2]) {
        self.action = action;
        if let ActuatorSpec::PlanarForce { max_force } = self.spec.agent.actuator {
            let body = &mut self.physics.bodies[self.agent];
            body.reset_forces(true);
            body.add_force(
                Vec3::new(action[0] * max_force, action[1] * max_force, 0.0),
                true,
            );
        }
    }

    /// Advances the simulation by one fixed time step.
    pub fn step(&mut self) {
        if let ActuatorSpec::TargetVelocity { max_speed } = self.spec.agent.actuator {
            let body = &mut self.physics.bodies[self.agent];
            let v = body.linvel();
            body.set_linvel(
                Vec3::new(self.action[0] * max_speed, self.action[1] * max_speed, v.z),
                true,
            );
        }
        self.physics.step();
        self.physics_steps += 1;
    }

    /// The agent's position in the world.
    pub fn agent_position(&self) -> [f32; 3] {
        self.physics.bodies[self.agent].translation().to_array()
    }

    /// The agent's linear velocity in the world.
    pub fn agent_velocity(&self) -> [f32; 3] {
        self.physics.bodies[self.agent].linvel().to_array()
    }

    /// The pushed object's planar pose (push tasks only).
    pub fn object_pose(&self) -> Option<PlanarPose> {
        self.object
            .map(|handle| planar_pose(&self.physics.bodies[handle]))
    }

    /// The planar pose of a tracked (dynamic or kinematic) body or the agent, by name.
    pub fn body_pose(&self, name: &str) -> Option<PlanarPose> {
        if name == self.spec.agent.name {
            return Some(planar_pose(&self.physics.bodies[self.agent]));
        }
        self.tracked
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, handle)| planar_pose(&self.physics.bodies[*handle]))
    }

    /// The mass (kg) and the first collider's friction coefficient of a tracked body or the
    /// agent, by name, as this episode built them (after any `material` randomisation).
    pub fn body_physics(&self, name: &str) -> Option<(f32, f32)> {
        let handle = if name == self.spec.agent.name {
            self.agent
        } else {
            self.tracked.iter().find(|(n, _)| n == name)?.1
        };
        let body = &self.physics.bodies[handle];
        let friction = self
            .physics
            .colliders
            .get(*body.colliders().first()?)?
            .friction();
        Some((body.mass(), friction))
    }

    /// Whether the agent's footprint overlaps a hazard zone.
    pub fn in_hazard(&self) -> bool {
        let p = self.agent_position();
        let radius = self.spec.agent.shape.footprint_radius();
        self.params
            .hazards
            .iter()
            .any(|h| h.region.overlaps_disc([p[0], p[1]], radius))
    }

    /// The task's success predicate on the true state.
    pub fn is_success(&self) -> bool {
        match &self.spec.task.goal {
            GoalSpec::AgentPosition { success_radius, .. } => {
                let p = self.agent_position();
                let g = self.params.goal.agent_position;
                (p[0] - g[0]).hypot(p[1] - g[1]) < *success_radius
            }
            GoalSpec::ObjectPose {
                success_position_error,
                success_yaw_error_deg,
                ..
            } => match (self.object_pose(), self.params.goal.object_pose) {
                (Some(pose), Some(goal)) => {
                    let position_error = (pose.position[0] - goal.position[0])
                        .hypot(pose.position[1] - goal.position[1]);
                    let yaw_error = wrap_angle(pose.yaw - goal.yaw).abs();
                    position_error < *success_position_error
                        && yaw_error < success_yaw_error_deg.to_radians()
                }
                _ => false,
            },
        }
    }

    /// The true state: for the agent and then each dynamic or kinematic body in file order,
    /// [`STATE_PER_BODY`] numbers. For probes and evaluation, never for the learner's input.
    pub fn state(&self) -> Vec<f32> {
        let mut state = Vec::with_capacity(STATE_PER_BODY * (1 + self.tracked.len()));
        for handle in self.state_bodies() {
            let body = &self.physics.bodies[handle];
            state.extend_from_slice(&body.translation().to_array());
            state.extend_from_slice(&body.rotation().to_array());
            state.extend_from_slice(&body.linvel().to_array());
            state.extend_from_slice(&body.angvel().to_array());
        }
        state
    }

    /// Names of the numbers in [`state`](Self::state), e.g. `agent.x`, `tblock.qz`.
    pub fn state_names(&self) -> Vec<String> {
        const FIELDS: [&str; STATE_PER_BODY] = [
            "x", "y", "z", "qx", "qy", "qz", "qw", "vx", "vy", "vz", "wx", "wy", "wz",
        ];
        std::iter::once(self.spec.agent.name.as_str())
            .chain(self.tracked.iter().map(|(name, _)| name.as_str()))
            .flat_map(|name| FIELDS.iter().map(move |f| format!("{name}.{f}")))
            .collect()
    }

    fn state_bodies(&self) -> impl Iterator<Item = RigidBodyHandle> + '_ {
        std::iter::once(self.agent).chain(self.tracked.iter().map(|(_, h)| *h))
    }

    /// A 64-bit digest of every body's pose and velocity bits (xxh3), for determinism checks.
    pub fn state_hash(&self) -> u64 {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        for (_, body) in self.physics.bodies.iter() {
            let pose = body.position();
            for v in pose
                .translation
                .to_array()
                .into_iter()
                .chain(pose.rotation.to_array())
                .chain(body.linvel().to_array())
                .chain(body.angvel().to_array())
            {
                hasher.update(&v.to_bits().to_le_bytes());
            }
        }
        hasher.update(&self.physics_steps.to_le_bytes());
        hasher.digest()
    }

    /// Saves the whole simulation state.
    pub fn snapshot(&self) -> Result<WorldSnapshot, SimError> {
        let physics = postcard::to_stdvec(&self.physics)
            .map_err(|err| SimError::Snapshot(format!("cannot serialise the physics: {err}")))?;
        Ok(WorldSnapshot {
            physics,
            extra: SnapshotExtra {
                action: self.action,
                physics_steps: self.physics_steps,
            },
        })
    }

    /// Restores a state saved by [`snapshot`](Self::snapshot) of this same episode; stepping on
    /// from it gives the same bits as stepping on from the moment it was taken.
    pub fn restore(&mut self, snapshot: &WorldSnapshot) -> Result<(), SimError> {
        let physics: PhysicsWorld = postcard::from_bytes(&snapshot.physics)
            .map_err(|err| SimError::Snapshot(format!("cannot read the physics back: {err}")))?;
        self.physics = physics;
        self.action = snapshot.extra.action;
        self.physics_steps = snapshot.extra.physics_steps;
        Ok(())
    }

    /// The colliders of static bodies (for geometric queries such as shortest paths).
    pub(crate) fn physics_colliders(&self) -> impl Iterator<Item = &Collider> + '_ {
        self.physics
            .colliders
            .iter()
            .filter_map(move |(_, collider)| {
                let parent = collider.parent()?;
                self.physics.bodies[parent].is_fixed().then_some(collider)
            })
    }

    /// Every drawable with its current `world_from_mesh` transform, in draw order (layer by
    /// layer).
    pub(crate) fn drawables<'a>(
        &'a self,
        overrides: &'a [(RigidBodyHandle, Mat4)],
    ) -> impl Iterator<Item = (MeshKind, Mat4, [f32; 3], Layer)> + 'a {
        self.visuals.iter().map(move |visual| {
            let world_from_mesh = match visual.body {
                Some(handle) => {
                    let world_from_body = overrides.iter().find(|(h, _)| *h == handle).map_or_else(
                        || self.physics.bodies[handle].position().to_mat4(),
                        |(_, m)| *m,
                    );
                    world_from_body * visual.transform
                }
                None => visual.transform,
            };
            (visual.mesh, world_from_mesh, visual.colour, visual.layer)
        })
    }

    /// Every drawable as it stands now, for viewers that draw the world themselves (the
    /// desktop app); the order is fixed for the episode.
    pub fn scene(&self) -> Vec<Drawable> {
        self.drawables(&[])
            .zip(&self.visuals)
            .map(|((mesh, world_from_mesh, colour, _), visual)| Drawable {
                mesh,
                world_from_mesh: world_from_mesh.to_cols_array(),
                colour,
                moves: visual
                    .body
                    .is_some_and(|handle| !self.physics.bodies[handle].is_fixed()),
            })
            .collect()
    }

    /// Body transforms that place the bodies in the goal state (for goal images).
    pub(crate) fn goal_overrides(&self) -> Vec<(RigidBodyHandle, Mat4)> {
        let goal = &self.params.goal;
        let agent = &self.physics.bodies[self.agent];
        let agent_at = agent.translation();
        let mut overrides = vec![(
            self.agent,
            Mat4::from_rotation_translation(
                *agent.rotation(),
                Vec3::new(goal.agent_position[0], goal.agent_position[1], agent_at.z),
            ),
        )];
        if let (Some(handle), Some(pose)) = (self.object, goal.object_pose) {
            let body = &self.physics.bodies[handle];
            let current = planar_pose(body);
            // Keep the object's tilt; replace its yaw and planar position.
            let rotation =
                rapier3d::glamx::Quat::from_rotation_z(pose.yaw - current.yaw) * *body.rotation();
            overrides.push((
                handle,
                Mat4::from_rotation_translation(
                    rotation,
                    Vec3::new(pose.position[0], pose.position[1], body.translation().z),
                ),
            ));
        }
        overrides
    }
}

fn planar_pose(body: &RigidBody) -> PlanarPose {
    let t = body.translation();
    let x_axis = *body.rotation() * Vec3::X;
    PlanarPose {
        position: [t.x, t.y],
        yaw: x_axis.y.atan2(x_axis.x),
    }
}
