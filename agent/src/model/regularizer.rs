//! Anti-collapse regularisers on a batch of latents: SIGReg (LeJEPA) and VICReg.

use burn::prelude::*;
use rand::RngExt;

/// Which regulariser keeps the encoder from collapsing, and its weights.
#[derive(Config, Debug)]
pub enum RegularizerConfig {
    /// VICReg variance + covariance, with the inverse-dynamics term.
    Vicreg(VicregConfig),
    /// SIGReg: the latents' 1-D projections are pushed towards a standard Gaussian.
    Sigreg(SigregConfig),
}

/// VICReg (Bardes et al. 2022) as used by PLDM (Sobal et al. 2025, arXiv 2502.14819): variance
/// and covariance terms on the latents plus an inverse-dynamics loss.
#[derive(Config, Debug)]
pub struct VicregConfig {
    /// Weight of the hinge on each dimension's standard deviation.
    #[config(default = 1.0)]
    pub variance_weight: f64,
    /// Weight of the squared off-diagonal covariances (summed, divided by the dimension);
    /// 0.04 (VICReg's 1:25 ratio) left the effective rank at 22% of the latent after 4 minutes
    /// here, so it is raised to decorrelate the dimensions more.
    #[config(default = 0.1)]
    pub covariance_weight: f64,
    /// Weight of the inverse-dynamics loss; 10 learned positions where 1 collapsed in a
    /// 10-minute experiment on this machine (`shared/RESEARCH.md`).
    #[config(default = 10.0)]
    pub inverse_dynamics_weight: f64,
    /// Target standard deviation of each dimension.
    #[config(default = 1.0)]
    pub std_target: f64,
}

/// SIGReg (Balestriero & LeCun 2025, arXiv 2511.08544): project the latents on random unit
/// directions and compare each projection's empirical characteristic function with the
/// standard Gaussian's (Epps–Pulley statistic). One weight; LeWM (arXiv 2603.19312) uses 0.09.
#[derive(Config, Debug)]
pub struct SigregConfig {
    /// Weight λ of the statistic.
    #[config(default = 0.1)]
    pub weight: f64,
    /// Random directions per step (1024 in the reference; 512 measured here).
    #[config(default = 512)]
    pub directions: usize,
    /// Quadrature knots on `[0, t_max]`.
    #[config(default = 17)]
    pub knots: usize,
    /// Upper end of the frequency range.
    #[config(default = 3.0)]
    pub t_max: f64,
    /// Weight of the inverse-dynamics loss added to SIGReg (`None` or 0: SIGReg alone, as in
    /// LeWM; an `Option` so that older checkpoints still load). SIGReg alone spreads the
    /// latent over what varies most between frames and drops a small agent: on push, after
    /// 1,238 steps, a readout of the pusher's position was 46 cm off (chance) where VICReg
    /// with inverse dynamics kept it to 4 cm; VICReg in turn lost the block's yaw (85° off,
    /// SIGReg 23°). The inverse-dynamics term makes the latent keep what the actions move.
    pub inverse_dynamics_weight: Option<f64>,
    /// The inverse-dynamics gradient reaches only the latent's last this-many dimensions
    /// (`None`: all of them); the head still reads the whole latent. On push after 1,238
    /// steps, confining it to 16 dimensions kept the pusher to 11 cm and the block's yaw to
    /// 54°, between SIGReg alone and the term on every dimension (README, "push: exploration
    /// and regulariser"); a separate stack of convolutions for those 16 dimensions, tried too,
    /// did no better (9 cm, 52°) at half the training speed.
    pub inverse_dynamics_dims: Option<usize>,
}

/// VICReg's variance and covariance terms.
///
/// # Shapes
/// - `latents`: `[n, d]` with `n ≥ 2`
/// - output: `(variance, covariance)`, each `[1]`
pub fn vicreg_terms(latents: Tensor<2>, std_target: f64) -> (Tensor<1>, Tensor<1>) {
    let [n, d] = latents.dims();
    let centred = latents.clone() - latents.mean_dim(0); // [n, d]
    let var = centred
        .clone()
        .powi_scalar(2)
        .sum_dim(0)
        .div_scalar((n - 1) as f64); // [1, d]
    let std = var.clone().add_scalar(1e-4).sqrt();
    let variance = std.neg().add_scalar(std_target).clamp_min(0.0).mean();
    let cov = centred
        .clone()
        .transpose()
        .matmul(centred)
        .div_scalar((n - 1) as f64); // [d, d]
    let off_diagonal = cov.powi_scalar(2).sum() - var.powi_scalar(2).sum();
    (variance, off_diagonal.div_scalar(d as f64))
}

/// `count` random unit directions in `dim` dimensions, drawn from `rng` (so runs are
/// reproducible whatever Burn's own generator does).
///
/// # Shapes
/// - output: `[dim, count]`, each column of unit length
pub fn sigreg_directions(
    rng: &mut impl rand::Rng,
    dim: usize,
    count: usize,
    device: &Device,
) -> Tensor<2> {
    let mut values = vec![0.0f32; dim * count];
    for column in 0..count {
        let mut norm = 0.0f32;
        for row in 0..dim {
            // Box–Muller: a standard normal from two uniforms.
            let u1: f32 = rng.random_range(f32::EPSILON..1.0);
            let u2: f32 = rng.random_range(0.0..1.0);
            let g = (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos();
            values[row * count + column] = g;
            norm += g * g;
        }
        let norm = norm.sqrt().max(1e-12);
        for row in 0..dim {
            values[row * count + column] /= norm;
        }
    }
    Tensor::from_data(TensorData::new(values, [dim, count]), device)
}

/// The sketched Epps–Pulley statistic of the latents against an isotropic standard Gaussian,
/// averaged over directions: about 0 for Gaussian samples, large for collapsed ones.
///
/// # Shapes
/// - `latents`: `[n, d]`; `directions`: `[d, m]` (unit columns)
/// - output: `[1]`
pub fn sigreg_loss(latents: Tensor<2>, directions: Tensor<2>, config: &SigregConfig) -> Tensor<1> {
    let [n, _] = latents.dims();
    let device = latents.device();
    let j = config.knots.max(2);
    let step = config.t_max / (j - 1) as f64;
    let t: Vec<f32> = (0..j).map(|i| (i as f64 * step) as f32).collect();
    // Trapezoid weights times the Gaussian window exp(-t²/2); doubled because the integrand is
    // even and we integrate over [0, t_max] only.
    let weights: Vec<f32> = t
        .iter()
        .enumerate()
        .map(|(i, ti)| {
            let trapezoid = if i == 0 || i == j - 1 { 0.5 } else { 1.0 };
            (2.0 * step * trapezoid) as f32 * (-0.5 * ti * ti).exp()
        })
        .collect();
    let target: Vec<f32> = t.iter().map(|ti| (-0.5 * ti * ti).exp()).collect();
    let t = Tensor::<3>::from_data(TensorData::new(t, [1, 1, j]), &device);
    let weights = Tensor::<3>::from_data(TensorData::new(weights, [1, 1, j]), &device);
    let target = Tensor::<3>::from_data(TensorData::new(target, [1, 1, j]), &device);

    let projected = latents.matmul(directions); // [n, m]
    let x = projected.unsqueeze_dim::<3>(2) * t; // [n, m, j]
    let real = x.clone().cos().mean_dim(0); // [1, m, j]
    let imaginary = x.sin().mean_dim(0); // [1, m, j]
    let error = (real - target).powi_scalar(2) + imaginary.powi_scalar(2); // [1, m, j]
    (error * weights).sum_dim(2).mul_scalar(n as f64).mean() // mean over m of [1, m, 1]
}
