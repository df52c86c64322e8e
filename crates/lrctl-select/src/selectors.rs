//! The [`Selector`] trait and its implementations.

use smartcore::ensemble::random_forest_regressor::{
    RandomForestRegressor, RandomForestRegressorParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;

use crate::features::Standardizer;

/// Names accepted by [`selector`], in a fixed order.
pub const SELECTOR_NAMES: [&str; 4] = ["sbs", "regression", "pairwise", "knn"];

/// Seed used by [`selector`] (and so by [`evaluate_loto`](crate::evaluate_loto)).
pub const DEFAULT_SEED: u64 = 0;

/// An algorithm selector: learns from training tasks which method does well where, then scores
/// every method on a new task from that task's meta-features.
///
/// `fit` gets the training tasks' features (`features[task][feature]`) and performance
/// (`performance[task][method]`, normalised mean scores, higher is better, e.g. from
/// [`performance_matrix`](crate::performance_matrix)). A NaN performance is read as 0, the worst
/// normalised score. Feature values may be missing (non-finite): every implementation here
/// standardises internally with a [`Standardizer`] fitted on the training rows, which imputes
/// the training mean. `fit` replaces whatever an earlier `fit` learnt.
///
/// `predict` returns one predicted score per method (of the last `fit`; an empty vector before
/// any `fit` or after a `fit` on no tasks). Only the order of the scores matters for
/// [`Selector::select`]; their scale is selector-specific.
pub trait Selector {
    /// Registry name of the selector (see [`SELECTOR_NAMES`]).
    fn name(&self) -> &str;
    /// Learns from the training tasks (`features[task][feature]`,
    /// `performance[task][method]`).
    fn fit(&mut self, features: &[Vec<f64>], performance: &[Vec<f64>]);
    /// Predicted score of every method on a task with these features.
    fn predict(&self, features: &[f64]) -> Vec<f64>;
    /// The method with the highest predicted score ([`argmax`]); `None` when there is nothing to
    /// choose from (no methods, or fitted on no tasks).
    fn select(&self, features: &[f64]) -> Option<usize> {
        argmax(&self.predict(features))
    }
}

/// Index of the largest value, the first on ties, skipping NaN; `None` if there is none.
pub fn argmax(values: &[f64]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, &v) in values.iter().enumerate() {
        if !v.is_nan() && best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

/// The selector called `name` (one of [`SELECTOR_NAMES`]) with default settings and
/// [`DEFAULT_SEED`]; `None` for an unknown name.
pub fn selector(name: &str) -> Option<Box<dyn Selector>> {
    selector_with_seed(name, DEFAULT_SEED)
}

/// The selector called `name` with default settings, seeding its randomness (the forests) with
/// `seed`; `None` for an unknown name. The same seed and training data give the same
/// predictions.
pub fn selector_with_seed(name: &str, seed: u64) -> Option<Box<dyn Selector>> {
    match name {
        "sbs" => Some(Box::new(SingleBest::new())),
        "regression" => Some(Box::new(PerMethodRegression::new(seed))),
        "pairwise" => Some(Box::new(PairwiseClassification::new(seed))),
        "knn" => Some(Box::new(KNearestTasks::new(KNearestTasks::DEFAULT_K))),
        _ => None,
    }
}

/// Number of methods in `performance` (the length of its first row; 0 without rows).
fn n_methods(performance: &[Vec<f64>]) -> usize {
    performance.first().map_or(0, Vec::len)
}

/// Number of features (the length of the first row; 0 without rows).
fn n_features(features: &[Vec<f64>]) -> usize {
    features.first().map_or(0, Vec::len)
}

/// `performance[task][method]`, NaN (or a missing entry) read as 0.
fn perf(performance: &[Vec<f64>], task: usize, method: usize) -> f64 {
    match performance[task].get(method) {
        Some(x) if !x.is_nan() => *x,
        _ => 0.0,
    }
}

/// Mean training performance of every method.
fn method_means(performance: &[Vec<f64>]) -> Vec<f64> {
    let (n_t, n_m) = (performance.len(), n_methods(performance));
    (0..n_m)
        .map(|m| (0..n_t).map(|t| perf(performance, t, m)).sum::<f64>() / n_t as f64)
        .collect()
}

type Forest = RandomForestRegressor<f64, f64, DenseMatrix<f64>, Vec<f64>>;

/// A fitted random forest, or a constant where one could not (or need not) be fitted.
#[derive(Debug)]
enum Model {
    Forest(Box<Forest>, f64),
    Constant(f64),
}

impl Model {
    /// Fits a random forest of `params` on `(x, y)` with optional sample weights; a constant
    /// `fallback` when the forest cannot be fitted (no features, or a smartcore error).
    fn fit(
        x: &[Vec<f64>],
        y: &[f64],
        weights: Option<&[f64]>,
        params: RandomForestRegressorParameters,
        fallback: f64,
    ) -> Model {
        if x.is_empty() || n_features(x) == 0 {
            return Model::Constant(fallback);
        }
        let Ok(matrix) = DenseMatrix::from_2d_vec(&x.to_vec()) else {
            return Model::Constant(fallback);
        };
        let y = y.to_vec();
        let forest = match weights {
            Some(w) => Forest::fit_with_weights(&matrix, &y, w, params),
            None => Forest::fit(&matrix, &y, params),
        };
        match forest {
            Ok(f) => Model::Forest(Box::new(f), fallback),
            Err(_) => Model::Constant(fallback),
        }
    }

    fn predict(&self, z: &[f64]) -> f64 {
        match self {
            Model::Constant(c) => *c,
            Model::Forest(forest, fallback) => DenseMatrix::from_2d_vec(&vec![z.to_vec()])
                .ok()
                .and_then(|x| forest.predict(&x).ok())
                .and_then(|p| p.first().copied())
                .filter(|p| p.is_finite())
                .unwrap_or(*fallback),
        }
    }
}

/// Random-forest settings shared by the forest-based selectors: `n_trees` fully grown trees on
/// bootstrap samples, `√p` candidate features per split (smartcore's default), Breiman 2001,
/// "Random forests", Machine Learning 45.
fn forest_params(n_trees: usize, seed: u64) -> RandomForestRegressorParameters {
    RandomForestRegressorParameters::default()
        .with_n_trees(n_trees)
        .with_seed(seed)
}

/// Seed of the `index`-th forest of a selector seeded with `seed`. smartcore seeds tree `i` with
/// `seed + i`; the shift keeps the forests' tree seeds disjoint.
fn sub_seed(seed: u64, index: usize) -> u64 {
    seed.wrapping_add((index as u64) << 32)
}

// ---------------------------------------------------------------------------------------------

/// The single best solver (SBS) baseline: ignores the features and predicts every method's
/// mean training performance, so it always selects the method that is best on average over the
/// training tasks (the "winner-take-all" baseline of algorithm selection, e.g. Xu et al. 2012
/// and the ASlib benchmark, Bischl et al. 2016, "ASlib: a benchmark library for algorithm
/// selection", AIJ 237).
#[derive(Debug, Clone, Default)]
pub struct SingleBest {
    means: Vec<f64>,
}

impl SingleBest {
    /// An unfitted single-best selector.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Selector for SingleBest {
    fn name(&self) -> &str {
        "sbs"
    }

    fn fit(&mut self, _features: &[Vec<f64>], performance: &[Vec<f64>]) {
        self.means = method_means(performance);
    }

    fn predict(&self, _features: &[f64]) -> Vec<f64> {
        self.means.clone()
    }
}

// ---------------------------------------------------------------------------------------------

/// Per-method performance regression: one random-forest regressor per method maps the
/// (standardised) meta-features to the method's normalised performance; the method with the
/// highest predicted performance is selected. This is the empirical-hardness-model approach of
/// SATzilla (Xu, Hutter, Hoos & Leyton-Brown 2008, "SATzilla: portfolio-based algorithm
/// selection for SAT", JAIR 32), with random forests as the regression model (Hutter, Xu, Hoos
/// & Leyton-Brown 2014, "Algorithm runtime prediction: methods & evaluation", AIJ 206).
///
/// With fewer than [`PerMethodRegression::MIN_TASKS`] training tasks, or without features, a
/// forest is not worth fitting and each method is predicted by its mean training performance
/// (the [`SingleBest`] prediction).
#[derive(Debug)]
pub struct PerMethodRegression {
    /// Base seed; method `m`'s forest is seeded from it and `m`.
    pub seed: u64,
    /// Trees per forest.
    pub n_trees: usize,
    scaler: Option<Standardizer>,
    models: Vec<Model>,
}

impl PerMethodRegression {
    /// Fewest training tasks on which forests are fitted.
    pub const MIN_TASKS: usize = 3;
    /// Default number of trees per forest.
    pub const DEFAULT_TREES: usize = 100;

    /// An unfitted selector with [`PerMethodRegression::DEFAULT_TREES`] trees per forest.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            n_trees: Self::DEFAULT_TREES,
            scaler: None,
            models: Vec::new(),
        }
    }
}

impl Selector for PerMethodRegression {
    fn name(&self) -> &str {
        "regression"
    }

    fn fit(&mut self, features: &[Vec<f64>], performance: &[Vec<f64>]) {
        let scaler = Standardizer::fit(features, n_features(features));
        let x = scaler.transform_all(features);
        let means = method_means(performance);
        let use_forest =
            performance.len() >= Self::MIN_TASKS && features.len() == performance.len();
        self.models = means
            .iter()
            .enumerate()
            .map(|(m, &mean)| {
                if !use_forest {
                    return Model::Constant(mean);
                }
                let y: Vec<f64> = (0..performance.len())
                    .map(|t| perf(performance, t, m))
                    .collect();
                let params = forest_params(self.n_trees, sub_seed(self.seed, m));
                Model::fit(&x, &y, None, params, mean)
            })
            .collect();
        self.scaler = Some(scaler);
    }

    fn predict(&self, features: &[f64]) -> Vec<f64> {
        let z = self
            .scaler
            .as_ref()
            .map_or_else(Vec::new, |s| s.transform(features));
        self.models.iter().map(|model| model.predict(&z)).collect()
    }
}

// ---------------------------------------------------------------------------------------------

/// Cost-sensitive pairwise classification with voting, after SATzilla 2012 (Xu, Hutter, Hoos &
/// Leyton-Brown 2012, "SATzilla2012: improved algorithm selection based on cost-sensitive
/// classification models", SAT Challenge 2012 solver descriptions).
///
/// For every pair of methods `(i, j)` a classifier predicts which of the two is better on a
/// task; each pairwise winner gets a vote and the method with the most votes is selected.
/// Following SATzilla 2012 the classifiers are *cost-sensitive*: a training task is weighted by
/// the performance difference `|perf_i − perf_j|`, i.e. by what picking the wrong method of
/// the pair would cost there, so tasks where the pair barely differs hardly matter and tasks
/// with equal performance are ignored.
///
/// **Implementation choice.** SATzilla uses cost-sensitive decision forests. smartcore's random
/// forest classifier takes no sample weights, so each pairwise classifier here is a random
/// forest *regressor* on the label `+1` (i better) / `−1` (j better), fitted with
/// `fit_with_weights` and weights `|perf_i − perf_j|` (the weights drive the bootstrap
/// resampling, i.e. cost-proportionate sampling, Zadrozny, Langford & Abe 2003). Its prediction
/// in `[−1, 1]` is the cost-weighted vote margin of the forest; its sign gives the pairwise
/// winner (0 splits the vote). With fewer than [`PairwiseClassification::MIN_TASKS`] tasks
/// where the pair differs, or without features, the margin is the cost-weighted mean label over
/// the training tasks.
///
/// The predicted score of a method is its number of votes (a tie `0` counts half for both)
/// plus `0.24 ×` its mean margin against the others; the margin term lies in `(−0.25, 0.25)`,
/// so it only breaks ties between equal vote counts (multiples of one half).
#[derive(Debug)]
pub struct PairwiseClassification {
    /// Base seed; the forest of pair number `k` is seeded from it and `k`.
    pub seed: u64,
    /// Trees per forest.
    pub n_trees: usize,
    n_methods: usize,
    scaler: Option<Standardizer>,
    /// One model per pair `(i, j)`, `i < j`, in lexicographic order; predicts the margin of `i`
    /// over `j`.
    models: Vec<Model>,
}

impl PairwiseClassification {
    /// Fewest training tasks with a nonzero difference on which a pair's forest is fitted.
    pub const MIN_TASKS: usize = 3;
    /// Default number of trees per forest.
    pub const DEFAULT_TREES: usize = 100;

    /// An unfitted selector with [`PairwiseClassification::DEFAULT_TREES`] trees per forest.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            n_trees: Self::DEFAULT_TREES,
            n_methods: 0,
            scaler: None,
            models: Vec::new(),
        }
    }
}

impl Selector for PairwiseClassification {
    fn name(&self) -> &str {
        "pairwise"
    }

    fn fit(&mut self, features: &[Vec<f64>], performance: &[Vec<f64>]) {
        let scaler = Standardizer::fit(features, n_features(features));
        let x = scaler.transform_all(features);
        let n_t = performance.len();
        self.n_methods = if n_t == 0 { 0 } else { n_methods(performance) };
        self.models.clear();
        let mut pair = 0;
        for i in 0..self.n_methods {
            for j in i + 1..self.n_methods {
                let diffs: Vec<f64> = (0..n_t)
                    .map(|t| perf(performance, t, i) - perf(performance, t, j))
                    .collect();
                let labels: Vec<f64> = diffs
                    .iter()
                    .map(|&d| if d > 0.0 { 1.0 } else { -1.0 })
                    .collect();
                let weights: Vec<f64> = diffs.iter().map(|d| d.abs()).collect();
                let total: f64 = weights.iter().sum();
                let fallback = if total > 0.0 {
                    labels.iter().zip(&weights).map(|(l, w)| l * w).sum::<f64>() / total
                } else {
                    0.0
                };
                let informative = weights.iter().filter(|&&w| w > 0.0).count();
                let model = if informative >= Self::MIN_TASKS && x.len() == n_t {
                    let params = forest_params(self.n_trees, sub_seed(self.seed, pair));
                    Model::fit(&x, &labels, Some(&weights), params, fallback)
                } else {
                    Model::Constant(fallback)
                };
                self.models.push(model);
                pair += 1;
            }
        }
        self.scaler = Some(scaler);
    }

    fn predict(&self, features: &[f64]) -> Vec<f64> {
        let n = self.n_methods;
        let z = self
            .scaler
            .as_ref()
            .map_or_else(Vec::new, |s| s.transform(features));
        let mut votes = vec![0.0; n];
        let mut margin = vec![0.0; n];
        let mut models = self.models.iter();
        for i in 0..n {
            for j in i + 1..n {
                let Some(model) = models.next() else {
                    continue;
                };
                let p = model.predict(&z).clamp(-1.0, 1.0);
                if p > 0.0 {
                    votes[i] += 1.0;
                } else if p < 0.0 {
                    votes[j] += 1.0;
                } else {
                    votes[i] += 0.5;
                    votes[j] += 0.5;
                }
                margin[i] += p;
                margin[j] -= p;
            }
        }
        let others = n.saturating_sub(1).max(1) as f64;
        votes
            .iter()
            .zip(&margin)
            .map(|(v, m)| v + 0.24 * m / others)
            .collect()
    }
}

// ---------------------------------------------------------------------------------------------

/// k nearest training tasks: standardise the features on the training tasks, find the `k`
/// training tasks nearest (Euclidean) to the new task, and predict every method's performance
/// as its mean over those neighbours. This is the k-NN selector of Malitsky, Sabharwal,
/// Samulowitz & Sellmann 2011 ("Non-model-based algorithm portfolios for SAT", SAT), the
/// instance-based refinement of ISAC (Kadioglu, Malitsky, Sellmann & Tierney 2010, "ISAC –
/// instance-specific algorithm configuration", ECAI).
///
/// Neighbours tied at the `k`-th distance are all included (so the prediction does not depend
/// on the task order; with constant or no features it is the mean over all training tasks).
#[derive(Debug, Clone)]
pub struct KNearestTasks {
    /// Number of neighbours (at least 1; capped at the number of training tasks).
    pub k: usize,
    scaler: Option<Standardizer>,
    train_x: Vec<Vec<f64>>,
    train_y: Vec<Vec<f64>>,
}

impl KNearestTasks {
    /// Default number of neighbours.
    pub const DEFAULT_K: usize = 3;

    /// An unfitted selector with `k` neighbours (0 is taken as 1).
    pub fn new(k: usize) -> Self {
        Self {
            k: k.max(1),
            scaler: None,
            train_x: Vec::new(),
            train_y: Vec::new(),
        }
    }
}

impl Selector for KNearestTasks {
    fn name(&self) -> &str {
        "knn"
    }

    fn fit(&mut self, features: &[Vec<f64>], performance: &[Vec<f64>]) {
        let scaler = Standardizer::fit(features, n_features(features));
        let n_m = n_methods(performance);
        self.train_x = (0..performance.len())
            .map(|t| {
                features
                    .get(t)
                    .map_or_else(Vec::new, |r| scaler.transform(r))
            })
            .collect();
        self.train_y = (0..performance.len())
            .map(|t| (0..n_m).map(|m| perf(performance, t, m)).collect())
            .collect();
        self.scaler = Some(scaler);
    }

    fn predict(&self, features: &[f64]) -> Vec<f64> {
        let n_t = self.train_y.len();
        if n_t == 0 {
            return Vec::new();
        }
        let z = self
            .scaler
            .as_ref()
            .map_or_else(Vec::new, |s| s.transform(features));
        let mut dist: Vec<(f64, usize)> = self
            .train_x
            .iter()
            .enumerate()
            .map(|(t, x)| {
                let d2: f64 = z
                    .iter()
                    .enumerate()
                    .map(|(j, zj)| {
                        let d = zj - x.get(j).copied().unwrap_or(0.0);
                        d * d
                    })
                    .sum();
                (d2, t)
            })
            .collect();
        dist.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let k = self.k.clamp(1, n_t);
        let cutoff = dist[k - 1].0;
        let neighbours: Vec<usize> = dist
            .iter()
            .take_while(|(d, _)| *d <= cutoff)
            .map(|&(_, t)| t)
            .collect();
        let n_m = self.train_y[0].len();
        (0..n_m)
            .map(|m| {
                neighbours.iter().map(|&t| self.train_y[t][m]).sum::<f64>()
                    / neighbours.len() as f64
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step_data(n: usize) -> (Vec<Vec<f64>>, Vec<Vec<f64>>) {
        let x: Vec<Vec<f64>> = (0..n).map(|i| vec![(i as f64 + 0.5) / n as f64]).collect();
        let y = x
            .iter()
            .map(|r| {
                if r[0] < 0.5 {
                    vec![1.0, 0.0]
                } else {
                    vec![0.0, 1.0]
                }
            })
            .collect();
        (x, y)
    }

    #[test]
    fn argmax_first_on_ties_and_skips_nan() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), Some(1));
        assert_eq!(argmax(&[f64::NAN, 0.5]), Some(1));
        assert_eq!(argmax(&[f64::NAN]), None);
        assert_eq!(argmax(&[]), None);
    }

    #[test]
    fn registry_knows_exactly_the_names() {
        for name in SELECTOR_NAMES {
            assert_eq!(selector(name).unwrap().name(), name);
        }
        assert!(selector("oracle").is_none());
    }

    #[test]
    fn every_selector_learns_a_step() {
        let (x, y) = step_data(20);
        for name in ["regression", "pairwise", "knn"] {
            let mut s = selector(name).unwrap();
            s.fit(&x, &y);
            assert_eq!(s.select(&[0.1]), Some(0), "{name}");
            assert_eq!(s.select(&[0.9]), Some(1), "{name}");
        }
    }

    #[test]
    fn single_best_ignores_features() {
        let x = vec![vec![0.0], vec![1.0], vec![2.0]];
        let y = vec![vec![0.2, 0.9], vec![0.3, 0.8], vec![1.0, 0.0]];
        let mut s = SingleBest::new();
        s.fit(&x, &y);
        assert_eq!(s.select(&[100.0]), Some(1));
        assert_eq!(s.select(&[-100.0]), Some(1));
    }

    #[test]
    fn regression_falls_back_to_mean_below_three_tasks() {
        let x = vec![vec![0.0], vec![1.0]];
        let y = vec![vec![1.0, 0.0], vec![0.0, 0.8]];
        let mut s = PerMethodRegression::new(1);
        s.fit(&x, &y);
        assert_eq!(s.predict(&[0.0]), vec![0.5, 0.4]);
        assert_eq!(s.predict(&[1.0]), vec![0.5, 0.4]);
    }

    #[test]
    fn pairwise_weights_by_cost() {
        // Method 0 wins often but by little, method 1 wins rarely but by a lot: the cost-weighted
        // fallback (two tasks, no forest) prefers method 1.
        let x = vec![vec![0.0], vec![0.0]];
        let y = vec![vec![0.6, 0.5], vec![0.0, 1.0]];
        let mut s = PairwiseClassification::new(0);
        s.fit(&x, &y);
        assert_eq!(s.select(&[0.0]), Some(1));
    }

    #[test]
    fn knn_includes_ties_at_the_cutoff() {
        let x = vec![vec![1.0], vec![1.0], vec![1.0]];
        let y = vec![vec![1.0], vec![0.0], vec![0.5]];
        let s = {
            let mut s = KNearestTasks::new(1);
            s.fit(&x, &y);
            s
        };
        assert_eq!(s.predict(&[1.0]), vec![0.5]);
    }

    #[test]
    fn unfitted_or_empty_fit_selects_nothing() {
        for name in SELECTOR_NAMES {
            let mut s = selector(name).unwrap();
            assert_eq!(s.select(&[0.0]), None, "{name} unfitted");
            s.fit(&[], &[]);
            assert_eq!(s.select(&[0.0]), None, "{name} empty");
        }
    }
}
