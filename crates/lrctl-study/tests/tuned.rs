//! Tuned methods inside studies: tuning runs once per (task, tuning seed) with its trials in
//! the store, a killed tuning run resumes from its stored trials, and every evaluation cell is
//! charged the whole tuning bill.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lrctl_store::{SqliteStore, Store};
use lrctl_tasks::Task;
use lrctl_wrap::tuned::{Tuned, TuningCache, resolve, tuning_key};

fn iris() -> Arc<dyn Task> {
    let spec = lrctl_tasks::registry::find("logreg/iris").unwrap();
    lrctl_tasks::prepare(&spec, &lrctl_data::DataDirs::new(None)).unwrap()
}

/// smac-fixed with fewer trials, so the test is quick.
fn smac(trials: usize) -> lrctl_wrap::Method {
    let mut m = lrctl_wrap::find("smac-fixed").unwrap();
    let Some(lrctl_wrap::Wrapper::Tune(t)) = m.wrapper.as_mut() else {
        panic!("smac-fixed is tuned")
    };
    t.trials = Some(trials);
    m
}

fn store(dir: &tempfile::TempDir, name: &str) -> Mutex<Box<dyn Store>> {
    Mutex::new(Box::new(SqliteStore::open(&dir.path().join(name)).unwrap()))
}

fn tune_with(
    task: &dyn Task,
    store: &Mutex<Box<dyn Store>>,
    stop_after: Option<usize>,
) -> Result<Option<Tuned>, lrctl_wrap::CellError> {
    let cancel = AtomicBool::new(false);
    let seen = AtomicUsize::new(0);
    let on_trial = || {
        if stop_after.is_some_and(|n| seen.fetch_add(1, Ordering::SeqCst) + 1 >= n) {
            cancel.store(true, Ordering::SeqCst);
        }
    };
    let cache = TuningCache::default();
    resolve(task, &smac(24), store, &cache, &cancel, &on_trial, &|| {})
}

#[test]
fn a_killed_tuning_run_resumes_from_its_stored_trials() {
    let task = iris();
    let dir = tempfile::tempdir().unwrap();
    let key = tuning_key(task.spec(), &smac(24));

    // Uninterrupted, in its own store: the reference.
    let whole = store(&dir, "whole.db");
    let reference = tune_with(task.as_ref(), &whole, None).unwrap().unwrap();
    assert_eq!(reference.trials, 24);
    assert_eq!(reference.trained_here, 24);
    assert_eq!(whole.lock().unwrap().trials(&key).unwrap().len(), 24);
    assert_eq!(
        reference.method.controller,
        lrctl_method::with_params(&smac(24).spec, &reference.config)
            .unwrap()
            .controller
    );

    // Stopped after 9 trials (as a killed worker would be), then run again.
    let s = store(&dir, "resumed.db");
    assert_eq!(
        tune_with(task.as_ref(), &s, Some(9)).unwrap_err(),
        lrctl_wrap::CellError::Cancelled
    );
    let stored = s.lock().unwrap().trials(&key).unwrap().len();
    assert!((9..24).contains(&stored), "{stored} trials stored");
    let resumed = tune_with(task.as_ref(), &s, None).unwrap().unwrap();
    assert_eq!(
        resumed.trained_here,
        24 - stored,
        "stored trials were not trained again"
    );
    // Same incumbent, same bill: the replay rebuilt the tuner's state exactly.
    assert_eq!(resumed.config, reference.config);
    assert_eq!(resumed.score, reference.score);
    assert_eq!(
        (resumed.trials, resumed.steps),
        (reference.trials, reference.steps)
    );
    assert_eq!(s.lock().unwrap().trials(&key).unwrap().len(), 24);
}

#[test]
fn study_cells_share_one_tuning_run_and_pay_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("study.db").display().to_string();
    let mut file = lrctl_study::StudyFile::default();
    file.tasks.push("logreg/iris".into());
    file.seeds = Some(lrctl_study::Seeds::Count(3));
    file.name = Some("tuned".into());
    let mut study = file.resolve().unwrap();
    study.methods = vec![smac(24), lrctl_wrap::find("adam-fixed").unwrap()];
    let cfg = lrctl_study::RunConfig {
        ..lrctl_study::RunConfig::new(lrctl_data::DataDirs::new(None))
    };
    lrctl_study::run_study(&location, &study, &cfg).unwrap();

    let mut s = lrctl_store::open(&location).unwrap();
    let id = s.study("tuned").unwrap().unwrap().id;
    let cells = s.cells(id, lrctl_store::CellSet::Current).unwrap();
    let key = tuning_key(&study.tasks[0], &study.methods[0]);
    let trials = s.trials(&key).unwrap();
    assert_eq!(trials.len(), 24, "tuned once for the three seeds");
    let tuning_steps: u64 = trials.iter().map(|t| t.steps).sum();
    let tuning_seconds: f64 = trials.iter().map(|t| t.seconds).sum();
    let mut configs = Vec::new();
    for c in &cells {
        let r = c.result.as_ref().unwrap();
        let json: serde_json::Value = serde_json::from_str(&r.result_json).unwrap();
        if c.method == "smac-fixed" {
            assert_eq!(r.cost_steps, r.steps + tuning_steps, "{c:?}");
            assert!((r.cost_seconds - r.seconds - tuning_seconds).abs() < 1e-9);
            assert_eq!(json["tuning"]["trials"], 24);
            configs.push(json["tuning"]["config"].clone());
        } else {
            assert_eq!((r.cost_steps, r.cost_seconds), (r.steps, r.seconds));
            assert!(json.get("tuning").is_none());
        }
    }
    assert_eq!(configs.len(), 3);
    assert!(
        configs.iter().all(|c| *c == configs[0]),
        "one incumbent for every seed"
    );
}

/// The key a worker computes from a cell's stored configuration is the key tuning uses, with
/// and without width fidelity; announcing it marks it in progress until the tuning is done.
#[test]
fn a_cells_tuning_key_is_the_one_its_tuning_uses() {
    use lrctl_wrap::tuned::{announce_tuning, cell_tuning_key, tuning_in_progress};
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "keys.db");
    let task = iris();
    let cache = TuningCache::default();
    let tune = |task: &dyn Task, method: &lrctl_wrap::Method| {
        let cancel = AtomicBool::new(false);
        resolve(task, method, &s, &cache, &cancel, &|| {}, &|| {})
            .unwrap()
            .unwrap()
    };
    let key = cell_tuning_key(task.spec(), &smac(4)).unwrap();
    assert!(!tuning_in_progress(&cache, &key));
    announce_tuning(&cache, &key);
    assert!(tuning_in_progress(&cache, &key));
    let tuned = tune(task.as_ref(), &smac(4));
    assert_eq!(tuned.tuning_key, key);
    assert!(!tuning_in_progress(&cache, &key), "done, not in progress");
    assert_eq!(
        cell_tuning_key(task.spec(), &lrctl_wrap::find("adam-fixed").unwrap()),
        None
    );
    // Width fidelity: the key of the ×1 copy, the one resolve tunes under.
    let spec = lrctl_tasks::registry::find("mlp/digits@w2").unwrap();
    let wide = lrctl_tasks::prepare(&spec, &lrctl_data::DataDirs::new(None)).unwrap();
    let mut w1 = lrctl_wrap::find("smac-fixed-w1").unwrap();
    let Some(lrctl_wrap::Wrapper::Tune(t)) = w1.wrapper.as_mut() else {
        panic!("tuned")
    };
    t.trials = Some(3);
    let key = cell_tuning_key(wide.spec(), &w1).unwrap();
    let narrow = lrctl_tasks::registry::find("mlp/digits").unwrap();
    assert_eq!(key, tuning_key(&narrow, &w1));
    let tuned = tune(wide.as_ref(), &w1);
    assert_eq!(tuned.tuning_key, key);
}

/// Cells started, in order, as (method, seed).
type Started = Vec<(String, u64)>;

/// With two jobs, the slot that claims a tuned method's second seed while the first slot tunes
/// trains another cell meanwhile instead of waiting (the first slot is held at its start until
/// then), and every cell still finishes once. If both slots claimed the tuned cells before
/// either announced its tuning (a window of microseconds), the attempt says nothing and is
/// repeated.
#[test]
fn a_slot_trains_other_cells_while_another_tunes() {
    use lrctl_study::RunEvent;
    use std::sync::Condvar;
    for attempt in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let location = dir.path().join("defer.db").display().to_string();
        let mut file = lrctl_study::StudyFile::default();
        file.tasks.push("logreg/iris".into());
        file.seeds = Some(lrctl_study::Seeds::Count(2));
        file.name = Some("defer".into());
        let mut study = file.resolve().unwrap();
        study.methods = vec![smac(8), lrctl_wrap::find("adam-fixed").unwrap()];
        // Started cells in order, as (method, seed); the first tuned start waits (at most a
        // minute) until another cell starts.
        let started: Arc<(Mutex<Started>, Condvar)> = Arc::default();
        let observer = {
            let started = Arc::clone(&started);
            Arc::new(move |e: &RunEvent| {
                let RunEvent::CellStarted { method, seed, .. } = e else {
                    return;
                };
                let (lock, cvar) = &*started;
                let mut v = lock.lock().unwrap();
                v.push((method.clone(), *seed));
                cvar.notify_all();
                if method == "smac-fixed" && v.iter().filter(|s| s.0 == "smac-fixed").count() == 1 {
                    let _ = cvar
                        .wait_timeout_while(v, std::time::Duration::from_secs(60), |v| v.len() < 2)
                        .unwrap();
                }
            })
        };
        let cfg = lrctl_study::RunConfig {
            jobs: 2,
            observer: Some(observer),
            ..lrctl_study::RunConfig::new(lrctl_data::DataDirs::new(None))
        };
        lrctl_study::run_study(&location, &study, &cfg).unwrap();
        let order = started.0.lock().unwrap().clone();
        assert_eq!(order.len(), 4, "{order:?}");
        let mut s = lrctl_store::open(&location).unwrap();
        let id = s.study("defer").unwrap().unwrap().id;
        for c in s.cells(id, lrctl_store::CellSet::Current).unwrap() {
            assert!(c.result.is_some(), "{c:?}");
        }
        if order[0].0 == "smac-fixed" && order[1].0 == "smac-fixed" && attempt < 2 {
            continue;
        }
        assert_eq!(order[0].0, "smac-fixed", "{order:?}");
        assert_eq!(
            order[1].0, "adam-fixed",
            "the second slot trained another cell while the first tuned: {order:?}"
        );
        return;
    }
}
