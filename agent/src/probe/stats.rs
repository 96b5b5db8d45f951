//! Statistics of latents: ridge probes, R², effective rank, Spearman rank correlation.

use nalgebra::{DMatrix, DVector, SymmetricEigen};

/// A linear map `y ≈ [x, 1] · W` fitted by ridge regression on standardised inputs.
#[derive(Clone, Debug)]
pub struct RidgeProbe {
    mean: DVector<f64>,
    scale: DVector<f64>,
    weights: DMatrix<f64>,
}

impl RidgeProbe {
    /// Fits `targets` (`n × m`) from `inputs` (`n × d`) with penalty `lambda` (on the
    /// standardised inputs; the bias is not penalised). `None` if the system is singular.
    pub fn fit(inputs: &DMatrix<f64>, targets: &DMatrix<f64>, lambda: f64) -> Option<Self> {
        let (n, d) = inputs.shape();
        if n == 0 || targets.nrows() != n {
            return None;
        }
        let mean = DVector::from_iterator(d, inputs.column_iter().map(|c| c.mean()));
        let scale = DVector::from_iterator(
            d,
            inputs
                .column_iter()
                .zip(mean.iter())
                .map(|(c, m)| (c.map(|v| (v - m).powi(2)).mean()).sqrt().max(1e-8)),
        );
        let x = Self::design(inputs, &mean, &scale);
        let mut gram = x.transpose() * &x;
        for i in 0..d {
            gram[(i, i)] += lambda;
        }
        let rhs = x.transpose() * targets;
        let weights = gram.cholesky()?.solve(&rhs);
        Some(Self {
            mean,
            scale,
            weights,
        })
    }

    fn design(inputs: &DMatrix<f64>, mean: &DVector<f64>, scale: &DVector<f64>) -> DMatrix<f64> {
        let (n, d) = inputs.shape();
        DMatrix::from_fn(n, d + 1, |r, c| {
            if c == d {
                1.0
            } else {
                (inputs[(r, c)] - mean[c]) / scale[c]
            }
        })
    }

    /// Predictions for `inputs` (`n × d`) → `n × m`.
    pub fn predict(&self, inputs: &DMatrix<f64>) -> DMatrix<f64> {
        Self::design(inputs, &self.mean, &self.scale) * &self.weights
    }
}

/// Coefficient of determination of each target column: `1 - SSE / SST`.
pub fn r_squared(predicted: &DMatrix<f64>, actual: &DMatrix<f64>) -> Vec<f64> {
    actual
        .column_iter()
        .zip(predicted.column_iter())
        .map(|(y, p)| {
            let mean = y.mean();
            let sst: f64 = y.iter().map(|v| (v - mean).powi(2)).sum();
            let sse: f64 = y.iter().zip(p.iter()).map(|(a, b)| (a - b).powi(2)).sum();
            if sst <= 0.0 { 0.0 } else { 1.0 - sse / sst }
        })
        .collect()
}

/// The effective rank of a set of vectors (rows): `exp(entropy)` of the normalised eigenvalues
/// of their covariance (Roy & Vetterli 2007). Between 1 (collapsed to a line) and `d`.
pub fn effective_rank(rows: &DMatrix<f64>) -> f64 {
    let cov = covariance(rows);
    let eigen = SymmetricEigen::new(cov);
    let values: Vec<f64> = eigen.eigenvalues.iter().map(|v| v.max(0.0)).collect();
    let total: f64 = values.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let entropy: f64 = values
        .iter()
        .map(|v| v / total)
        .filter(|p| *p > 0.0)
        .map(|p| -p * p.ln())
        .sum();
    entropy.exp()
}

/// Covariance of the rows' columns (`d × d`).
pub fn covariance(rows: &DMatrix<f64>) -> DMatrix<f64> {
    let n = rows.nrows().max(2) as f64;
    let mean = DVector::from_iterator(rows.ncols(), rows.column_iter().map(|c| c.mean()));
    let centred = DMatrix::from_fn(rows.nrows(), rows.ncols(), |r, c| rows[(r, c)] - mean[c]);
    centred.transpose() * &centred / (n - 1.0)
}

/// Standard deviation of each column.
pub fn column_std(rows: &DMatrix<f64>) -> Vec<f64> {
    rows.column_iter()
        .map(|c| {
            let m = c.mean();
            (c.map(|v| (v - m).powi(2)).sum() / (c.len().max(2) - 1) as f64).sqrt()
        })
        .collect()
}

fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        // Ties share the mean of their ranks.
        let rank = (i + j) as f64 / 2.0;
        for k in i..=j {
            ranks[order[k]] = rank;
        }
        i = j + 1;
    }
    ranks
}

/// Spearman's rank correlation of two equally long samples.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    pearson(&ra, &rb)
}

/// Pearson's correlation of two equally long samples (0 when either is constant).
pub fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len()) as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma).powi(2);
        sbb += (y - mb).powi(2);
    }
    if saa <= 0.0 || sbb <= 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ridge_recovers_a_linear_map() {
        let x = DMatrix::from_fn(200, 3, |r, c| {
            ((r * 7 + c * 13) % 17) as f64 - 8.0 + c as f64 * 0.1 * r as f64
        });
        let y = DMatrix::from_fn(200, 2, |r, c| {
            if c == 0 {
                2.0 * x[(r, 0)] - x[(r, 2)] + 1.0
            } else {
                0.5 * x[(r, 1)]
            }
        });
        let probe = RidgeProbe::fit(&x, &y, 1e-6).expect("fit");
        let r2 = r_squared(&probe.predict(&x), &y);
        assert!(r2.iter().all(|v| *v > 0.9999), "{r2:?}");
    }

    #[test]
    fn effective_rank_of_isotropic_and_collapsed_sets() {
        // Rows ±e_i, repeated: zero mean and isotropic covariance in d dims.
        let d = 8;
        let iso = DMatrix::from_fn(400, d, |r, c| {
            let sign = if (r / d) % 2 == 0 { 1.0 } else { -1.0 };
            if r % d == c { sign } else { 0.0 }
        });
        let rank = effective_rank(&iso);
        assert!((rank - d as f64).abs() < 0.05, "{rank}");
        let line = DMatrix::from_fn(400, d, |r, c| r as f64 * (c + 1) as f64);
        assert!(effective_rank(&line) < 1.01);
    }

    #[test]
    fn spearman_sees_monotone_relations_and_ignores_scale() {
        let a: Vec<f64> = (0..50).map(f64::from).collect();
        let b: Vec<f64> = a.iter().map(|v| v.powi(3)).collect();
        assert!((spearman(&a, &b) - 1.0).abs() < 1e-12);
        let c: Vec<f64> = a.iter().rev().copied().collect();
        assert!((spearman(&a, &c) + 1.0).abs() < 1e-12);
    }
}
