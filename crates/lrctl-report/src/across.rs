//! The across-task statistics of a study, from `lrctl-eval`, `lrctl-select` and `lrctl-study`.
//!
//! Scores are each cell's held-out (test) metric. Diverged and failed seeds stay in as
//! non-finite scores (the task's worst after min–max normalisation); cells without a result
//! are left out.

use serde::Serialize;

use lrctl_eval::{
    Aggregate, BootstrapConfig, CiMethod, CostProfile, CostProfileConfig, CostTable, Interval,
    Portfolio, ProfileKind, Ranks, ScoreTable,
};
use lrctl_select::LotoReport;
use lrctl_store::Outcome;
use lrctl_study::selection::Realised;
use lrctl_study::snapshot::Snapshot;

use crate::analysis::ReportOptions;

/// Confidence level of every bootstrap interval.
pub const CONFIDENCE: f64 = 0.95;

/// Leave-one-task-out selection needs a task to hold out and at least two to learn from.
pub const MIN_SELECTION_TASKS: usize = 3;

/// The across-task statistics. Scores are min–max normalised per task over all runs of all
/// methods (1 = the task's best run, 0 = its worst; diverged and failed seeds score 0) unless
/// said otherwise.
#[derive(Debug, Clone, Serialize)]
pub struct AcrossTasks {
    /// Rank of each method's mean held-out metric per task (raw scores), and the mean rank.
    pub ranks: Ranks,
    /// Best method's mean normalised score minus each method's, `[method][task]`.
    pub gap_to_best: Vec<Vec<f64>>,
    /// Aggregate scores with stratified-bootstrap intervals.
    pub aggregates: Aggregates,
    /// The run-score performance profile.
    pub profile: RunProfile,
    /// `P(row method beats column method)`, averaged over tasks, `[method][method]`.
    pub improvement: Vec<Vec<f64>>,
    /// Mean charged cost against mean normalised score, per method.
    pub cost_quality: Vec<CostQuality>,
    /// Time to reach a per-task target.
    pub time_to_target: TimeToTarget,
    /// Single best, virtual best and marginal contributions.
    pub portfolio: Portfolio,
    /// Algorithm selection: leave-one-task-out and the study's own selection methods.
    pub selection: Selection,
}

/// Aggregates of the normalised scores, one interval per method, with
/// [`CONFIDENCE`] percentile intervals (BCa for the IQM too); `None` where the bootstrap
/// rejected its input.
#[derive(Debug, Clone, Serialize)]
pub struct Aggregates {
    /// Interquartile mean of all runs pooled.
    pub iqm: Option<Vec<Interval>>,
    /// Mean over tasks of the per-task mean.
    pub mean: Option<Vec<Interval>>,
    /// Median over tasks of the per-task mean.
    pub median: Option<Vec<Interval>>,
    /// Optimality gap to 1 (lower is better).
    pub optimality_gap: Option<Vec<Interval>>,
    /// The IQM with bias-corrected and accelerated intervals.
    pub iqm_bca: Option<Vec<Interval>>,
}

/// Fraction of all runs (pooled over tasks) whose normalised score exceeds τ.
#[derive(Debug, Clone, Serialize)]
pub struct RunProfile {
    /// The grid of τ.
    pub taus: Vec<f64>,
    /// The fraction of each method on the grid, `[method][tau]`.
    pub fractions: Vec<Vec<f64>>,
}

/// One method's mean cost and quality.
#[derive(Debug, Clone, Serialize)]
pub struct CostQuality {
    /// Method name.
    pub method: String,
    /// Mean charged cost per cell in seconds (tuning included); NaN without results.
    pub cost: f64,
    /// Mean normalised score; NaN without scores.
    pub quality: f64,
}

/// Time to target: the per-task targets and the cost profile over them.
#[derive(Debug, Clone, Serialize)]
pub struct TimeToTarget {
    /// Target of each task: the median over finished seeds of the best validation metric
    /// reached (NaN when no finished seed has evaluations).
    pub targets: Vec<f64>,
    /// The profile; `None` when there are not enough runs with evaluations.
    pub profile: Option<CostProfile>,
}

/// Algorithm selection in the study.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Selection {
    /// Fewer than [`MIN_SELECTION_TASKS`] tasks: nothing to evaluate.
    TooFewTasks,
    /// The tasks' meta-features could not be assembled.
    NoFeatures,
    /// Evaluated.
    Evaluated {
        /// Leave-one-task-out evaluation of each selector (those that could be evaluated) on
        /// the plain methods.
        loto: Vec<LotoReport>,
        /// How the study's selection methods (`race`, `auto`, …) did; empty without any.
        realised: Vec<Realised>,
    },
}

/// The across-task statistics of `snap`; `None` while no cell has a held-out score.
pub fn analyse(snap: &Snapshot, opts: &ReportOptions) -> Option<AcrossTasks> {
    let raw = snap.score_table();
    let has_scores = raw
        .scores
        .iter()
        .any(|per_task| per_task.iter().any(|runs| !runs.is_empty()));
    if !has_scores || raw.tasks.is_empty() {
        return None;
    }
    let norm = lrctl_eval::normalize_minmax(&raw);
    let taus: Vec<f64> = (0..=50).map(|i| f64::from(i) / 50.0).collect();
    Some(AcrossTasks {
        ranks: lrctl_eval::ranks(&raw),
        gap_to_best: lrctl_eval::gap_to_best(&raw),
        aggregates: aggregates(&norm, opts),
        profile: RunProfile {
            fractions: lrctl_eval::performance_profile(&norm, &taus, ProfileKind::Runs),
            taus,
        },
        improvement: lrctl_eval::probability_of_improvement_matrix(&norm),
        cost_quality: cost_quality(snap, &norm),
        time_to_target: time_to_target(snap),
        portfolio: lrctl_eval::portfolio(&norm),
        selection: selection(snap),
    })
}

fn aggregates(norm: &ScoreTable, opts: &ReportOptions) -> Aggregates {
    let ci = |agg, method| {
        let cfg = BootstrapConfig {
            reps: opts.bootstrap_reps,
            confidence: CONFIDENCE,
            seed: opts.seed,
            method,
        };
        lrctl_eval::aggregate_ci(norm, agg, &cfg).ok()
    };
    Aggregates {
        iqm: ci(Aggregate::Iqm, CiMethod::Percentile),
        mean: ci(Aggregate::Mean, CiMethod::Percentile),
        median: ci(Aggregate::Median, CiMethod::Percentile),
        optimality_gap: ci(
            Aggregate::OptimalityGap { gamma: 1.0 },
            CiMethod::Percentile,
        ),
        iqm_bca: ci(Aggregate::Iqm, CiMethod::Bca),
    }
}

/// Mean of the finite values (NaN when none).
fn mean(v: impl Iterator<Item = f64>) -> f64 {
    let (s, n) = v
        .filter(|x| x.is_finite())
        .fold((0.0, 0usize), |(s, n), x| (s + x, n + 1));
    if n == 0 { f64::NAN } else { s / n as f64 }
}

fn cost_quality(snap: &Snapshot, norm: &ScoreTable) -> Vec<CostQuality> {
    snap.methods
        .iter()
        .enumerate()
        .map(|(i, m)| CostQuality {
            method: m.clone(),
            cost: mean(
                snap.cells
                    .iter()
                    .filter(|c| &c.method == m)
                    .filter_map(|c| c.result.as_ref().map(|r| r.cost_seconds)),
            ),
            quality: mean(norm.scores[i].iter().flatten().copied()),
        })
        .collect()
}

fn time_to_target(snap: &Snapshot) -> TimeToTarget {
    let mut costs: Vec<Vec<Vec<f64>>> = vec![Vec::new(); snap.methods.len()];
    let mut targets: Vec<f64> = Vec::new();
    for t in &snap.tasks {
        let mut best_reached: Vec<f64> = Vec::new();
        for c in snap.cells.iter().filter(|c| c.task == t.name) {
            if c.result
                .as_ref()
                .is_some_and(|r| r.outcome == Outcome::Finished)
                && let Some(curve) = snap.curves.get(&c.id)
            {
                let vals = curve
                    .iter()
                    .filter_map(|p| p.eval_metric)
                    .filter(|v| v.is_finite());
                let best = if t.maximize {
                    vals.fold(f64::NEG_INFINITY, f64::max)
                } else {
                    vals.fold(f64::INFINITY, f64::min)
                };
                if best.is_finite() {
                    best_reached.push(best);
                }
            }
        }
        best_reached.sort_by(f64::total_cmp);
        let target = if best_reached.is_empty() {
            f64::NAN
        } else {
            best_reached[best_reached.len() / 2]
        };
        targets.push(target);
        for (m, method) in snap.methods.iter().enumerate() {
            let runs: Vec<f64> = snap
                .cells_of(&t.name, method)
                .filter_map(|c| {
                    let r = c.result.as_ref()?;
                    if r.outcome != Outcome::Finished || !target.is_finite() {
                        return Some(f64::INFINITY);
                    }
                    let curve: Vec<(f64, f64)> = snap
                        .curves
                        .get(&c.id)?
                        .iter()
                        .filter_map(|p| p.eval_metric.map(|v| (p.wall_seconds, v)))
                        .collect();
                    // Tuning and other charged cost beyond the run itself is added on top.
                    let extra = (r.cost_seconds - r.seconds).max(0.0);
                    Some(lrctl_eval::cost_to_target(&curve, target, t.maximize) + extra)
                })
                .collect();
            costs[m].push(runs);
        }
    }
    let profile = CostTable::new(
        snap.tasks.iter().map(|t| t.name.clone()).collect(),
        snap.methods.clone(),
        costs,
        Vec::new(),
    )
    .and_then(|t| lrctl_eval::cost_profile(&t, &CostProfileConfig::default()))
    .ok();
    TimeToTarget { targets, profile }
}

fn selection(snap: &Snapshot) -> Selection {
    if snap.tasks.len() < MIN_SELECTION_TASKS {
        return Selection::TooFewTasks;
    }
    // Selectors choose among the plain methods; the study's own `race`/`auto` cells follow.
    let candidates = lrctl_study::selection::candidates_only(snap);
    let raw = candidates.score_table();
    let Ok(features) = lrctl_select::MetaFeatures::new(
        lrctl_wrap::features::static_names(),
        candidates.static_features(),
    ) else {
        return Selection::NoFeatures;
    };
    let loto = lrctl_select::SELECTOR_NAMES
        .iter()
        .filter_map(|name| lrctl_select::evaluate_loto(&raw, &features, name, None).ok())
        .collect();
    Selection::Evaluated {
        loto,
        realised: lrctl_study::selection::realised(snap),
    }
}
