//! Leave-one-task-out evaluation of a selector.

use lrctl_eval::{ScoreTable, normalize_minmax};
use serde::{Deserialize, Serialize};

use crate::SelectError;
use crate::features::MetaFeatures;
use crate::selectors::{Selector, SingleBest, argmax, selector};

/// Tolerance under which two normalised scores count as equal.
const EPS: f64 = 1e-12;

/// The outcome on one held-out task of [`evaluate_loto`]. Scores are normalised
/// ([`performance_matrix`]): 1 is the task's best run, 0 its worst.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LotoTask {
    /// Task name.
    pub task: String,
    /// Method the selector chose (fitted on the other tasks only); `None` when it had nothing to
    /// choose from (no methods, or no training tasks).
    pub chosen: Option<usize>,
    /// Normalised score of the chosen method on this task; 0 (the worst) without a choice.
    pub score: f64,
    /// Best method on this task (the first on ties); `None` without methods.
    pub oracle: Option<usize>,
    /// Normalised score of the best method (the virtual best, VBS); 0 without methods.
    pub oracle_score: f64,
    /// Single best method on the training tasks of this fold (highest mean training score).
    pub sbs: Option<usize>,
    /// Normalised score of that single best method on this task; 0 without a choice.
    pub sbs_score: f64,
    /// `oracle_score − score ≥ 0`.
    pub regret: f64,
    /// Cost of probing this task's features, when probe costs were given.
    pub probe_cost: Option<f64>,
}

/// Result of [`evaluate_loto`]: per-task outcomes and aggregates over the tasks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LotoReport {
    /// Name of the evaluated selector.
    pub selector: String,
    /// Method names, indexed like [`LotoTask::chosen`].
    pub methods: Vec<String>,
    /// One entry per task, in table order.
    pub tasks: Vec<LotoTask>,
    /// Mean over tasks of [`LotoTask::score`] (NaN without tasks; likewise below).
    pub mean_score: f64,
    /// Mean over tasks of the oracle (virtual best) score.
    pub mean_oracle_score: f64,
    /// Mean over tasks of the per-fold single-best score.
    pub mean_sbs_score: f64,
    /// Mean regret to the oracle: `mean_oracle_score − mean_score`.
    pub mean_regret: f64,
    /// Fraction of the single-best → oracle gap that the selector closes:
    ///
    /// `Σ_t (score_t − sbs_score_t) / Σ_t (oracle_score_t − sbs_score_t)`,
    ///
    /// i.e. `(mean_score − mean_sbs_score) / (mean_oracle_score − mean_sbs_score)`, the usual
    /// ASlib measure on the means (Bischl et al. 2016; Lindauer et al. 2019). 1 means oracle
    /// performance, 0 single-best performance, negative is worse than the single best. `None`
    /// when the total gap is zero (within 1e-12), i.e. the single best is already optimal on
    /// every task and there is nothing to close.
    pub gap_closed: Option<f64>,
    /// Fraction of tasks on which the chosen method is optimal (its score equals the oracle's
    /// within 1e-12); NaN without tasks.
    pub optimal_fraction: f64,
    /// Total probe cost charged, one probe per held-out task, when probe costs were given.
    pub probe_cost_total: Option<f64>,
    /// Mean probe cost per task (NaN without tasks), when probe costs were given.
    pub probe_cost_mean: Option<f64>,
}

/// Normalised performance `[task][method]`: the mean over runs of the min–max normalised scores
/// ([`normalize_minmax`]: per task, 1 = best run, 0 = worst or diverged run), 0 for a (method,
/// task) without runs. Normalisation uses each task's own runs only, so it leaks nothing across
/// tasks.
pub fn performance_matrix(table: &ScoreTable) -> Vec<Vec<f64>> {
    let means = normalize_minmax(table).cell_means();
    (0..table.n_tasks())
        .map(|t| {
            (0..table.n_methods())
                .map(|m| {
                    let x = means[m][t];
                    if x.is_nan() { 0.0 } else { x }
                })
                .collect()
        })
        .collect()
}

/// Leave-one-task-out evaluation of the selector called `selector_name` (built with
/// [`selector`], i.e. the default seed), with `probe_cost[task]` charged for computing each
/// held-out task's features. See [`evaluate_loto_with`].
pub fn evaluate_loto(
    table: &ScoreTable,
    features: &MetaFeatures,
    selector_name: &str,
    probe_cost: Option<&[f64]>,
) -> Result<LotoReport, SelectError> {
    if selector(selector_name).is_none() {
        return Err(SelectError::UnknownSelector(selector_name.to_string()));
    }
    let mut make = || selector(selector_name).expect("name checked above");
    evaluate_loto_with(table, features, &mut make, probe_cost, &mut |_, _| {})
}

/// Leave-one-task-out (LOTO) cross-validation of an algorithm selector.
///
/// The table is normalised with [`performance_matrix`]. For every task `t`, in order:
///
/// 1. the training tasks are all other tasks; `observer(t, training_tasks)` is called;
/// 2. a [`Standardizer`](crate::Standardizer) is fitted on the training tasks' features only;
/// 3. a fresh selector from `make_selector` is fitted on the standardised training features and
///    the training tasks' performance rows only — task `t`'s performance never reaches `fit`;
/// 4. it selects a method from task `t`'s standardised features, which is scored against the
///    oracle (best method on `t`) and the single best method of the training tasks.
///
/// `probe_cost` (one entry per task, e.g. the budget spent on probing runs that compute the
/// features) is charged once per held-out task and reported, not subtracted from scores.
///
/// Errors when `features` or `probe_cost` does not have one entry per task of the table, or
/// `features` is malformed.
pub fn evaluate_loto_with(
    table: &ScoreTable,
    features: &MetaFeatures,
    make_selector: &mut dyn FnMut() -> Box<dyn Selector>,
    probe_cost: Option<&[f64]>,
    observer: &mut dyn FnMut(usize, &[usize]),
) -> Result<LotoReport, SelectError> {
    table
        .validate()
        .map_err(|e| SelectError::Shape(e.to_string()))?;
    features.validate()?;
    let n_t = table.n_tasks();
    if features.n_tasks() != n_t {
        return Err(SelectError::Shape(format!(
            "{} tasks in the table but features for {}",
            n_t,
            features.n_tasks()
        )));
    }
    if let Some(cost) = probe_cost
        && cost.len() != n_t
    {
        return Err(SelectError::Shape(format!(
            "{} tasks in the table but probe costs for {}",
            n_t,
            cost.len()
        )));
    }
    let perf = performance_matrix(table);
    let n_m = table.n_methods();
    let score_of = |t: usize, m: Option<usize>| m.map_or(0.0, |m| perf[t][m]);
    let mut name = make_selector().name().to_string();
    let mut tasks = Vec::with_capacity(n_t);
    for t in 0..n_t {
        let train: Vec<usize> = (0..n_t).filter(|&u| u != t).collect();
        observer(t, &train);
        let scaler = features.standardizer(&train);
        let train_x = features.standardized(&scaler, &train);
        let train_y: Vec<Vec<f64>> = train.iter().map(|&u| perf[u].clone()).collect();
        let test_x = scaler.transform(&features.values[t]);

        let mut sel = make_selector();
        name = sel.name().to_string();
        sel.fit(&train_x, &train_y);
        let chosen = sel.select(&test_x).filter(|&m| m < n_m);

        let mut sbs_sel = SingleBest::new();
        sbs_sel.fit(&train_x, &train_y);
        let sbs = sbs_sel.select(&test_x).filter(|&m| m < n_m);

        let oracle = argmax(&perf[t]);
        let (score, oracle_score) = (score_of(t, chosen), score_of(t, oracle));
        tasks.push(LotoTask {
            task: table.tasks[t].clone(),
            chosen,
            score,
            oracle,
            oracle_score,
            sbs,
            sbs_score: score_of(t, sbs),
            regret: oracle_score - score,
            probe_cost: probe_cost.map(|c| c[t]),
        });
    }

    let mean = |f: &dyn Fn(&LotoTask) -> f64| {
        if tasks.is_empty() {
            f64::NAN
        } else {
            tasks.iter().map(f).sum::<f64>() / tasks.len() as f64
        }
    };
    let mean_score = mean(&|r| r.score);
    let mean_oracle_score = mean(&|r| r.oracle_score);
    let mean_sbs_score = mean(&|r| r.sbs_score);
    let gap: f64 = tasks.iter().map(|r| r.oracle_score - r.sbs_score).sum();
    let gain: f64 = tasks.iter().map(|r| r.score - r.sbs_score).sum();
    let gap_closed = (gap > EPS).then(|| gain / gap);
    let optimal_fraction = mean(&|r| {
        if r.chosen.is_some() && r.score >= r.oracle_score - EPS {
            1.0
        } else {
            0.0
        }
    });
    let probe_cost_total = probe_cost.map(|c| c.iter().sum::<f64>());
    let probe_cost_mean =
        probe_cost_total.map(|s| if n_t == 0 { f64::NAN } else { s / n_t as f64 });
    Ok(LotoReport {
        selector: name,
        methods: table.methods.clone(),
        tasks,
        mean_score,
        mean_oracle_score,
        mean_sbs_score,
        mean_regret: mean_oracle_score - mean_score,
        gap_closed,
        optimal_fraction,
        probe_cost_total,
        probe_cost_mean,
    })
}
