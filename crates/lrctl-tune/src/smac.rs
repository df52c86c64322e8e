//! SMAC-style model-based Hyperband: a random-forest surrogate with expected improvement.

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use smartcore::linalg::basic::matrix::DenseMatrix;
use smartcore::tree::decision_tree_regressor::{
    DecisionTreeRegressor, DecisionTreeRegressorParameters,
};

use crate::hyperband::{BracketSchedule, Hyperband};
use crate::sampler::{Sampler, largest_budget_data, random_unit, sampler_rng};
use crate::space::{Config, Fidelity, SearchSpace};
use crate::tuner::{History, TuneError};

/// SMAC-style Hyperband: [`Hyperband`] brackets with configurations from a [`ForestSampler`]
/// (registry name "smac").
pub type SmacHyperband = Hyperband<ForestSampler>;

/// Model-based Hyperband in the style of SMAC3's multi-fidelity facade (Lindauer, Eggensperger,
/// Feurer, Biedenkapp, Deng, Benjamins, Ruhkopf, Sass & Hutter 2022, "SMAC3: a versatile
/// Bayesian optimization package for hyperparameter optimization", JMLR 23) with its defaults.
pub fn smac(space: SearchSpace, fidelity: Fidelity, seed: u64) -> Result<SmacHyperband, TuneError> {
    Hyperband::with_sampler(
        "smac",
        space,
        fidelity,
        BracketSchedule::Hyperband,
        ForestSampler::new(seed),
    )
}

/// A random forest of smartcore regression trees on bootstrap samples that also reports the
/// spread of its trees, the uncertainty estimate of SMAC's surrogate (Hutter, Hoos &
/// Leyton-Brown 2011, "Sequential model-based optimization for general algorithm
/// configuration", LION 5). smartcore's own forest does not expose per-tree predictions.
#[derive(Debug)]
pub struct RandomForest {
    trees: Vec<DecisionTreeRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>>,
}

impl RandomForest {
    /// Fits `n_trees` trees (fully grown: leaves of one sample, as in SMAC3) on bootstrap
    /// samples of `(x, y)`; `None` without data or when smartcore fails.
    pub fn fit(x: &[Vec<f64>], y: &[f64], n_trees: usize, rng: &mut impl Rng) -> Option<Self> {
        if x.is_empty() || x[0].is_empty() || x.len() != y.len() {
            return None;
        }
        let n = x.len();
        let mut trees = Vec::with_capacity(n_trees);
        for _ in 0..n_trees.max(1) {
            let rows: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            let bx: Vec<Vec<f64>> = rows.iter().map(|&i| x[i].clone()).collect();
            let by: Vec<f64> = rows.iter().map(|&i| y[i]).collect();
            let matrix = DenseMatrix::from_2d_vec(&bx).ok()?;
            let params = DecisionTreeRegressorParameters {
                max_depth: Some(20),
                min_samples_leaf: 1,
                min_samples_split: 2,
                seed: Some(rng.next_u64()),
            };
            trees.push(DecisionTreeRegressor::fit(&matrix, &by, params).ok()?);
        }
        Some(RandomForest { trees })
    }

    /// Mean and variance across the trees of the prediction at every point.
    pub fn predict(&self, points: &[Vec<f64>]) -> Vec<(f64, f64)> {
        if points.is_empty() {
            return Vec::new();
        }
        let Ok(matrix) = DenseMatrix::from_2d_vec(&points.to_vec()) else {
            return Vec::new();
        };
        let per_tree: Vec<Vec<f64>> = self
            .trees
            .iter()
            .filter_map(|t| t.predict(&matrix).ok())
            .collect();
        let k = per_tree.len().max(1) as f64;
        (0..points.len())
            .map(|i| {
                let mean = per_tree.iter().map(|p| p[i]).sum::<f64>() / k;
                let var = per_tree.iter().map(|p| (p[i] - mean).powi(2)).sum::<f64>() / k;
                (mean, var)
            })
            .collect()
    }
}

/// Expected improvement over `best` (minimisation) of a Gaussian `N(mean, var)` prediction
/// (Jones, Schonlau & Welch 1998).
pub fn expected_improvement(mean: f64, var: f64, best: f64) -> f64 {
    let sd = var.max(0.0).sqrt();
    if sd < 1e-12 {
        return (best - mean).max(0.0);
    }
    let z = (best - mean) / sd;
    let cdf = 0.5 * statrs::function::erf::erfc(-z / std::f64::consts::SQRT_2);
    let pdf = (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt();
    (best - mean) * cdf + sd * pdf
}

/// SMAC's proposal mechanism over Hyperband brackets.
///
/// With probability `random_probability` (0.2, SMAC3's random design) a configuration is
/// drawn uniformly ("random interleaving"). Otherwise a [`RandomForest`] of `n_trees` (10)
/// trees is fitted on the unit-cube coordinates and standardised scores of the largest budget
/// with at least `min_points` (default `d + 1`) finished trials (SMAC3's multi-fidelity config
/// selector likewise trains on the highest budget with enough trials), and the proposal
/// maximises [`expected_improvement`] over the best observed score at that budget, searched
/// over `n_random` (1000) uniform candidates plus a local search: from the `n_local` (5) best
/// observed configurations and the 5 best random candidates, move to the best of `4 d` one-
/// coordinate Gaussian perturbations (sd 0.2, ConfigSpace's neighbourhood) while that improves
/// EI, at most 10 steps (SMAC3's local-and-sorted-random search, smaller).
///
/// Deviations from SMAC3: scores are standardised rather than log-transformed (losses may be
/// negative), every tree considers every feature at each split (smartcore's regression tree),
/// and there are fewer random candidates (1000 instead of 10 000) to keep proposals cheap.
/// Non-finite scores are replaced by the worst finite score at that budget.
#[derive(Debug, Clone)]
pub struct ForestSampler {
    rng: ChaCha8Rng,
    /// Probability of a uniform draw (random interleaving).
    pub random_probability: f64,
    /// Trees in the forest.
    pub n_trees: usize,
    /// Minimum finished trials at a budget to fit the model there; `None` = dimension + 1.
    pub min_points: Option<usize>,
    /// Uniform candidates per proposal.
    pub n_random: usize,
    /// Observed configurations that start a local search.
    pub n_local: usize,
}

impl ForestSampler {
    /// The sampler with SMAC3-like defaults, seeded with `seed`.
    pub fn new(seed: u64) -> ForestSampler {
        ForestSampler {
            rng: sampler_rng(seed),
            random_probability: 0.2,
            n_trees: 10,
            min_points: None,
            n_random: 1000,
            n_local: 5,
        }
    }

    /// The EI-maximising point, `None` without enough data.
    fn model_proposal(&mut self, space: &SearchSpace, history: &History) -> Option<Vec<f64>> {
        let d = space.dim();
        let data = largest_budget_data(space, history, self.min_points.unwrap_or(d + 1))?;
        let n = data.y.len() as f64;
        let mean = data.y.iter().sum::<f64>() / n;
        let sd = (data.y.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n).sqrt();
        let sd = if sd > 0.0 { sd } else { 1.0 };
        let y: Vec<f64> = data.y.iter().map(|y| (y - mean) / sd).collect();
        let forest = RandomForest::fit(&data.x, &y, self.n_trees, &mut self.rng)?;
        let best = y.iter().copied().fold(f64::INFINITY, f64::min);
        let ei = |points: &[Vec<f64>]| -> Vec<f64> {
            forest
                .predict(points)
                .into_iter()
                .map(|(m, v)| expected_improvement(m, v, best))
                .collect()
        };

        let random: Vec<Vec<f64>> = (0..self.n_random)
            .map(|_| random_unit(&mut self.rng, d))
            .collect();
        let random_ei = ei(&random);
        let mut order: Vec<usize> = (0..random.len()).collect();
        order.sort_by(|&a, &b| random_ei[b].total_cmp(&random_ei[a]).then(a.cmp(&b)));
        let mut champion: Option<(f64, Vec<f64>)> =
            order.first().map(|&i| (random_ei[i], random[i].clone()));

        // `data.x` is sorted best first.
        let starts: Vec<(Vec<f64>, f64)> = data
            .x
            .iter()
            .take(self.n_local)
            .cloned()
            .zip(ei(&data.x[..self.n_local.min(data.x.len())]))
            .chain(
                order
                    .iter()
                    .take(5)
                    .map(|&i| (random[i].clone(), random_ei[i])),
            )
            .collect();
        let step = Normal::new(0.0, 0.2).expect("positive sd");
        for (mut x, mut value) in starts {
            for _ in 0..10 {
                let neighbours: Vec<Vec<f64>> = (0..d)
                    .flat_map(|j| std::iter::repeat_n(j, 4))
                    .map(|j| {
                        let mut y = x.clone();
                        y[j] = (y[j] + step.sample(&mut self.rng)).clamp(0.0, 1.0);
                        y
                    })
                    .collect();
                let values = ei(&neighbours);
                let Some((i, &v)) = values
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                else {
                    break;
                };
                if v <= value {
                    break;
                }
                x = neighbours[i].clone();
                value = v;
            }
            if champion.as_ref().is_none_or(|(c, _)| value > *c) {
                champion = Some((value, x));
            }
        }
        champion.map(|(_, x)| x)
    }
}

impl Sampler for ForestSampler {
    fn propose(&mut self, space: &SearchSpace, history: &History) -> Config {
        let u = if self.rng.random::<f64>() < self.random_probability {
            None
        } else {
            self.model_proposal(space, history)
        };
        let u = u.unwrap_or_else(|| random_unit(&mut self.rng, space.dim()));
        space.from_unit(&u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn expected_improvement_formula() {
        // At the incumbent's mean: sd · φ(0).
        let ei = expected_improvement(0.0, 1.0, 0.0);
        assert!((ei - 0.398_942_280_4).abs() < 1e-9);
        // No uncertainty: plain improvement.
        assert_eq!(expected_improvement(1.0, 0.0, 3.0), 2.0);
        assert_eq!(expected_improvement(3.0, 0.0, 1.0), 0.0);
        // More uncertainty, more EI; better mean, more EI.
        assert!(expected_improvement(1.0, 4.0, 0.0) > expected_improvement(1.0, 1.0, 0.0));
        assert!(expected_improvement(0.5, 1.0, 0.0) > expected_improvement(1.0, 1.0, 0.0));
    }

    #[test]
    fn forest_fits_and_is_uncertain_where_trees_disagree() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let x: Vec<Vec<f64>> = (0..40).map(|i| vec![i as f64 / 39.0]).collect();
        let y: Vec<f64> = x.iter().map(|p| (p[0] - 0.3).powi(2)).collect();
        let forest = RandomForest::fit(&x, &y, 10, &mut rng).unwrap();
        let pred = forest.predict(&[vec![0.3], vec![0.95]]);
        assert!(pred[0].0 < 0.01, "{pred:?}");
        assert!((pred[1].0 - 0.4225).abs() < 0.05, "{pred:?}");
        assert!(pred.iter().all(|&(_, v)| v >= 0.0));
    }
}
