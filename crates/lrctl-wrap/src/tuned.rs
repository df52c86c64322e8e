//! Tuned methods inside studies (`smac-fixed`, `cawr-tuned`, `bohb-fixed`, or any method with a
//! `[tune]` table): the method tunes itself on the cell's task, then the incumbent trains on the
//! cell's seed, and the cell is charged for both.
//!
//! Tuning depends on the task, the method and the tuning seed, not on the evaluation seed, so it
//! runs once per (task, method, tuning seed): cells of one process share it ([`TuningCache`]),
//! and its trials go to the store as they finish ([`Store::put_trial`]), keyed by
//! [`tuning_key`]. A cell that finds stored trials (another seed's cell, or a killed run)
//! replays them instead of training them again, so a killed tuning run resumes at its first
//! missing trial. Each evaluation cell's `cost_steps`/`cost_seconds` include the whole tuning
//! bill (every trial's steps and seconds), which is what using the method on that task costs.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

use lrctl_method::MethodSpec;
use lrctl_record::Outcome;
use lrctl_store::{Store, TrialRow};
use lrctl_tasks::{Task, TaskSpec};
use lrctl_tune::{Config, TrialHooks, TrialResult};
use serde::{Deserialize, Serialize};

use crate::error::CellError;
use crate::method::Method;
use crate::tune::{TuneSettings, TuneSpec};

/// What tuning produced for one (task, method, tuning seed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tuned {
    /// The method with the incumbent's hyperparameters (plain: its `[tune]` table is gone).
    pub method: MethodSpec,
    /// The incumbent's hyperparameters.
    pub config: Config,
    /// Its tuning score.
    pub score: f64,
    /// Canonical tuner name.
    pub tuner: String,
    /// Trials run (replayed ones included: they were paid for once).
    pub trials: usize,
    /// Optimizer steps over all trials.
    pub steps: u64,
    /// Seconds over all trials (one core each).
    pub seconds: f64,
    /// Trials this process trained (the rest came from the store).
    pub trained_here: usize,
    /// Identifies the tuning run in the store's `trial` table.
    pub tuning_key: String,
}

/// Tuning results shared by the cells of one process, by tuning key.
pub type TuningCache = Mutex<HashMap<String, Arc<OnceLock<Result<Tuned, CellError>>>>>;

/// Identifies a tuning run: SHA-256 over the task, the method (tuner settings and tuning seed
/// included) and the engine version.
pub fn tuning_key(task: &TaskSpec, method: &Method) -> String {
    let json = serde_json::json!({
        "engine": lrctl_engine::ENGINE_VERSION,
        "task": task,
        "method": method,
        "purpose": "tuning",
    });
    crate::sha256_hex(&json.to_string())
}

/// The task a cell of `task` under `method` tunes on, as [`resolve`] does: with width
/// fidelity its narrow copy (a task already at the tuning width tunes itself), else the task;
/// `None` for a method without a `[tune]` table or a width fidelity the task refuses.
pub fn tuning_task(task: &TaskSpec, method: &Method) -> Option<TaskSpec> {
    let spec = method.tune()?;
    Some(match spec.width_from {
        Some(from) => match crate::width::tuning_width(task, from).ok()? {
            Some(width) => task.at_width(width),
            None => task.clone(),
        },
        None => task.clone(),
    })
}

/// The tuning key of a cell of `task` under `method`, as [`resolve`] computes it (the key of
/// [`tuning_task`]); `None` where that is `None`.
pub fn cell_tuning_key(task: &TaskSpec, method: &Method) -> Option<String> {
    tuning_task(task, method).map(|on| tuning_key(&on, method))
}

/// Whether this process is tuning under `key` right now (a cell announced or started it and it
/// has not finished): another cell needing it would wait.
pub fn tuning_in_progress(cache: &TuningCache, key: &str) -> bool {
    let map = cache.lock().expect("not poisoned");
    map.get(key).is_some_and(|cell| cell.get().is_none())
}

/// Marks `key` as tuned by this process from now on — a cell that will tune it has been
/// claimed — so [`tuning_in_progress`] says so before the tuning itself starts. [`resolve`]
/// then tunes in the same entry.
pub fn announce_tuning(cache: &TuningCache, key: &str) {
    let mut map = cache.lock().expect("not poisoned");
    map.entry(key.to_string()).or_default();
}

/// The steps of `task`'s full run (its budget resolved against its training split).
pub fn task_steps(task: &dyn Task) -> u64 {
    let n = task.summary().train;
    task.spec()
        .budget
        .steps(n, task.spec().batch_size.min(n).max(1))
}

/// Tunes `method` on `task` (once per process and key; see the module docs), with its trials
/// stored in and replayed from `store`. `Ok(None)` when the method has no `[tune]` table;
/// [`CellError::Cancelled`] when cancelled (the next attempt resumes from the stored trials).
/// `on_trial` is called after every trial, `while_training` as trials train (a worker's lease
/// heartbeat: one trial of a large task can outlast the lease).
pub fn resolve(
    task: &dyn Task,
    method: &Method,
    store: &Mutex<Box<dyn Store>>,
    cache: &TuningCache,
    cancel: &AtomicBool,
    on_trial: &(dyn Fn() + Sync),
    while_training: &(dyn Fn() + Sync),
) -> Result<Option<Tuned>, CellError> {
    let Some(spec) = method.tune() else {
        return Ok(None);
    };
    // Width fidelity: tune on a narrower copy of the task, keyed by it (the rung already at
    // the tuning width tunes itself).
    let proxy = match spec.width_from {
        Some(from) => {
            let fail = |e: &dyn std::fmt::Display| CellError::failed("tuning along width", e);
            match crate::width::tuning_width(task.spec(), from).map_err(|e| fail(&e))? {
                Some(width) => Some(task.at_width(width).map_err(|e| fail(&e))?),
                None => None,
            }
        }
        None => None,
    };
    let task = proxy.as_deref().unwrap_or(task);
    let key = tuning_key(task.spec(), method);
    let cell = {
        let mut map = cache.lock().expect("not poisoned");
        Arc::clone(map.entry(key.clone()).or_default())
    };
    let result = cell
        .get_or_init(|| {
            let watch = Watch {
                cancel,
                on_trial,
                while_training,
            };
            tune_stored(task, &method.spec, spec, &key, store, &watch)
        })
        .clone();
    if result == Err(CellError::Cancelled) {
        // Do not keep a cancelled run: the next attempt resumes from the stored trials.
        cache.lock().expect("not poisoned").remove(&key);
    }
    result.map(Some)
}

/// What a tuning run answers to: cancellation, and the callbacks of [`resolve`].
struct Watch<'a> {
    cancel: &'a AtomicBool,
    on_trial: &'a (dyn Fn() + Sync),
    while_training: &'a (dyn Fn() + Sync),
}

fn tune_stored(
    task: &dyn Task,
    method: &MethodSpec,
    spec: &TuneSpec,
    key: &str,
    store: &Mutex<Box<dyn Store>>,
    watch: &Watch<'_>,
) -> Result<Tuned, CellError> {
    let Watch {
        cancel,
        on_trial,
        while_training,
    } = *watch;
    let context = format!("tuning {}", method.name);
    let err = |e: &dyn std::fmt::Display| CellError::failed(&context, e);
    let fidelity = spec.fidelity(task_steps(task)).map_err(|e| err(&e))?;
    let space = spec.space(method).map_err(|e| err(&e))?;
    let settings = TuneSettings {
        trials: spec.trials,
        seed: spec.seed,
        scoring: spec.scoring,
        jobs: 1,
        batch: spec.batch,
        ..TuneSettings::new(&spec.tuner, fidelity)
    };
    let known =
        stored_trials(store.lock().expect("not poisoned").as_mut(), key).map_err(|e| err(&e))?;
    let persist_error: Mutex<Option<String>> = Mutex::new(None);
    let persist = |t: &TrialResult, _: Option<&lrctl_tune::Incumbent>| {
        on_trial();
        if known.contains_key(&t.id) {
            return;
        }
        if let Err(e) = store_trial(store.lock().expect("not poisoned").as_mut(), key, t) {
            *persist_error.lock().expect("not poisoned") = Some(e.to_string());
        }
    };
    let beat = |_: u64, _: u64| while_training();
    let hooks = TrialHooks {
        on_trial: Some(&persist),
        cancel: Some(cancel),
        known: Some(&known),
        progress: Some(&beat),
        ..TrialHooks::default()
    };
    // One job: the cell holds one core, and each trial trains single-threaded.
    let report = crate::tune::tune(task, method, &space, &settings, &hooks).map_err(|e| err(&e))?;
    if let Some(e) = persist_error.into_inner().expect("not poisoned") {
        return Err(err(&format!("storing a trial: {e}")));
    }
    if report.cancelled {
        return Err(CellError::Cancelled);
    }
    let (Some(inc), Some(tuned)) = (report.incumbent, report.tuned) else {
        return Err(err(&"no trial finished at any budget"));
    };
    let trained_here = report
        .trials
        .iter()
        .filter(|t| !known.contains_key(&t.id))
        .count();
    Ok(Tuned {
        method: tuned,
        config: inc.config,
        score: inc.score,
        tuner: report.tuner,
        trials: report.cost.trials,
        steps: report.cost.steps,
        seconds: report.cost.seconds,
        trained_here,
        tuning_key: key.to_string(),
    })
}

/// The trials of tuning run `key` already in the store, by id, as the driver replays them
/// ([`lrctl_tune::TrialHooks::known`]).
pub fn stored_trials(
    store: &mut dyn Store,
    key: &str,
) -> Result<HashMap<u64, TrialResult>, lrctl_store::StoreError> {
    Ok(store
        .trials(key)?
        .iter()
        .filter_map(|t| {
            let config: Config = serde_json::from_str(&t.config_json).ok()?;
            Some((t.trial, from_row(t, config)))
        })
        .collect())
}

/// Stores a told trial of tuning run `key`, so that a killed run resumes after it.
pub fn store_trial(
    store: &mut dyn Store,
    key: &str,
    t: &TrialResult,
) -> Result<(), lrctl_store::StoreError> {
    let row = TrialRow {
        tuning_key: key.to_string(),
        trial: t.id,
        config_json: serde_json::to_string(&t.config).expect("config serialises"),
        budget: t.budget,
        score: Some(t.score).filter(|s| s.is_finite()),
        outcome: t.outcome,
        steps: t.steps,
        seconds: t.seconds,
    };
    store.put_trial(&row).map(|_| ())
}

/// A stored trial as the driver reports it (bracket and rung come back from the tuner's
/// identical request; only what the store keeps is compared).
fn from_row(t: &TrialRow, config: Config) -> TrialResult {
    let score = t.score.unwrap_or(f64::INFINITY);
    TrialResult {
        id: t.trial,
        config,
        budget: t.budget,
        bracket: 0,
        rung: 0,
        parent: None,
        score,
        objective: (t.outcome == Outcome::Finished).then_some(score),
        outcome: t.outcome,
        reason: None,
        steps: t.steps,
        seconds: t.seconds,
    }
}
