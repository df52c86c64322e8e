//! The input data: a [`ScoreTable`] of final scores per (method, task, run), its validation,
//! and the two normalisations.

use serde::{Deserialize, Serialize};

use crate::EvalError;

/// Final scores of every run of every method on every task.
///
/// `scores[m][t]` holds the runs (seeds) of method `m` on task `t`. Run counts may differ per
/// (method, task); a missing run is simply absent (and a cell may be empty).
///
/// # Diverged runs
///
/// A non-finite score (NaN or ±∞) marks a *diverged* run: it never produced a usable score.
/// The functions that compare methods on raw scores treat it as the worst possible outcome:
/// [`normalize_minmax`] and [`normalize_to_best`] give it the normalised score 0 (the task's
/// worst), [`ranks`](crate::ranks) and [`gap_to_best`](crate::gap_to_best) rank it below every
/// finite score, and [`probability_of_improvement`](crate::probability_of_improvement) counts it
/// as losing against every finite run (and tying with another diverged run).
///
/// The aggregate, profile and bootstrap functions are meant for *normalised* tables, which
/// contain no NaN; if one is present anyway it is skipped there like a missing run. Normalise
/// first so that diverged runs count as 0.
///
/// # Serialisation
///
/// JSON has no NaN or infinity: non-finite scores serialise as `null`, and `null` deserialises
/// as NaN, i.e. a diverged run either way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreTable {
    /// Task names, one per task column.
    pub tasks: Vec<String>,
    /// Method names, one per method.
    pub methods: Vec<String>,
    /// Scores, indexed `[method][task][run]`.
    #[serde(with = "nan_as_null")]
    pub scores: Vec<Vec<Vec<f64>>>,
    /// Per task: whether a higher score is better (accuracy) or a lower one (loss).
    pub higher_is_better: Vec<bool>,
}

impl ScoreTable {
    /// Builds a table and checks its shape (see [`ScoreTable::validate`]).
    pub fn new(
        tasks: Vec<String>,
        methods: Vec<String>,
        scores: Vec<Vec<Vec<f64>>>,
        higher_is_better: Vec<bool>,
    ) -> Result<Self, EvalError> {
        let table = Self {
            tasks,
            methods,
            scores,
            higher_is_better,
        };
        table.validate()?;
        Ok(table)
    }

    /// Checks that `scores` has one entry per method, each with one entry per task, and that
    /// `higher_is_better` has one entry per task. Every function of this crate assumes a valid
    /// table and may panic on an invalid one.
    pub fn validate(&self) -> Result<(), EvalError> {
        if self.higher_is_better.len() != self.tasks.len() {
            return Err(EvalError::Shape(format!(
                "{} tasks but {} higher_is_better entries",
                self.tasks.len(),
                self.higher_is_better.len()
            )));
        }
        if self.scores.len() != self.methods.len() {
            return Err(EvalError::Shape(format!(
                "{} methods but scores for {}",
                self.methods.len(),
                self.scores.len()
            )));
        }
        for (m, per_task) in self.scores.iter().enumerate() {
            if per_task.len() != self.tasks.len() {
                return Err(EvalError::Shape(format!(
                    "method {:?} has scores for {} tasks, expected {}",
                    self.methods[m],
                    per_task.len(),
                    self.tasks.len()
                )));
            }
        }
        Ok(())
    }

    /// Number of methods.
    pub fn n_methods(&self) -> usize {
        self.methods.len()
    }

    /// Number of tasks.
    pub fn n_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Index of the method called `name`.
    pub fn method_index(&self, name: &str) -> Option<usize> {
        self.methods.iter().position(|m| m == name)
    }

    /// Index of the task called `name`.
    pub fn task_index(&self, name: &str) -> Option<usize> {
        self.tasks.iter().position(|t| t == name)
    }

    /// The runs of `method` on `task`.
    pub fn runs(&self, method: usize, task: usize) -> &[f64] {
        &self.scores[method][task]
    }

    /// Mean over the non-NaN runs of `method` on `task`; NaN when there are none.
    pub fn cell_mean(&self, method: usize, task: usize) -> f64 {
        mean_skip_nan(&self.scores[method][task])
    }

    /// [`ScoreTable::cell_mean`] for every cell, indexed `[method][task]`.
    pub fn cell_means(&self) -> Vec<Vec<f64>> {
        (0..self.n_methods())
            .map(|m| (0..self.n_tasks()).map(|t| self.cell_mean(m, t)).collect())
            .collect()
    }

    /// The table restricted to the given methods (in the given order).
    pub fn select_methods(&self, methods: &[usize]) -> ScoreTable {
        ScoreTable {
            tasks: self.tasks.clone(),
            methods: methods.iter().map(|&m| self.methods[m].clone()).collect(),
            scores: methods.iter().map(|&m| self.scores[m].clone()).collect(),
            higher_is_better: self.higher_is_better.clone(),
        }
    }

    /// All finite scores of `task`, over every method's runs.
    fn finite_task_scores(&self, task: usize) -> impl Iterator<Item = f64> + '_ {
        self.scores
            .iter()
            .flat_map(move |per_task| per_task[task].iter().copied())
            .filter(|x| x.is_finite())
    }

    /// The best and worst finite score of `task` (direction-aware), if any.
    pub(crate) fn task_best_worst(&self, task: usize) -> Option<(f64, f64)> {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for x in self.finite_task_scores(task) {
            lo = lo.min(x);
            hi = hi.max(x);
        }
        if lo > hi {
            return None;
        }
        Some(if self.higher_is_better[task] {
            (hi, lo)
        } else {
            (lo, hi)
        })
    }

    fn map_task_scores(&self, f: impl Fn(usize, f64) -> f64) -> ScoreTable {
        ScoreTable {
            tasks: self.tasks.clone(),
            methods: self.methods.clone(),
            scores: self
                .scores
                .iter()
                .map(|per_task| {
                    per_task
                        .iter()
                        .enumerate()
                        .map(|(t, runs)| runs.iter().map(|&x| f(t, x)).collect())
                        .collect()
                })
                .collect(),
            higher_is_better: vec![true; self.tasks.len()],
        }
    }
}

/// Min–max normalisation per task, across all methods' runs: the best finite score of the task
/// maps to 1, the worst to 0, direction-aware (for a lower-is-better task the lowest score maps
/// to 1). Diverged runs (non-finite scores) map to 0. When every finite score of a task is the
/// same, they all map to 1 (each is the best).
///
/// The result is higher-is-better on every task and contains no NaN. Being an increasing affine
/// map per task, it preserves every within-task comparison of finite scores.
pub fn normalize_minmax(table: &ScoreTable) -> ScoreTable {
    let ranges: Vec<Option<(f64, f64)>> = (0..table.n_tasks())
        .map(|t| table.task_best_worst(t))
        .collect();
    table.map_task_scores(|t, x| {
        let Some((best, worst)) = ranges[t] else {
            return 0.0;
        };
        if !x.is_finite() {
            0.0
        } else if best == worst {
            1.0
        } else {
            (x - worst) / (best - worst)
        }
    })
}

/// Normalisation relative to the best finite score of each task (over all methods' runs):
/// `x / best` on a higher-is-better task, `best / x` on a lower-is-better task, so the best run
/// scores 1 and e.g. a loss twice the best scores 0.5. Diverged runs map to 0.
///
/// The ratio needs positive scores: it is an error when the best score of a higher-is-better
/// task is not positive, or when a finite score of a lower-is-better task is not positive. Tasks
/// without finite scores normalise to all zeros. The result is higher-is-better everywhere.
pub fn normalize_to_best(table: &ScoreTable) -> Result<ScoreTable, EvalError> {
    let mut bests = Vec::with_capacity(table.n_tasks());
    for t in 0..table.n_tasks() {
        let best = table.task_best_worst(t).map(|(best, _)| best);
        if let Some(best) = best {
            let ok = if table.higher_is_better[t] {
                best > 0.0
            } else {
                table.finite_task_scores(t).all(|x| x > 0.0)
            };
            if !ok {
                return Err(EvalError::InvalidArgument(format!(
                    "normalize_to_best needs positive scores on task {:?}",
                    table.tasks[t]
                )));
            }
        }
        bests.push(best);
    }
    Ok(table.map_task_scores(|t, x| match bests[t] {
        Some(best) if x.is_finite() => {
            if table.higher_is_better[t] {
                x / best
            } else {
                best / x
            }
        }
        _ => 0.0,
    }))
}

/// Mean of the non-NaN values; NaN when there are none.
pub(crate) fn mean_skip_nan(values: &[f64]) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for &x in values.iter().filter(|x| !x.is_nan()) {
        sum += x;
        n += 1;
    }
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

/// JSON has no NaN or infinity: `[m][t][run]` arrays serialise non-finite floats as `null` and
/// read `null` back as a chosen value.
pub(crate) mod null_floats {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    /// Non-finite → `null`.
    pub fn serialize<S: Serializer>(v: &[Vec<Vec<f64>>], s: S) -> Result<S::Ok, S::Error> {
        let opt: Vec<Vec<Vec<Option<f64>>>> = v
            .iter()
            .map(|a| {
                a.iter()
                    .map(|b| b.iter().map(|&x| x.is_finite().then_some(x)).collect())
                    .collect()
            })
            .collect();
        opt.serialize(s)
    }

    /// `null` → `missing`.
    pub fn deserialize_as<'de, D: Deserializer<'de>>(
        d: D,
        missing: f64,
    ) -> Result<Vec<Vec<Vec<f64>>>, D::Error> {
        let opt = Vec::<Vec<Vec<Option<f64>>>>::deserialize(d)?;
        Ok(opt
            .into_iter()
            .map(|a| {
                a.into_iter()
                    .map(|b| b.into_iter().map(|x| x.unwrap_or(missing)).collect())
                    .collect()
            })
            .collect())
    }
}

/// Scores: `null` reads back as NaN (a diverged run).
pub(crate) mod nan_as_null {
    pub use super::null_floats::serialize;

    /// `null` → NaN.
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<Vec<Vec<f64>>>, D::Error> {
        super::null_floats::deserialize_as(d, f64::NAN)
    }
}
