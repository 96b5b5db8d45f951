//! Push's planar poses ([`PushPoses`]): what the pose readout reads off a latent, what the
//! pose dynamics move, and what push's cost sums along an imagined path ([`path_costs`]).

use sim::PlanarPose;

/// Numbers the readout predicts per latent: pusher `x, y`, object `x, y, cos yaw, sin yaw`.
pub const POSE_DIM: usize = 6;

/// The planar poses a latent shows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PushPoses {
    /// The pusher's position in metres.
    pub agent: [f32; 2],
    /// The pushed object's pose.
    pub object: PlanarPose,
}

impl PushPoses {
    /// The true poses in `world` (push tasks only).
    pub fn of(world: &sim::World) -> Option<Self> {
        let p = world.agent_position();
        Some(Self {
            agent: [p[0], p[1]],
            object: world.object_pose()?,
        })
    }

    /// The readout's target for these poses.
    pub fn to_target(&self) -> [f32; POSE_DIM] {
        let (sin, cos) = self.object.yaw.sin_cos();
        [
            self.agent[0],
            self.agent[1],
            self.object.position[0],
            self.object.position[1],
            cos,
            sin,
        ]
    }

    /// The poses a readout output says (the yaw from its cosine and sine, unnormalised).
    pub fn from_output(output: &[f32]) -> Self {
        Self {
            agent: [output[0], output[1]],
            object: PlanarPose {
                position: [output[2], output[3]],
                yaw: output[5].atan2(output[4]),
            },
        }
    }
}

/// Push's cost-to-go ([`sim::push_cost_to_go`]) of every imagined step towards `goal`, summed
/// as the oracle sums the true one: 0.1 per step and 1 more at the last.
///
/// # Shapes
/// - `poses`: `samples · horizon` poses, sample-major → one cost per sample
pub fn path_costs(
    poses: &[PushPoses],
    horizon: usize,
    goal: &PushPoses,
    object_radius: f32,
) -> Vec<f32> {
    poses
        .chunks(horizon.max(1))
        .map(|path| {
            let last = path.len().saturating_sub(1);
            path.iter()
                .enumerate()
                .map(|(t, p)| {
                    let c = sim::push_cost_to_go(p.agent, p.object, goal.object, object_radius);
                    if t == last { 1.1 * c } else { 0.1 * c }
                })
                .sum()
        })
        .collect()
}

/// The object's displacement over a window above which it counts as moving, in metres.
pub const MOVING_OBJECT_M: f32 = 0.02;
/// The object's turn over a window above which it counts as moving, in radians (3°).
pub const MOVING_OBJECT_RAD: f32 = 0.052;
