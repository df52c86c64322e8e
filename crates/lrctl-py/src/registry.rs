//! The registries (`lrctl.tasks()`, `methods()`, `suites()`) and methods given from Python: a
//! name, a `.toml` path, or a dict with a method file's fields.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pythonize::pythonize;
use serde::Serialize;

use crate::Error;

/// Where a task's data comes from, as `lrctl tasks` says it.
fn source(t: &lrctl_tasks::TaskSpec) -> &'static str {
    if t.data.is_embedded() {
        "embedded"
    } else if t.data.needs_path() {
        "file"
    } else {
        "mirror"
    }
}

#[derive(Serialize)]
struct TaskRow<'a> {
    name: &'a str,
    description: &'a str,
    /// `embedded` (ships inside lrctl), `mirror` (the data mirror) or `file` (give a path).
    source: &'static str,
    metric: &'static str,
    config: &'a lrctl_tasks::TaskSpec,
}

#[derive(Serialize)]
struct MethodRow<'a> {
    name: &'a str,
    description: &'a str,
    paradigm: &'static str,
    default: bool,
    optimizer: &'static str,
    controller: &'static str,
    /// `tune`, `select` or None.
    wraps: Option<&'static str>,
    config: &'a lrctl_wrap::Method,
}

#[derive(Serialize)]
struct SuiteRow {
    name: &'static str,
    description: &'static str,
    tasks: Vec<String>,
    methods: Vec<String>,
    seeds: usize,
    cells: usize,
    /// One core's CPU seconds, tuning included (`lrctl suites`' estimate); None when unknown.
    cpu_seconds: Option<f64>,
}

/// The built-in tasks: one dict per task (name, description, source, metric, config).
#[pyfunction]
fn tasks(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let rows: Vec<_> = lrctl_tasks::registry::builtin();
    let list = PyList::empty(py);
    for t in &rows {
        let row = TaskRow {
            name: &t.name,
            description: &t.description,
            source: source(t),
            metric: t.primary_metric().0,
            config: t,
        };
        list.append(pythonize(py, &row)?)?;
    }
    Ok(list)
}

/// The built-in methods: one dict per method (name, description, paradigm, default, optimizer,
/// controller, wraps, config).
#[pyfunction]
fn methods(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for m in lrctl_wrap::builtin() {
        let row = MethodRow {
            name: m.name(),
            description: &m.spec.description,
            paradigm: m.spec.paradigm.as_str(),
            default: m.spec.default,
            optimizer: m.spec.optimizer.kind(),
            controller: m.spec.controller.kind(),
            wraps: match &m.wrapper {
                None => None,
                Some(lrctl_wrap::Wrapper::Tune(_)) => Some("tune"),
                Some(lrctl_wrap::Wrapper::Select(_)) => Some("select"),
                Some(lrctl_wrap::Wrapper::Learn(_)) => Some("learn"),
            },
            config: &m,
        };
        list.append(pythonize(py, &row)?)?;
    }
    Ok(list)
}

/// The built-in suites: one dict per suite (name, description, tasks, methods, seeds, cells,
/// cpu_seconds).
#[pyfunction]
fn suites(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for s in lrctl_study::suites() {
        let file = lrctl_study::StudyFile {
            suites: vec![s.name.to_string()],
            ..Default::default()
        };
        let study = file.resolve().map_err(Error::from)?;
        let cpu = lrctl_study::estimate::study_seconds(&study);
        let row = SuiteRow {
            name: s.name,
            description: s.description,
            tasks: s.tasks.clone(),
            methods: study.methods.iter().map(|m| m.name().to_string()).collect(),
            seeds: study.seeds.len(),
            cells: study.cells().len(),
            cpu_seconds: cpu,
        };
        list.append(pythonize(py, &row)?)?;
    }
    Ok(list)
}

/// A method as Python names it: a registry name or `.toml` path (a `str`), or a dict with the
/// fields of a method file. A dict goes through the same TOML parser as a file, so it is
/// checked the same way and its errors read the same ("unknown field `bogus`, expected one of
/// …"); `origin` names it in errors.
pub fn method(obj: &Bound<'_, PyAny>, origin: &str) -> Result<lrctl_wrap::Method, Error> {
    if let Ok(s) = obj.cast::<PyString>() {
        let name = s.to_str().map_err(|e| Error::Value(e.to_string()))?;
        return Ok(lrctl_wrap::find(name)?);
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let table: toml::Table = pythonize::depythonize(d.as_any())
            .map_err(|e| Error::Value(format!("{origin}: {e}")))?;
        let text = toml::to_string(&table).map_err(|e| Error::Value(format!("{origin}: {e}")))?;
        let method = lrctl_wrap::Method::from_toml(&text, origin)?;
        method.validate()?;
        return Ok(method);
    }
    Err(Error::Value(format!(
        "{origin}: a method is a name, a path to a .toml file or a dict with a method file's \
         fields, not {}",
        obj.get_type()
            .name()
            .map(|n| n.to_string())
            .unwrap_or_else(|_| "this".into())
    )))
}

/// A plain method (optimizer + controller), or an error that says where a wrapped one can go.
pub fn plain(method: lrctl_wrap::Method) -> Result<lrctl_method::MethodSpec, Error> {
    let name = method.name().to_string();
    match method.wrapper {
        None => Ok(method.spec),
        Some(lrctl_wrap::Wrapper::Tune(_)) => Err(Error::Value(format!(
            "method `{name}` is a tuned method: one run of it is a whole tuning run; run it in a \
             study (lrctl.Study(...).run(methods=[\"{name}\"]))"
        ))),
        Some(lrctl_wrap::Wrapper::Select(_)) => Err(Error::Value(format!(
            "method `{name}` is a selection method: it chooses among other methods using a \
             study; run it in a study (lrctl.Study(...).run(methods=[\"{name}\"]))"
        ))),
        Some(lrctl_wrap::Wrapper::Learn(_)) => Err(Error::Value(format!(
            "method `{name}` is a learned method: its policy for a task is meta-trained on a \
             study's other tasks; run it in a study of three or more tasks \
             (lrctl.Study(...).run(methods=[\"{name}\"]))"
        ))),
    }
}

/// Parses a method as `lrctl.train` and `lrctl.Env` take it and shows it as a dict.
#[pyfunction]
#[pyo3(signature = (method))]
fn _method_config<'py>(py: Python<'py>, method: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    let m = self::method(method, "method")?;
    Ok(pythonize(py, &m)?)
}

#[derive(Serialize)]
struct TaskInfo<'a> {
    config: &'a lrctl_tasks::TaskSpec,
    needs_path: bool,
    metric: &'static str,
}

/// Resolves a task name (with a scale suffix): `{config, needs_path, metric}`.
#[pyfunction]
fn _task_config<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    let spec = lrctl_tasks::registry::find(name).map_err(Error::from)?;
    let info = TaskInfo {
        config: &spec,
        needs_path: spec.data.needs_path(),
        metric: spec.primary_metric().0,
    };
    Ok(pythonize(py, &info)?)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(tasks, m)?)?;
    m.add_function(wrap_pyfunction!(methods, m)?)?;
    m.add_function(wrap_pyfunction!(suites, m)?)?;
    m.add_function(wrap_pyfunction!(_method_config, m)?)?;
    m.add_function(wrap_pyfunction!(_task_config, m)?)?;
    Ok(())
}
