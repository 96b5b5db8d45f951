//! Pinhole cameras as clip-space transforms.

use rapier3d::glamx::glam::camera::rh::{proj::directx, view::look_at_mat4};
use rapier3d::glamx::{Mat4, Vec3, Vec4};

use crate::CameraSpec;

/// Distance of the near clipping plane in metres.
pub const NEAR: f32 = 0.01;
/// Distance of the far clipping plane in metres.
pub const FAR: f32 = 500.0;

/// A camera ready to project: `clip_from_world` (right-handed, depth in `[0, 1]`) and the
/// image size.
#[derive(Clone, Debug, PartialEq)]
pub struct Camera {
    /// World to clip space.
    pub clip_from_world: Mat4,
    /// Output width in pixels.
    pub width: u32,
    /// Output height in pixels.
    pub height: u32,
    /// Supersampling factor per axis (1 or 2).
    pub supersample: u32,
    /// Pixels per unit of `size / depth` on the output image: `(height / 2) / tan(fov / 2)`.
    pub focal_px: f32,
}

impl Camera {
    /// The camera a spec describes.
    pub fn from_spec(spec: &CameraSpec) -> Self {
        Self::from_spec_with_size(spec, spec.width, spec.height)
    }

    /// The camera a spec describes, rendering `width × height` pixels instead.
    pub fn from_spec_with_size(spec: &CameraSpec, width: u32, height: u32) -> Self {
        let camera_from_world = look_at_mat4(
            Vec3::from(spec.position),
            Vec3::from(spec.look_at),
            Vec3::from(spec.up),
        );
        let aspect = width.max(1) as f32 / height.max(1) as f32;
        let clip_from_camera = directx::perspective(spec.fov_deg.to_radians(), aspect, NEAR, FAR);
        Self {
            clip_from_world: clip_from_camera * camera_from_world,
            width,
            height,
            supersample: spec.supersample,
            focal_px: 0.5 * height as f32 / (0.5 * spec.fov_deg.to_radians()).tan(),
        }
    }

    /// Whether any of `points_in_world` falls inside the view frustum.
    pub fn sees_any(&self, points_in_world: &[Vec3]) -> bool {
        points_in_world.iter().any(|p| {
            let clip: Vec4 = self.clip_from_world * p.extend(1.0);
            clip.w > NEAR
                && clip.z >= 0.0
                && clip.x.abs() <= clip.w
                && clip.y.abs() <= clip.w
                && clip.z <= clip.w
        })
    }
}
