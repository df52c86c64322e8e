//! `lrctl.train`: one cell (task × method × seed), as `lrctl train` runs it.

use std::path::PathBuf;

use numpy::{PyArray1, PyArrayMethods};
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

/// A classification task's prepared splits exactly as lrctl's engine trains and evaluates on
/// them (after holdout and normalisation): `{split}_x` (rows × features, float32) and
/// `{split}_y` (int64) for `train`, `validation` and `test`, with `batch_size`,
/// `steps_per_epoch` and `budget_steps` (a reference run in PyTorch on lrctl's data).
#[pyfunction]
#[pyo3(signature = (task, data_dir=None, data=None))]
fn _task_data<'py>(
    py: Python<'py>,
    task: &str,
    data_dir: Option<PathBuf>,
    data: Option<PathBuf>,
) -> PyResult<Bound<'py, PyDict>> {
    let spec = task_spec(task, data)?;
    let (spec, loaded) = blocking(py, move |_| {
        let loaded = lrctl_tasks::data::load(&spec, &lrctl_data::DataDirs::new(data_dir))?;
        Ok((spec, loaded))
    })?;
    let lrctl_tasks::TaskData::Class(c) = loaded else {
        return Err(Error::Value(format!(
            "task `{}` trains on text: only classification tasks' rows come out here",
            spec.name
        ))
        .into());
    };
    let d = PyDict::new(py);
    for (name, rows) in [
        ("train", &c.train),
        ("validation", &c.validation),
        ("test", &c.test),
    ] {
        let x = PyArray1::from_slice(py, &rows.values()).reshape([rows.n_rows, rows.n_features])?;
        let y: Vec<i64> = rows.y.iter().map(|&v| i64::from(v)).collect();
        d.set_item(format!("{name}_x"), x)?;
        d.set_item(format!("{name}_y"), PyArray1::from_vec(py, y))?;
    }
    let n = c.train.n_rows;
    let batch = spec.batch_size.min(n).max(1);
    d.set_item("n_classes", c.train.n_classes)?;
    d.set_item("batch_size", spec.batch_size)?;
    d.set_item("steps_per_epoch", lrctl_tasks::steps_per_epoch(n, batch))?;
    d.set_item("budget_steps", spec.budget.steps(n, batch))?;
    Ok(d)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_task_data, m)?)?;
    m.add_function(wrap_pyfunction!(_train, m)?)?;
    Ok(())
}
