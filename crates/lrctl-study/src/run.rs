//! Running a study: claim cells from the store, train them in parallel, record the results.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lrctl_data::DataDirs;
use lrctl_engine::{RunOptions, RunResult};
use lrctl_method::MethodSpec;
use lrctl_store::{
    AddReport, CellResult, ClaimedCell, CurvePointRow, Lease, NewCell, Outcome, Provenance, Store,
    StudyId,
};
use lrctl_tasks::{Task, TaskSpec};

use crate::spec::Study;

/// How a study is run.
pub struct RunConfig {
    /// Cells trained at once (one thread each).
    pub jobs: usize,
    /// Where data files are looked for.
    pub dirs: DataDirs,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// Set to stop after the cells in flight (Ctrl-C).
    pub cancel: Arc<AtomicBool>,
    /// Lease length; heartbeats renew it every third of it.
    pub lease: Duration,
    /// When the queue is empty, poll it at this interval instead of stopping (`--follow`).
    pub follow: Option<Duration>,
    /// Print one line per finished cell to stderr (for workers whose output goes to a log).
    pub log_cells: bool,
}

impl RunConfig {
    /// Defaults: one job per core, progress bar on, two-minute leases.
    pub fn new(dirs: DataDirs) -> Self {
        RunConfig {
            jobs: std::thread::available_parallelism().map_or(1, |n| n.get()),
            dirs,
            progress: true,
            cancel: Arc::new(AtomicBool::new(false)),
            lease: lrctl_store::DEFAULT_LEASE,
            follow: None,
            log_cells: false,
        }
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
}

/// Prepared tasks, keyed by their resolved configuration, shared by the workers.
/// What the cells of one process share: prepared tasks, by resolved task configuration, and
/// tuning results of tuned methods.
#[derive(Default)]
struct Shared {
    tasks: Mutex<HashMap<String, PreparedTask>>,
    tuning: crate::tuned::TuningCache,
    selection: crate::selection::SelectionCache,
}

type TaskCache = Shared;

/// A task prepared once per process (or why it could not be).
type PreparedTask = Arc<OnceLock<Result<Arc<dyn Task>, String>>>;

/// Records the study and adds its cells to the store, idempotently: cells already there are
/// kept with their results, changed ones are superseded (see [`Store::add_cells`]).
pub fn submit(store: &mut dyn Store, study: &Study) -> Result<(StudyId, AddReport)> {
    let study_id = store.upsert_study(&study.name, &study.to_json())?;
    let cells: Vec<NewCell> = study
        .cells()
        .iter()
        .map(|c| NewCell {
            task: c.task.name.clone(),
            method: c.method.name.clone(),
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
/// Tasks' data are loaded before anything trains, so missing files stop the run with a message
/// saying where they were looked for. Results already stored are never touched.
pub fn run_study(location: &str, study: &Study, cfg: &RunConfig) -> Result<RunReport> {
    let start = Instant::now();
    let mut store = lrctl_store::open(location)?;
    let (study_id, added) = submit(store.as_mut(), study)?;
    store.requeue_dead_local(&lrctl_store::hostname())?;

    // Load every task that still has work before training anything.
    let cache = TaskCache::default();
    let pending_tasks: Vec<String> = store
        .cells(study_id, false)?
        .into_iter()
        .filter(|c| c.result.is_none())
        .map(|c| c.task_config)
        .collect();
    for config in dedup(pending_tasks) {
        prepared(&cache, &config, &cfg.dirs).map_err(anyhow::Error::msg)?;
    }
    let bar = progress_bar(store.as_mut(), Some(study_id), &study.name, cfg)?;
    drop(store);
    let ran = work_with(location, Some(study_id), cfg, &cache, &bar)?;
    Ok(RunReport {
        study: study_id,
        added,
        ran,
        interrupted: cfg.cancel.load(Ordering::Relaxed),
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Claims and trains cells of `study` (or of every study) from the store at `location` until
/// none is left (or, with [`RunConfig::follow`], until cancelled), with `cfg.jobs` threads.
/// Returns how many cells this process trained. This is `lrctl worker`: any number of such
/// processes, on any machines, can work on one store at once.
pub fn work(location: &str, study: Option<StudyId>, cfg: &RunConfig) -> Result<usize> {
    let mut store = lrctl_store::open_existing(location)?;
    store.requeue_dead_local(&lrctl_store::hostname())?;
    let name = match study {
        Some(id) => store
            .studies()?
            .into_iter()
            .find(|s| s.id == id)
            .map_or_else(|| format!("study {id}"), |s| s.name),
        None => "all studies".to_string(),
    };
    let bar = progress_bar(store.as_mut(), study, &name, cfg)?;
    drop(store);
    let cache = TaskCache::default();
    work_with(location, study, cfg, &cache, &bar)
}

fn progress_bar(
    store: &mut dyn Store,
    study: Option<StudyId>,
    name: &str,
    cfg: &RunConfig,
) -> Result<ProgressBar> {
    let progress = match study {
        Some(id) => Some(store.progress(id)?),
        None => None,
    };
    let bar = if cfg.progress {
        ProgressBar::with_draw_target(
            progress.map(|p| p.total() as u64),
            ProgressDrawTarget::stderr(),
        )
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} [{bar:30}] {pos}/{len} cells · {elapsed_precise} · eta {eta} · {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_prefix(name.to_string());
    if let Some(p) = progress {
        bar.set_position(p.done as u64);
    }
    bar.enable_steady_tick(Duration::from_millis(250));
    Ok(bar)
}

fn work_with(
    location: &str,
    study: Option<StudyId>,
    cfg: &RunConfig,
    cache: &TaskCache,
    bar: &ProgressBar,
) -> Result<usize> {
    let ran = std::sync::atomic::AtomicUsize::new(0);
    let errors: Mutex<Vec<anyhow::Error>> = Mutex::new(Vec::new());
    let jobs = cfg.jobs.max(1);
    std::thread::scope(|scope| {
        for slot in 0..jobs {
            let (ran, errors) = (&ran, &errors);
            scope.spawn(move || {
                if let Err(e) = worker(location, study, slot, cfg, cache, bar, ran) {
                    cfg.cancel.store(true, Ordering::Relaxed);
                    errors.lock().expect("not poisoned").push(e);
                }
            });
        }
    });
    bar.finish_and_clear();
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

fn dedup(mut v: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.retain(|s| seen.insert(s.clone()));
    v
}

/// The prepared task for a resolved task configuration (loaded once per process).
fn prepared(cache: &TaskCache, config: &str, dirs: &DataDirs) -> Result<Arc<dyn Task>, String> {
    let cell = {
        let mut map = cache.tasks.lock().expect("not poisoned");
        Arc::clone(map.entry(config.to_string()).or_default())
    };
    cell.get_or_init(|| {
        let spec: TaskSpec = serde_json::from_str(config)
            .map_err(|e| format!("stored task configuration is unreadable: {e}"))?;
        lrctl_tasks::prepare(&spec, dirs).map_err(|e| e.to_string())
    })
    .clone()
}

/// One worker thread: its own store connection, claiming cells until none is left.
fn worker(
    location: &str,
    study: Option<StudyId>,
    slot: usize,
    cfg: &RunConfig,
    cache: &TaskCache,
    bar: &ProgressBar,
    ran: &std::sync::atomic::AtomicUsize,
) -> Result<()> {
    let worker_id = lrctl_store::worker_id_slot(slot);
    let store: Mutex<Box<dyn Store>> = Mutex::new(lrctl_store::open(location)?);
    let mut checked: HashMap<StudyId, Result<(), String>> = HashMap::new();
    loop {
        if cfg.cancel.load(Ordering::Relaxed) {
            return Ok(());
        }
        let claimed = store
            .lock()
            .expect("not poisoned")
            .claim(study, &worker_id, cfg.lease)?;
        let Some(cell) = claimed else {
            let Some(poll) = cfg.follow else {
                return Ok(());
            };
            wait(poll, &cfg.cancel);
            continue;
        };
        // The guard must be dropped before the refusal below locks the store again.
        let verdict = compatible(
            &cell,
            store.lock().expect("not poisoned").as_mut(),
            &mut checked,
        );
        if let Err(why) = verdict {
            // Put it back for a worker of the right build, and stop: every cell would fail alike.
            store.lock().expect("not poisoned").release(&cell.lease)?;
            anyhow::bail!(why);
        }
        if let Err(why) = prepared(cache, &cell.task_config, &cfg.dirs) {
            // Missing data on this machine is not the cell's fault: leave it to another worker.
            store.lock().expect("not poisoned").release(&cell.lease)?;
            anyhow::bail!("{} · {}: {why}", cell.task, cell.method);
        }
        bar.set_message(format!(
            "{} · {} · seed {}",
            cell.task, cell.method, cell.seed
        ));
        let lease = Mutex::new(cell.lease.clone());
        match run_cell(&cell, cfg, cache, &store, &lease) {
            CellRun::Deferred => {
                // An `auto` cell whose reference cells are queued: train those first.
                let lease = lease.into_inner().expect("not poisoned");
                store.lock().expect("not poisoned").release(&lease)?;
                wait(Duration::from_millis(100), &cfg.cancel);
            }
            CellRun::Done(result, curve) => {
                let lease = lease.into_inner().expect("not poisoned");
                let mut s = store.lock().expect("not poisoned");
                let provenance = s.put_provenance(&provenance(&cell.config_hash))?;
                let result = CellResult {
                    provenance,
                    ..*result
                };
                s.finish(&lease, &result, &curve).with_context(|| {
                    format!(
                        "recording {} · {} · seed {}",
                        cell.task, cell.method, cell.seed
                    )
                })?;
                if cfg.log_cells {
                    eprintln!(
                        "{worker_id}: cell {} {} · {} · seed {}: {} in {:.1} s",
                        cell.lease.cell,
                        cell.task,
                        cell.method,
                        cell.seed,
                        result.outcome.as_str(),
                        result.seconds
                    );
                }
                ran.fetch_add(1, Ordering::Relaxed);
                bar.inc(1);
            }
            CellRun::Cancelled => {
                // Cancelled: the cell goes back to the queue, nothing half-written.
                let lease = lease.into_inner().expect("not poisoned");
                store.lock().expect("not poisoned").release(&lease)?;
                return Ok(());
            }
        }
    }
}

/// How running a claimed cell ended.
enum CellRun {
    /// With a result to record (finished, diverged or failed).
    Done(Box<CellResult>, Vec<CurvePointRow>),
    /// Cancelled: nothing to record.
    Cancelled,
    /// Not yet: it depends on cells still queued.
    Deferred,
}

impl From<(CellResult, Vec<CurvePointRow>)> for CellRun {
    fn from((r, c): (CellResult, Vec<CurvePointRow>)) -> Self {
        CellRun::Done(Box::new(r), c)
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
                Some(s) => crate::spec::check_submitter(&s.name, &s.spec_json),
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
    let method: MethodSpec = serde_json::from_str(&cell.method_config).map_err(|e| {
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

/// Trains one claimed cell; `None` when cancelled. Failures become `failed` results.
fn run_cell(
    cell: &ClaimedCell,
    cfg: &RunConfig,
    cache: &TaskCache,
    store: &Mutex<Box<dyn Store>>,
    lease: &Mutex<Lease>,
) -> CellRun {
    let task = match prepared(cache, &cell.task_config, &cfg.dirs) {
        Ok(t) => t,
        Err(reason) => return failed(reason).into(),
    };
    let method: MethodSpec = match serde_json::from_str(&cell.method_config) {
        Ok(m) => m,
        Err(e) => {
            return failed(format!("stored method configuration is unreadable: {e}")).into();
        }
    };
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
    let beat = || heartbeat(0, 0);
    // A selection method (race, auto) first chooses the method to train.
    let ctx = crate::selection::Context {
        store,
        study: cell.study,
        beat: &beat,
        cancel: &cfg.cancel,
    };
    let selected = match std::panic::catch_unwind(AssertUnwindSafe(|| {
        crate::selection::resolve(task.as_ref(), &method, cell.seed, &cache.selection, &ctx)
    })) {
        Ok(Ok(s)) => s,
        Ok(Err(crate::selection::NotYet::Deferred)) => return CellRun::Deferred,
        Ok(Err(crate::selection::NotYet::Cancelled)) => return CellRun::Cancelled,
        Ok(Err(crate::selection::NotYet::Failed(e))) => return failed(e).into(),
        Err(_) => return failed("selection panicked".into()).into(),
    };
    let (selected, continuation) = match selected {
        Some((s, c)) => (Some(s), c),
        None => (None, None),
    };
    let method = selected.as_ref().map_or(method, |s| s.method.clone());
    // A tuned method first tunes itself on the task (once per process; trials stored).
    let tuned = match std::panic::catch_unwind(AssertUnwindSafe(|| {
        crate::tuned::resolve(
            task.as_ref(),
            &method,
            store,
            &cache.tuning,
            &cfg.cancel,
            &beat,
        )
    })) {
        Ok(Ok(t)) => t,
        Ok(Err(e)) if e == "cancelled" => return CellRun::Cancelled,
        Ok(Err(e)) => return failed(e).into(),
        Err(_) => return failed("tuning panicked".into()).into(),
    };
    let method = tuned.as_ref().map_or(method, |t| t.method.clone());
    let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
        lrctl_engine::with_threads(1, || {
            let options = RunOptions {
                seed: cell.seed,
                steps: None,
                progress: Some(&heartbeat),
                cancel: Some(&cfg.cancel),
                eval_limit: None,
            };
            match continuation {
                // A race's winner: its paused run goes on to the end.
                Some(mut run) => {
                    let mut workload = task
                        .instantiate(cell.seed, &lrctl_tasks::default_device())
                        .map_err(|e| format!("building the model: {e}"))?;
                    run.run.load_into(workload.as_mut());
                    let end = run.run.horizon();
                    if run.advance_to(workload.as_mut(), end, &options).is_err() {
                        return Ok(None);
                    }
                    Ok(Some(run.finish(workload.as_mut())))
                }
                None => train_cell(task.as_ref(), &method, &options),
            }
        })
    }));
    match outcome {
        Ok(Ok(Some(r))) => {
            let (mut result, curve) = to_store(task.spec(), &r);
            if let Some(s) = &selected {
                charge(&mut result, "selection", s.steps, s.seconds, s);
            }
            if let Some(t) = &tuned {
                charge(&mut result, "tuning", t.steps, t.seconds, t);
            }
            CellRun::Done(Box::new(result), curve)
        }
        Ok(Ok(None)) => CellRun::Cancelled,
        Ok(Err(reason)) => failed(reason).into(),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            failed(format!("the run panicked: {msg}")).into()
        }
    }
}

/// Builds the seeded model and the method's optimizer and controller, and trains one cell on
/// the current thread pool. `Ok(None)` when cancelled; `Err` when the model or method cannot
/// be built.
pub fn train_cell(
    task: &dyn Task,
    method: &MethodSpec,
    options: &RunOptions<'_>,
) -> Result<Option<RunResult>, String> {
    let device = lrctl_tasks::default_device();
    let mut workload = task
        .instantiate(options.seed, &device)
        .map_err(|e| format!("building the model: {e}"))?;
    let (mut opt, mut ctl) = method
        .build(workload.n_params())
        .map_err(|e| e.to_string())?;
    Ok(lrctl_engine::train(
        workload.as_mut(),
        task.spec(),
        opt.as_mut(),
        ctl.as_mut(),
        options,
    ))
}

/// Adds what choosing the trained method cost (tuning, a race) to the cell's bill, and what
/// was chosen to its result JSON under `what`.
fn charge(
    result: &mut CellResult,
    what: &str,
    steps: u64,
    seconds: f64,
    info: &impl serde::Serialize,
) {
    result.cost_steps += steps;
    result.cost_seconds += seconds;
    let mut json: serde_json::Value =
        serde_json::from_str(&result.result_json).expect("the result is JSON");
    json[what] = serde_json::to_value(info).expect("the choice serialises");
    result.result_json = json.to_string();
}

fn failed(reason: String) -> (CellResult, Vec<CurvePointRow>) {
    let result = CellResult {
        outcome: Outcome::Failed,
        reason: Some(reason),
        steps: 0,
        total_steps: 0,
        n_params: 0,
        final_train_loss: None,
        last_batch_loss: None,
        train_loss: None,
        train_metric: None,
        validation_loss: None,
        validation_metric: None,
        test_loss: None,
        test_metric: None,
        metric_name: None,
        seconds: 0.0,
        eval_seconds: 0.0,
        cost_steps: 0,
        cost_seconds: 0.0,
        result_json: "{}".into(),
        provenance: lrctl_store::ProvenanceId(0),
    };
    (result, Vec::new())
}

/// Converts an engine result into the store's record and curve rows.
pub fn to_store(task: &TaskSpec, r: &RunResult) -> (CellResult, Vec<CurvePointRow>) {
    let metric = |m: &Option<lrctl_tasks::Metrics>| m.as_ref().and_then(lrctl_engine::task_metric);
    let loss = |m: &Option<lrctl_tasks::Metrics>| m.as_ref().map(|m| m.loss);
    let mut summary = r.clone();
    summary.curve.clear();
    let result = CellResult {
        outcome: match r.outcome {
            lrctl_engine::Outcome::Finished => Outcome::Finished,
            lrctl_engine::Outcome::Diverged => Outcome::Diverged,
            lrctl_engine::Outcome::Failed => Outcome::Failed,
        },
        reason: r.reason.clone(),
        steps: r.steps,
        total_steps: r.total_steps,
        n_params: r.n_params as u64,
        final_train_loss: r.final_train_loss,
        last_batch_loss: Some(r.last_batch_loss),
        train_loss: loss(&r.train),
        train_metric: metric(&r.train),
        validation_loss: loss(&r.validation),
        validation_metric: metric(&r.validation),
        test_loss: loss(&r.test),
        test_metric: metric(&r.test),
        metric_name: Some(task.primary_metric().0.to_string()),
        seconds: r.seconds,
        eval_seconds: r.eval_seconds,
        cost_steps: r.steps,
        cost_seconds: r.seconds,
        result_json: serde_json::to_string(&summary).expect("result serialises"),
        provenance: lrctl_store::ProvenanceId(0),
    };
    let curve = r
        .curve
        .iter()
        .map(|p| CurvePointRow {
            step: p.step,
            epoch: p.epoch,
            train_loss: p.train_loss,
            lr: p.lr,
            effective_lr: p.effective_lr,
            grad_norm: p.grad_norm,
            wall_seconds: p.wall_seconds,
            eval_loss: p.eval.map(|m| m.loss),
            eval_metric: p.eval.as_ref().and_then(lrctl_engine::task_metric),
        })
        .collect();
    (result, curve)
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
