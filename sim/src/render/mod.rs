//! The learner's camera: a CPU rasterizer (perspective, z-buffer, Lambert + ambient, flat
//! shading per triangle, optional 2×2 supersampling). Bit-identical for the same inputs on one
//! platform, whatever thread it runs on (DESIGN decision 2).

mod camera;
mod frame;
mod mesh;
mod rasterizer;

pub use self::camera::Camera;
pub use self::frame::Frame;
pub use self::mesh::{Mesh, MeshSet};
pub use self::rasterizer::Renderer;
