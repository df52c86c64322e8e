//! Per-task ranks of the methods and their gap to the best method.

use serde::{Deserialize, Serialize};

use crate::table::{ScoreTable, mean_skip_nan, normalize_minmax};

/// Ranks of the methods, 1 = best.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ranks {
    /// Rank of each method on each task, indexed `[method][task]`; tied methods share the
    /// average of the ranks they span (e.g. two methods tied for first both get 1.5).
    pub per_task: Vec<Vec<f64>>,
    /// Mean rank of each method over the tasks (NaN when there are no tasks).
    pub mean: Vec<f64>,
}

/// Ranks the methods on each task by the mean score of their runs (average ranks for ties,
/// "fractional ranking"), and averages each method's rank over the tasks — the mean-rank
/// summary of Demšar (2006), "Statistical comparisons of classifiers over multiple data sets",
/// JMLR 7.
///
/// Direction-aware. A diverged run (non-finite score) counts as the task's worst finite score,
/// which makes the ordering the one of the [`normalize_minmax`] means. A method without any run
/// on a task is ranked below every method with runs there (tied with other such methods); on a
/// task without a single finite score all methods tie. Ties are exact equality of the means.
pub fn ranks(table: &ScoreTable) -> Ranks {
    let (n_m, n_t) = (table.n_methods(), table.n_tasks());
    let mut per_task = vec![vec![0.0; n_t]; n_m];
    for t in 0..n_t {
        let worst = table.task_best_worst(t).map(|(_, w)| w);
        let sign = if table.higher_is_better[t] { 1.0 } else { -1.0 };
        // Goodness of every method on this task: higher is better, -inf when unusable.
        let key: Vec<f64> = (0..n_m)
            .map(|m| {
                let runs: Vec<f64> = table.scores[m][t]
                    .iter()
                    .map(|&x| {
                        if x.is_finite() {
                            x
                        } else {
                            worst.unwrap_or(f64::NAN)
                        }
                    })
                    .collect();
                let mean = mean_skip_nan(&runs);
                if mean.is_nan() {
                    f64::NEG_INFINITY
                } else {
                    sign * mean
                }
            })
            .collect();
        for (row, r) in per_task.iter_mut().zip(fractional_ranks_desc(&key)) {
            row[t] = r;
        }
    }
    let mean = per_task
        .iter()
        .map(|r| {
            if r.is_empty() {
                f64::NAN
            } else {
                r.iter().sum::<f64>() / r.len() as f64
            }
        })
        .collect();
    Ranks { per_task, mean }
}

/// Fractional ranks of `values` in descending order (largest gets 1), ties averaged.
/// `values` must not contain NaN.
pub(crate) fn fractional_ranks_desc(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
    let mut ranks = vec![0.0; values.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i + 1;
        while j < order.len() && values[order[j]] == values[order[i]] {
            j += 1;
        }
        // Positions i..j (0-based) share ranks i+1..=j; their average is (i + 1 + j) / 2.
        let r = (i + 1 + j) as f64 / 2.0;
        for &k in &order[i..j] {
            ranks[k] = r;
        }
        i = j;
    }
    ranks
}

/// Gap of each method to the best method on each task, in min–max normalised units
/// ([`normalize_minmax`]: 1 is the task's best run, 0 its worst or a diverged run), indexed
/// `[method][task]`: the best method's mean normalised score minus this method's, so the best
/// method has gap 0 and gaps lie in [0, 1]. NaN for a method without runs on the task.
pub fn gap_to_best(table: &ScoreTable) -> Vec<Vec<f64>> {
    let norm = normalize_minmax(table);
    let means = norm.cell_means();
    let (n_m, n_t) = (table.n_methods(), table.n_tasks());
    let mut gap = vec![vec![f64::NAN; n_t]; n_m];
    for t in 0..n_t {
        let best = (0..n_m)
            .map(|m| means[m][t])
            .filter(|x| !x.is_nan())
            .fold(f64::NEG_INFINITY, f64::max);
        for m in 0..n_m {
            gap[m][t] = best - means[m][t];
        }
    }
    gap
}
