//! The pixel encoder: stride-2 convolutions, then a linear map to the latent.

use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, Linear, LinearConfig, PaddingConfig2d, Relu};
use burn::prelude::*;

/// A stack of 4×4, stride-2 convolutions (each halves the image) and a linear head.
#[derive(Config, Debug)]
pub struct ConvEncoderConfig {
    /// Side of the square input images in pixels; divisible by `2^channels.len()`.
    #[config(default = 64)]
    pub image_size: usize,
    /// Output channels of each convolution (default 32, 64, 64, 64: 64 px → 4 px).
    #[config(default = "vec![32, 64, 64, 64]")]
    pub channels: Vec<usize>,
    /// Size of the latent vector.
    #[config(default = 64)]
    pub latent_dim: usize,
    /// Batch normalisation after each convolution. Frames differ from each other in a few
    /// pixels (the agent) on a constant background; without it the initial latents of
    /// different frames differ by ~0.1% and the prediction losses collapse them before the
    /// regulariser can act (measured: latent std 0.001 from step 1). The quick experiment in
    /// `shared/RESEARCH.md` used it too.
    #[config(default = true)]
    pub batch_norm: bool,
    /// Proprioception: the agent's planar position (`Observation::proprio`), appended as the
    /// latent's last [`PROPRIO_DIM`] dimensions, unchanged (`None` or 0: off). The pixels
    /// then fill the other `latent_dim - PROPRIO_DIM`. For push, whose ~4-pixel pusher the
    /// pixel losses either drop (SIGReg) or keep at the cost of the block's orientation
    /// (SIGReg with inverse dynamics; README, "push: exploration and regulariser"); world
    /// models for Push-T read the agent's position the same way (DINO-WM, Zhou et al. 2024).
    /// An `Option` so that older checkpoints still load.
    pub proprio_dims: Option<usize>,
}

/// Numbers of proprioception an encoder that reads it takes per frame: the agent's `x, y`.
pub const PROPRIO_DIM: usize = 2;

/// Encodes RGB images into latent vectors.
#[derive(Module, Debug)]
pub struct ConvEncoder {
    convs: Vec<Conv2d>,
    norms: Vec<BatchNorm>,
    head: Linear,
    activation: Relu,
    proprio_dims: usize,
}

impl ConvEncoderConfig {
    /// Side of the last feature map.
    pub fn feature_size(&self) -> usize {
        self.image_size >> self.channels.len()
    }

    /// Builds the encoder on `device`.
    pub fn init(&self, device: &Device) -> ConvEncoder {
        let mut convs = Vec::with_capacity(self.channels.len());
        let mut norms = Vec::new();
        let mut in_channels = 3;
        for &out in &self.channels {
            if self.batch_norm {
                norms.push(BatchNormConfig::new(out).init(device));
            }
            convs.push(
                Conv2dConfig::new([in_channels, out], [4, 4])
                    .with_stride([2, 2])
                    .with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1))
                    .init(device),
            );
            in_channels = out;
        }
        let side = self.feature_size();
        let proprio_dims = self.proprio_dims();
        ConvEncoder {
            convs,
            norms,
            head: LinearConfig::new(in_channels * side * side, self.latent_dim - proprio_dims)
                .init(device),
            activation: Relu::new(),
            proprio_dims,
        }
    }

    /// Latent dimensions that hold proprioception (0 or [`PROPRIO_DIM`]).
    pub fn proprio_dims(&self) -> usize {
        self.proprio_dims.unwrap_or(0)
    }
}

impl ConvEncoder {
    /// Size of the latent vectors it produces.
    pub fn latent_dim(&self) -> usize {
        self.head.weight.dims()[1] + self.proprio_dims
    }

    /// Latent dimensions that hold proprioception, the last ones (0: it reads pixels only).
    pub fn proprio_dims(&self) -> usize {
        self.proprio_dims
    }

    /// Encodes observations: images, and the agent's position when the encoder reads
    /// proprioception (ignored otherwise).
    ///
    /// # Shapes
    /// - `images`: `[batch, 3, H, W]`, values in `[0, 1]`
    /// - `proprio`: `[batch, PROPRIO_DIM]`, required when [`proprio_dims`](Self::proprio_dims)
    ///   is not 0
    /// - output: `[batch, latent_dim]`
    ///
    /// # Panics
    /// If the encoder reads proprioception and `proprio` is `None`: a caller's bug.
    pub fn forward(&self, images: Tensor<4>, proprio: Option<Tensor<2>>) -> Tensor<2> {
        let pixels = self.forward_pixels(images);
        if self.proprio_dims == 0 {
            return pixels;
        }
        let proprio = proprio.expect("this encoder reads the agent's position; pass its proprio");
        Tensor::cat(vec![pixels, proprio], 1)
    }

    fn forward_pixels(&self, images: Tensor<4>) -> Tensor<2> {
        // Centre the pixels: [0, 1] → [-1, 1].
        let mut x = images.mul_scalar(2.0).sub_scalar(1.0);
        for (i, conv) in self.convs.iter().enumerate() {
            x = conv.forward(x); // [batch, c, s/2, s/2]
            if let Some(norm) = self.norms.get(i) {
                x = norm.forward(x);
            }
            x = self.activation.forward(x);
        }
        self.head.forward(x.flatten(1, 3)) // [batch, c·s·s] → [batch, latent_dim - proprio]
    }
}
