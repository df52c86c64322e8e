//! Every number of a study report, computed from a [`Snapshot`] before anything is drawn.
//!
//! [`analyse`] runs the statistics (means over seeds here, the across-task ones in
//! [`crate::across`] with `lrctl-eval`, `lrctl-select` and `lrctl-study`); the renderer only
//! formats the resulting [`StudyAnalysis`]. The analysis is plain serialisable data, so the
//! same numbers can be served as JSON. Non-finite values (NaN: no data; +∞: a target never
//! reached) serialise as `null` with `serde_json`, as JSON has neither.

use std::collections::BTreeMap;

use serde::Serialize;

use lrctl_store::{CurvePointRow, Outcome, ProvenanceRow};
use lrctl_study::MeanSe;
use lrctl_study::snapshot::{Snapshot, TaskInfo};

use crate::across::{self, AcrossTasks};

/// Report options.
#[derive(Debug, Clone, Serialize)]
pub struct ReportOptions {
    /// EWM smoothing weight on the newest point for learning curves (`None`: raw).
    pub smoothing: Option<f64>,
    /// Bootstrap resamples for confidence intervals.
    pub bootstrap_reps: usize,
    /// Seed of the bootstrap (the report is deterministic given it).
    pub seed: u64,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            smoothing: None,
            bootstrap_reps: 2000,
            seed: 0,
        }
    }
}

/// Everything a study report shows. Indices "per method" follow [`StudyAnalysis::methods`],
/// "per task" follow [`StudyAnalysis::tasks`].
#[derive(Debug, Clone, Serialize)]
pub struct StudyAnalysis {
    /// The study's name.
    pub study: String,
    /// The options it was computed with.
    pub options: ReportOptions,
    /// Methods in the study's order.
    pub methods: Vec<String>,
    /// Seeds of the study.
    pub seeds: Vec<u64>,
    /// Current (not superseded) cells.
    pub cells: usize,
    /// Cells with a result (finished, diverged or failed).
    pub done: usize,
    /// Cells without a result yet (queued or running).
    pub unfinished: usize,
    /// The (task, method) pairs with fewer finished seeds than cells.
    pub missing_seeds: Vec<MissingSeeds>,
    /// Cells left out because their (task, method) has a newer configuration (one sentence
    /// each): tables never average two configurations.
    pub left_out: Vec<String>,
    /// Per task, in name order.
    pub tasks: Vec<TaskAnalysis>,
    /// The across-task statistics; `None` while no cell has a held-out score.
    pub across: Option<AcrossTasks>,
    /// The Scale section: trends of the HPO advantage along the study's ladders.
    pub scale: crate::scale::ScaleAnalysis,
    /// Diverged or failed seeds of every method.
    pub divergences: Vec<Divergences>,
    /// Builds and machines that produced the results.
    pub provenance: Vec<ProvenanceRow>,
    /// The configuration hash of every (task, method), sorted by task then method.
    pub config_hashes: Vec<ConfigHash>,
    /// The learned methods' section (`None`: the study has none).
    pub learned: Option<crate::learned::Learned>,
}

/// A (task, method) with seeds missing from the statistics (diverged, failed or not run yet).
#[derive(Debug, Clone, Serialize)]
pub struct MissingSeeds {
    /// Task name.
    pub task: String,
    /// Method name.
    pub method: String,
    /// Seeds that finished.
    pub finished: usize,
    /// All its cells.
    pub cells: usize,
}

/// The per-task part of the report.
#[derive(Debug, Clone, Serialize)]
pub struct TaskAnalysis {
    /// Task name.
    pub name: String,
    /// Its held-out metric (`accuracy`, `bits_per_byte`).
    pub metric: String,
    /// Whether larger metric values are better.
    pub maximize: bool,
    /// The task's description, when its configuration is readable.
    pub description: Option<String>,
    /// Training loss over optimizer steps, smoothed as [`ReportOptions::smoothing`] says.
    pub train_loss: Vec<CurveSeries>,
    /// Validation metric at each evaluation.
    pub eval_metric: Vec<CurveSeries>,
    /// Effective learning rate the optimizer applied.
    pub effective_lr: Vec<CurveSeries>,
    /// The final-score table: one row per method with cells on the task.
    pub finals: Vec<FinalRow>,
    /// Methods whose runs were identical to another's on every seed of the task (its
    /// controller never changed the learning rate, say): `(method, same as)`.
    pub identical: Vec<(String, String)>,
}

/// One method's curve on a task: mean ± standard error over seeds at each recorded step.
#[derive(Debug, Clone, Serialize)]
pub struct CurveSeries {
    /// Method name.
    pub method: String,
    /// Its index in [`StudyAnalysis::methods`] (which fixes its colour and marker).
    pub method_index: usize,
    /// Optimizer steps.
    pub step: Vec<f64>,
    /// Mean over seeds at each step.
    pub mean: Vec<f64>,
    /// Standard error of the mean at each step.
    pub se: Vec<f64>,
    /// The band drawn around the mean: mean ± SE, or for quantities averaged on a log scale
    /// (learning rates) the geometric mean ×/÷ its geometric standard error.
    pub lo: Vec<f64>,
    /// See [`CurveSeries::lo`].
    pub hi: Vec<f64>,
}

/// One method's row of a task's final-score table.
#[derive(Debug, Clone, Serialize)]
pub struct FinalRow {
    /// Method name.
    pub method: String,
    /// Final training loss over finished seeds.
    pub train_loss: Option<MeanSe>,
    /// Held-out metric over finished seeds.
    pub metric: Option<MeanSe>,
    /// Seeds that diverged.
    pub diverged: usize,
    /// Seeds that failed.
    pub failed: usize,
    /// Seeds that finished.
    pub finished: usize,
    /// All its cells on the task.
    pub cells: usize,
    /// Whether its mean held-out metric is the task's best (the first on ties).
    pub best: bool,
}

/// Diverged or failed seeds of one method, out of those with a result.
#[derive(Debug, Clone, Serialize)]
pub struct Divergences {
    /// Method name.
    pub method: String,
    /// Per task.
    pub per_task: Vec<DivergenceCount>,
    /// Over all tasks.
    pub total: DivergenceCount,
}

/// Diverged or failed seeds out of those with a result.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DivergenceCount {
    /// Seeds that diverged or failed.
    pub diverged: usize,
    /// Seeds with a result.
    pub done: usize,
}

/// The configuration hash of one (task, method).
#[derive(Debug, Clone, Serialize)]
pub struct ConfigHash {
    /// Task name.
    pub task: String,
    /// Method name.
    pub method: String,
    /// SHA-256 of the resolved task and method configuration with the engine version.
    pub hash: String,
}

/// Computes every number of the report of `snap`.
pub fn analyse(snap: &Snapshot, opts: &ReportOptions) -> StudyAnalysis {
    StudyAnalysis {
        study: snap.study.name.clone(),
        options: opts.clone(),
        methods: snap.methods.clone(),
        seeds: snap.seeds.clone(),
        cells: snap.cells.len(),
        done: snap.cells.iter().filter(|c| c.result.is_some()).count(),
        unfinished: snap.unfinished(),
        missing_seeds: missing_seeds(snap),
        left_out: snap.left_out.iter().map(ToString::to_string).collect(),
        tasks: snap.tasks.iter().map(|t| task(snap, t, opts)).collect(),
        across: across::analyse(snap, opts),
        scale: crate::scale::analyse(snap, opts),
        divergences: divergences(snap),
        provenance: snap.provenance.clone(),
        config_hashes: config_hashes(snap),
        learned: crate::learned::analyse(snap),
    }
}

fn finished(outcome: Outcome) -> bool {
    outcome == Outcome::Finished
}

fn missing_seeds(snap: &Snapshot) -> Vec<MissingSeeds> {
    let mut gaps = Vec::new();
    for t in &snap.tasks {
        for m in &snap.methods {
            let finished = snap
                .cells_of(&t.name, m)
                .filter(|c| c.result.as_ref().is_some_and(|r| finished(r.outcome)))
                .count();
            let cells = snap.cells_of(&t.name, m).count();
            if finished < cells {
                gaps.push(MissingSeeds {
                    task: t.name.clone(),
                    method: m.clone(),
                    finished,
                    cells,
                });
            }
        }
    }
    gaps
}

fn task(snap: &Snapshot, task: &TaskInfo, opts: &ReportOptions) -> TaskAnalysis {
    // `log`: average the logarithm (learning rates span decades: an arithmetic band of DoWG's
    // rates ran from 1e-9 to 10 and hid every other method); the band is then the geometric
    // mean ×/÷ its standard error.
    let series = |value: &dyn Fn(&CurvePointRow) -> Option<f64>, alpha: Option<f64>, log: bool| {
        snap.methods
            .iter()
            .enumerate()
            .filter_map(|(i, m)| {
                let v = |p: &CurvePointRow| {
                    let x = value(p)?;
                    if log {
                        (x > 0.0).then(|| x.ln())
                    } else {
                        Some(x)
                    }
                };
                let pts = snap.mean_curve(&task.name, m, v, alpha);
                let back = |x: f64| if log { x.exp() } else { x };
                (!pts.is_empty()).then(|| CurveSeries {
                    method: m.clone(),
                    method_index: i,
                    step: pts.iter().map(|p| p.0).collect(),
                    mean: pts.iter().map(|p| back(p.1)).collect(),
                    se: pts.iter().map(|p| p.2).collect(),
                    lo: pts.iter().map(|p| back(p.1 - p.2)).collect(),
                    hi: pts.iter().map(|p| back(p.1 + p.2)).collect(),
                })
            })
            .collect()
    };
    let curves = |value: &dyn Fn(&CurvePointRow) -> Option<f64>, alpha: Option<f64>| {
        series(value, alpha, false)
    };
    TaskAnalysis {
        name: task.name.clone(),
        metric: task.metric.to_string(),
        maximize: task.maximize,
        description: task.spec.as_ref().map(|s| s.description.clone()),
        train_loss: curves(&|p| Some(p.train_loss), opts.smoothing),
        eval_metric: curves(&|p| p.eval_metric, None),
        effective_lr: series(&|p| Some(p.effective_lr), None, true),
        finals: finals(snap, task),
        identical: identical_runs(snap, task),
    }
}

/// A run's curve as bits: (step, train loss, learning rate) at every recorded point.
type Trace = Vec<(u64, u64, u64)>;

/// Pairs of methods whose runs on `task` were the same on every seed (train loss and learning
/// rate at every recorded point): the later method in the study's order is named first.
fn identical_runs(snap: &Snapshot, task: &TaskInfo) -> Vec<(String, String)> {
    let runs = |m: &str| -> Vec<(u64, Trace)> {
        let mut v: Vec<_> = snap
            .cells_of(&task.name, m)
            .filter_map(|c| {
                let curve = snap.curves.get(&c.id)?;
                Some((
                    c.seed,
                    curve
                        .iter()
                        .map(|p| (p.step, p.train_loss.to_bits(), p.lr.to_bits()))
                        .collect(),
                ))
            })
            .collect();
        v.sort();
        v
    };
    let all: Vec<_> = snap.methods.iter().map(|m| (m, runs(m))).collect();
    let mut out = Vec::new();
    for (j, (b, rb)) in all.iter().enumerate() {
        if rb.is_empty() {
            continue;
        }
        if let Some((a, _)) = all[..j].iter().find(|(_, ra)| ra == rb) {
            out.push(((*b).clone(), (*a).clone()));
        }
    }
    out
}

fn finals(snap: &Snapshot, task: &TaskInfo) -> Vec<FinalRow> {
    let mut rows: Vec<FinalRow> = Vec::new();
    for m in &snap.methods {
        let cells: Vec<_> = snap.cells_of(&task.name, m).collect();
        if cells.is_empty() {
            continue;
        }
        let done: Vec<_> = cells
            .iter()
            .filter_map(|c| c.result.as_ref())
            .filter(|r| finished(r.outcome))
            .collect();
        let count = |o: Outcome| {
            cells
                .iter()
                .filter(|c| c.result.as_ref().is_some_and(|r| r.outcome == o))
                .count()
        };
        rows.push(FinalRow {
            method: m.clone(),
            train_loss: MeanSe::of(done.iter().filter_map(|r| r.final_train_loss)),
            metric: MeanSe::of(done.iter().filter_map(|r| r.test_metric)),
            diverged: count(Outcome::Diverged),
            failed: count(Outcome::Failed),
            finished: done.len(),
            cells: cells.len(),
            best: false,
        });
    }
    let best = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| r.metric.map(|m| (i, m.mean)))
        .reduce(|a, b| {
            let better = if task.maximize { b.1 > a.1 } else { b.1 < a.1 };
            if better { b } else { a }
        })
        .map(|(i, _)| i);
    if let Some(i) = best {
        rows[i].best = true;
    }
    rows
}

fn divergences(snap: &Snapshot) -> Vec<Divergences> {
    snap.methods
        .iter()
        .map(|m| {
            let per_task: Vec<DivergenceCount> = snap
                .tasks
                .iter()
                .map(|t| {
                    let results = || snap.cells_of(&t.name, m).filter_map(|c| c.result.as_ref());
                    DivergenceCount {
                        diverged: results().filter(|r| !finished(r.outcome)).count(),
                        done: results().count(),
                    }
                })
                .collect();
            let total = per_task
                .iter()
                .fold(DivergenceCount::default(), |a, c| DivergenceCount {
                    diverged: a.diverged + c.diverged,
                    done: a.done + c.done,
                });
            Divergences {
                method: m.clone(),
                per_task,
                total,
            }
        })
        .collect()
}

fn config_hashes(snap: &Snapshot) -> Vec<ConfigHash> {
    let mut hashes: BTreeMap<(String, String), String> = BTreeMap::new();
    for c in &snap.cells {
        hashes
            .entry((c.task.clone(), c.method.clone()))
            .or_insert_with(|| c.config_hash.clone());
    }
    hashes
        .into_iter()
        .map(|((task, method), hash)| ConfigHash { task, method, hash })
        .collect()
}
