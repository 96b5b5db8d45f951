//! What the renderer draws: unit meshes placed on bodies (or fixed in the world), with colours.

use rapier3d::glamx::Mat4;
use rapier3d::prelude::RigidBodyHandle;

/// The unit meshes every drawable is made of; each is tessellated once per renderer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeshKind {
    /// The cube `[-1, 1]³`.
    Cube,
    /// The sphere of radius 1.
    Sphere,
    /// The open-ended-free cylinder of radius 1 from z = -1 to 1, with caps.
    Cylinder,
    /// The square `[-1, 1]²` at z = 0, facing +z (ground, hazard patches).
    Quad,
    /// The disc of radius 1 at z = 0, facing +z (goal pads).
    Disc,
}

/// When the rasterizer draws a drawable and how it meets the depth buffer. Flat patches lie on
/// the ground a few millimetres up, which far-away or finely divided depth cannot always tell
/// apart from the ground itself; drawing them in layers makes the order explicit instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Layer {
    /// Ground planes, drawn first.
    Ground,
    /// Flat patches on the ground (hazards, goal pads), drawn next in their own order; each
    /// wins over what is already drawn at (nearly) the same depth.
    Decal,
    /// Everything else, drawn last with a plain depth test.
    Solid,
}

/// One drawable: a unit mesh, where it sits, and its colour.
#[derive(Clone, Debug)]
pub(crate) struct Visual {
    pub mesh: MeshKind,
    pub layer: Layer,
    /// The body it moves with; `None` for decals fixed in the world.
    pub body: Option<RigidBodyHandle>,
    /// `body_from_mesh` when attached to a body, else `world_from_mesh`.
    pub transform: Mat4,
    /// RGB in `[0, 1]` (display values, no gamma).
    pub colour: [f32; 3],
}

/// One drawable as it stands now, for viewers outside the simulator (the desktop app): the
/// same unit meshes, placements and colours the rasterizer draws, in the simulator's frame
/// (z up, metres).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Drawable {
    /// Which unit mesh.
    pub mesh: MeshKind,
    /// `world_from_mesh`, column-major.
    pub world_from_mesh: [f32; 16],
    /// RGB in `[0, 1]` (display values, no gamma).
    pub colour: [f32; 3],
    /// Whether it moves with a dynamic body (the agent, pushed objects); walls, floor and
    /// decals are fixed for the episode.
    pub moves: bool,
}
