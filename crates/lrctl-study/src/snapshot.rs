//! A consistent read of a study for reporting, safe while the study is still running.
//!
//! The cell list is read once; only the cells that had a result at that moment count as done,
//! and only their curves are read (a curve is written in the same transaction as its result,
//! so it is complete). Cells that finish while the snapshot is taken stay "unfinished" in it.

use std::collections::HashMap;

use lrctl_store::{CellId, CellRow, CurvePointRow, Outcome, ProvenanceRow, Store, StudyRow};
use lrctl_tasks::{Direction, TaskSpec};
use lrctl_wrap::features::StaticFeatures;

/// The method names of a stored study specification, in the study's order (empty when the
/// specification is unreadable).
pub fn method_order(spec_json: &str) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(spec_json)
        .ok()
        .and_then(|v| {
            v["methods"].as_array().map(|ms| {
                ms.iter()
                    .filter_map(|m| m["name"].as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// One task of the snapshot.
#[derive(Debug, Clone)]
pub struct TaskInfo {
    /// Task name.
    pub name: String,
    /// Its held-out metric (`accuracy`, `bits_per_byte`).
    pub metric: &'static str,
    /// Whether larger metric values are better.
    pub maximize: bool,
    /// The resolved configuration, when readable.
    pub spec: Option<TaskSpec>,
}

/// Cells of one (task, method) left out of a snapshot because they ran another configuration
/// than the newest one (e.g. a run with `--steps 1` after one with `--steps 50`): tables
/// never average two configurations.
#[derive(Debug, Clone, PartialEq)]
pub struct LeftOut {
    /// The task.
    pub task: String,
    /// The method.
    pub method: String,
    /// Cells kept (the newest configuration).
    pub kept: usize,
    /// Cells left out (older configurations).
    pub left_out: usize,
}

impl std::fmt::Display for LeftOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} · {}: {} cell(s) of an older configuration left out ({} of the newest kept); \
             rerun the study to train them again with the newest one",
            self.task, self.method, self.left_out, self.kept
        )
    }
}

/// A study as it stood when read.
pub struct Snapshot {
    /// The study.
    pub study: StudyRow,
    /// Tasks in name order.
    pub tasks: Vec<TaskInfo>,
    /// Methods in the study's order (then any others found in cells).
    pub methods: Vec<String>,
    /// Seeds in the study.
    pub seeds: Vec<u64>,
    /// Current (not superseded) cells.
    pub cells: Vec<CellRow>,
    /// Curves of the done cells.
    pub curves: HashMap<CellId, Vec<CurvePointRow>>,
    /// Provenance records referenced by results.
    pub provenance: Vec<ProvenanceRow>,
    /// Cells left out because their (task, method) has a newer configuration.
    pub left_out: Vec<LeftOut>,
}

impl Snapshot {
    /// Reads the study.
    pub fn read(store: &mut dyn Store, study: StudyRow) -> lrctl_store::Result<Snapshot> {
        let cells = store.cells(study.id, lrctl_store::CellSet::Current)?;
        let mut snap = Snapshot::from_cells(study, cells);
        for c in &snap.cells {
            if let Some(r) = &c.result {
                snap.curves.insert(c.id, store.curve(c.id)?);
                if r.provenance.0 > 0
                    && !snap.provenance.iter().any(|p| p.id == r.provenance)
                    && let Some(p) = store.provenance(r.provenance)?
                {
                    snap.provenance.push(p);
                }
            }
        }
        Ok(snap)
    }

    /// A snapshot of these cells of the study, without curves or provenance (for the
    /// statistics of final results). Where one (task, method) has cells of several
    /// configurations, only the newest configuration's cells are kept ([`Snapshot::left_out`]).
    pub fn from_cells(study: StudyRow, cells: Vec<CellRow>) -> Snapshot {
        let (cells, left_out) = newest_configurations(cells);
        let mut methods = method_order(&study.spec_json);
        methods.retain(|m| cells.iter().any(|c| &c.method == m));
        for c in &cells {
            if !methods.contains(&c.method) {
                methods.push(c.method.clone());
            }
        }
        let mut tasks: Vec<TaskInfo> = Vec::new();
        for c in &cells {
            if tasks.iter().any(|t| t.name == c.task) {
                continue;
            }
            let spec: Option<TaskSpec> = serde_json::from_str(&c.task_config).ok();
            let (metric, direction) = match &spec {
                Some(s) => s.primary_metric(),
                None => crate::external::ExternalTask::parse(&c.task_config)
                    .map_or(("metric", Direction::Maximize), |t| {
                        (t.metric.name(), t.metric.direction())
                    }),
            };
            let maximize = direction == Direction::Maximize;
            tasks.push(TaskInfo {
                name: c.task.clone(),
                metric,
                maximize,
                spec,
            });
        }
        tasks.sort_by(|a, b| a.name.cmp(&b.name));
        let mut seeds: Vec<u64> = cells.iter().map(|c| c.seed).collect();
        seeds.sort_unstable();
        seeds.dedup();
        Snapshot {
            study,
            tasks,
            methods,
            seeds,
            cells,
            curves: HashMap::new(),
            provenance: Vec::new(),
            left_out,
        }
    }

    /// Several studies side by side: one snapshot whose methods are `STUDY:method` (so every
    /// table, figure and statistic compares, say, `baseline:prodigy` with `tuned:prodigy` on
    /// the tasks the studies share), named `A vs B`. Curves and provenance come along.
    pub fn side_by_side(snaps: Vec<Snapshot>) -> Snapshot {
        let name = snaps
            .iter()
            .map(|s| s.study.name.clone())
            .collect::<Vec<_>>()
            .join(" vs ");
        let mut methods: Vec<serde_json::Value> = Vec::new();
        let mut cells = Vec::new();
        let mut curves = HashMap::new();
        let mut provenance: Vec<ProvenanceRow> = Vec::new();
        let first = snaps.first().map(|s| s.study.clone());
        for snap in snaps {
            let label = |m: &str| format!("{}:{m}", snap.study.name);
            methods.extend(
                snap.methods
                    .iter()
                    .map(|m| serde_json::json!({ "name": label(m) })),
            );
            for mut c in snap.cells.clone() {
                c.method = label(&c.method);
                cells.push(c);
            }
            curves.extend(snap.curves);
            for p in snap.provenance {
                if !provenance.iter().any(|q| q.id == p.id) {
                    provenance.push(p);
                }
            }
        }
        let study = StudyRow {
            name,
            spec_json: serde_json::json!({ "methods": methods }).to_string(),
            ..first.expect("at least one study")
        };
        let mut snap = Snapshot::from_cells(study, cells);
        snap.curves = curves;
        snap.provenance = provenance;
        snap
    }

    /// The cells of one (task, method), in seed order.
    pub fn cells_of<'a>(
        &'a self,
        task: &'a str,
        method: &'a str,
    ) -> impl Iterator<Item = &'a CellRow> {
        self.cells
            .iter()
            .filter(move |c| c.task == task && c.method == method)
    }

    /// Cells without a result.
    pub fn unfinished(&self) -> usize {
        self.cells.iter().filter(|c| c.result.is_none()).count()
    }

    /// Held-out metric of each finished seed of (task, method); diverged and failed seeds are
    /// `None` (they count as the task's worst result in normalised statistics).
    pub fn final_scores(&self, task: &str, method: &str) -> Vec<Option<f64>> {
        self.cells_of(task, method)
            .filter_map(|c| c.result.as_ref())
            .map(|r| {
                if r.outcome == Outcome::Finished {
                    r.test_metric.filter(|v| v.is_finite())
                } else {
                    None
                }
            })
            .collect()
    }

    /// The held-out metric of every seed with a result, `[method][task][run]`, for the
    /// statistics layer: diverged and failed seeds are NaN (the task's worst once normalised);
    /// cells without a result are left out.
    pub fn score_table(&self) -> lrctl_eval::ScoreTable {
        let scores = self
            .methods
            .iter()
            .map(|m| {
                self.tasks
                    .iter()
                    .map(|t| {
                        self.final_scores(&t.name, m)
                            .into_iter()
                            .map(|s| s.unwrap_or(f64::NAN))
                            .collect()
                    })
                    .collect()
            })
            .collect();
        lrctl_eval::ScoreTable::new(
            self.tasks.iter().map(|t| t.name.clone()).collect(),
            self.methods.clone(),
            scores,
            self.tasks.iter().map(|t| t.maximize).collect(),
        )
        .expect("shapes agree by construction")
    }

    /// Static meta-features of every task (`[task][feature]`, columns
    /// [`lrctl_wrap::features::StaticFeatures::names`]), for algorithm selection.
    pub fn static_features(&self) -> Vec<Vec<f64>> {
        self.tasks
            .iter()
            .map(|t| match &t.spec {
                Some(spec) => self.task_features(&t.name, spec).values(),
                // A user task described by its meta-features (`lrctl.describe`).
                None => self
                    .cells
                    .iter()
                    .find(|c| c.task == t.name)
                    .and_then(|c| crate::external::ExternalTask::parse(&c.task_config))
                    .and_then(|e| e.features())
                    .map_or_else(
                        || vec![f64::NAN; StaticFeatures::names().len()],
                        |f| f.values(),
                    ),
            })
            .collect()
    }

    /// Static meta-features of one task: from its configuration and, for sizes only known
    /// after training, from its stored cells.
    pub fn task_features(&self, task: &str, spec: &TaskSpec) -> StaticFeatures {
        let results = || {
            self.cells
                .iter()
                .filter(move |c| c.task == task)
                .filter_map(|c| c.result.as_ref())
        };
        let n_params = results().map(|r| r.n_params).find(|&n| n > 0);
        let steps = results().map(|r| r.total_steps).find(|&s| s > 0);
        StaticFeatures::of_task(spec, n_params, steps)
    }

    /// Mean ± standard error over seeds of a curve quantity at each recorded step, optionally
    /// smoothed per seed by an exponentially weighted moving average with weight `alpha` on the
    /// newest point (`None`: raw). Steps where fewer seeds report (diverged runs end early)
    /// average what there is.
    pub fn mean_curve(
        &self,
        task: &str,
        method: &str,
        value: impl Fn(&CurvePointRow) -> Option<f64>,
        alpha: Option<f64>,
    ) -> Vec<(f64, f64, f64)> {
        let mut by_step: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
        for c in self.cells_of(task, method) {
            let Some(curve) = self.curves.get(&c.id) else {
                continue;
            };
            let mut smooth: Option<f64> = None;
            for p in curve {
                let Some(v) = value(p).filter(|v| v.is_finite()) else {
                    continue;
                };
                let s = match (alpha, smooth) {
                    (Some(a), Some(prev)) => a * v + (1.0 - a) * prev,
                    _ => v,
                };
                smooth = Some(s);
                by_step.entry(p.step).or_default().push(s);
            }
        }
        by_step
            .into_iter()
            .map(|(step, vs)| {
                let m = crate::MeanSe::of(vs.into_iter()).expect("non-empty");
                (step as f64, m.mean, m.se)
            })
            .collect()
    }
}

/// When a cell was added (ties broken by id): the newest configuration is the last added.
type Added = (lrctl_store::Timestamp, CellId);

/// Keeps, per (task, method), the cells of the configuration added last.
fn newest_configurations(cells: Vec<CellRow>) -> (Vec<CellRow>, Vec<LeftOut>) {
    let mut newest: HashMap<(&str, &str), (Added, &str)> = HashMap::new();
    for c in &cells {
        let key = (c.task.as_str(), c.method.as_str());
        let stamp = (c.created_at, c.id);
        let e = newest.entry(key).or_insert((stamp, c.config_hash.as_str()));
        if stamp > e.0 {
            *e = (stamp, c.config_hash.as_str());
        }
    }
    let keep: HashMap<(String, String), String> = newest
        .into_iter()
        .map(|((t, m), (_, h))| ((t.to_string(), m.to_string()), h.to_string()))
        .collect();
    let mut left: Vec<LeftOut> = Vec::new();
    let mut kept = Vec::with_capacity(cells.len());
    for c in cells {
        let hash = &keep[&(c.task.clone(), c.method.clone())];
        if &c.config_hash == hash {
            kept.push(c);
            continue;
        }
        match left
            .iter_mut()
            .find(|l| l.task == c.task && l.method == c.method)
        {
            Some(l) => l.left_out += 1,
            None => left.push(LeftOut {
                task: c.task.clone(),
                method: c.method.clone(),
                kept: 0,
                left_out: 1,
            }),
        }
    }
    for l in &mut left {
        l.kept = kept
            .iter()
            .filter(|c| c.task == l.task && c.method == l.method)
            .count();
    }
    (kept, left)
}
