//! BOHB: Hyperband with a TPE-style kernel-density sampler.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};

use crate::hyperband::{BracketSchedule, Hyperband};
use crate::sampler::{Sampler, largest_budget_data, random_unit, sampler_rng};
use crate::space::{Config, Fidelity, SearchSpace};
use crate::tuner::{History, TuneError};

/// BOHB: [`Hyperband`] brackets with configurations from a [`KdeSampler`] (registry name
/// "bohb").
pub type Bohb = Hyperband<KdeSampler>;

/// BOHB (Falkner, Klein & Hutter 2018, "BOHB: robust and efficient hyperparameter optimization
/// at scale", ICML) with the paper's defaults.
pub fn bohb(space: SearchSpace, fidelity: Fidelity, seed: u64) -> Result<Bohb, TuneError> {
    Hyperband::with_sampler(
        "bohb",
        space,
        fidelity,
        BracketSchedule::Hyperband,
        KdeSampler::new(seed),
    )
}

/// The TPE-style sampler of BOHB (Falkner et al. 2018, Algorithm 2; Bergstra, Bardenet, Bengio
/// & Kégl 2011, "Algorithms for hyper-parameter optimization", NeurIPS).
///
/// With probability `random_fraction` (1/3) a configuration is drawn uniformly. Otherwise the
/// model uses the largest budget `b` with `N_b >= min_points + 2` finished trials
/// (`min_points = d + 1` by default): the best `n_l = max(min_points, floor(top_fraction · N_b))`
/// form the "good" set, the worst `n_g = max(min_points, N_b − n_l)` the "bad" set (they may
/// overlap when `N_b` is small, as in the paper), and a product-Gaussian kernel density
/// estimator over the unit cube is fitted to each (`l(x)` and `g(x)`; per-dimension bandwidth by
/// Scott's normal-reference rule `1.06 σ n^(−1/(4+d))`, at least `min_bandwidth`). Of
/// `n_candidates` (64) points drawn from `l` with bandwidths widened by `bandwidth_factor` (3),
/// truncated to `[0, 1]`, the one maximising `l(x) / g(x)` is proposed. Without a budget with
/// enough data the draw is uniform.
///
/// Only the ranks of scores matter, so non-finite scores need no special handling.
///
/// Why not the `tpe` crate: it optimises one parameter at a time with its own stored history,
/// whereas BOHB needs a multivariate KDE refitted per budget from the tuner's history, and it
/// builds on rand 0.10 while this workspace uses rand 0.9. The estimator is fifty lines.
#[derive(Debug, Clone)]
pub struct KdeSampler {
    rng: ChaCha8Rng,
    /// Probability of a uniform draw instead of a model-based one.
    pub random_fraction: f64,
    /// Fraction of the observations in the good set (`q`, 0.15).
    pub top_fraction: f64,
    /// Minimum points per density (`N_min`); `None` = dimension + 1.
    pub min_points: Option<usize>,
    /// Candidates drawn from the good density per proposal.
    pub n_candidates: usize,
    /// Widening of the bandwidths when drawing candidates.
    pub bandwidth_factor: f64,
    /// Smallest bandwidth (in unit-cube coordinates).
    pub min_bandwidth: f64,
}

impl KdeSampler {
    /// The sampler with BOHB's defaults, seeded with `seed`.
    pub fn new(seed: u64) -> KdeSampler {
        KdeSampler {
            rng: sampler_rng(seed),
            random_fraction: 1.0 / 3.0,
            top_fraction: 0.15,
            min_points: None,
            n_candidates: 64,
            bandwidth_factor: 3.0,
            min_bandwidth: 1e-3,
        }
    }

    /// The model-based proposal in unit-cube coordinates, `None` without enough data.
    fn model_proposal(&mut self, space: &SearchSpace, history: &History) -> Option<Vec<f64>> {
        let d = space.dim();
        let n_min = self.min_points.unwrap_or(d + 1).max(1);
        let data = largest_budget_data(space, history, n_min + 2)?;
        // `data.x` is sorted best first.
        let n = data.x.len();
        let n_good = n_min
            .max((self.top_fraction * n as f64).floor() as usize)
            .min(n);
        let n_bad = n_min.max(n - n_good).min(n);
        let good = Kde::fit(&data.x[..n_good], self.min_bandwidth);
        let bad = Kde::fit(&data.x[n - n_bad..], self.min_bandwidth);
        let mut best: Option<(f64, Vec<f64>)> = None;
        for _ in 0..self.n_candidates {
            let centre = &good.points[self.rng.random_range(0..good.points.len())];
            let x: Vec<f64> = centre
                .iter()
                .zip(&good.bandwidth)
                .map(|(&m, &bw)| truncated_normal(&mut self.rng, m, bw * self.bandwidth_factor))
                .collect();
            let ratio = good.log_density(&x) - bad.log_density(&x);
            if best.as_ref().is_none_or(|(b, _)| ratio > *b) {
                best = Some((ratio, x));
            }
        }
        best.map(|(_, x)| x)
    }
}

impl Sampler for KdeSampler {
    fn propose(&mut self, space: &SearchSpace, history: &History) -> Config {
        let u = if self.rng.random::<f64>() < self.random_fraction {
            None
        } else {
            self.model_proposal(space, history)
        };
        let u = u.unwrap_or_else(|| random_unit(&mut self.rng, space.dim()));
        space.from_unit(&u)
    }
}

/// A product-Gaussian kernel density estimate.
struct Kde {
    points: Vec<Vec<f64>>,
    bandwidth: Vec<f64>,
}

impl Kde {
    /// Fits on `points` (non-empty) with Scott's rule per dimension.
    fn fit(points: &[Vec<f64>], min_bandwidth: f64) -> Kde {
        let n = points.len() as f64;
        let d = points[0].len();
        let bandwidth = (0..d)
            .map(|j| {
                let mean = points.iter().map(|p| p[j]).sum::<f64>() / n;
                let var = points.iter().map(|p| (p[j] - mean).powi(2)).sum::<f64>() / n;
                (1.06 * var.sqrt() * n.powf(-1.0 / (4.0 + d as f64))).max(min_bandwidth)
            })
            .collect();
        Kde {
            points: points.to_vec(),
            bandwidth,
        }
    }

    /// `ln p(x)`, computed with log-sum-exp so that far-away points do not underflow to 0.
    fn log_density(&self, x: &[f64]) -> f64 {
        let norm: f64 = self
            .bandwidth
            .iter()
            .map(|bw| -(bw * (2.0 * std::f64::consts::PI).sqrt()).ln())
            .sum();
        let logs: Vec<f64> = self
            .points
            .iter()
            .map(|p| {
                norm - p
                    .iter()
                    .zip(x)
                    .zip(&self.bandwidth)
                    .map(|((&m, &v), &bw)| 0.5 * ((v - m) / bw).powi(2))
                    .sum::<f64>()
            })
            .collect();
        let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        max + logs.iter().map(|l| (l - max).exp()).sum::<f64>().ln() - (logs.len() as f64).ln()
    }
}

/// A draw from `N(mean, sd²)` truncated to `[0, 1]` (rejection; clamped after 100 misses,
/// which only happens for a tiny sd far outside the cube).
fn truncated_normal(rng: &mut ChaCha8Rng, mean: f64, sd: f64) -> f64 {
    let normal = Normal::new(mean, sd.max(1e-12)).expect("positive sd");
    for _ in 0..100 {
        let v = normal.sample(rng);
        if (0.0..=1.0).contains(&v) {
            return v;
        }
    }
    mean.clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::space::Param;
    use rand::SeedableRng;

    #[test]
    fn kde_density_peaks_at_its_points() {
        let kde = Kde::fit(&[vec![0.2, 0.2], vec![0.25, 0.2], vec![0.2, 0.3]], 1e-3);
        assert!(kde.log_density(&[0.22, 0.23]) > kde.log_density(&[0.8, 0.8]));
        // Far away the log density is finite (no underflow to -inf).
        assert!(kde.log_density(&[1.0, 1.0]).is_finite());
    }

    #[test]
    fn proposals_concentrate_near_the_good_region() {
        let space = SearchSpace::new(vec![
            Param::float("a", 0.0, 1.0, false),
            Param::float("b", 0.0, 1.0, false),
        ])
        .unwrap();
        let mut history = History::new();
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..60 {
            let c = space.sample(&mut rng);
            let score = (c["a"] - 0.1).powi(2) + (c["b"] - 0.9).powi(2);
            let id = history.issue(c, 9, 0, 0, None).id;
            history.tell(id, score).unwrap();
        }
        let mut sampler = KdeSampler::new(1);
        sampler.random_fraction = 0.0;
        let mean_dist = (0..50)
            .map(|_| {
                let c = sampler.propose(&space, &history);
                ((c["a"] - 0.1).powi(2) + (c["b"] - 0.9).powi(2)).sqrt()
            })
            .sum::<f64>()
            / 50.0;
        // Uniform points lie about 0.6 away on average.
        assert!(mean_dist < 0.2, "{mean_dist}");
    }
}
