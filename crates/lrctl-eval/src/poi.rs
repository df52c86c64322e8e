//! Probability of improvement (Agarwal et al. 2021, "Deep Reinforcement Learning at the Edge of
//! the Statistical Precipice"; rliable's `metrics.probability_of_improvement`): on each task,
//! the probability that a random run of X beats a random run of Y, counting ties as half,
//! `P(X > Y) + ½ P(X = Y)` — the Mann–Whitney U statistic of X normalised by `n·m` (Mann &
//! Whitney 1947, "On a test of whether one of two random variables is stochastically larger than
//! the other", Ann. Math. Statist. 18) — averaged over tasks.

use crate::EvalError;
use crate::bootstrap::{BootstrapConfig, Interval, stratified_bootstrap_ci};
use crate::table::ScoreTable;

/// Mann–Whitney U statistic of sample `x` against `y`: the number of pairs `(x_i, y_j)` with
/// `x_i > y_j`, plus half the number of ties (scipy's `mannwhitneyu(x, y).statistic`). NaN
/// values are skipped.
pub fn mann_whitney_u(x: &[f64], y: &[f64]) -> f64 {
    let mut ys: Vec<f64> = y.iter().copied().filter(|v| !v.is_nan()).collect();
    ys.sort_by(f64::total_cmp);
    let mut u = 0.0;
    for &xi in x.iter().filter(|v| !v.is_nan()) {
        let less = ys.partition_point(|&v| v < xi);
        let less_or_equal = ys.partition_point(|&v| v <= xi);
        u += less as f64 + 0.5 * (less_or_equal - less) as f64;
    }
    u
}

/// `P(X > Y) + ½ P(X = Y)` for one task: [`mann_whitney_u`] divided by the number of pairs.
/// NaN when either sample is empty (after skipping NaN).
pub fn task_probability_of_improvement(x: &[f64], y: &[f64]) -> f64 {
    let n = x.iter().filter(|v| !v.is_nan()).count();
    let m = y.iter().filter(|v| !v.is_nan()).count();
    if n == 0 || m == 0 {
        return f64::NAN;
    }
    mann_whitney_u(x, y) / (n * m) as f64
}

/// Runs of one method as "goodness" per task: the score on higher-is-better tasks, its negation
/// on lower-is-better ones, −∞ for a diverged (non-finite) run.
fn goodness(table: &ScoreTable, method: usize) -> Vec<Vec<f64>> {
    table.scores[method]
        .iter()
        .zip(&table.higher_is_better)
        .map(|(runs, &hib)| {
            runs.iter()
                .map(|&v| {
                    if !v.is_finite() {
                        f64::NEG_INFINITY
                    } else if hib {
                        v
                    } else {
                        -v
                    }
                })
                .collect()
        })
        .collect()
}

/// Mean over tasks of the per-task probabilities, for strata laid out as X's tasks followed by
/// Y's tasks. Tasks where either method has no run are skipped; NaN when none remains.
fn average_over_tasks(strata: &[Vec<f64>]) -> f64 {
    let t = strata.len() / 2;
    let (mut sum, mut k) = (0.0, 0usize);
    for task in 0..t {
        let p = task_probability_of_improvement(&strata[task], &strata[t + task]);
        if !p.is_nan() {
            sum += p;
            k += 1;
        }
    }
    if k == 0 { f64::NAN } else { sum / k as f64 }
}

fn pair_strata(table: &ScoreTable, x: usize, y: usize) -> Vec<Vec<f64>> {
    let mut strata = goodness(table, x);
    strata.extend(goodness(table, y));
    strata
}

/// Probability that method `x` improves on method `y`, averaged over tasks (rliable's
/// `probability_of_improvement`). Direction-aware ("improves" means a lower score on a
/// lower-is-better task); a diverged run loses against every finite run and ties with another
/// diverged run. Tasks where either method has no run are skipped.
///
/// # Panics
///
/// If `x` or `y` is not a method index of `table`.
pub fn probability_of_improvement(table: &ScoreTable, x: usize, y: usize) -> f64 {
    average_over_tasks(&pair_strata(table, x, y))
}

/// [`probability_of_improvement`] for every ordered pair, indexed `[x][y]` (so
/// `p[x][y] + p[y][x] = 1` and the diagonal is ½ wherever defined).
pub fn probability_of_improvement_matrix(table: &ScoreTable) -> Vec<Vec<f64>> {
    let n = table.n_methods();
    (0..n)
        .map(|x| {
            (0..n)
                .map(|y| probability_of_improvement(table, x, y))
                .collect()
        })
        .collect()
}

/// [`probability_of_improvement`] with a stratified bootstrap confidence interval: the runs of
/// X and of Y are resampled independently within every task (rliable's
/// `StratifiedIndependentBootstrap`). Uses stream 0 of the generator seeded with `cfg.seed`.
///
/// # Panics
///
/// If `x` or `y` is not a method index of `table`.
pub fn probability_of_improvement_ci(
    table: &ScoreTable,
    x: usize,
    y: usize,
    cfg: &BootstrapConfig,
) -> Result<Interval, EvalError> {
    stratified_bootstrap_ci(&pair_strata(table, x, y), average_over_tasks, cfg)
}
