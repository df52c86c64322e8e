//! Performance profiles (score distributions) of Agarwal et al. (2021), "Deep Reinforcement
//! Learning at the Edge of the Statistical Precipice" — rliable's `create_performance_profile` —
//! in the tradition of Dolan & Moré (2002), "Benchmarking optimization software with performance
//! profiles", Math. Programming 91.

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::bootstrap::{BootstrapConfig, Interval, stratified_bootstrap_streamed};
use crate::table::{ScoreTable, mean_skip_nan};

/// Which distribution the profile shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    /// Run-score distribution: the fraction of all runs (pooled over tasks) scoring above τ
    /// (rliable's default, `use_score_distribution=True`).
    Runs,
    /// Average-score distribution: the fraction of tasks whose mean score is above τ
    /// (`use_score_distribution=False`).
    TaskMeans,
}

/// Run-score distribution of one method's runs (`[task][run]`): for every τ in `taus`, the
/// fraction of its non-NaN runs, pooled over tasks, with score strictly greater than τ. NaN for
/// every τ when there are no runs.
pub fn score_distribution(per_task: &[Vec<f64>], taus: &[f64]) -> Vec<f64> {
    let mut pooled: Vec<f64> = per_task
        .iter()
        .flatten()
        .copied()
        .filter(|x| !x.is_nan())
        .collect();
    fraction_above(&mut pooled, taus)
}

/// Average-score distribution of one method's runs (`[task][run]`): for every τ, the fraction of
/// tasks (with at least one non-NaN run) whose mean score is strictly greater than τ.
pub fn average_score_distribution(per_task: &[Vec<f64>], taus: &[f64]) -> Vec<f64> {
    let mut means: Vec<f64> = per_task
        .iter()
        .map(|r| mean_skip_nan(r))
        .filter(|x| !x.is_nan())
        .collect();
    fraction_above(&mut means, taus)
}

fn fraction_above(values: &mut [f64], taus: &[f64]) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    taus.iter()
        .map(|&tau| {
            if n == 0 {
                return f64::NAN;
            }
            let at_or_below = values.partition_point(|&x| x <= tau);
            (n - at_or_below) as f64 / n as f64
        })
        .collect()
}

fn profile_of(per_task: &[Vec<f64>], taus: &[f64], kind: ProfileKind) -> Vec<f64> {
    match kind {
        ProfileKind::Runs => score_distribution(per_task, taus),
        ProfileKind::TaskMeans => average_score_distribution(per_task, taus),
    }
}

/// Performance profile of every method of a normalised table at the thresholds `taus`, indexed
/// `[method][tau]`.
pub fn performance_profile(table: &ScoreTable, taus: &[f64], kind: ProfileKind) -> Vec<Vec<f64>> {
    table
        .scores
        .iter()
        .map(|per_task| profile_of(per_task, taus, kind))
        .collect()
}

/// [`performance_profile`] with pointwise stratified bootstrap confidence intervals (runs
/// resampled within each task), indexed `[method][tau]`. Method `m` uses stream `m` of the
/// generator seeded with `cfg.seed`.
pub fn performance_profile_ci(
    table: &ScoreTable,
    taus: &[f64],
    kind: ProfileKind,
    cfg: &BootstrapConfig,
) -> Result<Vec<Vec<Interval>>, EvalError> {
    table
        .scores
        .iter()
        .enumerate()
        .map(|(m, per_task)| {
            stratified_bootstrap_streamed(per_task, |s| profile_of(s, taus, kind), cfg, m as u64)
        })
        .collect()
}
