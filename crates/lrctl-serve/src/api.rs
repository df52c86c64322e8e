//! The JSON API. Every handler reads the store on a blocking thread through the
//! [`StorePool`](crate::StorePool); names travel in query strings (`?study=…&task=…`) so that
//! any name, `/` and `%` included, reaches the store unchanged, and only as a bound parameter.
//!
//! Statistics are [`lrctl_report::analyse`]'s, serialised; curves are the report's
//! ([`Snapshot::mean_curve`]: mean ± SE over seeds, learning rates averaged on a log scale)
//! with running cells' partial curves included, thinned by [`crate::downsample`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use lrctl_report::{ReportOptions, StudyAnalysis};
use lrctl_store::{
    CellBrief, CellId, CellRow, CellSet, CellState, CurvePointRow, Outcome, PartialCurveInfo,
    Progress, Store, StoreError, StudyId, StudyRow, Timestamp,
};
use lrctl_study::snapshot::{MeanCurve, Outline, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::AppState;
use crate::downsample;

/// An error as the API answers it: a status and `{"error": message}`. Messages come from the
/// store, whose locations are redacted.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn not_found(what: String) -> ApiError {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: what,
        }
    }

    fn bad(what: String) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: what,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: e.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.message }))).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// Runs `f` on a pooled connection on a blocking thread.
async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&mut dyn Store, &Cache) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let pool = Arc::clone(&state.pool);
    let cache = Arc::clone(&state.cache);
    tokio::task::spawn_blocking(move || {
        let mut out = None;
        let r = pool.with(|s| {
            out = Some(f(s, &cache));
            Ok(())
        });
        match (r, out) {
            (Err(e), _) => Err(ApiError::from(e)),
            (Ok(()), Some(x)) => x,
            (Ok(()), None) => unreachable!("the closure ran"),
        }
    })
    .await
    .map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        message: format!("request failed: {e}"),
    })?
}

fn to_json(v: impl Serialize) -> Value {
    serde_json::to_value(v).expect("API values serialise")
}

/// Results computed from a study that stay valid while its [`Stamp`] does.
#[derive(Default)]
pub struct Cache {
    stats: Mutex<HashMap<String, (Stamp, Arc<Value>)>>,
    /// Curves answers as sent (megabytes of numbers: serialised once, never cloned as a tree).
    curves: Mutex<HashMap<String, (Stamp, Bytes)>>,
    cells: Mutex<HashMap<StudyId, CachedCells>>,
    /// The outline of a study's cells, kept as long as that very list is the cached one.
    outlines: Mutex<HashMap<StudyId, CachedOutline>>,
    /// Held while statistics are computed: one bootstrap at a time (the machine may have two
    /// cores, and requests must keep one).
    computing: Mutex<()>,
    /// The statistics (study name, resamples) being computed in the background.
    in_flight: Mutex<HashSet<(String, usize)>>,
}

/// An outline and the cell list it was made of.
type CachedOutline = (Arc<Vec<CellBrief>>, Arc<Outline<CellBrief>>);

/// A study's cells (the columns a list shows) as read at a stamp and a time.
type CachedCells = (Stamp, Instant, Arc<Vec<CellBrief>>);

/// How long a study's cell list is reused while its stamp stays the same (only heartbeat and
/// lease times can change then).
const CELLS_FRESH: Duration = Duration::from_secs(2);

/// At most this many points per quantity in per-seed charts (thousands of traces would
/// otherwise send tens of megabytes).
const SEED_POINTS: usize = 40_000;

impl Cache {
    /// The study's current cells as a list shows them (no configuration or result JSON: a
    /// study of 10,000 cells is read in a fraction of the time), read again when its stamp
    /// changed or after [`CELLS_FRESH`].
    fn cells(
        &self,
        store: &mut dyn Store,
        study: &StudyRow,
        stamp: &Stamp,
    ) -> Result<Arc<Vec<CellBrief>>, StoreError> {
        if let Some((st, at, cells)) = self.cells.lock().expect("not poisoned").get(&study.id)
            && st == stamp
            && at.elapsed() < CELLS_FRESH
        {
            return Ok(Arc::clone(cells));
        }
        let cells = Arc::new(store.cell_briefs(study.id)?);
        self.cells.lock().expect("not poisoned").insert(
            study.id,
            (stamp.clone(), Instant::now(), Arc::clone(&cells)),
        );
        Ok(cells)
    }

    /// The outline of the study's current cells (tasks, methods, seeds, the cells of the
    /// newest configurations: what [`Snapshot::from_cells`] would make of them), made again
    /// when [`Cache::cells`] read them again. Each task's metric comes from the configuration
    /// of its first cell, read alone.
    fn outline(
        &self,
        store: &mut dyn Store,
        study: &StudyRow,
        stamp: &Stamp,
    ) -> Result<Arc<Outline<CellBrief>>, StoreError> {
        let cells = self.cells(store, study, stamp)?;
        if let Some((c, o)) = self.outlines.lock().expect("not poisoned").get(&study.id)
            && Arc::ptr_eq(c, &cells)
        {
            return Ok(Arc::clone(o));
        }
        let o = Outline::of(study, (*cells).clone(), |c| {
            Ok::<_, StoreError>(
                store
                    .cell(c.id)?
                    .map(|row| row.task_config)
                    .unwrap_or_default(),
            )
        })?;
        let o = Arc::new(o);
        self.outlines
            .lock()
            .expect("not poisoned")
            .insert(study.id, (cells, Arc::clone(&o)));
        Ok(o)
    }

    fn put(
        map: &Mutex<HashMap<String, (Stamp, Arc<Value>)>>,
        key: String,
        stamp: Stamp,
        v: &Value,
    ) {
        map.lock()
            .expect("not poisoned")
            .insert(key, (stamp, Arc::new(v.clone())));
    }
}

/// What changes whenever a study's results or curves do: its cells' states and results, and
/// its partial curves. Cheap to read (two small queries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stamp {
    /// Counts of the study's current cells.
    pub progress: Progress,
    /// The partial curves of its current cells without a result.
    pub partial: Vec<PartialCurveInfo>,
}

impl Stamp {
    /// Whether the study's results are the same at both stamps: the statistics read only done
    /// cells' results, written once, so that the counts tell (a running cell's curve growing
    /// changes nothing there).
    fn same_results(&self, other: &Stamp) -> bool {
        self.progress == other.progress
    }
}

/// The stamp of a study.
pub fn stamp(store: &mut dyn Store, study: &StudyRow) -> Result<Stamp, StoreError> {
    Ok(Stamp {
        progress: store.progress(study.id)?,
        partial: store.partial_curves(study.id)?,
    })
}

fn find_study(store: &mut dyn Store, name: &str) -> Result<StudyRow, ApiError> {
    store
        .study(name)?
        .ok_or_else(|| ApiError::not_found(format!("no study named {name:?}")))
}

/// A worker holding a cell.
#[derive(Debug, Serialize)]
struct Holder {
    worker: String,
    cell: CellId,
    task: String,
    method: String,
    seed: u64,
    attempt: u32,
    heartbeat_at: Option<Timestamp>,
    lease_expires_at: Option<Timestamp>,
    /// The lease ran out: the worker is probably dead and the cell will be claimed again.
    expired: bool,
}

/// Estimated seconds until the study is done: the mean cost of its done cells times the cells
/// left, shared by the workers now running (at least one). `None` before any cell finished.
fn eta(cells: &[CellBrief], progress: &Progress) -> Option<f64> {
    let costs: Vec<f64> = cells
        .iter()
        .filter_map(|c| c.result.as_ref())
        .map(|r| r.cost_seconds)
        .filter(|s| s.is_finite())
        .collect();
    if costs.is_empty() {
        return None;
    }
    let mean = costs.iter().sum::<f64>() / costs.len() as f64;
    let workers = progress.running.max(1) as f64;
    Some(mean * (progress.queued + progress.running) as f64 / workers)
}

fn holders(cells: &[CellBrief]) -> Vec<Holder> {
    let now = Timestamp::now();
    cells
        .iter()
        .filter(|c| c.state == CellState::Running)
        .map(|c| Holder {
            worker: c.worker.clone().unwrap_or_default(),
            cell: c.id,
            task: c.task.clone(),
            method: c.method.clone(),
            seed: c.seed,
            attempt: c.attempts,
            heartbeat_at: c.heartbeat_at,
            lease_expires_at: c.lease_expires_at,
            expired: c.lease_expires_at.is_some_and(|t| t < now),
        })
        .collect()
}

/// `GET /api/studies`: every study with its progress, the workers holding its cells and an ETA.
pub async fn studies(State(state): State<AppState>) -> ApiResult {
    let (v, names) = blocking(&state, |store, cache| {
        let mut out = Vec::new();
        let mut never = Vec::new();
        for s in store.studies()? {
            if !cache.has_stats(&s, reps(None)) {
                never.push(s.name.clone());
            }
            let st = stamp(store, &s)?;
            let cells = cache.cells(store, &s, &st)?;
            let (progress, partial) = (st.progress, st.partial);
            out.push(json!({
                "name": s.name,
                "created_at": s.created_at,
                "updated_at": s.updated_at,
                "progress": progress,
                "total": progress.total(),
                "workers": holders(&cells),
                "eta_seconds": eta(&cells, &progress),
                "partial_curves": partial.len(),
            }));
        }
        Ok((json!({ "studies": out }), never))
    })
    .await?;
    // A listed study is likely opened next: compute its statistics now, once (the bootstrap
    // is the slowest part of a study's first view).
    for name in names {
        start_stats(&state, name, reps(None));
    }
    Ok(Json(v))
}

/// A cell in a study's list: identity, state and headline numbers.
#[derive(Debug, Serialize)]
struct ListedCell {
    id: CellId,
    task: String,
    method: String,
    seed: u64,
    state: CellState,
    outcome: Option<Outcome>,
    attempts: u32,
    worker: Option<String>,
    test_metric: Option<f64>,
    validation_metric: Option<f64>,
    final_train_loss: Option<f64>,
    steps: Option<u64>,
    total_steps: Option<u64>,
    cost_seconds: Option<f64>,
    /// Its partial curve (running, or left by a stopped worker).
    partial: Option<PartialCurveInfo>,
}

fn listed(c: &CellBrief, partial: &HashMap<CellId, PartialCurveInfo>) -> ListedCell {
    let r = c.result.as_ref();
    ListedCell {
        id: c.id,
        task: c.task.clone(),
        method: c.method.clone(),
        seed: c.seed,
        state: c.state,
        outcome: r.map(|r| r.outcome),
        attempts: c.attempts,
        worker: c.worker.clone(),
        test_metric: r.and_then(|r| r.test_metric),
        validation_metric: r.and_then(|r| r.validation_metric),
        final_train_loss: r.and_then(|r| r.final_train_loss),
        steps: r.map(|r| r.steps),
        total_steps: r.map(|r| r.total_steps),
        cost_seconds: r.map(|r| r.cost_seconds),
        partial: partial.get(&c.id).copied(),
    }
}

/// Query of `/api/study`.
#[derive(Debug, Deserialize)]
pub struct StudyPageQuery {
    /// The study's name.
    pub study: String,
    /// Only cells whose `task method seed state outcome` contains this, ignoring case.
    #[serde(default)]
    pub filter: String,
    /// The first matching cell to list (default 0).
    pub offset: Option<usize>,
    /// How many matching cells to list (default [`CELL_PAGE`], at most [`MAX_CELL_PAGE`]).
    pub limit: Option<usize>,
}

/// Cells listed per page by default (what the study page shows).
pub const CELL_PAGE: usize = 300;

/// At most this many cells per page.
pub const MAX_CELL_PAGE: usize = 5_000;

/// The cells of one task × method, counted by state and outcome.
#[derive(Debug, Default, Serialize)]
struct Summary {
    task: String,
    method: String,
    cells: usize,
    queued: usize,
    running: usize,
    finished: usize,
    diverged: usize,
    failed: usize,
}

fn summaries(snap: &Outline<CellBrief>) -> Vec<Summary> {
    let mut out: Vec<Summary> = Vec::new();
    let mut at: HashMap<(&str, &str), usize> = HashMap::new();
    for c in &snap.cells {
        let i = *at.entry((&c.task, &c.method)).or_insert_with(|| {
            out.push(Summary {
                task: c.task.clone(),
                method: c.method.clone(),
                ..Summary::default()
            });
            out.len() - 1
        });
        let s = &mut out[i];
        s.cells += 1;
        match (c.state, c.result.as_ref().map(|r| r.outcome)) {
            (CellState::Queued, _) => s.queued += 1,
            (CellState::Running, _) => s.running += 1,
            (_, Some(Outcome::Diverged)) => s.diverged += 1,
            (_, Some(Outcome::Failed)) => s.failed += 1,
            (_, _) => s.finished += 1,
        }
    }
    out.sort_by(|a, b| (&a.task, &a.method).cmp(&(&b.task, &b.method)));
    out
}

/// Whether a cell matches a lower-cased filter (the text the page's filter box searched).
fn matches(c: &CellBrief, filter: &str) -> bool {
    filter.is_empty() || {
        let outcome = c.result.as_ref().map_or("", |r| r.outcome.as_str());
        format!(
            "{} {} {} {} {outcome}",
            c.task,
            c.method,
            c.seed,
            c.state.as_str()
        )
        .to_lowercase()
        .contains(filter)
    }
}

/// `GET /api/study?study=NAME[&filter=TEXT][&offset=N][&limit=N]`: the study, its tasks,
/// methods, seeds, progress, workers, ETA, counts per task × method, and one page of its
/// current cells (those matching `filter`; `cells_matching` says how many do).
pub async fn study(State(state): State<AppState>, Query(q): Query<StudyPageQuery>) -> ApiResult {
    let v = blocking(&state, move |store, cache| {
        let s = find_study(store, &q.study)?;
        let st = stamp(store, &s)?;
        let progress = st.progress;
        let cells = cache.cells(store, &s, &st)?;
        let partial: HashMap<CellId, PartialCurveInfo> =
            st.partial.iter().map(|p| (p.cell, *p)).collect();
        let workers = holders(&cells);
        let eta = eta(&cells, &progress);
        let snap = cache.outline(store, &s, &st)?;
        let tasks: Vec<Value> = snap
            .tasks
            .iter()
            .map(|t| json!({ "name": t.name, "metric": t.metric, "maximize": t.maximize }))
            .collect();
        let spec: Value = serde_json::from_str(&s.spec_json).unwrap_or(Value::Null);
        let filter = q.filter.trim().to_lowercase();
        let offset = q.offset.unwrap_or(0);
        let limit = q.limit.unwrap_or(CELL_PAGE).clamp(1, MAX_CELL_PAGE);
        let mut matching = 0;
        let mut page = Vec::new();
        for c in snap.cells.iter().filter(|c| matches(c, &filter)) {
            if matching >= offset && page.len() < limit {
                page.push(listed(c, &partial));
            }
            matching += 1;
        }
        Ok(Json(json!({
            "name": s.name,
            "created_at": s.created_at,
            "updated_at": s.updated_at,
            "spec": spec,
            "tasks": tasks,
            "methods": snap.methods,
            "seeds": snap.seeds,
            "progress": progress,
            "total": progress.total(),
            "workers": workers,
            "eta_seconds": eta,
            "left_out": snap.left_out.iter().map(ToString::to_string).collect::<Vec<_>>(),
            "summary": summaries(&snap),
            "cells_matching": matching,
            "cells_offset": offset,
            "cells_limit": limit,
            "cells": page,
        })))
    })
    .await?;
    Ok(v)
}

/// Query of `/api/study/stats`.
#[derive(Debug, Deserialize)]
pub struct StatsQuery {
    /// The study's name.
    pub study: String,
    /// Bootstrap resamples (default 1000, at most 10 000).
    pub reps: Option<usize>,
}

/// The statistics of a snapshot without curves: [`lrctl_report::analyse`] as JSON, its (empty)
/// per-task curves removed.
fn analysis_json(snap: &Snapshot, reps: usize) -> Value {
    let opts = ReportOptions {
        bootstrap_reps: reps,
        ..ReportOptions::default()
    };
    let a: StudyAnalysis = lrctl_report::analyse(snap, &opts);
    let mut v = to_json(a);
    if let Some(tasks) = v["tasks"].as_array_mut() {
        for t in tasks {
            if let Some(o) = t.as_object_mut() {
                for k in ["train_loss", "eval_metric", "effective_lr"] {
                    o.remove(k);
                }
            }
        }
    }
    v
}

fn reps(r: Option<usize>) -> usize {
    r.unwrap_or(1000).clamp(1, 10_000)
}

/// `GET /api/study/stats?study=NAME[&reps=N]`: the report's numbers (results tables, IQM and
/// other aggregates with bootstrap intervals, performance profile, probability of improvement,
/// portfolio, selection), cached until the study changes. They are computed in the
/// background: until they are ready for the study as it stands the answer has
/// `"pending": true` (with the numbers of an earlier state of the study, if any), and the page
/// asks again.
pub async fn stats(State(state): State<AppState>, Query(q): Query<StatsQuery>) -> ApiResult {
    let reps = reps(q.reps);
    let name = q.study.clone();
    let (fresh, stale) = blocking(&state, move |store, cache| {
        let s = find_study(store, &q.study)?;
        let st = stamp(store, &s)?;
        Ok(cache.stats_at(&s, reps, &st))
    })
    .await?;
    if let Some(mut v) = fresh {
        v["pending"] = Value::Bool(false);
        return Ok(Json(v));
    }
    start_stats(&state, name.clone(), reps);
    let mut v = stale.unwrap_or_else(|| json!({ "study": name }));
    v["pending"] = Value::Bool(true);
    Ok(Json(v))
}

impl Cache {
    fn stats_key(study: &StudyRow, reps: usize) -> String {
        format!("{}\u{0}{reps}", study.id.0)
    }

    /// Whether statistics of the study were ever computed (at any stamp).
    fn has_stats(&self, study: &StudyRow, reps: usize) -> bool {
        self.stats
            .lock()
            .expect("not poisoned")
            .contains_key(&Cache::stats_key(study, reps))
    }

    /// The statistics at this stamp, or else those of an earlier one.
    fn stats_at(
        &self,
        study: &StudyRow,
        reps: usize,
        stamp: &Stamp,
    ) -> (Option<Value>, Option<Value>) {
        let map = self.stats.lock().expect("not poisoned");
        match map.get(&Cache::stats_key(study, reps)) {
            Some((st, v)) if st.same_results(stamp) => (Some((**v).clone()), None),
            Some((_, v)) => (None, Some((**v).clone())),
            None => (None, None),
        }
    }
}

/// Computes the statistics of a study on a blocking thread unless they are being computed.
fn start_stats(state: &AppState, study: String, reps: usize) {
    let key = (study, reps);
    if !state
        .cache
        .in_flight
        .lock()
        .expect("not poisoned")
        .insert(key.clone())
    {
        return;
    }
    let state = state.clone();
    tokio::task::spawn_blocking(move || {
        // An error (the study vanished, the store is unreachable) is the next request's to
        // report.
        let _ = state
            .pool
            .with(|store| Ok(stats_of(store, &state.cache, &key.0, key.1).is_ok()));
        state
            .cache
            .in_flight
            .lock()
            .expect("not poisoned")
            .remove(&key);
    });
}

/// The statistics of a study, from the cache or computed (and cached).
fn stats_of(
    store: &mut dyn Store,
    cache: &Cache,
    study: &str,
    reps: usize,
) -> Result<Value, ApiError> {
    let _one_at_a_time = cache.computing.lock().expect("not poisoned");
    let s = find_study(store, study)?;
    let key = Cache::stats_key(&s, reps);
    let st = stamp(store, &s)?;
    if let (Some(v), _) = cache.stats_at(&s, reps, &st) {
        return Ok(v);
    }
    let cells = store.cells(s.id, CellSet::Current)?;
    let mut snap = Snapshot::from_cells(s, cells);
    add_provenance(store, &mut snap)?;
    let v = analysis_json(&snap, reps);
    Cache::put(&cache.stats, key, st, &v);
    Ok(v)
}

fn add_provenance(store: &mut dyn Store, snap: &mut Snapshot) -> Result<(), StoreError> {
    let mut ids: Vec<_> = snap
        .cells
        .iter()
        .filter_map(|c| c.result.as_ref().map(|r| r.provenance))
        .filter(|p| p.0 > 0)
        .collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        if let Some(p) = store.provenance(id)? {
            snap.provenance.push(p);
        }
    }
    Ok(())
}

/// How curves are drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CurveMode {
    /// Mean ± standard error over seeds, per method.
    #[default]
    Mean,
    /// One trace per seed.
    Seeds,
}

/// Query of `/api/study/curves`.
#[derive(Debug, Deserialize)]
pub struct CurvesQuery {
    /// The study's name.
    pub study: String,
    /// The task.
    pub task: String,
    /// Points per series (the chart's width in pixels; default 800).
    pub width: Option<usize>,
    /// Mean ± SE or per seed.
    #[serde(default)]
    pub mode: CurveMode,
}

/// The quantities a curve chart shows: (name, value of a point, averaged on a log scale).
type Quantity = (&'static str, fn(&CurvePointRow) -> Option<f64>, bool);

const QUANTITIES: [Quantity; 4] = [
    ("train_loss", |p| Some(p.train_loss), false),
    ("eval_metric", |p| p.eval_metric, false),
    ("lr", |p| Some(p.lr), true),
    ("effective_lr", |p| Some(p.effective_lr), true),
];

/// One trace of a chart, thinned.
#[derive(Debug, Serialize)]
struct Series {
    method: String,
    /// The seed (per-seed traces).
    seed: Option<u64>,
    /// The cell (per-seed traces).
    cell: Option<CellId>,
    /// Some point comes from a partial curve (a running or stopped cell).
    partial: bool,
    x: Vec<f64>,
    y: Vec<f64>,
    /// The band (mean traces): mean ± SE, or ×/÷ the geometric SE on a log scale.
    lo: Option<Vec<f64>>,
    hi: Option<Vec<f64>>,
    /// Points before thinning.
    n: usize,
}

/// One task of a study without its curves (they are read one cell at a time: a task can hold
/// 10⁵–10⁶ points), and its cells with a partial curve.
fn task_outline(
    store: &mut dyn Store,
    s: StudyRow,
    st: &Stamp,
    task: &str,
) -> Result<(Snapshot, Vec<CellId>), ApiError> {
    // Only this task's cells, read alone: a snapshot keeps the newest configuration per
    // task × method, so the others change nothing here.
    let cells: Vec<CellRow> = store.task_cells(s.id, task)?;
    if cells.is_empty() {
        return Err(ApiError::not_found(format!(
            "study {:?} has no task {task:?}",
            s.name
        )));
    }
    let snap = Snapshot::from_cells(s, cells);
    let partial = snap
        .cells
        .iter()
        .filter(|c| c.task == task && c.result.is_none())
        .filter(|c| st.partial.iter().any(|p| p.cell == c.id))
        .map(|c| c.id)
        .collect();
    Ok((snap, partial))
}

/// The curve a chart draws for a cell: a finished cell's, or the partial curve of a running or
/// stopped one (`None`: the cell has neither).
fn chart_curve(
    store: &mut dyn Store,
    c: &CellRow,
    partial: &[CellId],
) -> Result<Option<Vec<CurvePointRow>>, StoreError> {
    if c.result.is_some() {
        Ok(Some(store.curve(c.id)?))
    } else if partial.contains(&c.id) {
        Ok(Some(store.partial_curve(c.id)?))
    } else {
        Ok(None)
    }
}

/// A quantity's value as it is averaged: learning rates on a log scale.
fn averaged(q: &Quantity) -> impl Fn(&CurvePointRow) -> Option<f64> {
    let (_, value, log) = *q;
    move |p| {
        let x = value(p)?;
        if log {
            (x > 0.0).then(|| x.ln())
        } else {
            Some(x)
        }
    }
}

/// Per quantity, each method's mean ± SE over seeds, thinned to `width` points; each cell's
/// curve is read, added to the means and dropped before the next is read.
fn mean_series(
    store: &mut dyn Store,
    snap: &Snapshot,
    task: &str,
    width: usize,
    partial: &[CellId],
) -> Result<BTreeMap<&'static str, Vec<Series>>, ApiError> {
    let mut out: BTreeMap<&'static str, Vec<Series>> =
        QUANTITIES.iter().map(|q| (q.0, Vec::new())).collect();
    for m in &snap.methods {
        let mut means: Vec<MeanCurve> = QUANTITIES.iter().map(|_| MeanCurve::new(None)).collect();
        let mut any_partial = false;
        for c in snap.cells_of(task, m) {
            let Some(curve) = chart_curve(store, c, partial)? else {
                continue;
            };
            any_partial |= partial.contains(&c.id);
            for (mean, q) in means.iter_mut().zip(&QUANTITIES) {
                mean.add(&curve, averaged(q));
            }
        }
        for (mean, q) in means.into_iter().zip(&QUANTITIES) {
            let pts = mean.finish();
            if pts.is_empty() {
                continue;
            }
            let log = q.2;
            let back = |x: f64| if log { x.exp() } else { x };
            let x: Vec<f64> = pts.iter().map(|p| p.0).collect();
            let y: Vec<f64> = pts.iter().map(|p| back(p.1)).collect();
            let lo: Vec<f64> = pts.iter().map(|p| back(p.1 - p.2)).collect();
            let hi: Vec<f64> = pts.iter().map(|p| back(p.1 + p.2)).collect();
            let keep = downsample::keep(&x, &y, width);
            out.get_mut(q.0).expect("every quantity").push(Series {
                method: m.clone(),
                seed: None,
                cell: None,
                partial: any_partial,
                x: downsample::pick(&x, &keep),
                y: downsample::pick(&y, &keep),
                lo: Some(downsample::pick(&lo, &keep)),
                hi: Some(downsample::pick(&hi, &keep)),
                n: pts.len(),
            });
        }
    }
    Ok(out)
}

fn seed_series(
    curve: &[CurvePointRow],
    value: fn(&CurvePointRow) -> Option<f64>,
    width: usize,
) -> (Vec<f64>, Vec<f64>, usize) {
    let (x, y): (Vec<f64>, Vec<f64>) = curve
        .iter()
        .filter_map(|p| value(p).map(|v| (p.step as f64, v)))
        .unzip();
    let keep = downsample::keep(&x, &y, width);
    (
        downsample::pick(&x, &keep),
        downsample::pick(&y, &keep),
        x.len(),
    )
}

/// Per quantity, one trace per cell, thinned so that all of them together stay near
/// `SEED_POINTS` points; read one cell's curve at a time.
fn per_seed_series(
    store: &mut dyn Store,
    snap: &Snapshot,
    task: &str,
    width: usize,
    partial: &[CellId],
) -> Result<BTreeMap<&'static str, Vec<Series>>, ApiError> {
    let traces = snap
        .cells
        .iter()
        .filter(|c| c.task == task && (c.result.is_some() || partial.contains(&c.id)))
        .count();
    let width = width.min((SEED_POINTS / traces.max(1)).max(16));
    let mut out: BTreeMap<&'static str, Vec<Series>> =
        QUANTITIES.iter().map(|q| (q.0, Vec::new())).collect();
    for m in &snap.methods {
        for c in snap.cells_of(task, m) {
            let Some(curve) = chart_curve(store, c, partial)? else {
                continue;
            };
            for (name, value, _) in &QUANTITIES {
                let (x, y, n) = seed_series(&curve, *value, width);
                if x.is_empty() {
                    continue;
                }
                out.get_mut(name).expect("every quantity").push(Series {
                    method: m.clone(),
                    seed: Some(c.seed),
                    cell: Some(c.id),
                    partial: partial.contains(&c.id),
                    x,
                    y,
                    lo: None,
                    hi: None,
                    n,
                });
            }
        }
    }
    Ok(out)
}

/// The answer of `/api/study/curves`.
#[derive(Debug, Serialize)]
struct CurvesAnswer<'a> {
    study: &'a str,
    task: &'a str,
    metric: &'a str,
    maximize: bool,
    methods: &'a [String],
    /// Cells of the task with a partial curve.
    live: usize,
    /// Per quantity, its traces.
    quantities: BTreeMap<&'static str, Vec<Series>>,
}

/// `GET /api/study/curves?study=NAME&task=TASK[&width=800][&mode=mean|seeds]`: per method,
/// training loss, validation metric, the controller's lr and the optimizer's effective lr
/// over steps, running cells included, thinned to `width` points.
pub async fn curves(
    State(state): State<AppState>,
    Query(q): Query<CurvesQuery>,
) -> Result<Response, ApiError> {
    let name = q.study.clone();
    let v = blocking(&state, move |store, cache| {
        let width = q.width.unwrap_or(800).clamp(3, downsample::MAX_POINTS);
        let s = find_study(store, &q.study)?;
        let st = stamp(store, &s)?;
        let key = format!("{}\u{0}{}\u{0}{:?}\u{0}{width}", s.id.0, q.task, q.mode);
        if let Some((at, v)) = cache.curves.lock().expect("not poisoned").get(&key)
            && *at == st
        {
            return Ok(v.clone());
        }
        let (snap, partial) = task_outline(store, s, &st, &q.task)?;
        let info = snap
            .tasks
            .iter()
            .find(|t| t.name == q.task)
            .expect("checked by task_outline");
        let quantities = match q.mode {
            CurveMode::Mean => mean_series(store, &snap, &q.task, width, &partial)?,
            CurveMode::Seeds => per_seed_series(store, &snap, &q.task, width, &partial)?,
        };
        let answer = CurvesAnswer {
            study: &snap.study.name,
            task: &q.task,
            metric: info.metric,
            maximize: info.maximize,
            methods: &snap.methods,
            live: partial.len(),
            quantities,
        };
        let v = Bytes::from(serde_json::to_vec(&answer).expect("API values serialise"));
        cache
            .curves
            .lock()
            .expect("not poisoned")
            .insert(key, (st, v.clone()));
        Ok(v)
    })
    .await?;
    let v = ([(header::CONTENT_TYPE, "application/json")], v).into_response();
    // The study page asks for the statistics next: start computing them now (the bootstrap
    // is the slowest part of a study's first view), after the charts' data so that the two
    // do not share the cores.
    start_stats(&state, name, reps(None));
    Ok(v)
}

/// Query of `/api/cell`.
#[derive(Debug, Deserialize)]
pub struct CellQuery {
    /// The cell's id.
    pub id: i64,
    /// Points per curve (default 800).
    pub width: Option<usize>,
}

/// The tuning run of a cell: the key its result recorded, or (still running) the one its
/// configuration gives.
fn tuning_key(cell: &CellRow, result_json: &Value) -> Option<String> {
    if let Some(k) = result_json["tuning"]["tuning_key"].as_str() {
        return Some(k.to_string());
    }
    let task: lrctl_tasks::TaskSpec = serde_json::from_str(&cell.task_config).ok()?;
    let method: lrctl_wrap::Method = serde_json::from_str(&cell.method_config).ok()?;
    method.tune()?;
    Some(lrctl_wrap::tuned::tuning_key(&task, &method))
}

/// `GET /api/cell?id=N`: a cell's configuration, result, curve (or partial curve),
/// provenance, tuning trials and what a selection method chose.
pub async fn cell(State(state): State<AppState>, Query(q): Query<CellQuery>) -> ApiResult {
    blocking(&state, move |store, _| {
        let id = CellId(q.id);
        let c = store
            .cell(id)?
            .ok_or_else(|| ApiError::not_found(format!("no cell {id}")))?;
        let study = store
            .studies()?
            .into_iter()
            .find(|s| s.id == c.study)
            .map(|s| s.name);
        let (curve, partial) = if c.result.is_some() {
            (store.curve(id)?, false)
        } else {
            let p = store.partial_curve(id)?;
            let partial = !p.is_empty();
            (p, partial)
        };
        let result_json: Value = c
            .result
            .as_ref()
            .and_then(|r| serde_json::from_str(&r.result_json).ok())
            .unwrap_or(Value::Null);
        let provenance = match c.result.as_ref().map(|r| r.provenance) {
            Some(p) if p.0 > 0 => store.provenance(p)?,
            _ => None,
        };
        let trials: Vec<Value> = match tuning_key(&c, &result_json) {
            Some(key) => store
                .trials(&key)?
                .into_iter()
                .map(|t| {
                    json!({
                        "trial": t.trial,
                        "config": serde_json::from_str::<Value>(&t.config_json).unwrap_or(Value::Null),
                        "budget": t.budget,
                        "score": t.score,
                        "outcome": t.outcome,
                        "steps": t.steps,
                        "seconds": t.seconds,
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        let width = q.width.unwrap_or(800);
        let mut curves = serde_json::Map::new();
        for (name, value, _) in &QUANTITIES {
            let (x, y, n) = seed_series(&curve, *value, width);
            curves.insert(name.to_string(), json!({ "x": x, "y": y, "n": n }));
        }
        let mut result = c.result.as_ref().map(to_json).unwrap_or(Value::Null);
        if let Some(o) = result.as_object_mut() {
            o.remove("result_json");
        }
        Ok(Json(json!({
            "id": c.id,
            "study": study,
            "task": c.task,
            "method": c.method,
            "seed": c.seed,
            "state": c.state,
            "worker": c.worker,
            "attempts": c.attempts,
            "config_hash": c.config_hash,
            "created_at": c.created_at,
            "claimed_at": c.claimed_at,
            "heartbeat_at": c.heartbeat_at,
            "lease_expires_at": c.lease_expires_at,
            "finished_at": c.finished_at,
            "task_config": serde_json::from_str::<Value>(&c.task_config).unwrap_or(Value::Null),
            "method_config": serde_json::from_str::<Value>(&c.method_config).unwrap_or(Value::Null),
            "result": result,
            "selection": result_json.get("selection").cloned().unwrap_or(Value::Null),
            "tuning": result_json.get("tuning").cloned().unwrap_or(Value::Null),
            "provenance": provenance,
            "trials": trials,
            "partial": partial,
            "curve_points": curve.len(),
            "curves": curves,
        })))
    })
    .await
}

/// Query of `/api/compare`.
#[derive(Debug, Deserialize)]
pub struct CompareQuery {
    /// The first study.
    pub a: String,
    /// The second study.
    pub b: String,
    /// Bootstrap resamples (default 1000).
    pub reps: Option<usize>,
}

/// `GET /api/compare?a=NAME&b=NAME`: the two studies side by side
/// ([`Snapshot::side_by_side`]: methods named `STUDY:method`), analysed like one study.
pub async fn compare(State(state): State<AppState>, Query(q): Query<CompareQuery>) -> ApiResult {
    blocking(&state, move |store, _| {
        if q.a == q.b {
            return Err(ApiError::bad("compare two different studies".into()));
        }
        let mut snaps = Vec::new();
        for name in [&q.a, &q.b] {
            let s = find_study(store, name)?;
            let cells = store.cells(s.id, CellSet::Current)?;
            let mut snap = Snapshot::from_cells(s, cells);
            add_provenance(store, &mut snap)?;
            snaps.push(snap);
        }
        let both = Snapshot::side_by_side(snaps);
        Ok(Json(json!({
            "a": q.a,
            "b": q.b,
            "analysis": analysis_json(&both, reps(q.reps)),
        })))
    })
    .await
}
