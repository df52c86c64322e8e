//! Studies over a user's own training function (`lrctl.Study.run(task=..., fn=...)`): the
//! store side. Python trains; this module submits the user task's cells, claims them one at a
//! time under a lease, renews it, and writes each result and curve through the same store API
//! as the engine's workers ([`lrctl_study::external`] is the task's identity). A tuned method's
//! trials run through `lrctl_tune::run_trials` and a race's candidates one by one, each a call
//! back into the training function; what they cost is charged to the cell as
//! `lrctl_wrap::cell` charges the engine's.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pythonize::pythonize;
use serde::{Deserialize, Serialize};

use lrctl_store::{CellId, CellResult, ClaimFilter, CurvePointRow, Lease, Outcome, Store, StudyId};
use lrctl_study::{ExternalMetric, ExternalTask};
use lrctl_tune::{
    DriverSettings, FidelitySchedule, Objective, Scoring, Trained, TrialHooks, TrialRequest,
    TrialResult, TrialRunner, TunerSettings,
};
use lrctl_wrap::{Method, Tuned};

use crate::Error;

/// The result of one user run, as Python reports it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserResult {
    outcome: Outcome,
    #[serde(default)]
    reason: Option<String>,
    steps: u64,
    total_steps: u64,
    #[serde(default)]
    n_params: u64,
    #[serde(default)]
    final_train_loss: Option<f64>,
    #[serde(default)]
    last_batch_loss: Option<f64>,
    #[serde(default)]
    eval_loss: Option<f64>,
    #[serde(default)]
    eval_metric: Option<f64>,
    seconds: f64,
    #[serde(default)]
    eval_seconds: f64,
    /// Anything else worth keeping (the traceback of a failure, the backend): goes to the
    /// result JSON.
    #[serde(default)]
    extra: serde_json::Value,
}

#[derive(Serialize)]
struct Submitted {
    study: String,
    cells: usize,
    added: usize,
    existing: usize,
    superseded: usize,
}

struct Inner {
    store: Box<dyn Store>,
    study: StudyId,
    task: ExternalTask,
    worker: String,
    /// Cells of the study that are not this task's (the engine's, another user task's).
    skip: Vec<CellId>,
    leases: HashMap<i64, Held>,
    backend: String,
}

/// A cell this process holds.
struct Held {
    lease: Lease,
    config_hash: String,
    method: Method,
    /// What tuning found for it (charged to it when it finishes).
    tuned: Option<Tuned>,
    /// What a race chose for it (charged likewise).
    selected: Option<lrctl_wrap::Selected>,
}

/// The store side of a study over a user's training function.
#[pyclass(name = "UserStudy", module = "lrctl._lrctl")]
pub struct PyUserStudy {
    inner: Mutex<Inner>,
    submitted: Submitted,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[pymethods]
impl PyUserStudy {
    /// Opens (or creates) the store, records the study and adds the task's cells.
    #[new]
    #[pyo3(signature = (location, study, task, description, budget_steps, methods, seeds, *,
        steps_per_epoch=None, metric="loss", backend="pytorch"))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        location: String,
        study: String,
        task: &str,
        description: &str,
        budget_steps: u64,
        methods: &Bound<'_, PyList>,
        seeds: Vec<u64>,
        steps_per_epoch: Option<u64>,
        metric: &str,
        backend: &str,
    ) -> PyResult<Self> {
        let description: serde_json::Value = serde_json::from_str(description)
            .map_err(|e| Error::Value(format!("description: {e}")))?;
        let metric = ExternalMetric::parse(metric).map_err(Error::from)?;
        let task = ExternalTask::new(task, description, budget_steps, steps_per_epoch, metric)
            .map_err(Error::from)?;
        let mut resolved = Vec::new();
        for (i, m) in methods.iter().enumerate() {
            let origin = format!("methods[{i}]");
            let method = crate::registry::method(&m, &origin)?;
            if let Some(lrctl_wrap::Wrapper::Select(lrctl_wrap::SelectSpec::Auto(_))) =
                &method.wrapper
            {
                return Err(Error::Value(format!(
                    "method `{}` is an `auto` selection method: it needs the study's other \
                     tasks' meta-features, which a training function's task does not have; \
                     race its candidates instead (a `race` method)",
                    method.name()
                ))
                .into());
            }
            resolved.push(method);
        }
        let backend = backend.to_string();
        let (inner, submitted) = py.detach(move || -> Result<_, Error> {
            let mut store = lrctl_store::open_with(
                &location,
                &lrctl_store::OpenOptions::worker(lrctl_store::OpenMode::Create, None),
            )?;
            let (id, added) =
                lrctl_study::submit_external(store.as_mut(), &study, &task, &resolved, &seeds)?;
            // Cells left running by a killed Python process of this machine go back first.
            store.requeue_dead_local(&lrctl_store::hostname())?;
            let submitted = Submitted {
                study: study.clone(),
                cells: resolved.len() * seeds.len(),
                added: added.added + added.reinstated,
                existing: added.existing,
                superseded: added.superseded,
            };
            Ok((
                Inner {
                    store,
                    study: id,
                    task,
                    worker: lrctl_store::worker_id(),
                    skip: Vec::new(),
                    leases: HashMap::new(),
                    backend,
                },
                submitted,
            ))
        })?;
        Ok(PyUserStudy {
            inner: Mutex::new(inner),
            submitted,
        })
    }

    /// What submitting did: `study`, `cells`, `added`, `existing`, `superseded`.
    #[getter]
    fn submitted<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        Ok(pythonize(py, &self.submitted)?)
    }

    /// The engine's divergence factor: a loss above this multiple of the first loss diverged.
    #[classattr]
    const DIVERGENCE_FACTOR: f64 = lrctl_engine::DIVERGENCE_FACTOR;

    /// Claims the next queued cell of this task: a dict (`cell`, `method`, `seed`,
    /// `method_config`, `attempt`), or None when none is left.
    fn claim<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyDict>>> {
        let claimed = py.detach(|| -> Result<_, Error> {
            let mut inner = lock(&self.inner);
            let own = serde_json::to_string(&inner.task).expect("a task serialises");
            loop {
                let filter = ClaimFilter {
                    study: Some(inner.study),
                    skip: inner.skip.clone(),
                };
                let worker = inner.worker.clone();
                let Some(cell) = inner
                    .store
                    .claim(&filter, &worker, lrctl_store::DEFAULT_LEASE)?
                else {
                    return Ok(None);
                };
                let same = ExternalTask::parse(&cell.task_config)
                    .is_some_and(|t| serde_json::to_string(&t).ok().as_deref() == Some(&own));
                if !same {
                    inner.store.release(&cell.lease)?;
                    inner.skip.push(cell.lease.cell);
                    continue;
                }
                let method: Method = match serde_json::from_str(&cell.method_config) {
                    Ok(m) => m,
                    Err(e) => {
                        inner.store.release(&cell.lease)?;
                        return Err(Error::Runtime(format!(
                            "cell {}: its stored method configuration is unreadable here ({e})",
                            cell.lease.cell
                        )));
                    }
                };
                inner.leases.insert(
                    cell.lease.cell.0,
                    Held {
                        lease: cell.lease.clone(),
                        config_hash: cell.config_hash.clone(),
                        method,
                        tuned: None,
                        selected: None,
                    },
                );
                return Ok(Some(cell));
            }
        })?;
        let Some(cell) = claimed else {
            return Ok(None);
        };
        let config: serde_json::Value = serde_json::from_str(&cell.method_config)
            .map_err(|e| Error::Runtime(format!("stored method configuration: {e}")))?;
        let d = PyDict::new(py);
        d.set_item("cell", cell.lease.cell.0)?;
        d.set_item("method", &cell.method)?;
        d.set_item("seed", cell.seed)?;
        d.set_item("method_config", pythonize(py, &config)?)?;
        d.set_item("attempt", cell.lease.attempt)?;
        let wrapper = serde_json::from_str::<Method>(&cell.method_config)
            .ok()
            .and_then(|m| m.wrapper);
        d.set_item(
            "tuned",
            matches!(wrapper, Some(lrctl_wrap::Wrapper::Tune(_))),
        )?;
        d.set_item(
            "race",
            matches!(
                wrapper,
                Some(lrctl_wrap::Wrapper::Select(lrctl_wrap::SelectSpec::Race(_)))
            ),
        )?;
        Ok(Some(d))
    }

    /// Renews a claimed cell's lease.
    fn heartbeat(&self, py: Python<'_>, cell: i64) -> PyResult<()> {
        py.detach(|| -> Result<(), Error> {
            let mut inner = lock(&self.inner);
            let Some(lease) = inner.leases.get(&cell).map(|h| h.lease.clone()) else {
                return Err(Error::Runtime(format!("cell {cell} is not held here")));
            };
            let expires = inner.store.heartbeat(&lease, lrctl_store::DEFAULT_LEASE)?;
            if let Some(h) = inner.leases.get_mut(&cell) {
                h.lease.expires_at = expires;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Puts a claimed cell back in the queue without a result (an interrupted run).
    fn release(&self, py: Python<'_>, cell: i64) -> PyResult<()> {
        py.detach(|| -> Result<(), Error> {
            let mut inner = lock(&self.inner);
            if let Some(h) = inner.leases.remove(&cell) {
                inner.store.release(&h.lease)?;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Tunes a claimed cell of a tuned method (see `tune_cell`); returns the tuned method.
    fn tune<'py>(
        &self,
        py: Python<'py>,
        cell: i64,
        train_trial: Py<PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.tune_cell(py, cell, train_trial)
    }

    /// Races a claimed cell's `race` method (see `race_cell`); returns the winner's method and
    /// the steps it starts from.
    fn race<'py>(
        &self,
        py: Python<'py>,
        cell: i64,
        seed: u64,
        train_trial: Py<PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        self.race_cell(py, cell, seed, train_trial)
    }

    /// Writes a claimed cell's result and curve (each point a dict with the store's curve
    /// columns), once.
    fn finish(
        &self,
        py: Python<'_>,
        cell: i64,
        result: &Bound<'_, PyAny>,
        curve: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let result: UserResult =
            pythonize::depythonize(result).map_err(|e| Error::Value(format!("result: {e}")))?;
        let curve: Vec<CurvePointRow> =
            pythonize::depythonize(curve).map_err(|e| Error::Value(format!("curve: {e}")))?;
        py.detach(|| -> Result<(), Error> {
            let mut inner = lock(&self.inner);
            let Some(held) = inner.leases.remove(&cell) else {
                return Err(Error::Runtime(format!("cell {cell} is not held here")));
            };
            let provenance = lrctl_store::Provenance {
                backend: inner.backend.clone(),
                ..lrctl_study::run::provenance(&held.config_hash)
            };
            let provenance = inner.store.put_provenance(&provenance)?;
            let record = record(
                &inner.task,
                result,
                held.tuned.as_ref(),
                held.selected.as_ref(),
                provenance,
            );
            inner.store.finish(&held.lease, &record, &curve)?;
            Ok(())
        })?;
        Ok(())
    }
}

/// Trains the trials of a tuned method through Python: `callback(method_config, budget, seed)`
/// runs the training function for `budget` steps and returns its [`TrialOutcome`].
struct PyTrials<'a> {
    callback: Py<PyAny>,
    method: &'a lrctl_method::MethodSpec,
    seed: u64,
    scoring: Scoring,
    metric: ExternalMetric,
    /// What the callback raised (Ctrl-C): tuning stops and it is raised again.
    error: Mutex<Option<PyErr>>,
    cancel: AtomicBool,
}

/// What the training function did in one tuning trial.
#[derive(Deserialize)]
struct TrialOutcome {
    outcome: Outcome,
    #[serde(default)]
    reason: Option<String>,
    steps: u64,
    #[serde(default)]
    last_batch_loss: Option<f64>,
    #[serde(default)]
    mean_train_loss: Option<f64>,
    #[serde(default)]
    eval_loss: Option<f64>,
    #[serde(default)]
    eval_metric: Option<f64>,
}

impl PyTrials<'_> {
    /// The objective's value (lower is better), as `lrctl_wrap::tune::objective_value` takes it
    /// from an engine run; `None` when the trial did not finish or lacks it.
    fn objective(&self, t: &TrialOutcome) -> Option<f64> {
        if t.outcome != Outcome::Finished {
            return None;
        }
        let value = match self.scoring.objective {
            Objective::FinalTrainLoss => t.last_batch_loss,
            Objective::MeanTrainLoss => t.mean_train_loss,
            Objective::ValidLoss => t.eval_loss,
            Objective::ValidMetric => match self.metric {
                ExternalMetric::Accuracy => t.eval_metric.map(|a| 1.0 - a),
                ExternalMetric::Loss => t.eval_metric,
            },
        }?;
        value.is_finite().then_some(value)
    }
}

impl TrialRunner for PyTrials<'_> {
    type Paused = ();

    fn run(&self, request: &TrialRequest, _: Option<()>, _: bool) -> Option<Trained<()>> {
        let start = Instant::now();
        let done = match lrctl_method::with_params(self.method, &request.config) {
            Err(e) => Ok(TrialOutcome {
                outcome: Outcome::Failed,
                reason: Some(e.to_string()),
                steps: 0,
                last_batch_loss: None,
                mean_train_loss: None,
                eval_loss: None,
                eval_metric: None,
            }),
            Ok(method) => Python::attach(|py| -> PyResult<TrialOutcome> {
                let config = pythonize(py, &method)?;
                let out = self
                    .callback
                    .call1(py, (config, request.budget, self.seed))?;
                Ok(pythonize::depythonize(out.bind(py))
                    .map_err(|e| Error::Runtime(format!("a tuning trial's result: {e}")))?)
            }),
        };
        let t = match done {
            Ok(t) => t,
            Err(e) => {
                *self.error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                self.cancel.store(true, Ordering::Relaxed);
                return None;
            }
        };
        let objective = self.objective(&t);
        let result = TrialResult {
            id: request.id,
            config: request.config.clone(),
            budget: request.budget,
            bracket: request.bracket,
            rung: request.rung,
            parent: request.parent,
            score: self.scoring.sanitize(objective.unwrap_or(f64::NAN)),
            objective,
            outcome: t.outcome,
            reason: t.reason,
            steps: t.steps,
            seconds: start.elapsed().as_secs_f64(),
        };
        Some(Trained {
            result,
            paused: None,
        })
    }

    fn paused_steps(&self, _: &()) -> u64 {
        0
    }

    fn paused_bytes(&self, _: &()) -> usize {
        0
    }
}

impl PyUserStudy {
    /// Tunes a claimed cell's tuned method with its tuner (`lrctl_tune::run_trials`), every
    /// trial a call `train_trial(method_config, budget_steps, seed)` that returns the trial's
    /// outcome, steps and losses. Trials are stored under the task's tuning key as they finish
    /// and replayed on a rerun (another seed's cell of the same method reuses them). Returns the
    /// tuned plain method's configuration; what tuning cost is charged when the cell finishes.
    /// Every trial trains from scratch (the `restart` fidelity schedule: no paused runs).
    fn tune_cell<'py>(
        &self,
        py: Python<'py>,
        cell: i64,
        train_trial: Py<PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (method, key, task, known) = py.detach(|| -> Result<_, Error> {
            let mut inner = lock(&self.inner);
            let Some(method) = inner.leases.get(&cell).map(|h| h.method.clone()) else {
                return Err(Error::Runtime(format!("cell {cell} is not held here")));
            };
            let key = inner.task.tuning_key(&method);
            let known = lrctl_wrap::tuned::stored_trials(inner.store.as_mut(), &key)?;
            Ok((method, key, inner.task.clone(), known))
        })?;
        let name = method.name().to_string();
        let Some(spec) = method.tune().cloned() else {
            return Err(Error::Value(format!("method `{name}` is not tuned")).into());
        };
        let invalid = |e: &dyn std::fmt::Display| Error::Value(format!("tuning {name}: {e}"));
        let fidelity = spec.fidelity(task.budget_steps).map_err(|e| invalid(&e))?;
        let space = spec.space(&method.spec).map_err(|e| invalid(&e))?;
        if !spec.scoring.worst_score.is_finite() {
            return Err(invalid(&"the worst score must be a finite number").into());
        }
        let settings = TunerSettings {
            seed: spec.seed,
            trials: spec.trials,
            ..TunerSettings::new(space, fidelity)
        };
        let mut tuner = lrctl_tune::tuner(&spec.tuner, &settings).map_err(|e| invalid(&e))?;
        let runner = PyTrials {
            callback: train_trial,
            method: &method.spec,
            seed: lrctl_engine::derive_seed(spec.seed, "tune-training"),
            scoring: spec.scoring,
            metric: task.metric,
            error: Mutex::new(None),
            cancel: AtomicBool::new(false),
        };
        let persist_error: Mutex<Option<String>> = Mutex::new(None);
        let persist = |t: &TrialResult, _: Option<&lrctl_tune::Incumbent>| {
            if known.contains_key(&t.id) {
                return;
            }
            let mut inner = lock(&self.inner);
            if let Err(e) = lrctl_wrap::tuned::store_trial(inner.store.as_mut(), &key, t) {
                *persist_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
            }
        };
        let driver = DriverSettings {
            jobs: 1,
            batch: 1,
            schedule: FidelitySchedule::Restart,
            max_budget: fidelity.max_budget,
        };
        let wall = Instant::now();
        // The hooks are built on the far side: they are not `Sync`, so they cannot cross.
        let trials = py.detach(|| {
            let hooks = TrialHooks {
                on_trial: Some(&persist),
                cancel: Some(&runner.cancel),
                known: Some(&known),
                ..TrialHooks::default()
            };
            lrctl_tune::run_trials(tuner.as_mut(), &runner, driver, &hooks)
        });
        if let Some(e) = runner
            .error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            return Err(e);
        }
        let trials = trials.map_err(|e| Error::Runtime(format!("tuning {name}: {e}")))?;
        if let Some(e) = persist_error
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
        {
            return Err(Error::Runtime(format!("tuning {name}: storing a trial: {e}")).into());
        }
        let Some(inc) = tuner.incumbent() else {
            return Err(
                Error::Runtime(format!("tuning {name}: no trial finished at any budget")).into(),
            );
        };
        let tuned_spec =
            lrctl_method::with_params(&method.spec, &inc.config).map_err(|e| invalid(&e))?;
        let cost = trials.cost(fidelity.max_budget, wall.elapsed().as_secs_f64());
        let tuned = Tuned {
            method: tuned_spec,
            config: inc.config,
            score: inc.score,
            tuner: tuner.name().to_string(),
            trials: cost.trials,
            steps: cost.steps,
            seconds: cost.seconds,
            trained_here: trials
                .told
                .iter()
                .filter(|t| !known.contains_key(&t.id))
                .count(),
            tuning_key: key.clone(),
        };
        let out = pythonize(py, &tuned.method)?;
        if let Some(h) = lock(&self.inner).leases.get_mut(&cell) {
            h.tuned = Some(tuned);
        }
        Ok(out)
    }
}

impl PyUserStudy {
    /// The race selection method over the training function (after `lrctl_wrap::race`): each
    /// candidate trains `fraction` of the budget — `train_trial(config, budget, seed, horizon)`
    /// — and the best by the race's objective is the cell's method. Without a race `seed` the
    /// candidates run on the cell's seed with their schedules over the whole budget, as the
    /// engine's continued race does; a Python run cannot be paused, so the winner then trains
    /// again from the start, and every race step, the winner's included, is charged (the
    /// engine charges only the losers' steps: its winner continues). With a race `seed` the
    /// candidates run on it over the race's budget (the engine's restarted race). Returns the
    /// winner's configuration.
    fn race_cell<'py>(
        &self,
        py: Python<'py>,
        cell: i64,
        seed: u64,
        train_trial: Py<PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let (method, task) = {
            let inner = lock(&self.inner);
            let Some(method) = inner.leases.get(&cell).map(|h| h.method.clone()) else {
                return Err(Error::Runtime(format!("cell {cell} is not held here")).into());
            };
            (method, inner.task.clone())
        };
        let name = method.name().to_string();
        let Some(lrctl_wrap::Wrapper::Select(lrctl_wrap::SelectSpec::Race(race))) =
            method.wrapper.clone()
        else {
            return Err(Error::Value(format!("method `{name}` is not a race")).into());
        };
        let failed = |e: &dyn std::fmt::Display| Error::Value(format!("{name}: {e}"));
        race.check_fraction().map_err(|e| failed(&e))?;
        let mut candidates = Vec::new();
        for c in &race.candidates {
            let m = lrctl_wrap::find(c).map_err(|e| failed(&e))?;
            if m.wrapper.is_some() {
                return Err(failed(&format!(
                    "race candidate `{c}` is a tuned or selection method; race plain methods"
                ))
                .into());
            }
            candidates.push((c.clone(), m.spec));
        }
        let budget = task.budget_steps;
        let steps = ((budget as f64 * race.fraction).ceil() as u64).clamp(1, budget);
        let (race_seed, horizon) = match race.seed {
            Some(s) => (lrctl_engine::derive_seed(s, "race"), steps),
            None => (seed, budget),
        };
        let judge = PyTrials {
            callback: train_trial,
            method: &method.spec,
            seed: race_seed,
            scoring: Scoring {
                objective: race.objective,
                ..Scoring::default()
            },
            metric: task.metric,
            error: Mutex::new(None),
            cancel: AtomicBool::new(false),
        };
        let (mut spent_steps, mut spent_seconds) = (0u64, 0.0f64);
        let mut scores = Vec::new();
        let mut best: Option<(f64, lrctl_method::MethodSpec)> = None;
        for (cname, candidate) in candidates {
            let start = Instant::now();
            let out = Python::attach(|py| -> PyResult<TrialOutcome> {
                let config = pythonize(py, &candidate)?;
                let out = judge
                    .callback
                    .call1(py, (config, steps, race_seed, horizon))?;
                Ok(pythonize::depythonize(out.bind(py))
                    .map_err(|e| Error::Runtime(format!("a race run's result: {e}")))?)
            })?;
            spent_steps += out.steps;
            spent_seconds += start.elapsed().as_secs_f64();
            let score = judge
                .scoring
                .sanitize(judge.objective(&out).unwrap_or(f64::NAN));
            scores.push((cname, score));
            if best.as_ref().is_none_or(|(b, _)| score < *b) {
                best = Some((score, candidate));
            }
        }
        let Some((_, winner)) = best else {
            return Err(failed(&"the race has no candidates").into());
        };
        let selected = lrctl_wrap::Selected {
            kind: lrctl_wrap::select::SelectKind::Race,
            method: Method::from(winner),
            scores,
            steps: spent_steps,
            seconds: spent_seconds,
            reference_tasks: Vec::new(),
            fallback: None,
        };
        let out = pythonize(py, &selected.method)?;
        if let Some(h) = lock(&self.inner).leases.get_mut(&cell) {
            h.selected = Some(selected);
        }
        Ok(out)
    }
}

/// The store's record of a user run: the final evaluation stands for the validation and test
/// splits (a training function reports one held-out evaluation).
fn record(
    task: &ExternalTask,
    r: UserResult,
    tuned: Option<&Tuned>,
    selected: Option<&lrctl_wrap::Selected>,
    provenance: lrctl_store::ProvenanceId,
) -> CellResult {
    let mut json = serde_json::json!({
        "trained_by": "python",
        "outcome": r.outcome,
        "reason": r.reason,
        "steps": r.steps,
        "total_steps": r.total_steps,
        "n_params": r.n_params,
        "final_train_loss": r.final_train_loss,
        "last_batch_loss": r.last_batch_loss,
        "eval_loss": r.eval_loss,
        "eval_metric": r.eval_metric,
        "seconds": r.seconds,
        "eval_seconds": r.eval_seconds,
        "extra": r.extra,
    });
    // Tuning is charged to the cell, as the engine's cells are charged (`TrainedCell`).
    let (mut tune_steps, mut tune_seconds) = tuned.map_or((0, 0.0), |t| (t.steps, t.seconds));
    if let Some(t) = tuned {
        json["tuning"] = serde_json::to_value(t).expect("tuning serialises");
    }
    if let Some(s) = selected {
        tune_steps += s.steps;
        tune_seconds += s.seconds;
        json["selection"] = serde_json::to_value(s).expect("a selection serialises");
    }
    CellResult {
        outcome: r.outcome,
        reason: r.reason,
        steps: r.steps,
        total_steps: r.total_steps,
        n_params: r.n_params,
        final_train_loss: r.final_train_loss,
        last_batch_loss: r.last_batch_loss,
        train_loss: None,
        train_metric: None,
        validation_loss: r.eval_loss,
        validation_metric: r.eval_metric,
        test_loss: r.eval_loss,
        test_metric: r.eval_metric,
        metric_name: Some(task.metric.name().to_string()),
        seconds: r.seconds,
        eval_seconds: r.eval_seconds,
        cost_steps: r.steps + tune_steps,
        cost_seconds: r.seconds + tune_seconds,
        result_json: json.to_string(),
        provenance,
    }
}

/// Registers the class.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyUserStudy>()
}
