//! The pausable [`Run`]: pausing, reporting and continuing (on a freshly built model) is exact,
//! a horizon longer than the run is what the controller sees, a cancelled advance leaves the
//! run intact, and a copied checkpoint branches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use lrctl_control::{Controller, ControllerSpec, Observation};
use lrctl_data::DataDirs;
use lrctl_engine::{Cancelled, Checkpoint, CurvePoint, Outcome, Run, RunOptions, RunResult};
use lrctl_method::MethodSpec;
use lrctl_tasks::{Task, Workload};

fn prepare(name: &str) -> Arc<dyn Task> {
    let spec = lrctl_tasks::registry::find(name).unwrap();
    lrctl_tasks::prepare(&spec, &DataDirs::default()).unwrap()
}

fn method(name: &str) -> MethodSpec {
    lrctl_method::find(name).unwrap()
}

/// A fresh model of `task` and a fresh checkpoint of `method` on it, horizon `horizon`.
fn start(task: &dyn Task, method: &MethodSpec, horizon: u64) -> (Box<dyn Workload>, Checkpoint) {
    let device = lrctl_tasks::default_device();
    let workload = task.instantiate(5, &device).unwrap();
    let (opt, ctl) = method.build(workload.n_params()).unwrap();
    let options = RunOptions {
        seed: 5,
        steps: Some(horizon),
        ..Default::default()
    };
    let run = Checkpoint::new(workload.as_ref(), task.spec(), opt, ctl, &options);
    (workload, run)
}

fn options() -> RunOptions<'static> {
    RunOptions {
        seed: 5,
        ..Default::default()
    }
}

/// Everything of a result but wall-clock times, as bits.
fn key(r: &RunResult) -> String {
    let mut r = r.clone();
    r.seconds = 0.0;
    r.eval_seconds = 0.0;
    for p in &mut r.curve {
        p.wall_seconds = 0.0;
    }
    let bits = |p: &CurvePoint| {
        format!(
            "{} {:x} {:x} {:x} {:x}",
            p.step,
            p.train_loss.to_bits(),
            p.lr.to_bits(),
            p.effective_lr.to_bits(),
            p.grad_norm.to_bits()
        )
    };
    let curve: Vec<String> = r.curve.iter().map(bits).collect();
    format!(
        "{:?} {} {:x} {:?} {:?} {:?} {curve:?}",
        r.outcome,
        r.steps,
        r.last_batch_loss.to_bits(),
        r.final_train_loss.map(f64::to_bits),
        r.validation,
        r.test
    )
}

#[test]
fn pausing_reporting_and_continuing_on_a_new_model_is_exact() {
    let task = prepare("logreg/iris");
    // A schedule over the horizon, Schedule-Free (evaluates at another point), a controller
    // that reads evaluations, and a wrapped optimizer.
    for name in [
        "adamw-cosine",
        "schedulefree-adamw",
        "plateau-adamw",
        "mechanic-adamw",
    ] {
        let m = method(name);
        let (mut w, mut whole) = start(task.as_ref(), &m, 60);
        whole.advance_to(w.as_mut(), 60, &options()).unwrap();
        let whole = whole.finish(w.as_mut());

        // The same horizon cut short at 25 steps.
        let (mut w, mut short) = start(task.as_ref(), &m, 60);
        short.advance_to(w.as_mut(), 25, &options()).unwrap();
        let short = short.result(w.as_mut());
        assert_eq!(short.steps, 25);
        assert_eq!(short.total_steps, 25);
        assert_eq!(
            short.curve.last().unwrap().step,
            25,
            "{name}: a point at the end"
        );

        let (mut w, mut paused) = start(task.as_ref(), &m, 60);
        paused.advance_to(w.as_mut(), 7, &options()).unwrap();
        let at7 = paused.result(w.as_mut());
        assert_eq!((at7.steps, at7.outcome), (7, Outcome::Finished));
        assert!(at7.validation.is_some());
        // Continue on a freshly built model: the run carries the parameters.
        drop(w);
        let device = lrctl_tasks::default_device();
        let mut w = task.instantiate(5, &device).unwrap();
        paused.run.load_into(w.as_mut());
        // An evaluation outside the task's cadence (the Python environment's) changes nothing.
        let v = paused
            .run
            .evaluate(
                w.as_mut(),
                paused.optimizer.as_mut(),
                lrctl_tasks::Split::Validation,
                Some(8),
            )
            .unwrap();
        assert_eq!(v.examples, 8);
        paused.advance_to(w.as_mut(), 25, &options()).unwrap();
        assert_eq!(key(&paused.result(w.as_mut())), key(&short), "{name} at 25");
        paused.advance_to(w.as_mut(), 60, &options()).unwrap();
        assert_eq!(paused.run.steps(), 60);
        assert_eq!(key(&paused.finish(w.as_mut())), key(&whole), "{name} at 60");
    }
}

#[test]
fn train_is_a_run_advanced_to_its_horizon() {
    let task = prepare("logreg/iris");
    let m = method("adamw-cosine");
    let device = lrctl_tasks::default_device();
    let mut w = task.instantiate(5, &device).unwrap();
    let (mut opt, mut ctl) = m.build(w.n_params()).unwrap();
    let trained = lrctl_engine::train(
        w.as_mut(),
        task.spec(),
        opt.as_mut(),
        ctl.as_mut(),
        &RunOptions {
            seed: 5,
            steps: Some(40),
            ..Default::default()
        },
    )
    .unwrap();
    let (mut w, mut run) = start(task.as_ref(), &m, 40);
    assert_eq!(run.run.horizon(), 40);
    run.advance_to(w.as_mut(), 1000, &options()).unwrap();
    assert_eq!(run.run.steps(), 40, "advancing stops at the horizon");
    assert_eq!(key(&run.finish(w.as_mut())), key(&trained));
}

/// Records every observation's (step, total steps).
struct Recorder(Arc<Mutex<Vec<(u64, u64)>>>);

impl Controller for Recorder {
    fn lr(&mut self, obs: &Observation) -> f64 {
        self.0.lock().unwrap().push((obs.step, obs.total_steps));
        1e-3
    }
}

#[test]
fn the_controller_is_told_the_horizon() {
    let task = prepare("logreg/iris");
    let device = lrctl_tasks::default_device();
    let mut w = task.instantiate(0, &device).unwrap();
    let (mut opt, _) = method("adam-fixed").build(w.n_params()).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut ctl = Recorder(Arc::clone(&seen));
    let mut run = Run::new(w.as_ref(), task.spec(), &options());
    run.set_horizon(90);
    run.advance_to(w.as_mut(), opt.as_mut(), &mut ctl, 12, &options())
        .unwrap();
    let r = run.finish(w.as_mut(), opt.as_mut());
    assert_eq!((r.steps, r.total_steps), (12, 12));
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 12);
    assert!(seen.iter().enumerate().all(|(i, &s)| s == (i as u64, 90)));

    // The cut-short cosine differs from a cosine over the run's own 12 steps.
    let cosine = method("adamw-cosine");
    let lr_at_end = |horizon: u64| {
        let (mut w, mut run) = start(task.as_ref(), &cosine, 12);
        run.run.set_horizon(horizon);
        run.advance_to(w.as_mut(), 12, &options()).unwrap();
        run.finish(w.as_mut()).curve.last().unwrap().lr
    };
    assert!(lr_at_end(12) < 0.1 * lr_at_end(90));
}

#[test]
fn a_cancelled_advance_leaves_the_run_intact() {
    let task = prepare("logreg/iris");
    let m = method("adamw-cosine");
    let (mut w, mut whole) = start(task.as_ref(), &m, 30);
    whole.advance_to(w.as_mut(), 30, &options()).unwrap();
    let whole = whole.finish(w.as_mut());

    let cancel = AtomicBool::new(false);
    let progress = |done: u64, _: u64| {
        if done == 10 {
            cancel.store(true, Ordering::Relaxed);
        }
    };
    let stopping = RunOptions {
        seed: 5,
        progress: Some(&progress),
        cancel: Some(&cancel),
        ..Default::default()
    };
    let (mut w, mut run) = start(task.as_ref(), &m, 30);
    assert_eq!(run.advance_to(w.as_mut(), 30, &stopping), Err(Cancelled));
    assert_eq!(run.run.steps(), 10);
    cancel.store(false, Ordering::Relaxed);
    run.advance_to(w.as_mut(), 30, &options()).unwrap();
    assert_eq!(key(&run.finish(w.as_mut())), key(&whole));
}

#[test]
fn a_copied_checkpoint_branches_and_wsd_decays_branch_off_the_stable_phase() {
    let task = prepare("logreg/iris");
    let m = method("adamw-wsd");
    let ControllerSpec::WarmupStableDecay(wsd) = &m.controller else {
        panic!("adamw-wsd is a warmup-stable-decay method")
    };
    // Restart: a run over 50 steps from scratch, its schedule over its own 50 steps.
    let (mut w, mut fresh) = start(task.as_ref(), &m, 50);
    fresh.advance_to(w.as_mut(), 50, &options()).unwrap();
    let fresh = fresh.finish(w.as_mut());

    // A 20-step run up to its decay, copied there; the original decays over its 20 steps.
    let (mut w, mut trunk) = start(task.as_ref(), &m, 20);
    let branch = wsd.branch_step(20);
    assert_eq!(branch, 16);
    trunk.advance_to(w.as_mut(), branch, &options()).unwrap();
    let mut copy = trunk
        .try_clone()
        .expect("every built-in method can be copied");
    trunk.advance_to(w.as_mut(), 20, &options()).unwrap();
    let short = trunk.finish(w.as_mut());
    assert_eq!(short.steps, 20);

    // The copy continues the stable phase under the longer budget and decays over its tail:
    // the same trajectory as the 50-step run from scratch.
    let device = lrctl_tasks::default_device();
    let mut w = task.instantiate(5, &device).unwrap();
    copy.run.load_into(w.as_mut());
    copy.run.set_horizon(50);
    copy.advance_to(w.as_mut(), 50, &options()).unwrap();
    let branched = copy.finish(w.as_mut());
    assert_eq!(branched.steps, 50);
    assert_eq!(
        branched.last_batch_loss.to_bits(),
        fresh.last_batch_loss.to_bits()
    );
    assert_eq!(branched.validation, fresh.validation);
    assert_eq!(branched.test, fresh.test);
    // The last of its 10 decay steps: a tenth of the stable 1e-3.
    assert!((branched.curve.last().unwrap().lr - 1e-4).abs() < 1e-12);
    assert_ne!(
        short.last_batch_loss.to_bits(),
        branched.last_batch_loss.to_bits()
    );
}
