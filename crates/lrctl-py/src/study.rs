//! Studies from Python (`lrctl.Study`): read a store's cells and curves with `lrctl export`'s
//! columns, its progress, and run a study into it.

use std::collections::BTreeMap;
use std::path::PathBuf;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString};
use pythonize::pythonize;
use serde::Serialize;
use serde_json::Value;

use lrctl_store::{CellSet, Store, StudyRow};
use lrctl_study::export::{CURVE_COLUMNS, CellRecord};

use crate::{Error, blocking};

/// The columns of `lrctl export --table cells`, in order.
pub fn cell_columns() -> Vec<&'static str> {
    CellRecord::header()
}

/// The columns of `lrctl export --table curves`, in order.
pub fn curve_columns() -> Vec<&'static str> {
    ["study", "cell_id", "task", "method", "seed"]
        .into_iter()
        .chain(CURVE_COLUMNS.split(','))
        .collect()
}

/// Opens an existing store for reading; a missing one is `FileNotFoundError`, a file that is
/// not a store `ValueError`.
fn open_read(location: &str) -> Result<Box<dyn Store>, Error> {
    Ok(lrctl_store::open_read_only(location)?)
}

/// The named study, or the most recently changed one (as the CLI chooses).
fn find(store: &mut dyn Store, name: Option<&str>) -> Result<StudyRow, Error> {
    let studies = store.studies()?;
    let known = || {
        let names: Vec<&str> = studies.iter().map(|s| s.name.as_str()).collect();
        if names.is_empty() {
            "(none)".to_string()
        } else {
            names.join(", ")
        }
    };
    match name {
        Some(n) => studies
            .iter()
            .find(|s| s.name == n)
            .cloned()
            .ok_or_else(|| {
                Error::Unknown(format!(
                    "no study `{n}` in {}; the studies there: {}",
                    store.location(),
                    known()
                ))
            }),
        None => studies
            .iter()
            .max_by_key(|s| (s.updated_at, s.id))
            .cloned()
            .ok_or_else(|| {
                Error::Unknown(format!(
                    "{} holds no study yet: run one first (Study.run or `lrctl run`)",
                    store.location()
                ))
            }),
    }
}

/// Rows (serialisable records) as columns: a dict of lists in `columns` order.
fn columns<'py, T: Serialize>(
    py: Python<'py>,
    names: &[&str],
    rows: &[T],
) -> PyResult<Bound<'py, PyDict>> {
    let mut cols: BTreeMap<&str, Vec<Value>> = names.iter().map(|n| (*n, Vec::new())).collect();
    for r in rows {
        let v = serde_json::to_value(r).map_err(|e| Error::Runtime(e.to_string()))?;
        for n in names {
            cols.get_mut(n)
                .expect("a known column")
                .push(v.get(*n).cloned().unwrap_or(Value::Null));
        }
    }
    let d = PyDict::new(py);
    for n in names {
        d.set_item(*n, pythonize(py, &cols[n])?)?;
    }
    Ok(d)
}

/// Checks that `location` is a store when something is there (a missing store is fine: a run
/// creates it).
#[pyfunction]
fn _study_check(py: Python<'_>, location: String) -> PyResult<()> {
    blocking(py, move |_| match lrctl_store::open_read_only(&location) {
        Ok(_) | Err(lrctl_store::StoreError::Missing { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    })
}

/// `(study name, columns)` of the study's current cells.
#[pyfunction]
#[pyo3(signature = (location, name=None))]
fn _study_cells<'py>(
    py: Python<'py>,
    location: String,
    name: Option<String>,
) -> PyResult<(String, Bound<'py, PyDict>)> {
    let (study, rows) = blocking(py, move |_| {
        let mut store = open_read(&location)?;
        let study = find(store.as_mut(), name.as_deref())?;
        let rows: Vec<CellRecord> = store
            .cells(study.id, CellSet::Current)?
            .iter()
            .map(|c| CellRecord::new(&study.name, c))
            .collect();
        Ok((study.name, rows))
    })?;
    Ok((study, columns(py, &cell_columns(), &rows)?))
}

#[derive(Serialize)]
struct CurveRow<'a> {
    study: &'a str,
    cell_id: i64,
    task: &'a str,
    method: &'a str,
    seed: u64,
    #[serde(flatten)]
    point: &'a lrctl_store::CurvePointRow,
}

/// `(study name, columns)` of every recorded curve point of the study's current cells.
#[pyfunction]
#[pyo3(signature = (location, name=None))]
fn _study_curves<'py>(
    py: Python<'py>,
    location: String,
    name: Option<String>,
) -> PyResult<(String, Bound<'py, PyDict>)> {
    let (study, cells) = blocking(py, move |_| {
        let mut store = open_read(&location)?;
        let study = find(store.as_mut(), name.as_deref())?;
        let mut out = Vec::new();
        for c in store.cells(study.id, CellSet::Current)? {
            let curve = store.curve(c.id)?;
            out.push((c, curve));
        }
        Ok((study, out))
    })?;
    let rows: Vec<CurveRow> = cells
        .iter()
        .flat_map(|(c, curve)| {
            curve.iter().map(|p| CurveRow {
                study: &study.name,
                cell_id: c.id.0,
                task: &c.task,
                method: &c.method,
                seed: c.seed,
                point: p,
            })
        })
        .collect();
    Ok((study.name.clone(), columns(py, &curve_columns(), &rows)?))
}

#[derive(Serialize)]
struct Status {
    study: String,
    total: usize,
    queued: usize,
    running: usize,
    done: usize,
    finished: usize,
    diverged: usize,
    failed: usize,
}

/// The study's progress as a dict.
#[pyfunction]
#[pyo3(signature = (location, name=None))]
fn _study_status<'py>(
    py: Python<'py>,
    location: String,
    name: Option<String>,
) -> PyResult<Bound<'py, PyAny>> {
    let status = blocking(py, move |_| {
        let mut store = open_read(&location)?;
        let study = find(store.as_mut(), name.as_deref())?;
        let p = store.progress(study.id)?;
        Ok(Status {
            study: study.name,
            total: p.total(),
            queued: p.queued,
            running: p.running,
            done: p.done,
            finished: p.finished,
            diverged: p.diverged,
            failed: p.failed,
        })
    })?;
    Ok(pythonize(py, &status)?)
}

#[derive(Serialize)]
struct Report {
    study: String,
    cells: usize,
    added: usize,
    existing: usize,
    superseded: usize,
    ran: usize,
    interrupted: bool,
    seconds: f64,
    skipped: Vec<(String, String)>,
}

/// Runs a study into the store at `location` (created when missing): the study file `file`
/// (if any) plus the given suites, tasks, methods (names, `.toml` paths, or dicts with a
/// method file's fields), seeds and step budget. Finished cells are kept; Ctrl-C stops after
/// the cells in flight go back to the queue.
#[pyfunction]
#[pyo3(signature = (location, *, name=None, file=None, suites=Vec::new(), tasks=Vec::new(), methods=None, seeds=None, steps=None, jobs=None, data_dir=None))]
#[allow(clippy::too_many_arguments)]
fn _study_run<'py>(
    py: Python<'py>,
    location: String,
    name: Option<String>,
    file: Option<PathBuf>,
    suites: Vec<String>,
    tasks: Vec<String>,
    methods: Option<Bound<'py, PyList>>,
    seeds: Option<Bound<'py, PyAny>>,
    steps: Option<u64>,
    jobs: Option<usize>,
    data_dir: Option<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut study_file = match &file {
        Some(path) => {
            if !path.exists() {
                return Err(
                    Error::NotFound(format!("{}: no such study file", path.display())).into(),
                );
            }
            lrctl_study::StudyFile::from_file(path).map_err(Error::from)?
        }
        None => lrctl_study::StudyFile::default(),
    };
    study_file.suites.extend(suites);
    study_file.tasks.extend(tasks);
    if let Some(methods) = methods {
        for (i, m) in methods.iter().enumerate() {
            if m.cast::<PyString>().is_ok() {
                study_file.methods.push(m.extract::<String>()?);
            } else {
                let method = crate::registry::method(&m, &format!("methods[{i}]"))?;
                study_file.methods.push(method.name().to_string());
                study_file.inline_methods.push(method);
            }
        }
    }
    if let Some(s) = seeds {
        study_file.seeds =
            Some(pythonize::depythonize(&s).map_err(|e| Error::Value(format!("seeds: {e}")))?);
    }
    if steps.is_some() {
        study_file.steps = steps;
    }
    if name.is_some() {
        study_file.name = name;
    }
    if study_file.suites.is_empty()
        && study_file.tasks.is_empty()
        && study_file.inline_tasks.is_empty()
    {
        return Err(Error::Value(
            "the study has no tasks: give tasks=[...], suites=[...] or a study file".into(),
        )
        .into());
    }
    let study = study_file.resolve().map_err(Error::from)?;
    if jobs == Some(0) {
        return Err(Error::Value("jobs must be at least 1".into()).into());
    }
    let report = blocking(py, move |cancel| {
        let mut cfg = lrctl_study::RunConfig::new(lrctl_data::DataDirs::new(data_dir));
        if let Some(j) = jobs {
            cfg.jobs = j;
        }
        cfg.cancel = cancel;
        let cells = study.cells().len();
        let r = lrctl_study::run_study(&location, &study, &cfg)?;
        Ok(Report {
            study: study.name.clone(),
            cells,
            added: r.added.added + r.added.reinstated,
            existing: r.added.existing,
            superseded: r.added.superseded,
            ran: r.ran,
            interrupted: r.interrupted,
            seconds: r.seconds,
            skipped: r.skipped,
        })
    })?;
    Ok(pythonize(py, &report)?)
}

/// Recommends a method from the study's evidence for `task` (one of the study's tasks, held
/// out of what the selector learns) or for a task described by its meta-features
/// (`description`: JSON text with `lrctl.describe`'s keys). Static meta-features only.
#[pyfunction]
#[pyo3(signature = (location, name=None, *, task=None, description=None, selector="regression".to_string()))]
fn _recommend<'py>(
    py: Python<'py>,
    location: String,
    name: Option<String>,
    task: Option<String>,
    description: Option<String>,
    selector: String,
) -> PyResult<Bound<'py, PyAny>> {
    let r = blocking(py, move |_| {
        let mut store = open_read(&location)?;
        let study = find(store.as_mut(), name.as_deref())?;
        let all = lrctl_study::snapshot::Snapshot::read(store.as_mut(), study)?;
        let cands = lrctl_study::selection::candidates_only(&all);
        let (target_name, target, snap) = match (task, description) {
            (Some(task), None) => {
                let Some(i) = cands.tasks.iter().position(|t| t.name == task) else {
                    let names: Vec<&str> = cands.tasks.iter().map(|t| t.name.as_str()).collect();
                    return Err(Error::Unknown(format!(
                        "study `{}` has no task `{task}`; its tasks: {}",
                        cands.study.name,
                        names.join(", ")
                    )));
                };
                let target = cands.static_features().swap_remove(i);
                if target.iter().all(|v| v.is_nan()) {
                    return Err(Error::Value(format!(
                        "task `{task}` has no meta-features: a user task needs \
                         description=lrctl.describe(model, loader, budget_steps) when it runs"
                    )));
                }
                let snap = lrctl_study::selection::without_task(&cands, &task);
                (task, target, snap)
            }
            (None, Some(text)) => {
                let d: Value = serde_json::from_str(&text)
                    .map_err(|e| Error::Value(format!("description: {e}")))?;
                let f = lrctl_study::description_features(&d, None).ok_or_else(|| {
                    Error::Value(
                        "the description has no `batch_size`: describe the task with \
                         lrctl.describe(model, loader, budget_steps)"
                            .into(),
                    )
                })?;
                let label = d
                    .get("name")
                    .and_then(Value::as_str)
                    .unwrap_or("your task")
                    .to_string();
                (label, f.values(), cands)
            }
            _ => {
                return Err(Error::Value(
                    "give a task of the study or a description, not both".into(),
                ));
            }
        };
        let feats = lrctl_select::MetaFeatures::new(
            lrctl_wrap::features::static_names(),
            snap.static_features(),
        )
        .map_err(|e| Error::Value(e.to_string()))?;
        Ok(lrctl_study::selection::recommend(
            &snap,
            &feats,
            &target_name,
            &target,
            &selector,
        )?)
    })?;
    Ok(pythonize(py, &r)?)
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_recommend, m)?)?;
    m.add_function(wrap_pyfunction!(_study_check, m)?)?;
    m.add_function(wrap_pyfunction!(_study_cells, m)?)?;
    m.add_function(wrap_pyfunction!(_study_curves, m)?)?;
    m.add_function(wrap_pyfunction!(_study_status, m)?)?;
    m.add_function(wrap_pyfunction!(_study_run, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_columns_are_lrctl_exports() {
        let cells = cell_columns();
        assert_eq!(cells[0], "study");
        assert!(cells.contains(&"test_metric") && cells.contains(&"finished_at"));
        let curves = curve_columns();
        assert_eq!(
            curves.join(","),
            "study,cell_id,task,method,seed,step,epoch,train_loss,lr,effective_lr,grad_norm,\
             wall_seconds,eval_loss,eval_metric"
        );
    }
}
