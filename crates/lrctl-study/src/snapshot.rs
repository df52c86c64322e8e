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
        let o = Outline::of(&study, cells, |c: &CellRow| {
            Ok::<_, std::convert::Infallible>(c.task_config.clone())
        })
        .unwrap_or_else(|e| match e {});
        Snapshot {
            study,
            tasks: o.tasks,
            methods: o.methods,
            seeds: o.seeds,
            cells: o.cells,
            curves: HashMap::new(),
            provenance: Vec::new(),
            left_out: o.left_out,
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
        let mut mean = MeanCurve::new(alpha);
        for c in self.cells_of(task, method) {
            if let Some(curve) = self.curves.get(&c.id) {
                mean.add(curve, &value);
            }
        }
        mean.finish()
    }
}

/// [`Snapshot::mean_curve`] fed one seed's curve at a time, so that a caller reading curves
/// from a store holds one of them at a time (the dashboard: 10⁵–10⁶ points per task).
///
/// Each step's values are kept in the order they come (seed by seed, then along the curve),
/// so the means are those of grouping per step as points come, bit for bit whatever the
/// order in which steps appear.
#[derive(Debug, Clone, Default)]
pub struct MeanCurve {
    alpha: Option<f64>,
    /// Distinct steps in increasing order.
    steps: Vec<u64>,
    /// Each step's values, in the order they came.
    values: Vec<Vec<f64>>,
}

impl MeanCurve {
    /// An empty mean; `alpha` smooths each seed's curve as in [`Snapshot::mean_curve`].
    pub fn new(alpha: Option<f64>) -> MeanCurve {
        MeanCurve {
            alpha,
            ..MeanCurve::default()
        }
    }

    /// Adds one seed's curve (non-finite values and points without the quantity are skipped).
    pub fn add(&mut self, curve: &[CurvePointRow], value: impl Fn(&CurvePointRow) -> Option<f64>) {
        let mut smooth: Option<f64> = None;
        // Curves come in step order and seeds share their steps: a cursor moving forward
        // finds each step at once; a step before the cursor is searched for.
        let mut at = 0;
        for p in curve {
            let Some(v) = value(p).filter(|v| v.is_finite()) else {
                continue;
            };
            let s = match (self.alpha, smooth) {
                (Some(a), Some(prev)) => a * v + (1.0 - a) * prev,
                _ => v,
            };
            smooth = Some(s);
            if at > 0 && self.steps[at - 1] >= p.step {
                at = self.steps.partition_point(|&k| k < p.step);
            }
            while at < self.steps.len() && self.steps[at] < p.step {
                at += 1;
            }
            if self.steps.get(at) == Some(&p.step) {
                self.values[at].push(s);
            } else {
                self.steps.insert(at, p.step);
                self.values.insert(at, vec![s]);
            }
        }
    }

    /// `(step, mean, standard error)` at each step some seed reported, in step order.
    pub fn finish(self) -> Vec<(f64, f64, f64)> {
        self.steps
            .into_iter()
            .zip(self.values)
            .map(|(step, vs)| {
                let m = crate::MeanSe::of(vs.into_iter()).expect("only finite values are kept");
                (step as f64, m.mean, m.se)
            })
            .collect()
    }
}

/// What a study page shows of a study before reading any result in full: its tasks, methods
/// and seeds, and the cells of the newest configuration of each task × method, made as
/// [`Snapshot::from_cells`] makes them — from full rows, or from
/// [`CellBrief`](lrctl_store::CellBrief)s (a few columns of each cell, and the configuration
/// of one cell per task).
#[derive(Debug, Clone)]
pub struct Outline<C> {
    /// Tasks in name order.
    pub tasks: Vec<TaskInfo>,
    /// Methods in the study's order (then any others found in cells).
    pub methods: Vec<String>,
    /// Seeds in the study.
    pub seeds: Vec<u64>,
    /// Current cells of the newest configurations, in the order given.
    pub cells: Vec<C>,
    /// Cells left out because their (task, method) has a newer configuration.
    pub left_out: Vec<LeftOut>,
}

/// A cell as [`Outline`] reads it.
pub trait OutlineCell {
    /// Its id.
    fn id(&self) -> CellId;
    /// Task name.
    fn task(&self) -> &str;
    /// Method name.
    fn method(&self) -> &str;
    /// Seed.
    fn seed(&self) -> u64;
    /// Configuration hash.
    fn config_hash(&self) -> &str;
    /// When it was added.
    fn created_at(&self) -> lrctl_store::Timestamp;
}

macro_rules! outline_cell {
    ($t:ty) => {
        impl OutlineCell for $t {
            fn id(&self) -> CellId {
                self.id
            }
            fn task(&self) -> &str {
                &self.task
            }
            fn method(&self) -> &str {
                &self.method
            }
            fn seed(&self) -> u64 {
                self.seed
            }
            fn config_hash(&self) -> &str {
                &self.config_hash
            }
            fn created_at(&self) -> lrctl_store::Timestamp {
                self.created_at
            }
        }
    };
}
outline_cell!(CellRow);
outline_cell!(lrctl_store::CellBrief);

impl<C: OutlineCell> Outline<C> {
    /// The outline of these cells of `study`; `task_config` gives a kept cell's resolved task
    /// configuration (JSON text), asked for the first kept cell of each task only.
    pub fn of<E>(
        study: &StudyRow,
        cells: Vec<C>,
        mut task_config: impl FnMut(&C) -> Result<String, E>,
    ) -> Result<Outline<C>, E> {
        let (cells, left_out) = newest_configurations(cells);
        let mut methods = method_order(&study.spec_json);
        methods.retain(|m| cells.iter().any(|c| c.method() == m));
        for c in &cells {
            if !methods.iter().any(|m| m == c.method()) {
                methods.push(c.method().to_string());
            }
        }
        let mut tasks: Vec<TaskInfo> = Vec::new();
        for c in &cells {
            if tasks.iter().any(|t| t.name == c.task()) {
                continue;
            }
            tasks.push(TaskInfo::of(c.task(), &task_config(c)?));
        }
        tasks.sort_by(|a, b| a.name.cmp(&b.name));
        let mut seeds: Vec<u64> = cells.iter().map(|c| c.seed()).collect();
        seeds.sort_unstable();
        seeds.dedup();
        Ok(Outline {
            tasks,
            methods,
            seeds,
            cells,
            left_out,
        })
    }
}

impl TaskInfo {
    /// The task named `name` with this resolved configuration (an lrctl task, or a user's
    /// external one; an unreadable one maximises a metric named `metric`).
    pub fn of(name: &str, task_config: &str) -> TaskInfo {
        let spec: Option<TaskSpec> = serde_json::from_str(task_config).ok();
        let (metric, direction) = match &spec {
            Some(s) => s.primary_metric(),
            None => crate::external::ExternalTask::parse(task_config)
                .map_or(("metric", Direction::Maximize), |t| {
                    (t.metric.name(), t.metric.direction())
                }),
        };
        TaskInfo {
            name: name.to_string(),
            metric,
            maximize: direction == Direction::Maximize,
            spec,
        }
    }
}

/// When a cell was added (ties broken by id): the newest configuration is the last added.
type Added = (lrctl_store::Timestamp, CellId);

/// Keeps, per (task, method), the cells of the configuration added last.
fn newest_configurations<C: OutlineCell>(cells: Vec<C>) -> (Vec<C>, Vec<LeftOut>) {
    let mut newest: HashMap<(&str, &str), (Added, &str)> = HashMap::new();
    for c in &cells {
        let key = (c.task(), c.method());
        let stamp = (c.created_at(), c.id());
        let e = newest.entry(key).or_insert((stamp, c.config_hash()));
        if stamp > e.0 {
            *e = (stamp, c.config_hash());
        }
    }
    let keep: HashMap<(String, String), String> = newest
        .into_iter()
        .map(|((t, m), (_, h))| ((t.to_string(), m.to_string()), h.to_string()))
        .collect();
    let mut left: Vec<LeftOut> = Vec::new();
    let mut kept = Vec::with_capacity(cells.len());
    for c in cells {
        let hash = &keep[&(c.task().to_string(), c.method().to_string())];
        if c.config_hash() == hash {
            kept.push(c);
            continue;
        }
        match left
            .iter_mut()
            .find(|l| l.task == c.task() && l.method == c.method())
        {
            Some(l) => l.left_out += 1,
            None => left.push(LeftOut {
                task: c.task().to_string(),
                method: c.method().to_string(),
                kept: 0,
                left_out: 1,
            }),
        }
    }
    for l in &mut left {
        l.kept = kept
            .iter()
            .filter(|c| c.task() == l.task && c.method() == l.method)
            .count();
    }
    (kept, left)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lrctl_store::{CellState, StudyId, Timestamp};

    fn row(id: i64, method: &str, seed: u64) -> CellRow {
        CellRow {
            id: CellId(id),
            study: StudyId(1),
            task: "t".into(),
            method: method.into(),
            seed,
            config_hash: "h".into(),
            task_config: "{}".into(),
            method_config: "{}".into(),
            state: CellState::Queued,
            worker: None,
            attempts: 0,
            created_at: Timestamp(0),
            claimed_at: None,
            heartbeat_at: None,
            lease_expires_at: None,
            superseded_at: None,
            finished_at: None,
            result: None,
        }
    }

    /// The mean over seeds is the same, bit for bit, as grouping every step's values in a map
    /// in the order they come (how it was computed before), with steps that not every seed
    /// has, out-of-order steps, a curve in reverse step order and non-finite values.
    #[test]
    fn mean_curves_group_values_per_step_in_cell_order() {
        let study = StudyRow {
            id: StudyId(1),
            name: "s".into(),
            spec_json: "{}".into(),
            created_at: Timestamp(0),
            updated_at: Timestamp(0),
        };
        let cells: Vec<CellRow> = (0..7)
            .map(|i| row(i, ["a", "b"][i as usize % 2], i as u64))
            .collect();
        let mut snap = Snapshot::from_cells(study, cells);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for c in &snap.cells {
            let n = 40 + c.id.0 as u64 * 7;
            let mut curve: Vec<CurvePointRow> = (0..n)
                .map(|k| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    let v = (x % 10_000) as f64 / 997.0;
                    CurvePointRow {
                        step: if k == 5 {
                            3
                        } else {
                            k * (1 + c.id.0 as u64 % 3)
                        },
                        epoch: 0.0,
                        train_loss: if k % 17 == 3 { f64::NAN } else { v },
                        lr: v * 1e-3,
                        effective_lr: 0.0,
                        grad_norm: 0.0,
                        wall_seconds: 0.0,
                        eval_loss: None,
                        eval_metric: (k % 3 == 0).then_some(v),
                    }
                })
                .collect();
            if c.id.0 == 5 {
                // Every step before the one that came last.
                curve.reverse();
            }
            snap.curves.insert(c.id, curve);
        }
        let reference = |m: &str, value: fn(&CurvePointRow) -> Option<f64>, alpha: Option<f64>| {
            let mut by_step: std::collections::BTreeMap<u64, Vec<f64>> = Default::default();
            for c in snap.cells_of("t", m) {
                let mut smooth: Option<f64> = None;
                for p in &snap.curves[&c.id] {
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
                    let m = crate::MeanSe::of(vs.into_iter()).unwrap();
                    (step as f64, m.mean, m.se)
                })
                .collect::<Vec<_>>()
        };
        let bits = |v: Vec<(f64, f64, f64)>| -> Vec<[u64; 3]> {
            v.into_iter()
                .map(|(a, b, c)| [a.to_bits(), b.to_bits(), c.to_bits()])
                .collect()
        };
        let quantities: [fn(&CurvePointRow) -> Option<f64>; 3] = [
            |p| Some(p.train_loss),
            |p| p.eval_metric,
            |p| Some(p.lr.ln()),
        ];
        for m in ["a", "b"] {
            for q in quantities {
                for alpha in [None, Some(0.3)] {
                    let got = snap.mean_curve("t", m, q, alpha);
                    assert!(!got.is_empty());
                    assert_eq!(bits(got), bits(reference(m, q, alpha)));
                }
            }
        }
    }
}
