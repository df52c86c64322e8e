//! Studies over a user's own training function (`lrctl.Study.run(task=..., fn=...)`): the
//! store side. Python trains; this module submits the user task's cells, claims them one at a
//! time under a lease, renews it, and writes each result and curve through the same store API
//! as the engine's workers ([`lrctl_study::external`] is the task's identity).

use std::collections::HashMap;
use std::sync::Mutex;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use pythonize::pythonize;
use serde::{Deserialize, Serialize};

use lrctl_store::{CellId, CellResult, ClaimFilter, CurvePointRow, Lease, Outcome, Store, StudyId};
use lrctl_study::{ExternalMetric, ExternalTask};

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
    leases: HashMap<i64, (Lease, String)>,
    backend: String,
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
            if method.wrapper.is_some() {
                return Err(Error::Value(format!(
                    "method `{}` is a tuned or selection method: over a training function only \
                     plain methods (an optimizer and a controller) run so far",
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
                inner.leases.insert(
                    cell.lease.cell.0,
                    (cell.lease.clone(), cell.config_hash.clone()),
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
        Ok(Some(d))
    }

    /// Renews a claimed cell's lease.
    fn heartbeat(&self, py: Python<'_>, cell: i64) -> PyResult<()> {
        py.detach(|| -> Result<(), Error> {
            let mut inner = lock(&self.inner);
            let Some((lease, _)) = inner.leases.get(&cell).cloned() else {
                return Err(Error::Runtime(format!("cell {cell} is not held here")));
            };
            let expires = inner.store.heartbeat(&lease, lrctl_store::DEFAULT_LEASE)?;
            if let Some((l, _)) = inner.leases.get_mut(&cell) {
                l.expires_at = expires;
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Puts a claimed cell back in the queue without a result (an interrupted run).
    fn release(&self, py: Python<'_>, cell: i64) -> PyResult<()> {
        py.detach(|| -> Result<(), Error> {
            let mut inner = lock(&self.inner);
            if let Some((lease, _)) = inner.leases.remove(&cell) {
                inner.store.release(&lease)?;
            }
            Ok(())
        })?;
        Ok(())
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
            let Some((lease, hash)) = inner.leases.remove(&cell) else {
                return Err(Error::Runtime(format!("cell {cell} is not held here")));
            };
            let provenance = lrctl_store::Provenance {
                backend: inner.backend.clone(),
                ..lrctl_study::run::provenance(&hash)
            };
            let provenance = inner.store.put_provenance(&provenance)?;
            let record = record(&inner.task, result, provenance);
            inner.store.finish(&lease, &record, &curve)?;
            Ok(())
        })?;
        Ok(())
    }
}

/// The store's record of a user run: the final evaluation stands for the validation and test
/// splits (a training function reports one held-out evaluation).
fn record(task: &ExternalTask, r: UserResult, provenance: lrctl_store::ProvenanceId) -> CellResult {
    let json = serde_json::json!({
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
        cost_steps: r.steps,
        cost_seconds: r.seconds,
        result_json: json.to_string(),
        provenance,
    }
}

/// Registers the class.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyUserStudy>()
}
