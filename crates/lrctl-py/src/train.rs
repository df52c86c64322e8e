//! `lrctl.train`: one cell (task × method × seed), as `lrctl train` runs it.

use std::path::PathBuf;

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pythonize::pythonize;

use lrctl_engine::{CurvePoint, RunOptions, RunResult};

use crate::{Error, blocking};

/// A task by name, with its data file when given (`libsvm/file`, `mlp/idx`, … need one).
pub fn task_spec(name: &str, data: Option<PathBuf>) -> Result<lrctl_tasks::TaskSpec, Error> {
    let mut spec = lrctl_tasks::registry::find(name)?;
    match data {
        Some(path) => spec.data = spec.data.with_path(path),
        None if spec.data.needs_path() => {
            return Err(Error::Value(format!(
                "task `{}` trains on a file you provide: pass data=PATH",
                spec.name
            )));
        }
        None => {}
    }
    Ok(spec)
}

/// The curve as columns of numpy arrays (NaN where an evaluation did not run).
pub fn curve_arrays<'py>(py: Python<'py>, curve: &[CurvePoint]) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let col = |f: &dyn Fn(&CurvePoint) -> f64| -> Vec<f64> { curve.iter().map(f).collect() };
    d.set_item(
        "step",
        PyArray1::from_vec(py, curve.iter().map(|p| p.step as i64).collect()),
    )?;
    d.set_item("epoch", PyArray1::from_vec(py, col(&|p| p.epoch)))?;
    d.set_item("train_loss", PyArray1::from_vec(py, col(&|p| p.train_loss)))?;
    d.set_item("lr", PyArray1::from_vec(py, col(&|p| p.lr)))?;
    d.set_item(
        "effective_lr",
        PyArray1::from_vec(py, col(&|p| p.effective_lr)),
    )?;
    d.set_item("grad_norm", PyArray1::from_vec(py, col(&|p| p.grad_norm)))?;
    d.set_item(
        "wall_seconds",
        PyArray1::from_vec(py, col(&|p| p.wall_seconds)),
    )?;
    d.set_item(
        "eval_loss",
        PyArray1::from_vec(py, col(&|p| p.eval.map_or(f64::NAN, |m| m.loss))),
    )?;
    d.set_item(
        "eval_metric",
        PyArray1::from_vec(
            py,
            col(&|p| {
                p.eval
                    .as_ref()
                    .and_then(lrctl_engine::task_metric)
                    .unwrap_or(f64::NAN)
            }),
        ),
    )?;
    Ok(d)
}

/// A run's result as a dict (the JSON of `lrctl train --out`) with `curve` as numpy columns.
pub fn result_dict<'py>(py: Python<'py>, mut r: RunResult) -> PyResult<Bound<'py, PyDict>> {
    let curve = std::mem::take(&mut r.curve);
    let d = pythonize(py, &r)?.cast_into::<PyDict>()?;
    d.set_item("curve", curve_arrays(py, &curve)?)?;
    Ok(d)
}

/// Trains one cell and returns its result with the learning curve as numpy arrays. The GIL is
/// released while it trains; Ctrl-C stops it at the next step (`KeyboardInterrupt`).
#[pyfunction]
#[pyo3(signature = (task, method, seed=0, steps=None, data_dir=None, data=None, threads=1, eval_examples=None))]
#[allow(clippy::too_many_arguments)]
fn _train<'py>(
    py: Python<'py>,
    task: &str,
    method: &Bound<'py, PyAny>,
    seed: u64,
    steps: Option<u64>,
    data_dir: Option<PathBuf>,
    data: Option<PathBuf>,
    threads: usize,
    eval_examples: Option<usize>,
) -> PyResult<Bound<'py, PyDict>> {
    let spec = task_spec(task, data)?;
    let method = crate::registry::plain(crate::registry::method(method, "method")?)?;
    if steps == Some(0) {
        return Err(Error::Value("steps must be at least 1".into()).into());
    }
    if threads == 0 {
        return Err(Error::Value("threads must be at least 1".into()).into());
    }
    let dirs = lrctl_data::DataDirs::new(data_dir);
    let result = blocking(py, move |cancel| {
        let task = lrctl_tasks::prepare(&spec, &dirs)?;
        let options = RunOptions {
            seed,
            steps,
            progress: None,
            cancel: Some(&cancel),
            eval_limit: eval_examples.map(|n| n.max(1)),
        };
        lrctl_engine::with_threads(threads, || {
            lrctl_engine::train_method(task.as_ref(), &method, &options)
        })?
        .ok_or_else(|| Error::Runtime("the run was interrupted".into()))
    })?;
    result_dict(py, result)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_train, m)?)?;
    Ok(())
}
