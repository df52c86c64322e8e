//! Aggregate performance over a suite of tasks: mean, median, interquartile mean (IQM) and
//! optimality gap, following Agarwal et al. (2021), "Deep Reinforcement Learning at the Edge of
//! the Statistical Precipice", NeurIPS (the `rliable` library, `rliable.metrics`).
//!
//! Every aggregate takes the runs of one method as `per_task: &[Vec<f64>]` (indexed
//! `[task][run]`, i.e. `table.scores[m]`), expects normalised scores (higher is better) and skips
//! NaN values like missing runs. With equal run counts per task they equal rliable's functions
//! on the `(runs × tasks)` matrix; with unequal counts the pooled aggregates (IQM, optimality gap)
//! weight every run equally and the per-task ones (mean, median) every task.

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::bootstrap::{BootstrapConfig, Interval, stratified_bootstrap_streamed};
use crate::table::{ScoreTable, mean_skip_nan};

/// The aggregate metrics of Agarwal et al. (2021).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Aggregate {
    /// Mean over tasks of the per-task mean score ([`aggregate_mean`]).
    Mean,
    /// Median over tasks of the per-task mean score ([`aggregate_median`]).
    Median,
    /// Interquartile mean of all runs pooled ([`aggregate_iqm`]).
    Iqm,
    /// Optimality gap of all runs pooled at threshold `gamma` ([`aggregate_optimality_gap`]);
    /// lower is better.
    OptimalityGap {
        /// Scores above `gamma` count as `gamma` (rliable's default is 1).
        gamma: f64,
    },
}

impl Aggregate {
    /// Evaluates the aggregate on the runs of one method, indexed `[task][run]`.
    pub fn compute(&self, per_task: &[Vec<f64>]) -> f64 {
        match *self {
            Aggregate::Mean => aggregate_mean(per_task),
            Aggregate::Median => aggregate_median(per_task),
            Aggregate::Iqm => aggregate_iqm(per_task),
            Aggregate::OptimalityGap { gamma } => aggregate_optimality_gap(per_task, gamma),
        }
    }

    /// Short name: `mean`, `median`, `iqm` or `optimality_gap`.
    pub fn name(&self) -> &'static str {
        match self {
            Aggregate::Mean => "mean",
            Aggregate::Median => "median",
            Aggregate::Iqm => "iqm",
            Aggregate::OptimalityGap { .. } => "optimality_gap",
        }
    }
}

/// Trimmed mean: sorts the non-NaN values, drops `floor(proportion · n)` from each end and
/// averages the rest (scipy's `trim_mean`). NaN when no value remains. `proportion` is clamped to
/// [0, 0.5).
pub fn trimmed_mean(values: &[f64], proportion: f64) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    let n = v.len();
    let cut = ((proportion.clamp(0.0, 0.5) * n as f64) as usize).min(n / 2);
    if n == 0 || n - 2 * cut == 0 {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let kept = &v[cut..n - cut];
    kept.iter().sum::<f64>() / kept.len() as f64
}

/// Interquartile mean (IQM): the 25% trimmed mean ([`trimmed_mean`] with proportion 0.25), the
/// robust and efficient point estimate recommended by Agarwal et al. (2021). With fewer than four
/// values nothing is trimmed and it is the plain mean. NaN for no values.
pub fn iqm(values: &[f64]) -> f64 {
    trimmed_mean(values, 0.25)
}

/// Median of the non-NaN values (average of the two middle ones for an even count); NaN when
/// empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Per-task mean scores of one method, skipping tasks without (non-NaN) runs.
fn task_means(per_task: &[Vec<f64>]) -> Vec<f64> {
    per_task
        .iter()
        .map(|runs| mean_skip_nan(runs))
        .filter(|x| !x.is_nan())
        .collect()
}

/// Mean over tasks of the per-task mean score (rliable `aggregate_mean`). Tasks without runs are
/// skipped; NaN when no task has runs.
pub fn aggregate_mean(per_task: &[Vec<f64>]) -> f64 {
    mean_skip_nan(&task_means(per_task))
}

/// Median over tasks of the per-task mean score (rliable `aggregate_median`). Tasks without runs
/// are skipped; NaN when no task has runs.
pub fn aggregate_median(per_task: &[Vec<f64>]) -> f64 {
    median(&task_means(per_task))
}

/// Interquartile mean of all runs of all tasks pooled (rliable `aggregate_iqm`: scipy
/// `trim_mean(scores, 0.25, axis=None)`).
pub fn aggregate_iqm(per_task: &[Vec<f64>]) -> f64 {
    let pooled: Vec<f64> = per_task.iter().flatten().copied().collect();
    iqm(&pooled)
}

/// Optimality gap: `gamma` minus the mean of `min(score, gamma)` over all runs pooled (rliable
/// `aggregate_optimality_gap`): how far the method falls short of `gamma`, not rewarding scores
/// beyond it. Lower is better; NaN for no runs.
pub fn aggregate_optimality_gap(per_task: &[Vec<f64>], gamma: f64) -> f64 {
    let clipped: Vec<f64> = per_task
        .iter()
        .flatten()
        .filter(|x| !x.is_nan())
        .map(|&x| x.min(gamma))
        .collect();
    gamma - mean_skip_nan(&clipped)
}

/// Aggregate `agg` of every method of `table` (indexed by method).
pub fn aggregate(table: &ScoreTable, agg: Aggregate) -> Vec<f64> {
    table.scores.iter().map(|m| agg.compute(m)).collect()
}

/// Aggregate `agg` of every method with a stratified bootstrap confidence interval (see
/// [`stratified_bootstrap_ci`](crate::stratified_bootstrap_ci)): the runs of each task are
/// resampled with replacement, independently per task, as rliable's
/// `get_interval_estimates`. Method `m` draws from stream `m` of the ChaCha8 generator seeded
/// with `cfg.seed`, so its interval does not depend on the other methods in the table.
pub fn aggregate_ci(
    table: &ScoreTable,
    agg: Aggregate,
    cfg: &BootstrapConfig,
) -> Result<Vec<Interval>, EvalError> {
    table
        .scores
        .iter()
        .enumerate()
        .map(|(m, per_task)| {
            stratified_bootstrap_streamed(per_task, |s| vec![agg.compute(s)], cfg, m as u64)
                .map(|v| v[0])
        })
        .collect()
}
