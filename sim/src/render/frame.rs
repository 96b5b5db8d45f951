//! RGB frames: what the renderer writes and the learner reads.

use std::path::Path;

/// An RGB image, row-major from the top-left, 3 bytes a pixel (`H × W × 3`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `height · width · 3` bytes.
    pub rgb: Vec<u8>,
}

impl Frame {
    /// A black frame.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            rgb: vec![0; width as usize * height as usize * 3],
        }
    }

    /// The pixel at column `x`, row `y`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = (y as usize * self.width as usize + x as usize) * 3;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Writes the frame as a PNG file.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<(), image::ImageError> {
        image::save_buffer(
            path,
            &self.rgb,
            self.width,
            self.height,
            image::ExtendedColorType::Rgb8,
        )
    }

    /// Lays frames out left to right in one image, `gap` pixels apart on a white background.
    pub fn strip(frames: &[Frame], gap: u32) -> Frame {
        let height = frames.iter().map(|f| f.height).max().unwrap_or(0);
        let width = frames.iter().map(|f| f.width).sum::<u32>()
            + gap * frames.len().saturating_sub(1) as u32;
        let mut out = Frame {
            width,
            height,
            rgb: vec![255; width as usize * height as usize * 3],
        };
        let mut x0 = 0usize;
        for frame in frames {
            for y in 0..frame.height as usize {
                let src =
                    &frame.rgb[y * frame.width as usize * 3..(y + 1) * frame.width as usize * 3];
                let dst = (y * width as usize + x0) * 3;
                out.rgb[dst..dst + src.len()].copy_from_slice(src);
            }
            x0 += (frame.width + gap) as usize;
        }
        out
    }
}
