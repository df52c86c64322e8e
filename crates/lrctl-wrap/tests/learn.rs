//! Learned methods in studies: the policy a cell uses was meta-trained without the cell's task
//! (a spy on every task records what meta-training touched), once per fold, and a killed fold
//! resumes from the generations in the store.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use lrctl_store::{SqliteStore, Store};
use lrctl_tasks::{DataSummary, Task, TaskError, TaskSpec, Workload};
use lrctl_wrap::{CellError, Method, ReferenceSet, References};

/// A task that records its name whenever a model is built from it: every training run, of
/// meta-training or of the cell, instantiates its task once.
struct Spy {
    inner: Arc<dyn Task>,
    log: Arc<Mutex<Vec<String>>>,
}

impl Task for Spy {
    fn spec(&self) -> &TaskSpec {
        self.inner.spec()
    }
    fn summary(&self) -> DataSummary {
        self.inner.summary()
    }
    fn instantiate(
        &self,
        seed: u64,
        device: &lrctl_tasks::Device,
    ) -> Result<Box<dyn Workload>, TaskError> {
        self.log.lock().unwrap().push(self.spec().name.clone());
        self.inner.instantiate(seed, device)
    }
}

/// A study of the given tasks, each behind a spy; it has no results (a learned method needs
/// none).
struct Study {
    tasks: Vec<Arc<dyn Task>>,
}

impl References for Study {
    fn references(&self, _: &str) -> Result<Option<ReferenceSet>, CellError> {
        Err(CellError::Failed(
            "a learned method asks for no results".into(),
        ))
    }
    fn study_tasks(&self) -> Result<Vec<Arc<dyn Task>>, CellError> {
        Ok(self.tasks.clone())
    }
}

fn task(name: &str) -> Arc<dyn Task> {
    let mut spec = lrctl_tasks::registry::find(name).unwrap();
    spec.budget = lrctl_tasks::Budget::Steps(20);
    lrctl_tasks::prepare(&spec, &lrctl_data::DataDirs::new(None)).unwrap()
}

/// `names` as tasks behind spies writing to `log`.
fn spied(names: &[&str], log: &Arc<Mutex<Vec<String>>>) -> Vec<Arc<dyn Task>> {
    names
        .iter()
        .map(|n| {
            Arc::new(Spy {
                inner: task(n),
                log: Arc::clone(log),
            }) as Arc<dyn Task>
        })
        .collect()
}

const TASKS: [&str; 3] = ["logreg/iris", "logreg/wine-quality", "logreg/breast-cancer"];

/// learned-loto with a tiny budget: 3 generations, the first two at half of each budget.
fn method() -> Method {
    let mut m = lrctl_wrap::find("learned-loto").unwrap();
    let Some(lrctl_wrap::Wrapper::Learn(l)) = m.wrapper.as_mut() else {
        panic!("learned-loto is learned")
    };
    l.generations = 3;
    l.full_generations = 1;
    l.fidelity = 0.5;
    l.interval = 5;
    m
}

fn store(dir: &tempfile::TempDir, name: &str) -> Mutex<Box<dyn Store>> {
    Mutex::new(Box::new(SqliteStore::open(&dir.path().join(name)).unwrap()))
}

#[test]
fn a_cell_trains_a_policy_meta_trained_only_on_the_other_tasks() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let tasks = spied(&TASKS, &log);
    let study = Study {
        tasks: tasks.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "spy.db");
    let caches = lrctl_wrap::Caches::default();
    let cancel = AtomicBool::new(false);
    let ctx = lrctl_wrap::CellContext {
        store: &s,
        references: &study,
        caches: &caches,
        cancel: &cancel,
        progress: &|_, _| {},
        curve: None,
    };
    // The cell's own task: iris. Its run is the only time the spy may see it.
    let held = &tasks[0];
    let cell = lrctl_wrap::cell::train(held.as_ref(), &method(), 7, &ctx).unwrap();
    let seen = log.lock().unwrap().clone();
    let learned = cell.learned.as_ref().expect("a learned method learns");
    assert_eq!(learned.held_out, "logreg/iris");
    assert_eq!(
        learned.trained_on,
        ["logreg/breast-cancer", "logreg/wine-quality"]
    );
    assert_eq!(
        seen.iter().filter(|n| *n == "logreg/iris").count(),
        1,
        "meta-training never built the held-out task; only the cell's own run did"
    );
    assert_eq!(
        seen.last().unwrap(),
        "logreg/iris",
        "the cell's run came last"
    );
    for other in ["logreg/wine-quality", "logreg/breast-cancer"] {
        assert!(seen.iter().any(|n| n == other), "{other} never trained");
    }
    // The cell trained the base steered by the fold's policy, and pays a third of the fold.
    assert!(matches!(
        learned.method.controller,
        lrctl_control::ControllerSpec::Learned(_)
    ));
    assert_eq!(learned.amortised_over, 3);
    assert_eq!(
        learned.steps,
        (learned.cost_steps as f64 / 3.0).round() as u64
    );
    let (result, _) = cell.clone().into_store(held.spec());
    assert_eq!(result.cost_steps, result.steps + learned.steps);
    let json: serde_json::Value = serde_json::from_str(&result.result_json).unwrap();
    assert_eq!(json["learning"]["held_out"], "logreg/iris");
    // Every generation is in the store under the fold's key.
    let rows = s.lock().unwrap().trials(&learned.learn_key).unwrap();
    assert_eq!(rows.len(), 3);

    // A second seed's cell reuses the fold: nothing but its own run trains.
    log.lock().unwrap().clear();
    let again = lrctl_wrap::cell::train(held.as_ref(), &method(), 8, &ctx).unwrap();
    assert_eq!(*log.lock().unwrap(), ["logreg/iris"]);
    assert_eq!(again.learned.unwrap().method, learned.method);
}

#[test]
fn a_killed_fold_resumes_from_its_stored_generations() {
    let tasks: Vec<Arc<dyn Task>> = TASKS.iter().map(|n| task(n)).collect();
    let study = Study {
        tasks: tasks.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let fold = |s: &Mutex<Box<dyn Store>>, stop_after: Option<usize>| {
        let cancel = AtomicBool::new(false);
        let runs = AtomicUsize::new(0);
        let beat = || {
            if stop_after.is_some_and(|n| runs.fetch_add(1, Ordering::SeqCst) + 1 >= n) {
                cancel.store(true, Ordering::SeqCst);
            }
        };
        let cache = lrctl_wrap::learn::LearnCache::default();
        let ctx = lrctl_wrap::learn::Context {
            references: &study,
            store: s,
            cache: &cache,
            cancel: &cancel,
            beat: &beat,
        };
        lrctl_wrap::learn::resolve(tasks[1].as_ref(), &method(), &ctx)
    };
    let whole = fold(&store(&dir, "whole.db"), None).unwrap().unwrap();
    assert_eq!(whole.trained_here, 3);
    assert_eq!(whole.held_out, "logreg/wine-quality");

    let s = store(&dir, "killed.db");
    // Stopped in the second generation (its first generation's runs number about 30).
    assert_eq!(fold(&s, Some(40)).unwrap_err(), CellError::Cancelled);
    let stored = s.lock().unwrap().trials(&whole.learn_key).unwrap().len();
    assert!((1..3).contains(&stored), "{stored} generations stored");
    let resumed = fold(&s, None).unwrap().unwrap();
    assert_eq!(resumed.trained_here, 3 - stored as u64);
    // The same policy and bill in steps: the stored state is the whole evolver.
    assert_eq!(resumed.method, whole.method);
    assert_eq!(resumed.cost_steps, whole.cost_steps);
    assert_eq!(s.lock().unwrap().trials(&whole.learn_key).unwrap().len(), 3);
}

#[test]
fn a_study_too_small_for_leave_one_task_out_fails_the_cell_with_why() {
    let tasks: Vec<Arc<dyn Task>> = TASKS[..2].iter().map(|n| task(n)).collect();
    let study = Study {
        tasks: tasks.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "small.db");
    let cache = lrctl_wrap::learn::LearnCache::default();
    let ctx = lrctl_wrap::learn::Context {
        references: &study,
        store: &s,
        cache: &cache,
        cancel: &AtomicBool::new(false),
        beat: &|| {},
    };
    let e = lrctl_wrap::learn::resolve(tasks[0].as_ref(), &method(), &ctx).unwrap_err();
    assert!(e.to_string().contains("at least 3 tasks"), "{e}");
}

/// A study one of whose tasks has no data on this machine.
struct MissingHere;

impl References for MissingHere {
    fn references(&self, _: &str) -> Result<Option<ReferenceSet>, CellError> {
        Ok(None)
    }
    fn study_tasks(&self) -> Result<Vec<Arc<dyn Task>>, CellError> {
        Err(CellError::Unavailable("libsvm/a9a: data missing".into()))
    }
}

#[test]
fn a_fold_whose_tasks_are_missing_here_leaves_the_cell_to_another_worker() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "missing.db");
    let cache = lrctl_wrap::learn::LearnCache::default();
    let ctx = lrctl_wrap::learn::Context {
        references: &MissingHere,
        store: &s,
        cache: &cache,
        cancel: &AtomicBool::new(false),
        beat: &|| {},
    };
    let e = lrctl_wrap::learn::resolve(task(TASKS[0]).as_ref(), &method(), &ctx).unwrap_err();
    assert!(matches!(e, CellError::Unavailable(_)), "{e:?}");
}

/// With `folds = 2` over four tasks, iris's fold-mate is held out too: meta-training builds
/// neither, the cell records its fold-mate, and the fold-mate's cell reuses the policy.
#[test]
fn cross_task_folds_hold_the_whole_fold_out() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let names = [TASKS[0], TASKS[1], TASKS[2], "mlp/digits"];
    let tasks = spied(&names, &log);
    // Dealt by family, then name: breast-cancer, iris, wine-quality, digits → 0, 1, 0, 1.
    let specs: Vec<&TaskSpec> = tasks.iter().map(|t| t.spec()).collect();
    assert_eq!(
        lrctl_wrap::learn::fold_groups(&specs, 2),
        [
            vec!["logreg/breast-cancer", "logreg/wine-quality"],
            vec!["logreg/iris", "mlp/digits"]
        ]
    );
    let study = Study {
        tasks: tasks.clone(),
    };
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "folds.db");
    let caches = lrctl_wrap::Caches::default();
    let cancel = AtomicBool::new(false);
    let ctx = lrctl_wrap::CellContext {
        store: &s,
        references: &study,
        caches: &caches,
        cancel: &cancel,
        progress: &|_, _| {},
        curve: None,
    };
    let mut m = method();
    let Some(lrctl_wrap::Wrapper::Learn(l)) = m.wrapper.as_mut() else {
        panic!("learned")
    };
    l.folds = Some(2);
    let iris = lrctl_wrap::cell::train(tasks[0].as_ref(), &m, 7, &ctx).unwrap();
    let seen = log.lock().unwrap().clone();
    let learned = iris.learned.as_ref().unwrap();
    assert_eq!(learned.held_out, "logreg/iris");
    assert_eq!(learned.fold_mates, ["mlp/digits"]);
    assert_eq!(
        learned.trained_on,
        ["logreg/breast-cancer", "logreg/wine-quality"]
    );
    assert!(!seen.iter().any(|n| n == "mlp/digits"), "{seen:?}");
    assert_eq!(seen.iter().filter(|n| *n == "logreg/iris").count(), 1);
    // The fold-mate's cell: the same policy, no meta-training.
    log.lock().unwrap().clear();
    let digits = lrctl_wrap::cell::train(tasks[3].as_ref(), &m, 7, &ctx).unwrap();
    assert_eq!(*log.lock().unwrap(), ["mlp/digits"]);
    let mate = digits.learned.unwrap();
    assert_eq!(mate.held_out, "mlp/digits");
    assert_eq!(mate.fold_mates, ["logreg/iris"]);
    assert_eq!(mate.learn_key, learned.learn_key);
    // The other fold trains on iris and digits, never on its own tasks.
    log.lock().unwrap().clear();
    let wine = lrctl_wrap::cell::train(tasks[1].as_ref(), &m, 7, &ctx).unwrap();
    let seen = log.lock().unwrap().clone();
    assert_eq!(
        wine.learned.unwrap().trained_on,
        ["logreg/iris", "mlp/digits"]
    );
    assert!(
        !seen.iter().any(|n| n == "logreg/breast-cancer"),
        "{seen:?}"
    );
}

/// Fewer than 2 folds, or folds that leave fewer than 2 tasks to meta-train on: refused.
#[test]
fn too_few_or_too_many_folds_are_refused_with_why() {
    let mut m = method();
    let Some(lrctl_wrap::Wrapper::Learn(l)) = m.wrapper.as_mut() else {
        panic!("learned")
    };
    l.folds = Some(1);
    assert!(
        l.validate(&m.spec)
            .unwrap_err()
            .to_string()
            .contains("at least 2 folds")
    );
    l.folds = Some(2);
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir, "three.db");
    let cache = lrctl_wrap::learn::LearnCache::default();
    // Three tasks in two folds: the larger fold leaves one task to meta-train on.
    let tasks: Vec<Arc<dyn Task>> = TASKS.iter().map(|n| task(n)).collect();
    let three = Study {
        tasks: tasks.clone(),
    };
    let ctx = lrctl_wrap::learn::Context {
        references: &three,
        store: &s,
        cache: &cache,
        cancel: &AtomicBool::new(false),
        beat: &|| {},
    };
    let e = lrctl_wrap::learn::resolve(tasks[0].as_ref(), &m, &ctx).unwrap_err();
    assert!(e.to_string().contains("fewer than 2"), "{e}");
}
