//! The JEPA world model: a convolutional encoder from pixels to a latent vector, an
//! action-conditioned predictor of the next latent, an inverse-dynamics head, and the
//! anti-collapse regularisers (SIGReg, VICReg). Every layer is a Burn `Config` + `Module` pair.

mod encoder;
mod inverse_dynamics;
mod jepa;
mod predictor;
mod regularizer;

pub use self::encoder::{ConvEncoder, ConvEncoderConfig, PROPRIO_DIM};
pub use self::inverse_dynamics::{InverseDynamics, InverseDynamicsConfig};
pub use self::jepa::{
    EpisodeContextConfig, JepaConfig, JepaModel, LossTerms, frames_to_tensor, proprio_to_tensor,
};
pub use self::predictor::{ActionConditioning, Predictor, PredictorConfig};
pub use self::regularizer::{
    RegularizerConfig, SigregConfig, VicregConfig, sigreg_directions, sigreg_loss, vicreg_terms,
};
