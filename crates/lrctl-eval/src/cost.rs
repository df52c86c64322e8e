//! Cost-to-target performance profiles and their integrated score, after AlgoPerf (Dahl et al.
//! 2023, "Benchmarking Neural Network Training Algorithms", arXiv:2306.07179) and the
//! performance profiles of Dolan & Moré (2002), "Benchmarking optimization software with
//! performance profiles", Math. Programming 91.
//!
//! Each method needs some cost (wall time, optimizer steps, …) to reach a per-task target; a run
//! that never reaches it costs +∞. Costs are compared to the cheapest method on the task: the
//! ratio `r = cost / best ≥ 1`, and the profile `ρ_m(τ)` is the fraction of tasks on which
//! method `m` is within a factor τ of the best, `r ≤ τ`. The integrated score is the normalised
//! area under `ρ_m` for τ in `[1, τ_max]` — by default over log τ, `∫ ρ d(log τ) / log τ_max`;
//! AlgoPerf's leaderboard integrates over τ itself on `[1, 4]` ([`TauAxis::Linear`]). Both are
//! computed exactly for the step function ρ, not on a grid: a ratio `r ≤ τ_max` contributes
//! `1 − log r / log τ_max` (log axis) or `(τ_max − r) / (τ_max − 1)` (linear axis), a larger
//! one nothing.

use serde::{Deserialize, Serialize};

use crate::EvalError;

/// Cost-to-target of every run, with the tuning cost of every (method, task).
///
/// # Serialisation
///
/// JSON has no infinity: non-finite costs serialise as `null`, and `null` deserialises as +∞ (a
/// miss).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostTable {
    /// Task names.
    pub tasks: Vec<String>,
    /// Method names.
    pub methods: Vec<String>,
    /// Cost for each run to reach the task's target, indexed `[method][task][run]`: +∞ when the
    /// run never reached it; NaN (a diverged run) counts as +∞ too. Costs are non-negative.
    #[serde(with = "null_as_inf")]
    pub costs: Vec<Vec<Vec<f64>>>,
    /// Tuning cost per (method, task), indexed `[method][task]`, added to the cost of every run
    /// (e.g. the cost of the hyperparameter search that chose the method's settings; 0 for a
    /// tuning-free method). May be left empty for no tuning cost at all.
    #[serde(default)]
    pub tuning_cost: Vec<Vec<f64>>,
}

impl CostTable {
    /// Builds a table and checks its shape (see [`CostTable::validate`]).
    pub fn new(
        tasks: Vec<String>,
        methods: Vec<String>,
        costs: Vec<Vec<Vec<f64>>>,
        tuning_cost: Vec<Vec<f64>>,
    ) -> Result<Self, EvalError> {
        let table = Self {
            tasks,
            methods,
            costs,
            tuning_cost,
        };
        table.validate()?;
        Ok(table)
    }

    /// Checks that `costs` is `[method][task][..]` and `tuning_cost` empty or `[method][task]`.
    pub fn validate(&self) -> Result<(), EvalError> {
        let (n_m, n_t) = (self.methods.len(), self.tasks.len());
        let shape_ok = |lens: Vec<usize>| lens.len() == n_m && lens.iter().all(|&l| l == n_t);
        if !shape_ok(self.costs.iter().map(Vec::len).collect()) {
            return Err(EvalError::Shape(format!(
                "costs must be [method][task][run] with {n_m} methods and {n_t} tasks"
            )));
        }
        if !self.tuning_cost.is_empty()
            && !shape_ok(self.tuning_cost.iter().map(Vec::len).collect())
        {
            return Err(EvalError::Shape(format!(
                "tuning_cost must be empty or [method][task] with {n_m} methods and {n_t} tasks"
            )));
        }
        Ok(())
    }

    /// Total cost of every run: cost to target plus tuning cost, NaN mapped to +∞.
    fn total_costs(&self) -> Vec<Vec<Vec<f64>>> {
        self.costs
            .iter()
            .enumerate()
            .map(|(m, per_task)| {
                per_task
                    .iter()
                    .enumerate()
                    .map(|(t, runs)| {
                        let tuning = self
                            .tuning_cost
                            .get(m)
                            .and_then(|r| r.get(t))
                            .copied()
                            .unwrap_or(0.0);
                        runs.iter()
                            .map(|&c| {
                                if c.is_nan() {
                                    f64::INFINITY
                                } else {
                                    c + tuning
                                }
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }
}

/// First cost at which a learning curve reaches `target`: the smallest cost among the
/// `(cost, score)` points with `score >= target` (higher is better) or `score <= target` (lower is
/// better) — for points sorted by cost, the first one. NaN scores never reach the target; +∞ when
/// no point does.
pub fn cost_to_target(curve: &[(f64, f64)], target: f64, higher_is_better: bool) -> f64 {
    curve
        .iter()
        .filter(|&&(_, s)| {
            if higher_is_better {
                s >= target
            } else {
                s <= target
            }
        })
        .map(|&(c, _)| c)
        .fold(f64::INFINITY, f64::min)
}

/// How the runs of a (method, task) enter the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostAggregation {
    /// Every run is compared to the cheapest run of any method on the task; each task weighs 1,
    /// shared equally by the method's runs on it.
    PerRun,
    /// AlgoPerf-style: a (method, task) costs the median of its runs' costs (+∞ when at least
    /// half of them miss), compared to the cheapest method's median.
    Median,
}

/// Which τ axis the integrated score averages over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TauAxis {
    /// `∫₁^{τ_max} ρ(τ) d(log τ) / log τ_max`; the τ grid is log-spaced.
    Log,
    /// `∫₁^{τ_max} ρ(τ) dτ / (τ_max − 1)` (AlgoPerf's leaderboard score); the grid is linear.
    Linear,
}

/// Settings of [`cost_profile`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CostProfileConfig {
    /// Largest ratio to the best cost that earns credit, > 1 (AlgoPerf uses 4).
    pub tau_max: f64,
    /// Number of grid points at which ρ is tabulated, from 1 to `tau_max` (≥ 2).
    pub n_taus: usize,
    /// How runs enter.
    pub aggregation: CostAggregation,
    /// Axis of the integral and spacing of the grid.
    pub axis: TauAxis,
}

impl Default for CostProfileConfig {
    /// τ_max = 4, 100 log-spaced points, per-run costs.
    fn default() -> Self {
        Self {
            tau_max: 4.0,
            n_taus: 100,
            aggregation: CostAggregation::PerRun,
            axis: TauAxis::Log,
        }
    }
}

/// A cost profile: ρ on a grid of τ and the integrated score of every method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostProfile {
    /// Grid of τ, from 1 to τ_max.
    pub taus: Vec<f64>,
    /// ρ of every method on the grid, indexed `[method][tau]`: fraction of tasks (each task
    /// weighing 1, shared by its runs) with ratio to the best cost `≤ τ`.
    pub rho: Vec<Vec<f64>>,
    /// Integrated score of every method, in [0, 1]: 1 means cheapest on every task.
    pub score: Vec<f64>,
    /// Reference (best) cost of every task; +∞ when no method reached the target.
    pub best_cost: Vec<f64>,
    /// Ratio of every entry to the task's best cost, indexed `[method][task][run]` (one entry
    /// per task with [`CostAggregation::Median`]); +∞ for misses.
    pub ratios: Vec<Vec<Vec<f64>>>,
}

/// Ratio of `cost` to the best cost: 1 for the best itself (even at cost 0), +∞ when the best is
/// +∞ (nobody reached the target) or 0 (and `cost` is not).
fn ratio(cost: f64, best: f64) -> f64 {
    if cost == best && best.is_finite() {
        1.0
    } else if best.is_finite() && best > 0.0 {
        cost / best
    } else {
        f64::INFINITY
    }
}

/// Credit of one ratio: the area under its step `1[r ≤ τ]` over `[1, τ_max]`, normalised.
fn credit(r: f64, tau_max: f64, axis: TauAxis) -> f64 {
    if r > tau_max || r.is_nan() {
        return 0.0;
    }
    let r = r.max(1.0);
    match axis {
        TauAxis::Log => 1.0 - r.ln() / tau_max.ln(),
        TauAxis::Linear => (tau_max - r) / (tau_max - 1.0),
    }
}

/// Integrated profile score of a set of ratios: each entry of `ratios` is a task's list of
/// ratios (runs sharing the task's weight equally; an empty list counts as a miss), and the
/// score is the mean over tasks of the exact normalised area under the step function `ρ` on
/// `[1, tau_max]` (see the module documentation). NaN for no tasks.
pub fn integrated_score(ratios: &[Vec<f64>], tau_max: f64, axis: TauAxis) -> f64 {
    if ratios.is_empty() {
        return f64::NAN;
    }
    let total: f64 = ratios
        .iter()
        .map(|runs| {
            if runs.is_empty() {
                0.0
            } else {
                runs.iter().map(|&r| credit(r, tau_max, axis)).sum::<f64>() / runs.len() as f64
            }
        })
        .sum();
    total / ratios.len() as f64
}

fn median_cost(runs: &[f64]) -> f64 {
    if runs.is_empty() {
        return f64::INFINITY;
    }
    let mut v = runs.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        let (a, b) = (v[n / 2 - 1], v[n / 2]);
        if b.is_infinite() { b } else { (a + b) / 2.0 }
    }
}

/// Cost profile of every method of `table` (see the module documentation), with tuning cost
/// added to each run before comparing.
pub fn cost_profile(table: &CostTable, cfg: &CostProfileConfig) -> Result<CostProfile, EvalError> {
    table.validate()?;
    if !cfg.tau_max.is_finite() || cfg.tau_max <= 1.0 {
        return Err(EvalError::InvalidArgument(format!(
            "tau_max must be finite and > 1, got {}",
            cfg.tau_max
        )));
    }
    if cfg.n_taus < 2 {
        return Err(EvalError::InvalidArgument("n_taus must be >= 2".into()));
    }
    let totals = table.total_costs();
    // Entries per (method, task): each run, or the median.
    let entries: Vec<Vec<Vec<f64>>> = match cfg.aggregation {
        CostAggregation::PerRun => totals,
        CostAggregation::Median => totals
            .iter()
            .map(|per_task| per_task.iter().map(|r| vec![median_cost(r)]).collect())
            .collect(),
    };
    let n_t = table.tasks.len();
    let best_cost: Vec<f64> = (0..n_t)
        .map(|t| {
            entries
                .iter()
                .flat_map(|per_task| per_task[t].iter().copied())
                .fold(f64::INFINITY, f64::min)
        })
        .collect();
    let ratios: Vec<Vec<Vec<f64>>> = entries
        .iter()
        .map(|per_task| {
            per_task
                .iter()
                .zip(&best_cost)
                .map(|(runs, &best)| runs.iter().map(|&c| ratio(c, best)).collect())
                .collect()
        })
        .collect();
    let n = cfg.n_taus;
    let taus: Vec<f64> = (0..n)
        .map(|i| {
            if i == n - 1 {
                return cfg.tau_max;
            }
            let f = i as f64 / (n - 1) as f64;
            match cfg.axis {
                TauAxis::Log => cfg.tau_max.powf(f),
                TauAxis::Linear => 1.0 + f * (cfg.tau_max - 1.0),
            }
        })
        .collect();
    let rho = ratios
        .iter()
        .map(|per_task| {
            taus.iter()
                .map(|&tau| {
                    if per_task.is_empty() {
                        return f64::NAN;
                    }
                    let within: f64 = per_task
                        .iter()
                        .map(|runs| {
                            if runs.is_empty() {
                                0.0
                            } else {
                                runs.iter().filter(|&&r| r <= tau).count() as f64
                                    / runs.len() as f64
                            }
                        })
                        .sum();
                    within / per_task.len() as f64
                })
                .collect()
        })
        .collect();
    let score = ratios
        .iter()
        .map(|per_task| integrated_score(per_task, cfg.tau_max, cfg.axis))
        .collect();
    Ok(CostProfile {
        taus,
        rho,
        score,
        best_cost,
        ratios,
    })
}

/// Costs: `null` reads back as +∞ (a miss).
mod null_as_inf {
    pub use crate::table::null_floats::serialize;

    /// `null` → +∞.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<Vec<Vec<f64>>>, D::Error> {
        crate::table::null_floats::deserialize_as(d, f64::INFINITY)
    }
}
