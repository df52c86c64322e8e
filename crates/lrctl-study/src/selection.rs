//! Selection in a study: where an `auto` cell finds the results it learns from
//! ([`StoreReferences`]), and how a study's selection methods did against the candidates they
//! choose from ([`realised`]).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use lrctl_store::{CellState, Store, StudyId};
use lrctl_wrap::{CellError, Method, ReferenceSet, References};

use crate::snapshot::Snapshot;

/// Whether a stored method configuration (JSON) is a selection method.
pub fn is_selection(method_config: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(method_config)
        .is_ok_and(|v| v.get("select").is_some_and(|s| !s.is_null()))
}

/// Whether a stored method configuration (JSON) is a learned method (`[learn]`: its policy is
/// meta-trained on the study's other tasks).
pub fn is_learned(method_config: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(method_config)
        .is_ok_and(|v| v.get("learn").is_some_and(|s| !s.is_null()))
}

/// Prepares a task from its stored configuration (JSON), once per process: the task, or why
/// not ([`CellError::Unavailable`] when its data is missing on this machine).
pub type PrepareTask<'a> =
    dyn Fn(&str) -> Result<Arc<dyn lrctl_tasks::Task>, CellError> + Sync + 'a;

/// The results of a stored study an `auto` cell learns from — every other task's cells of
/// methods that do not themselves learn from the study (selection and learned methods) — and
/// the study's tasks a learned method meta-trains on.
pub struct StoreReferences<'a> {
    /// The store (shared with the cell's heartbeats).
    pub store: &'a Mutex<Box<dyn Store>>,
    /// The cell's study.
    pub study: StudyId,
    /// Prepares a task from its stored configuration.
    pub prepare: &'a PrepareTask<'a>,
}

impl References for StoreReferences<'_> {
    fn references(&self, task: &str) -> Result<Option<ReferenceSet>, CellError> {
        let failed = |e: &dyn std::fmt::Display| CellError::Failed(e.to_string());
        let cells = self
            .store
            .lock()
            .expect("not poisoned")
            .cells(self.study, lrctl_store::CellSet::Current)
            .map_err(|e| failed(&e))?;
        let reference: Vec<_> = cells
            .into_iter()
            .filter(|c| {
                c.task != task && !is_selection(&c.method_config) && !is_learned(&c.method_config)
            })
            .collect();
        if reference.iter().any(|c| c.state == CellState::Queued) {
            return Err(CellError::Deferred);
        }
        if !reference.iter().all(|c| c.state == CellState::Done) {
            return Ok(None);
        }
        let study = self
            .store
            .lock()
            .expect("not poisoned")
            .studies()
            .map_err(|e| failed(&e))?
            .into_iter()
            .find(|s| s.id == self.study)
            .ok_or_else(|| failed(&"the study is gone"))?;
        let methods: HashMap<String, Method> = reference
            .iter()
            .filter_map(|c| {
                Some((
                    c.method.clone(),
                    serde_json::from_str(&c.method_config).ok()?,
                ))
            })
            .collect();
        let snap = Snapshot::from_cells(study, reference);
        let features = lrctl_select::MetaFeatures::new(
            lrctl_wrap::features::static_names(),
            snap.static_features(),
        )
        .map_err(|e| failed(&e))?;
        Ok(Some(ReferenceSet {
            table: snap.score_table(),
            features,
            methods,
        }))
    }

    fn study_tasks(&self) -> Result<Vec<Arc<dyn lrctl_tasks::Task>>, CellError> {
        let cells = self
            .store
            .lock()
            .expect("not poisoned")
            .cells(self.study, lrctl_store::CellSet::Current)
            .map_err(|e| CellError::Failed(e.to_string()))?;
        // The newest configuration of each task, in name order.
        let configs: BTreeMap<String, String> =
            cells.into_iter().map(|c| (c.task, c.task_config)).collect();
        configs
            .iter()
            .map(|(name, config)| {
                (self.prepare)(config).map_err(|e| match e {
                    CellError::Unavailable(why) => CellError::Unavailable(format!(
                        "the study's task `{name}` cannot be prepared here: {why}"
                    )),
                    e => CellError::Failed(format!("preparing the study's task `{name}`: {e}")),
                })
            })
            .collect()
    }
}

/// How a study's selection methods did against the candidates they choose from.
///
/// Scores are per-task min–max normalised final scores over *all* of the task's runs
/// (candidates and selection methods alike; 1 = the task's best run), averaged over seeds and
/// then over the tasks where the selection method has results. The single best candidate
/// (`sbs`) and the per-task oracle are taken among the candidates (neither selection nor
/// learned methods) on the same tasks; `gap_closed` is `(score − sbs) / (oracle − sbs)`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Realised {
    /// The selection method (`race`, `auto`, …).
    pub method: String,
    /// Tasks it has results on.
    pub tasks: usize,
    /// Its mean normalised score.
    pub score: f64,
    /// The single best candidate on those tasks, and its mean normalised score.
    pub sbs: (String, f64),
    /// The per-task oracle's mean normalised score among the candidates.
    pub oracle: f64,
    /// Share of the single-best → oracle gap closed; `None` when there is no gap.
    pub gap_closed: Option<f64>,
    /// Its charged optimizer steps (choosing included) over the single best's, per task,
    /// averaged over the tasks (steps, not seconds: they do not depend on the machine's load).
    pub cost_ratio: f64,
}

/// The names of a snapshot's selection methods (their stored configuration has `[select]`).
pub fn selection_methods(snap: &Snapshot) -> Vec<String> {
    snap.methods
        .iter()
        .filter(|m| {
            snap.cells
                .iter()
                .any(|c| &c.method == *m && is_selection(&c.method_config))
        })
        .cloned()
        .collect()
}

/// The names of a snapshot's learned methods (their stored configuration has `[learn]`).
pub fn learned_methods(snap: &Snapshot) -> Vec<String> {
    snap.methods
        .iter()
        .filter(|m| {
            snap.cells
                .iter()
                .any(|c| &c.method == *m && is_learned(&c.method_config))
        })
        .cloned()
        .collect()
}

/// The snapshot without its selection and learned methods: the candidates that selectors
/// choose from (what leave-one-task-out evaluates and what `auto` learns from).
pub fn candidates_only(snap: &Snapshot) -> Snapshot {
    let mut selection = selection_methods(snap);
    selection.extend(learned_methods(snap));
    let cells = snap
        .cells
        .iter()
        .filter(|c| !selection.contains(&c.method))
        .cloned()
        .collect();
    Snapshot::from_cells(snap.study.clone(), cells)
}

/// How each selection method of `snap` did ([`Realised`]); empty when it has none.
pub fn realised(snap: &Snapshot) -> Vec<Realised> {
    let selection = selection_methods(snap);
    if selection.is_empty() {
        return Vec::new();
    }
    let candidates = Candidates::of(snap);
    selection
        .iter()
        .filter_map(|name| candidates.realise(snap, name))
        .collect()
}

/// The plain methods of a snapshot (neither selection nor learned) with its score table:
/// what [`Realised`] compares a selection or learned method against.
#[derive(Debug)]
pub struct Candidates {
    /// The snapshot's score table.
    pub table: lrctl_eval::ScoreTable,
    /// Mean normalised score, `[task][method]` (`lrctl_select::performance_matrix`).
    pub perf: Vec<Vec<f64>>,
    /// Indices into `table.methods` of the plain methods.
    pub methods: Vec<usize>,
}

impl Candidates {
    /// The candidates of `snap`.
    pub fn of(snap: &Snapshot) -> Candidates {
        let selection = selection_methods(snap);
        let learned = learned_methods(snap);
        let table = snap.score_table();
        let perf = lrctl_select::performance_matrix(&table);
        let methods = (0..table.n_methods())
            .filter(|&m| {
                !selection.contains(&table.methods[m]) && !learned.contains(&table.methods[m])
            })
            .collect();
        Candidates {
            table,
            perf,
            methods,
        }
    }

    /// Whether method `m` has a result on task `t`. A diverged or failed run is a result (NaN,
    /// normalised to 0): a method that diverges on a task is scored there, not dropped from
    /// its mean — dropping it would reward divergence.
    pub fn has(&self, m: usize, t: usize) -> bool {
        !self.table.scores[m][t].is_empty()
    }

    /// The best candidate on task `t` and its score.
    pub fn best_on(&self, t: usize) -> Option<(usize, f64)> {
        self.methods
            .iter()
            .map(|&c| (c, self.perf[t][c]))
            .max_by(|a, b| a.1.total_cmp(&b.1))
    }

    /// How `name` did against the candidates on the tasks where it has results; `None` when
    /// it has none or there are no candidates.
    pub fn realise(&self, snap: &Snapshot, name: &str) -> Option<Realised> {
        let (table, perf) = (&self.table, &self.perf);
        let m = table.method_index(name)?;
        let tasks: Vec<usize> = (0..table.n_tasks()).filter(|&t| self.has(m, t)).collect();
        if tasks.is_empty() || self.methods.is_empty() {
            return None;
        }
        // Mean charged steps (tuning and races included) of a method's cells on a task.
        let steps = |method: &str, task: &str| {
            let v: Vec<f64> = snap
                .cells_of(task, method)
                .filter_map(|c| c.result.as_ref().map(|r| r.cost_steps as f64))
                .collect();
            v.iter().sum::<f64>() / v.len().max(1) as f64
        };
        let mean = |f: &dyn Fn(usize) -> f64| {
            tasks.iter().map(|&t| f(t)).sum::<f64>() / tasks.len() as f64
        };
        let score = mean(&|t| perf[t][m]);
        let oracle = mean(&|t| self.best_on(t).map_or(0.0, |b| b.1.max(0.0)));
        let (sbs, sbs_score) = self
            .methods
            .iter()
            .map(|&c| (c, mean(&|t| perf[t][c])))
            .max_by(|a, b| a.1.total_cmp(&b.1))?;
        let gap = oracle - sbs_score;
        Some(Realised {
            method: name.to_string(),
            tasks: tasks.len(),
            score,
            sbs: (table.methods[sbs].clone(), sbs_score),
            oracle,
            gap_closed: (gap > 1e-12).then(|| (score - sbs_score) / gap),
            cost_ratio: mean(&|t| {
                let task = table.tasks[t].as_str();
                steps(name, task) / steps(&table.methods[sbs], task).max(1.0)
            }),
        })
    }
}

/// Fewer study tasks than this, and a recommendation rests on little evidence.
pub const MIN_TASKS: usize = 8;

/// Fewer seeds per (task, method) than this, and a recommendation rests on little evidence.
pub const MIN_SEEDS: usize = 3;

/// A study task near the one a recommendation is for.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NearTask {
    /// The study task.
    pub task: String,
    /// Euclidean distance in standardised meta-feature space.
    pub distance: f64,
    /// Its best method in the study (the oracle's choice).
    pub best: Option<String>,
}

/// How a selector did by leave-one-task-out on the study a recommendation comes from.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LotoRecord {
    /// Share of held-out tasks for which it chose the best method.
    pub optimal_fraction: f64,
    /// Share of the single-best → oracle gap it closed (None: no gap to close).
    pub gap_closed: Option<f64>,
}

/// A method recommended for a task from a study's evidence (`lrctl select --task`,
/// `lrctl.recommend`), with what backs it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recommendation {
    /// The task it is for.
    pub task: String,
    /// The selector that chose (`lrctl_select::SELECTOR_NAMES`).
    pub selector: String,
    /// The recommended method.
    pub method: String,
    /// Every method with its predicted normalised score (1 = a task's best run), best first.
    pub ranking: Vec<(String, f64)>,
    /// The nearest study tasks by meta-features (at most three), nearest first.
    pub nearest: Vec<NearTask>,
    /// Study tasks the selector learnt from.
    pub study_tasks: usize,
    /// The fewest seeds of any (task, method) with results.
    pub min_seeds: usize,
    /// Fewer than [`MIN_TASKS`] tasks or [`MIN_SEEDS`] seeds: treat the choice as a guess.
    pub little_evidence: bool,
    /// The selector's leave-one-task-out record on the study (three tasks or more).
    pub loto: Option<LotoRecord>,
    /// Why there is no such record.
    pub loto_unavailable: Option<String>,
    /// The recommended method's runs in the study.
    pub runs: usize,
    /// Of which diverged or failed.
    pub bad_runs: usize,
    /// The tasks of those runs.
    pub bad_tasks: Vec<String>,
    /// The recommended method's stored configuration (JSON).
    pub configuration: Option<String>,
}

/// The snapshot without `task`'s cells: a task of the study is held out of what a selector
/// learns when a method is recommended for it (leave-one-task-out).
pub fn without_task(all: &Snapshot, task: &str) -> Snapshot {
    let cells = all
        .cells
        .iter()
        .filter(|c| c.task != task)
        .cloned()
        .collect();
    Snapshot::from_cells(all.study.clone(), cells)
}

/// Recommends a method for a task whose meta-features are `target` (the columns of
/// `features`), with `selector` fitted on `snap`'s tasks (the target task left out, see
/// [`without_task`]) and their `features`.
pub fn recommend(
    snap: &Snapshot,
    features: &lrctl_select::MetaFeatures,
    task: &str,
    target: &[f64],
    selector: &str,
) -> Result<Recommendation, crate::StudyError> {
    let refused = |m: String| crate::StudyError::Refused(m);
    if snap.tasks.len() < 2 {
        return Err(refused(format!(
            "study `{}` has {} other task(s) with results: a selector learns across tasks and \
             needs at least 2 (run a larger study, e.g. `lrctl run --suite libsvm --suite \
             vision`)",
            snap.study.name,
            snap.tasks.len()
        )));
    }
    let mut chooser = lrctl_select::selector(selector).ok_or_else(|| {
        refused(format!(
            "unknown selector `{selector}`; the selectors are: {}",
            lrctl_select::SELECTOR_NAMES.join(", ")
        ))
    })?;
    let table = snap.score_table();
    let perf = lrctl_select::performance_matrix(&table);
    let all_tasks: Vec<usize> = (0..snap.tasks.len()).collect();
    let standardizer = features.standardizer(&all_tasks);
    let train = features.standardized(&standardizer, &all_tasks);
    chooser.fit(&train, &perf);
    let x = standardizer.transform(target);
    let predicted = chooser.predict(&x);
    let mut order: Vec<usize> = (0..predicted.len()).collect();
    order.sort_by(|&a, &b| predicted[b].total_cmp(&predicted[a]));
    let Some(&best) = order.first() else {
        return Err(refused(format!(
            "study `{}` has no methods",
            snap.study.name
        )));
    };
    let method = snap.methods[best].clone();
    let min_seeds = (0..table.n_methods())
        .flat_map(|m| (0..table.n_tasks()).map(move |t| (m, t)))
        .map(|(m, t)| table.scores[m][t].len())
        .filter(|&n| n > 0)
        .min()
        .unwrap_or(0);
    let (loto, loto_unavailable) = if snap.tasks.len() >= 3 {
        match lrctl_select::evaluate_loto(&table, features, selector, None) {
            Ok(r) => (
                Some(LotoRecord {
                    optimal_fraction: r.optimal_fraction,
                    gap_closed: r.gap_closed,
                }),
                None,
            ),
            Err(e) => (None, Some(e.to_string())),
        }
    } else {
        (None, Some("fewer than 3 study tasks".into()))
    };
    let portfolio = lrctl_eval::portfolio(&lrctl_eval::normalize_minmax(&table));
    let mut near: Vec<(f64, usize)> = train
        .iter()
        .enumerate()
        .map(|(t, row)| {
            let d: f64 = row.iter().zip(&x).map(|(a, b)| (a - b) * (a - b)).sum();
            (d.sqrt(), t)
        })
        .collect();
    near.sort_by(|a, b| a.0.total_cmp(&b.0));
    let runs: Vec<(&str, lrctl_store::Outcome)> = snap
        .cells
        .iter()
        .filter(|c| c.method == method)
        .filter_map(|c| c.result.as_ref().map(|r| (c.task.as_str(), r.outcome)))
        .collect();
    let mut bad_tasks: Vec<String> = runs
        .iter()
        .filter(|(_, o)| *o != lrctl_store::Outcome::Finished)
        .map(|(t, _)| t.to_string())
        .collect();
    let bad_runs = bad_tasks.len();
    bad_tasks.sort_unstable();
    bad_tasks.dedup();
    Ok(Recommendation {
        task: task.to_string(),
        selector: selector.to_string(),
        ranking: order
            .iter()
            .map(|&m| (snap.methods[m].clone(), predicted[m]))
            .collect(),
        nearest: near
            .iter()
            .take(3)
            .map(|&(distance, t)| NearTask {
                task: snap.tasks[t].name.clone(),
                distance,
                best: portfolio.oracle_choice[t].map(|m| snap.methods[m].clone()),
            })
            .collect(),
        study_tasks: snap.tasks.len(),
        min_seeds,
        little_evidence: snap.tasks.len() < MIN_TASKS || min_seeds < MIN_SEEDS,
        loto,
        loto_unavailable,
        runs: runs.len(),
        bad_runs,
        bad_tasks,
        configuration: snap
            .cells
            .iter()
            .find(|c| c.method == method)
            .map(|c| c.method_config.clone()),
        method,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diverged_run_is_a_result_scored_zero() {
        // Two tasks; `b` diverged on t1 (NaN) and has no run on t2.
        let table = lrctl_eval::ScoreTable::new(
            vec!["t1".into(), "t2".into()],
            vec!["a".into(), "b".into()],
            vec![vec![vec![0.9], vec![0.8]], vec![vec![f64::NAN], vec![]]],
            vec![true, true],
        )
        .unwrap();
        let perf = lrctl_select::performance_matrix(&table);
        let c = Candidates {
            table,
            perf,
            methods: vec![0],
        };
        assert!(c.has(1, 0), "diverged: a result");
        assert_eq!(c.perf[0][1], 0.0, "scored as the task's worst");
        assert!(!c.has(1, 1), "no run: no result");
        assert!(c.has(0, 0) && c.has(0, 1));
    }
}
