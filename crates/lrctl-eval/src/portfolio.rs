//! Portfolio analysis from algorithm selection: the single best solver (SBS), the virtual best
//! solver (VBS, a per-task oracle), the SBS–VBS gap, and each method's marginal contribution to
//! the portfolio (Xu, Hutter, Hoos & Leyton-Brown 2012, "Evaluating component solver
//! contributions to portfolio-based algorithm selectors", SAT; Lindauer et al. 2019, "The
//! algorithm selection competitions 2015 and 2017", AIJ 272).

use serde::{Deserialize, Serialize};

use crate::table::{ScoreTable, mean_skip_nan};

/// Result of [`portfolio`]. All scores are means over tasks of per-(method, task) mean scores,
/// higher is better.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Portfolio {
    /// Mean score of every method over the tasks.
    pub method_scores: Vec<f64>,
    /// Index of the single best method (highest mean score; the first on ties); `None` without
    /// methods or tasks.
    pub single_best: Option<usize>,
    /// Mean score of the single best method.
    pub single_best_score: f64,
    /// Mean over tasks of the best method's score on each task (the oracle that picks the best
    /// method per task).
    pub virtual_best_score: f64,
    /// Method the oracle picks on every task (the first on ties); `None` without methods.
    pub oracle_choice: Vec<Option<usize>>,
    /// `virtual_best_score − single_best_score ≥ 0`: what per-task selection could gain over the
    /// single best method.
    pub sbs_vbs_gap: f64,
    /// Marginal contribution of every method: `VBS(all) − VBS(all without it) ≥ 0`, how much the
    /// oracle loses when the method is removed. Positive only for methods that are strictly best
    /// on some task. The VBS of an empty portfolio is taken as 0 (the worst normalised score), so
    /// the only method of a one-method portfolio contributes its whole score.
    pub marginal_contribution: Vec<f64>,
}

/// Per-(method, task) score, `[method][task]`: the mean of the non-NaN runs, negated on
/// lower-is-better tasks, 0 for a cell without runs.
fn cell_scores(table: &ScoreTable) -> Vec<Vec<f64>> {
    table
        .scores
        .iter()
        .map(|per_task| {
            per_task
                .iter()
                .zip(&table.higher_is_better)
                .map(|(runs, &hib)| {
                    let m = mean_skip_nan(runs);
                    if m.is_nan() {
                        0.0
                    } else if hib {
                        m
                    } else {
                        -m
                    }
                })
                .collect()
        })
        .collect()
}

/// Virtual best score of the portfolio `members` given per-(method, task) scores
/// (`cells[method][task]`): the mean over tasks of the members' best score on each task; 0 for
/// an empty portfolio, NaN for no tasks.
pub fn virtual_best_score(cells: &[Vec<f64>], members: &[usize], n_tasks: usize) -> f64 {
    if n_tasks == 0 {
        return f64::NAN;
    }
    if members.is_empty() {
        return 0.0;
    }
    let total: f64 = (0..n_tasks)
        .map(|t| {
            members
                .iter()
                .map(|&m| cells[m][t])
                .fold(f64::NEG_INFINITY, f64::max)
        })
        .sum();
    total / n_tasks as f64
}

/// Single best, virtual best and marginal contributions of the methods of `table`.
///
/// Meant for a normalised table ([`normalize_minmax`](crate::normalize_minmax) or
/// [`normalize_to_best`](crate::normalize_to_best)) so that scores are comparable across tasks;
/// a (method, task) without runs then counts as 0, the worst score. On a raw table
/// lower-is-better tasks enter negated. NaN runs are skipped.
pub fn portfolio(table: &ScoreTable) -> Portfolio {
    let (n_m, n_t) = (table.n_methods(), table.n_tasks());
    let cells = cell_scores(table);
    let method_scores: Vec<f64> = cells
        .iter()
        .map(|c| {
            if n_t == 0 {
                f64::NAN
            } else {
                c.iter().sum::<f64>() / n_t as f64
            }
        })
        .collect();
    let argmax = |values: &mut dyn Iterator<Item = (usize, f64)>| {
        let mut best: Option<(usize, f64)> = None;
        for (i, v) in values {
            if !v.is_nan() && best.is_none_or(|(_, b)| v > b) {
                best = Some((i, v));
            }
        }
        best
    };
    let single = argmax(&mut method_scores.iter().copied().enumerate());
    let oracle_choice = (0..n_t)
        .map(|t| argmax(&mut (0..n_m).map(|m| (m, cells[m][t]))).map(|(m, _)| m))
        .collect();
    let all: Vec<usize> = (0..n_m).collect();
    let vbs = virtual_best_score(&cells, &all, n_t);
    let marginal_contribution = (0..n_m)
        .map(|m| {
            let rest: Vec<usize> = all.iter().copied().filter(|&k| k != m).collect();
            vbs - virtual_best_score(&cells, &rest, n_t)
        })
        .collect();
    let single_best_score = single.map_or(f64::NAN, |(_, s)| s);
    Portfolio {
        method_scores,
        single_best: single.map(|(m, _)| m),
        single_best_score,
        virtual_best_score: vbs,
        oracle_choice,
        sbs_vbs_gap: vbs - single_best_score,
        marginal_contribution,
    }
}
