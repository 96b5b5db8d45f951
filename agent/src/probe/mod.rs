//! Diagnostics of a trained model: linear and MLP probes of the true state, open-loop
//! prediction error against controls, collapse indicators and latent geometry.

mod report;
mod stats;

pub use self::report::{OpenLoopRow, ProbeOptions, ProbeReport, probe_model};
pub use self::stats::{
    RidgeProbe, column_std, covariance, effective_rank, pearson, r_squared, spearman,
};
