//! Running a study: claim cells from the store, train them in parallel, record the results.
//!
//! One cell's training is [`lrctl_wrap::cell::train`]; this module is the worker around it:
//! claim a cell under a lease, check that this build may write it, prepare its task once per
//! process, renew the lease while it trains, and record the result exactly once. What happens
//! is reported as [`RunEvent`]s to an observer (the CLI draws its progress bar from them); the
//! library itself prints nothing.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use lrctl_data::DataDirs;
use lrctl_store::{
    AddReport, CellId, CellResult, ClaimedCell, Lease, NewCell, Outcome, Provenance, Store, StudyId,
};
use lrctl_tasks::{Task, TaskSpec};
use lrctl_wrap::{Caches, CellContext, CellError, Method};
use serde::Serialize;

use crate::spec::{Study, StudyError};

/// What happens while cells are trained, for a progress display, a log or an event file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum RunEvent {
    /// Work starts on `name` (a study, or all studies); `total`/`done` are its cell counts
    /// when it is one study.
    Started {
        /// The study worked on, or `all studies`.
        name: String,
        /// Its current cells.
        total: Option<usize>,
        /// Of which done.
        done: usize,
    },
    /// A worker started training a cell.
    CellStarted {
        /// The worker (host, process, thread slot).
        worker: String,
        /// The cell.
        cell: CellId,
        /// Its task.
        task: String,
        /// Its method.
        method: String,
        /// Its seed.
        seed: u64,
    },
    /// A cell's result was recorded.
    CellDone {
        /// The worker that recorded it.
        worker: String,
        /// The cell.
        cell: CellId,
        /// Its task.
        task: String,
        /// Its method.
        method: String,
        /// Its seed.
        seed: u64,
        /// How it ended.
        outcome: Outcome,
        /// Its training seconds.
        seconds: f64,
    },
    /// A worker cannot train a cell on this machine (its data is not here): it put the cell
    /// back for another worker and goes on with others.
    CellSkipped {
        /// The worker.
        worker: String,
        /// The cell.
        cell: CellId,
        /// Its task.
        task: String,
        /// Its method.
        method: String,
        /// Why (where the data was looked for).
        reason: String,
    },
    /// A worker's lease on a cell expired while it trained and another worker took the cell:
    /// this worker's result was discarded (the other attempt's is the one stored) and it goes
    /// on with other cells.
    ResultDiscarded {
        /// The worker.
        worker: String,
        /// The cell.
        cell: CellId,
        /// Its task.
        task: String,
        /// Its method.
        method: String,
        /// The store's words.
        reason: String,
    },
    /// The store said something while the run waited on it (e.g. an unreachable PostgreSQL
    /// server being retried).
    StoreNotice {
        /// What it said (the password removed).
        message: String,
    },
    /// Work ended (every worker stopped).
    Finished,
}

/// Receives [`RunEvent`]s, from any worker thread.
pub type Observer = Arc<dyn Fn(&RunEvent) + Send + Sync>;

/// How a study is run.
#[derive(Clone)]
pub struct RunConfig {
    /// Cells trained at once (one thread each).
    pub jobs: usize,
    /// Where data files are looked for.
    pub dirs: DataDirs,
    /// Set to stop after the cells in flight (Ctrl-C).
    pub cancel: Arc<AtomicBool>,
    /// Lease length; heartbeats renew it every third of it.
    pub lease: Duration,
    /// When the queue is empty, poll it at this interval instead of stopping (`--follow`).
    pub follow: Option<Duration>,
    /// Receives what happens (`None`: nothing is reported).
    pub observer: Option<Observer>,
}

impl RunConfig {
    /// Defaults: one job per core, two-minute leases, no observer.
    pub fn new(dirs: DataDirs) -> Self {
        RunConfig {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            dirs,
            cancel: Arc::new(AtomicBool::new(false)),
            lease: lrctl_store::DEFAULT_LEASE,
            follow: None,
            observer: None,
        }
    }

    fn emit(&self, event: RunEvent) {
        if let Some(o) = &self.observer {
            o(&event);
        }
    }

    /// Opens the store as a worker does: an unreachable server is retried with back-off, and
    /// what the store says while it waits reaches the observer.
    fn open(
        &self,
        location: &str,
        mode: lrctl_store::OpenMode,
    ) -> lrctl_store::Result<Box<dyn Store>> {
        let hook = self.observer.clone().map(|o| -> lrctl_store::NoticeHook {
            Arc::new(move |n: &lrctl_store::Notice| {
                o(&RunEvent::StoreNotice {
                    message: n.to_string(),
                })
            })
        });
        lrctl_store::open_with(location, &lrctl_store::OpenOptions::worker(mode, hook))
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The study's id in the store.
    pub study: StudyId,
    /// What adding the study's cells did (new, existing, superseded).
    pub added: AddReport,
    /// Cells this run trained and recorded.
    pub ran: usize,
    /// Whether it stopped early on request.
    pub interrupted: bool,
    /// Seconds the run took.
    pub seconds: f64,
    /// Tasks left out because their data is not on this machine, with where it was looked
    /// for (their cells were not added; run again once the data is there).
    pub skipped: Vec<(String, String)>,
}

/// What the cells of one process share: prepared tasks, by resolved task configuration, and
/// the wrapped methods' tuning results and shared races.
#[derive(Default)]
struct Shared {
    tasks: Mutex<HashMap<String, PreparedTask>>,
    wrapped: Caches,
}

/// A task prepared once per process (or why it could not be).
type PreparedTask = Arc<OnceLock<Result<Arc<dyn Task>, Arc<PrepareError>>>>;

/// Why a task could not be prepared.
#[derive(Debug, thiserror::Error)]
enum PrepareError {
    /// Its stored configuration does not parse.
    #[error("stored task configuration is unreadable: {0}")]
    Unreadable(serde_json::Error),
    /// Its data could not be loaded or does not fit the model.
    #[error(transparent)]
    Task(#[from] lrctl_tasks::TaskError),
}

impl PrepareError {
    /// Whether the task's data is simply not on this machine (another may have it): not found
    /// offline, or its download failed (no network here). A download that arrived but is not
    /// the pinned file is an error, not missing data.
    fn is_missing_data(&self) -> bool {
        matches!(
            self,
            PrepareError::Task(lrctl_tasks::TaskError::Data {
                source: lrctl_data::DataError::NotFound { .. }
                    | lrctl_data::DataError::Download { .. },
                ..
            })
        )
    }
}

/// Records the study and adds its cells to the store, idempotently: cells already there are
/// kept with their results, changed ones are superseded (see [`Store::add_cells`]).
pub fn submit(store: &mut dyn Store, study: &Study) -> Result<(StudyId, AddReport), StudyError> {
    // Cells on a user's file are defined by its content: it must be here to be identified.
    if let Some(t) = study
        .tasks
        .iter()
        .find(|t| t.data.path().is_some() && t.data_sha256.is_none())
    {
        return Err(StudyError::Invalid {
            field: "task".into(),
            reason: format!(
                "`{}` reads {}, which is not on this machine: submit the study from a machine \
                 that has the file, so its cells are defined by the file's content",
                t.name,
                t.data
                    .path()
                    .map_or_else(String::new, |p| p.display().to_string())
            ),
        });
    }
    let study_id = store.upsert_study(&study.name, &study.to_json())?;
    let cells: Vec<NewCell> = study
        .cells()
        .iter()
        .map(|c| NewCell {
            task: c.task.name.clone(),
            method: c.method.name().to_string(),
            seed: c.seed,
            config_hash: c.config_hash.clone(),
            task_config: serde_json::to_string(c.task).expect("task serialises"),
            method_config: serde_json::to_string(c.method).expect("method serialises"),
        })
        .collect();
    let added = store.add_cells(study_id, &cells)?;
    Ok((study_id, added))
}

/// Adds the study's cells to the store at `location` and runs every one without a result.
///
/// Every task with work left is loaded before anything is written: a task that does not fit its
/// data stops the run with the reason, and a task whose data is not on this machine is left
/// out (its cells are not added) and reported in [`RunReport::skipped`] with where the data was
/// looked for. Results already stored are never touched.
pub fn run_study(location: &str, study: &Study, cfg: &RunConfig) -> Result<RunReport, StudyError> {
    let start = Instant::now();
    let mut store = cfg.open(location, lrctl_store::OpenMode::Create)?;
    // What is already done (read only): tasks without work left are not loaded.
    let done: std::collections::HashSet<(String, String, u64, String)> =
        match store.study(&study.name)? {
            Some(row) => store
                .cells(row.id, lrctl_store::CellSet::Current)?
                .into_iter()
                .filter(|c| c.result.is_some())
                .map(|c| (c.task, c.method, c.seed, c.config_hash))
                .collect(),
            None => Default::default(),
        };
    let plan = study.cells();
    let shared = Shared::default();
    let mut skipped = Vec::new();
    let pending: Vec<&TaskSpec> = study
        .tasks
        .iter()
        .filter(|task| {
            plan.iter().any(|c| {
                c.task.name == task.name
                    && !done.contains(&(
                        c.task.name.clone(),
                        c.method.name().to_string(),
                        c.seed,
                        c.config_hash.clone(),
                    ))
            })
        })
        .collect();
    let configs: Vec<String> = pending
        .iter()
        .map(|task| serde_json::to_string(task).expect("a task serialises"))
        .collect();
    // Loading the data is most of the time before the first cell: on all the jobs' threads,
    // not one (the outcomes are looked at in the study's order, as before).
    let outcomes = prepare_all(&shared, &configs, &cfg.dirs, cfg.jobs);
    for (task, outcome) in pending.into_iter().zip(outcomes) {
        match outcome {
            Ok(_) => {}
            Err(e) if e.is_missing_data() => skipped.push((task.name.clone(), e.to_string())),
            Err(e) => {
                return Err(match Arc::try_unwrap(e) {
                    Ok(PrepareError::Task(t)) => StudyError::Task(t),
                    Ok(other) => StudyError::Refused(other.to_string()),
                    Err(shared) => StudyError::Refused(shared.to_string()),
                });
            }
        }
    }
    if skipped.len() == study.tasks.len() && !skipped.is_empty() {
        let reasons: Vec<String> = skipped.iter().map(|(_, r)| format!("  {r}")).collect();
        return Err(StudyError::Refused(format!(
            "no task of study `{}` has its data on this machine:\n{}",
            study.name,
            reasons.join("\n")
        )));
    }
    let runnable = Study {
        tasks: study
            .tasks
            .iter()
            .filter(|t| !skipped.iter().any(|(name, _)| name == &t.name))
            .cloned()
            .collect(),
        ..study.clone()
    };
    let (study_id, added) = submit(store.as_mut(), &runnable)?;
    store.requeue_dead_local(&lrctl_store::hostname())?;
    let progress = store.progress(study_id)?;
    cfg.emit(RunEvent::Started {
        name: study.name.clone(),
        total: Some(progress.total()),
        done: progress.done,
    });
    drop(store);
    let ran = work_with(location, Some(study_id), cfg, &shared)?;
    Ok(RunReport {
        study: study_id,
        added,
        ran,
        interrupted: cfg.cancel.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
        skipped,
    })
}

/// Claims and trains cells of `study` (or of every study) from the store at `location` until
/// none is left (or, with [`RunConfig::follow`], until cancelled), with `cfg.jobs` threads.
/// Returns how many cells this process trained. This is `lrctl worker`: any number of such
/// processes, on any machines, can work on one store at once.
pub fn work(location: &str, study: Option<StudyId>, cfg: &RunConfig) -> Result<usize, StudyError> {
    let mut store = cfg.open(location, lrctl_store::OpenMode::Existing)?;
    store.requeue_dead_local(&lrctl_store::hostname())?;
    let (name, total, done) = match study {
        Some(id) => {
            let name = store
                .studies()?
                .into_iter()
                .find(|s| s.id == id)
                .map_or_else(|| format!("study {id}"), |s| s.name);
            let p = store.progress(id)?;
            (name, Some(p.total()), p.done)
        }
        None => ("all studies".to_string(), None, 0),
    };
    cfg.emit(RunEvent::Started { name, total, done });
    drop(store);
    work_with(location, study, cfg, &Shared::default())
}

fn work_with(
    location: &str,
    study: Option<StudyId>,
    cfg: &RunConfig,
    shared: &Shared,
) -> Result<usize, StudyError> {
    let ran = AtomicUsize::new(0);
    let errors: Mutex<Vec<StudyError>> = Mutex::new(Vec::new());
    let jobs = cfg.jobs.max(1);
    std::thread::scope(|scope| {
        for slot in 0..jobs {
            let (ran, errors) = (&ran, &errors);
            scope.spawn(move || {
                if let Err(e) = worker(location, study, slot, cfg, shared, ran) {
                    cfg.cancel.store(true, Ordering::Relaxed);
                    errors.lock().expect("not poisoned").push(e);
                }
            });
        }
    });
    cfg.emit(RunEvent::Finished);
    if let Some(e) = errors
        .into_inner()
        .expect("not poisoned")
        .into_iter()
        .next()
    {
        return Err(e);
    }
    Ok(ran.into_inner())
}

/// [`prepared`] for every configuration, on up to `jobs` threads; the outcomes in order.
fn prepare_all(
    shared: &Shared,
    configs: &[String],
    dirs: &DataDirs,
    jobs: usize,
) -> Vec<Result<Arc<dyn Task>, Arc<PrepareError>>> {
    let next = AtomicUsize::new(0);
    let outcomes: Vec<OnceLock<_>> = configs.iter().map(|_| OnceLock::new()).collect();
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, configs.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(config) = configs.get(i) else {
                        break;
                    };
                    let _ = outcomes[i].set(prepared(shared, config, dirs));
                }
            });
        }
    });
    outcomes
        .into_iter()
        .map(|o| o.into_inner().expect("every configuration was prepared"))
        .collect()
}

/// The prepared task for a resolved task configuration (loaded once per process).
fn prepared(
    shared: &Shared,
    config: &str,
    dirs: &DataDirs,
) -> Result<Arc<dyn Task>, Arc<PrepareError>> {
    let cell = {
        let mut map = shared.tasks.lock().expect("not poisoned");
        Arc::clone(map.entry(config.to_string()).or_default())
    };
    cell.get_or_init(|| {
        let spec: TaskSpec =
            serde_json::from_str(config).map_err(|e| Arc::new(PrepareError::Unreadable(e)))?;
        lrctl_tasks::prepare(&spec, dirs).map_err(|e| Arc::new(PrepareError::from(e)))
    })
    .clone()
}

/// One worker thread: its own store connection, claiming cells until none is left.
fn worker(
    location: &str,
    study: Option<StudyId>,
    slot: usize,
    cfg: &RunConfig,
    shared: &Shared,
    ran: &AtomicUsize,
) -> Result<(), StudyError> {
    let worker_id = lrctl_store::worker_id_slot(slot);
    let store: Mutex<Box<dyn Store>> =
        Mutex::new(cfg.open(location, lrctl_store::OpenMode::Existing)?);
    let mut checked: HashMap<StudyId, Result<(), String>> = HashMap::new();
    let release = |lease: &Lease| store.lock().expect("not poisoned").release(lease);
    // Cells this worker put back because it cannot train them here; it never claims them
    // again, so it goes on with the others.
    let mut filter = lrctl_store::ClaimFilter {
        study,
        skip: Vec::new(),
    };
    // Cells put back because another slot of this process is tuning what they need (a tuned
    // method's other seeds): this worker trains other cells meanwhile instead of waiting, and
    // takes them back when nothing else is left (then it waits, and replays the tuning).
    let mut deferred: Vec<CellId> = Vec::new();
    let mut take_busy = false;
    loop {
        if cfg.cancel.load(Ordering::Relaxed) {
            return Ok(());
        }
        let claimed = store
            .lock()
            .expect("not poisoned")
            .claim(&filter, &worker_id, cfg.lease)?;
        let Some(cell) = claimed else {
            if !deferred.is_empty() {
                filter.skip.retain(|c| !deferred.contains(c));
                deferred.clear();
                take_busy = true;
                continue;
            }
            let Some(poll) = cfg.follow else {
                return Ok(());
            };
            wait(poll, &cfg.cancel);
            continue;
        };
        if crate::external::is_external(&cell.task_config) {
            // A user's task: only the process holding its training function trains it.
            release(&cell.lease)?;
            filter.skip.push(cell.lease.cell);
            cfg.emit(RunEvent::CellSkipped {
                worker: worker_id.clone(),
                cell: cell.lease.cell,
                task: cell.task.clone(),
                method: cell.method.clone(),
                reason: "a user task: trained by its Python training function \
                         (lrctl.Study.run(task=..., fn=...)), not by lrctl's engine"
                    .into(),
            });
            continue;
        }
        // The guard must be dropped before the refusal below locks the store again.
        let verdict = compatible(
            &cell,
            store.lock().expect("not poisoned").as_mut(),
            &mut checked,
        );
        if let Err(why) = verdict {
            // Put it back for a worker of the right build, and stop: every cell would fail alike.
            release(&cell.lease)?;
            return Err(StudyError::Refused(why));
        }
        if let Err(e) = prepared(shared, &cell.task_config, &cfg.dirs)
            && e.is_missing_data()
        {
            // Missing data on this machine is not the cell's fault: leave it to another worker.
            release(&cell.lease)?;
            filter.skip.push(cell.lease.cell);
            cfg.emit(RunEvent::CellSkipped {
                worker: worker_id.clone(),
                cell: cell.lease.cell,
                task: cell.task.clone(),
                method: cell.method.clone(),
                reason: e.to_string(),
            });
            continue;
        }
        if let Some(key) = tuning_key(&cell) {
            let tuning = &shared.wrapped.tuning;
            if !take_busy && lrctl_wrap::tuned::tuning_in_progress(tuning, &key) {
                release(&cell.lease)?;
                filter.skip.push(cell.lease.cell);
                deferred.push(cell.lease.cell);
                continue;
            }
            lrctl_wrap::tuned::announce_tuning(tuning, &key);
        }
        take_busy = false;
        cfg.emit(RunEvent::CellStarted {
            worker: worker_id.clone(),
            cell: cell.lease.cell,
            task: cell.task.clone(),
            method: cell.method.clone(),
            seed: cell.seed,
        });
        let lease = Mutex::new(cell.lease.clone());
        let trained = run_cell(&cell, cfg, shared, &store, &lease);
        let lease = lease.into_inner().expect("not poisoned");
        let (result, curve) = match trained {
            Ok(done) => done,
            Err(CellError::Deferred) => {
                // An `auto` cell whose reference cells are queued: train those first.
                release(&lease)?;
                wait(Duration::from_millis(100), &cfg.cancel);
                continue;
            }
            Err(CellError::Unavailable(reason)) => {
                // Data it needs is missing here: leave the cell to another worker.
                release(&lease)?;
                filter.skip.push(cell.lease.cell);
                cfg.emit(RunEvent::CellSkipped {
                    worker: worker_id.clone(),
                    cell: cell.lease.cell,
                    task: cell.task.clone(),
                    method: cell.method.clone(),
                    reason,
                });
                continue;
            }
            Err(CellError::Cancelled) => {
                // Cancelled: the cell goes back to the queue, nothing half-written.
                release(&lease)?;
                return Ok(());
            }
            Err(CellError::Failed(reason)) => lrctl_wrap::cell::failed(reason),
        };
        let mut s = store.lock().expect("not poisoned");
        let provenance = s.put_provenance(&provenance(&cell.config_hash))?;
        let result = CellResult {
            provenance,
            ..result
        };
        match s.finish(&lease, &result, &curve) {
            Ok(()) => {}
            Err(e @ lrctl_store::StoreError::LeaseLost { .. }) => {
                // Another attempt holds the cell now and records it; this is no failure of the run.
                drop(s);
                cfg.emit(RunEvent::ResultDiscarded {
                    worker: worker_id.clone(),
                    cell: cell.lease.cell,
                    task: cell.task.clone(),
                    method: cell.method.clone(),
                    reason: e.to_string(),
                });
                continue;
            }
            Err(e) => return Err(e.into()),
        }
        drop(s);
        ran.fetch_add(1, Ordering::Relaxed);
        cfg.emit(RunEvent::CellDone {
            worker: worker_id.clone(),
            cell: cell.lease.cell,
            task: cell.task.clone(),
            method: cell.method.clone(),
            seed: cell.seed,
            outcome: result.outcome,
            seconds: result.seconds,
        });
    }
}

/// Sleeps for `d`, waking early when cancelled.
fn wait(d: Duration, cancel: &AtomicBool) {
    let until = Instant::now() + d;
    while Instant::now() < until && !cancel.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(50).min(d));
    }
}

/// Whether this build may train the claimed cell and write its result: the study was
/// submitted by the same lrctl version, and the cell's stored configuration hashes to the
/// stored hash under this build (a different build would compute a different hash, or could not
/// even read the configuration).
fn compatible(
    cell: &ClaimedCell,
    store: &mut dyn Store,
    checked: &mut HashMap<StudyId, Result<(), String>>,
) -> Result<(), String> {
    checked
        .entry(cell.study)
        .or_insert_with(|| match store.studies() {
            Ok(all) => match all.into_iter().find(|s| s.id == cell.study) {
                Some(s) => {
                    crate::spec::check_submitter(&s.name, &s.spec_json).map_err(|e| e.to_string())
                }
                None => Err(format!(
                    "cell {} belongs to no stored study",
                    cell.lease.cell
                )),
            },
            Err(e) => Err(e.to_string()),
        })
        .clone()?;
    let what = format!(
        "cell {} ({} · {} · seed {})",
        cell.lease.cell, cell.task, cell.method, cell.seed
    );
    let refuse = |why: String| {
        format!(
            "{what}: {why}; this worker (lrctl {}, engine {}) refuses to write its result. Run \
             workers built from the same version as the one that submitted the study",
            crate::spec::LRCTL_VERSION,
            crate::spec::ENGINE_VERSION
        )
    };
    let task: TaskSpec = serde_json::from_str(&cell.task_config).map_err(|e| {
        refuse(format!(
            "its stored task configuration is unreadable here ({e})"
        ))
    })?;
    let method: Method = serde_json::from_str(&cell.method_config).map_err(|e| {
        refuse(format!(
            "its stored method configuration is unreadable here ({e})"
        ))
    })?;
    let hash = crate::spec::config_hash(&task, &method);
    if hash != cell.config_hash {
        return Err(refuse(format!(
            "its configuration hashes to {} under this build, but the study recorded {}",
            &hash[..12.min(hash.len())],
            &cell.config_hash[..12.min(cell.config_hash.len())]
        )));
    }
    Ok(())
}

/// How often a training cell's curve so far is written to the store.
pub const LIVE_CURVE_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Trains one claimed cell: its record and curve, or why there is nothing to record. A cell
/// that cannot run is a failed record, not an error.
fn run_cell(
    cell: &ClaimedCell,
    cfg: &RunConfig,
    shared: &Shared,
    store: &Mutex<Box<dyn Store>>,
    lease: &Mutex<Lease>,
) -> Result<(CellResult, Vec<lrctl_store::CurvePointRow>), CellError> {
    // A task that cannot be built anywhere (an unreadable or invalid configuration) fails its
    // cell with the reason; the worker goes on.
    let task = prepared(shared, &cell.task_config, &cfg.dirs)
        .map_err(|e| CellError::Failed(e.to_string()))?;
    let method: Method = serde_json::from_str(&cell.method_config).map_err(|e| {
        CellError::Failed(format!("stored method configuration is unreadable: {e}"))
    })?;
    // Heartbeats ride on the progress callback, from the training thread.
    let last_beat = Mutex::new(Instant::now());
    let beat_every = cfg.lease / 3;
    let heartbeat = |_done: u64, _total: u64| {
        let mut last = last_beat.lock().expect("not poisoned");
        if last.elapsed() >= beat_every {
            *last = Instant::now();
            let mut l = lease.lock().expect("not poisoned");
            if let Ok(expires) = store.lock().expect("not poisoned").heartbeat(&l, cfg.lease) {
                l.expires_at = expires;
            }
        }
    };
    let prepare = |config: &str| {
        prepared(shared, config, &cfg.dirs).map_err(|e| {
            if e.is_missing_data() {
                CellError::Unavailable(e.to_string())
            } else {
                CellError::Failed(e.to_string())
            }
        })
    };
    // The curve so far goes to the store at most once per LIVE_CURVE_EVERY, for dashboards;
    // like heartbeats, a failed write is left to `finish` to report.
    let last_curve: Mutex<Option<Instant>> = Mutex::new(None);
    let live = |curve: &[lrctl_engine::CurvePoint]| {
        let mut last = last_curve.lock().expect("not poisoned");
        if last.is_some_and(|t| t.elapsed() < LIVE_CURVE_EVERY) {
            return;
        }
        *last = Some(Instant::now());
        let rows: Vec<_> = curve.iter().map(lrctl_engine::CurvePoint::to_row).collect();
        let l = lease.lock().expect("not poisoned").clone();
        let _ = store
            .lock()
            .expect("not poisoned")
            .put_partial_curve(&l, &rows);
    };
    let references = crate::selection::StoreReferences {
        store,
        study: cell.study,
        prepare: &prepare,
    };
    let ctx = CellContext {
        curve: Some(&live),
        store,
        references: &references,
        caches: &shared.wrapped,
        cancel: &cfg.cancel,
        progress: &heartbeat,
    };
    let trained = lrctl_wrap::cell::train(task.as_ref(), &method, cell.seed, &ctx)?;
    Ok(trained.into_store(task.spec()))
}

/// The tuning key of a claimed cell of a tuned method; `None` for other methods (and for
/// unreadable configurations, which the cell's run reports).
fn tuning_key(cell: &ClaimedCell) -> Option<String> {
    let task = serde_json::from_str::<TaskSpec>(&cell.task_config).ok()?;
    let method = serde_json::from_str::<Method>(&cell.method_config).ok()?;
    lrctl_wrap::tuned::cell_tuning_key(&task, &method)
}

/// Which build on which machine produced a result.
pub fn provenance(config_hash: &str) -> Provenance {
    Provenance {
        lrctl_version: env!("CARGO_PKG_VERSION").to_string(),
        git_commit: option_env!("LRCTL_GIT_COMMIT").map(str::to_string),
        config_hash: config_hash.to_string(),
        machine: lrctl_store::machine_description(),
        backend: lrctl_tasks::backend_name().to_string(),
    }
}
