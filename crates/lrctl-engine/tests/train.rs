//! Integration tests of the training engine on real (embedded) tasks and built-in methods:
//! determinism, divergence as data, learning, cancellation, Schedule-Free evaluation at the
//! averaged point, effective learning rates, and the engine's batching and observation
//! contracts (on a tiny mock workload).

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use lrctl_control::{Controller, Observation};
use lrctl_data::DataDirs;
use lrctl_engine::{CurvePoint, Outcome, RunOptions, RunResult};
use lrctl_method::MethodSpec;
use lrctl_optim::{Finiteness, Optimizer, StepInfo};
use lrctl_tasks::{Budget, Metrics, Split, Task, TaskSpec, Workload};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn task_spec(name: &str) -> TaskSpec {
    lrctl_tasks::registry::find(name).unwrap()
}

fn prepare(spec: &TaskSpec) -> Arc<dyn Task> {
    lrctl_tasks::prepare(spec, &DataDirs::default()).unwrap()
}

fn method(name: &str) -> MethodSpec {
    lrctl_method::find(name).unwrap()
}

/// A constant-rate method from an inline TOML optimizer table.
fn custom_method(optimizer: &str, lr: f64) -> MethodSpec {
    let text = format!(
        "name = \"test\"\nparadigm = \"fixed\"\n\n[optimizer]\n{optimizer}\n\n\
         [controller]\nkind = \"constant\"\nlr = {lr:e}\n"
    );
    MethodSpec::from_toml(&text, "test method").unwrap()
}

/// One cell, the way `lrctl train` builds it, on one kernel thread.
fn run_with(
    task: &dyn Task,
    method: &MethodSpec,
    seed: u64,
    steps: Option<u64>,
    cancel: Option<&AtomicBool>,
) -> Option<RunResult> {
    lrctl_engine::with_threads(1, || {
        let device = lrctl_tasks::default_device();
        let mut workload = task.instantiate(seed, &device).unwrap();
        let (mut opt, mut ctl) = method.build(workload.n_params()).unwrap();
        let options = RunOptions {
            seed,
            steps,
            progress: None,
            cancel,
            eval_limit: None,
        };
        lrctl_engine::train(
            workload.as_mut(),
            task.spec(),
            opt.as_mut(),
            ctl.as_mut(),
            &options,
        )
    })
}

fn run(task: &dyn Task, method: &MethodSpec, seed: u64, steps: Option<u64>) -> RunResult {
    run_with(task, method, seed, steps, None).expect("not cancelled")
}

/// A curve point without its wall-clock time: (step, epoch, train loss, lr, effective lr,
/// gradient norm) as bits, and the evaluation.
type Key = (u64, u64, u64, u64, u64, u64, Option<Metrics>);

/// The curve without wall-clock times.
fn curve_key(curve: &[CurvePoint]) -> Vec<Key> {
    curve
        .iter()
        .map(|p| {
            (
                p.step,
                p.epoch.to_bits(),
                p.train_loss.to_bits(),
                p.lr.to_bits(),
                p.effective_lr.to_bits(),
                p.grad_norm.to_bits(),
                p.eval,
            )
        })
        .collect()
}

/// The curve without wall-clock times and evaluations: the training trajectory.
fn strip(curve: &[CurvePoint]) -> Vec<Key> {
    curve_key(curve)
        .into_iter()
        .map(|mut k| {
            k.6 = None;
            k
        })
        .collect()
}

fn val_accuracy(r: &RunResult) -> f64 {
    r.validation
        .and_then(|m| m.accuracy)
        .expect("validation accuracy")
}

// ---------------------------------------------------------------------------------------------
// Determinism
// ---------------------------------------------------------------------------------------------

#[test]
fn same_seed_gives_bit_identical_runs() {
    let mut spec = task_spec("mlp/digits");
    spec.curve_points = 20;
    spec.evals = 4;
    let task = prepare(&spec);
    let m = method("adam-fixed");
    let a = run(task.as_ref(), &m, 7, Some(40));
    let b = run(task.as_ref(), &m, 7, Some(40));
    assert_eq!(a.outcome, Outcome::Finished);
    assert_eq!(a.curve.len(), 20);
    assert_eq!(curve_key(&a.curve), curve_key(&b.curve));
    assert_eq!(a.last_batch_loss.to_bits(), b.last_batch_loss.to_bits());
    assert_eq!(a.final_train_loss, b.final_train_loss);
    assert_eq!(a.train, b.train);
    assert_eq!(a.validation, b.validation);
    assert_eq!(a.test, b.test);
    assert_eq!((a.steps, a.total_steps), (40, 40));
    assert_eq!(a.curve.iter().filter(|p| p.eval.is_some()).count(), 4);

    // A different seed changes the initialisation and the shuffles.
    let c = run(task.as_ref(), &m, 8, Some(40));
    assert_eq!(c.outcome, Outcome::Finished);
    let differ = a
        .curve
        .iter()
        .zip(&c.curve)
        .filter(|(x, y)| x.train_loss != y.train_loss)
        .count();
    assert_eq!(differ, a.curve.len(), "seeds 7 and 8 share curve points");
    assert_ne!(a.validation.unwrap().loss, c.validation.unwrap().loss);
}

#[test]
fn schedule_free_run_is_deterministic_too() {
    let mut spec = task_spec("logreg/breast-cancer");
    spec.curve_points = 10;
    let task = prepare(&spec);
    let m = method("schedulefree-adamw");
    let a = run(task.as_ref(), &m, 3, Some(30));
    let b = run(task.as_ref(), &m, 3, Some(30));
    assert_eq!(curve_key(&a.curve), curve_key(&b.curve));
    assert_eq!(a.validation, b.validation);
}

// ---------------------------------------------------------------------------------------------
// Divergence is data
// ---------------------------------------------------------------------------------------------

#[test]
fn absurd_learning_rate_diverges_without_panicking() {
    for name in ["logreg/iris", "mlp/digits"] {
        let task = prepare(&task_spec(name));
        let m = custom_method("kind = \"sgd\"", 1e6);
        let r = run(task.as_ref(), &m, 0, Some(100));
        assert_eq!(r.outcome, Outcome::Diverged, "{name}: {r:?}");
        let reason = r.reason.as_deref().expect("a diverged run says why");
        assert!(!reason.is_empty());
        assert!(r.steps < r.total_steps, "{name}: ran the whole budget");
        assert_eq!(r.total_steps, 100);
        // No final evaluation of a diverged model; the curve so far is kept and finite.
        assert!(r.train.is_none() && r.validation.is_none() && r.test.is_none());
        assert!(r.curve.iter().all(|p| p.step <= r.steps));
        assert!(r.curve.iter().all(|p| p.train_loss.is_finite()));
        println!("{name}: diverged after {} steps: {reason}", r.steps);
    }
}

/// A controller that returns NaN from step 3 on.
struct NanAfter3;
impl Controller for NanAfter3 {
    fn lr(&mut self, obs: &Observation) -> f64 {
        if obs.step >= 3 { f64::NAN } else { 1e-3 }
    }
}

/// An optimizer that writes infinity into the parameters at step 2.
struct InfAtStep2(u64);
impl Optimizer for InfAtStep2 {
    fn name(&self) -> &'static str {
        "inf-at-step-2"
    }
    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        for (p, g) in params.iter_mut().zip(grads) {
            *p -= lr as f32 * g;
        }
        if self.0 == 2 {
            params[0] = f32::INFINITY;
        }
        self.0 += 1;
        StepInfo { effective_lr: lr }
    }
}

#[test]
fn non_finite_learning_rate_or_parameters_end_the_run_as_diverged() {
    let spec = task_spec("logreg/iris");
    let task = prepare(&spec);
    let device = lrctl_tasks::default_device();
    let options = RunOptions {
        steps: Some(20),
        ..Default::default()
    };

    let mut w = task.instantiate(0, &device).unwrap();
    let (mut opt, _) = method("adam-fixed").build(w.n_params()).unwrap();
    let r = lrctl_engine::train(w.as_mut(), &spec, opt.as_mut(), &mut NanAfter3, &options).unwrap();
    assert_eq!(r.outcome, Outcome::Diverged);
    assert_eq!(r.steps, 3);
    assert!(r.reason.unwrap().contains("learning rate"));

    let mut w = task.instantiate(0, &device).unwrap();
    let (_, mut ctl) = method("adam-fixed").build(w.n_params()).unwrap();
    let r = lrctl_engine::train(
        w.as_mut(),
        &spec,
        &mut InfAtStep2(0),
        ctl.as_mut(),
        &options,
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Diverged);
    assert_eq!(r.steps, 2, "steps 0 and 1 completed");
    assert!(r.reason.unwrap().contains("non-finite parameter"));
}

/// A workload whose loss and gradient never change (loss 1, gradient 1 everywhere): the only
/// way it can diverge is through its parameters.
struct Flat(Vec<f32>);
impl Workload for Flat {
    fn n_params(&self) -> usize {
        self.0.len()
    }
    fn n_train(&self) -> usize {
        8
    }
    fn params(&self, out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(&self.0);
    }
    fn set_params(&mut self, flat: &[f32]) {
        self.0.copy_from_slice(flat);
    }
    fn loss_and_grad(&mut self, _batch: &[usize], grad: &mut Vec<f32>) -> f32 {
        grad.clear();
        grad.resize(self.0.len(), 1.0);
        1.0
    }
    fn evaluate(&self, _split: Split, _limit: Option<usize>) -> Option<Metrics> {
        None
    }
}

/// Its base's steps, but it never says whether the parameters are finite (the default), so
/// the engine makes its own pass over them.
struct Unchecked(Box<dyn Optimizer>);
impl Optimizer for Unchecked {
    fn name(&self) -> &'static str {
        "unchecked"
    }
    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        self.0.step(params, grads, lr)
    }
}

#[test]
fn a_fused_finiteness_check_ends_the_run_at_the_same_step_as_the_engines_own() {
    // AdamW at lr 3e37 moves every parameter by about −3e37 per step (`m / sqrt(v)` is 1
    // under a constant gradient), past f32::MAX to −inf after about eleven steps: AdamW's pass
    // checks the new values, the wrapper's engine pass checks the same ones.
    let spec = task_spec("logreg/iris");
    let options = RunOptions {
        steps: Some(20),
        ..Default::default()
    };
    let m = custom_method("kind = \"adamw\"\nweight_decay = 0.0", 3e37);
    // 37 parameters: a partial vector of lanes at the end.
    for n in [1usize, 37] {
        let run = |wrap: bool| {
            let (opt, mut ctl) = m.build(n).unwrap();
            let mut opt = if wrap { Box::new(Unchecked(opt)) } else { opt };
            let r = lrctl_engine::train(
                &mut Flat(vec![0.0; n]),
                &spec,
                opt.as_mut(),
                ctl.as_mut(),
                &options,
            )
            .unwrap();
            (r, opt.finiteness())
        };
        let (fused, said) = run(false);
        let (separate, unsaid) = run(true);
        assert_eq!(said, Finiteness::NonFinite, "AdamW checked in its pass");
        assert_eq!(unsaid, Finiteness::Unchecked);
        assert!((1..20).contains(&fused.steps), "{fused:?}");
        for r in [&fused, &separate] {
            assert_eq!(r.outcome, Outcome::Diverged, "{r:?}");
            assert_eq!(r.steps, fused.steps, "the same step");
            let reason = format!("non-finite parameter after step {}", fused.steps);
            assert_eq!(r.reason.as_deref(), Some(reason.as_str()));
        }
        assert_eq!(strip(&fused.curve), strip(&separate.curve));
    }
    // A finite run is never stopped by the fused check.
    let m = custom_method("kind = \"adamw\"", 1e-3);
    let (mut opt, mut ctl) = m.build(5).unwrap();
    let r = lrctl_engine::train(
        &mut Flat(vec![0.0; 5]),
        &spec,
        opt.as_mut(),
        ctl.as_mut(),
        &options,
    )
    .unwrap();
    assert_eq!(r.outcome, Outcome::Finished, "{r:?}");
    assert_eq!(opt.finiteness(), Finiteness::Finite);
}

/// A controller that cannot decide at step 4 (an external policy that raised).
struct FailsAt4 {
    seen: Vec<Observation>,
}

impl Controller for FailsAt4 {
    fn lr(&mut self, obs: &Observation) -> f64 {
        self.seen.push(*obs);
        if obs.step == 4 { f64::NAN } else { 0.01 }
    }

    fn failure(&self) -> Option<String> {
        (self.seen.len() == 5).then(|| "Traceback: ZeroDivisionError".to_string())
    }
}

#[test]
fn a_controller_that_cannot_decide_fails_the_run_and_history_includes_the_parameter_norm() {
    let spec = task_spec("logreg/iris");
    let task = prepare(&spec);
    let device = lrctl_tasks::default_device();
    let options = RunOptions {
        steps: Some(20),
        ..Default::default()
    };
    let mut w = task.instantiate(0, &device).unwrap();
    let (mut opt, _) = method("adam-fixed").build(w.n_params()).unwrap();
    let mut ctl = FailsAt4 { seen: Vec::new() };
    let r = lrctl_engine::train(w.as_mut(), &spec, opt.as_mut(), &mut ctl, &options).unwrap();
    assert_eq!(r.outcome, Outcome::Failed);
    assert_eq!(r.steps, 4);
    assert_eq!(r.reason.as_deref(), Some("Traceback: ZeroDivisionError"));
    // The default `needs_history` is true: the statistics across steps are there, with the
    // norm of the parameters the gradient was taken at.
    let mut params = Vec::new();
    task.instantiate(0, &device).unwrap().params(&mut params);
    let norm0 = params
        .iter()
        .map(|&p| f64::from(p) * f64::from(p))
        .sum::<f64>()
        .sqrt();
    let first = ctl.seen[0].grad;
    assert!((first.param_norm.unwrap() - norm0).abs() <= 1e-6 * norm0.max(1e-12));
    assert_eq!(first.prev_update_norm, None);
    let later = ctl.seen[2].grad;
    assert!(later.param_norm.unwrap() > 0.0 && later.prev_update_norm.unwrap() > 0.0);
}

// ---------------------------------------------------------------------------------------------
// Learning
// ---------------------------------------------------------------------------------------------

#[test]
fn adam_learns_logreg_iris() {
    let task = prepare(&task_spec("logreg/iris"));
    // The task's own budget: 100 epochs of 108 rows at batch 64 = 200 steps. At the paper's
    // default lr 1e-3 Adam is still far from converged there (≈ 0.6 of the first loss, ≈ 60%
    // accuracy), so accuracy is checked at lr 0.05 (≥ 0.97 train, ≥ 0.9 test on seeds 0–5).
    let fixed = run(task.as_ref(), &method("adam-fixed"), 0, None);
    assert_eq!(fixed.outcome, Outcome::Finished);
    assert_eq!(fixed.total_steps, 200);
    let (first, last) = (fixed.curve[0].train_loss, fixed.final_train_loss.unwrap());
    assert!(last < 0.8 * first, "adam-fixed: loss {first} → {last}");

    let r = run(
        task.as_ref(),
        &custom_method("kind = \"adam\"", 0.05),
        0,
        None,
    );
    assert_eq!(r.outcome, Outcome::Finished);
    let first = r.curve.first().unwrap().train_loss;
    let last = r.final_train_loss.unwrap();
    let test_acc = r.test.unwrap().accuracy.unwrap();
    println!(
        "iris: loss {first:.4} → {last:.4}, val acc {:.3}, test acc {test_acc:.3}",
        val_accuracy(&r),
    );
    assert!(last < 0.25 * first, "loss {first} → {last}");
    assert!(r.train.unwrap().accuracy.unwrap() >= 0.9);
    assert!(
        val_accuracy(&r) >= 0.8,
        "validation accuracy {}",
        val_accuracy(&r)
    );
    assert!(test_acc >= 0.85, "test accuracy {test_acc}");
    // Periodic validation losses fall too.
    let evals: Vec<f64> = r
        .curve
        .iter()
        .filter_map(|p| p.eval.map(|m| m.loss))
        .collect();
    assert_eq!(evals.len(), 10);
    assert!(evals[9] < 0.5 * evals[0], "validation loss {evals:?}");
}

#[test]
fn adam_learns_mlp_digits() {
    let task = prepare(&task_spec("mlp/digits"));
    let r = run(task.as_ref(), &method("adam-fixed"), 0, Some(150));
    assert_eq!(r.outcome, Outcome::Finished);
    let first = r.curve.first().unwrap().train_loss;
    let last = r.final_train_loss.unwrap();
    println!(
        "digits: loss {first:.4} → {last:.4}, val acc {:.3}, test acc {:.3}",
        val_accuracy(&r),
        r.test.unwrap().accuracy.unwrap()
    );
    assert!(last < 0.15 * first, "loss {first} → {last}");
    assert!(
        val_accuracy(&r) >= 0.9,
        "validation accuracy {}",
        val_accuracy(&r)
    );
    assert!(r.test.unwrap().accuracy.unwrap() >= 0.9);
    let train = r.train.unwrap();
    assert!(train.loss < 0.5 * first);
}

// ---------------------------------------------------------------------------------------------
// Cancellation
// ---------------------------------------------------------------------------------------------

#[test]
fn cancel_flag_set_before_training_returns_none() {
    let task = prepare(&task_spec("logreg/iris"));
    let cancel = AtomicBool::new(true);
    let r = run_with(
        task.as_ref(),
        &method("adam-fixed"),
        0,
        Some(50),
        Some(&cancel),
    );
    assert!(r.is_none());
}

#[test]
fn cancel_flag_set_during_training_returns_none() {
    let spec = task_spec("logreg/iris");
    let task = prepare(&spec);
    let device = lrctl_tasks::default_device();
    let mut w = task.instantiate(0, &device).unwrap();
    let (mut opt, mut ctl) = method("adam-fixed").build(w.n_params()).unwrap();
    let cancel = AtomicBool::new(false);
    let last_seen = Mutex::new(0u64);
    let progress = |done: u64, _total: u64| {
        *last_seen.lock().unwrap() = done;
        if done == 5 {
            cancel.store(true, Ordering::Relaxed);
        }
    };
    let options = RunOptions {
        seed: 0,
        steps: Some(50),
        progress: Some(&progress),
        cancel: Some(&cancel),
        eval_limit: None,
    };
    let r = lrctl_engine::train(w.as_mut(), &spec, opt.as_mut(), ctl.as_mut(), &options);
    assert!(r.is_none());
    assert_eq!(
        *last_seen.lock().unwrap(),
        5,
        "stopped at the next step boundary"
    );
}

// ---------------------------------------------------------------------------------------------
// Schedule-Free: evaluate at the averaged point, resume from the training point
// ---------------------------------------------------------------------------------------------

#[test]
fn schedule_free_evaluations_do_not_perturb_training() {
    for (task_name, method_name) in [
        ("mlp/digits", "schedulefree-adamw"),
        ("logreg/wine-quality", "schedulefree-sgd"),
    ] {
        let steps = 60u64;
        let mut spec = task_spec(task_name);
        spec.curve_points = steps as u32; // a point every step
        spec.evals = 6;
        let with_evals = prepare(&spec);
        spec.evals = 0;
        let without = prepare(&spec);
        let m = method(method_name);
        let a = run(with_evals.as_ref(), &m, 5, Some(steps));
        let b = run(without.as_ref(), &m, 5, Some(steps));
        assert_eq!(a.outcome, Outcome::Finished, "{task_name}");
        assert_eq!(b.outcome, Outcome::Finished, "{task_name}");
        assert_eq!(a.curve.len(), steps as usize);
        assert_eq!(b.curve.len(), steps as usize);
        let evals: Vec<u64> = a
            .curve
            .iter()
            .filter(|p| p.eval.is_some())
            .map(|p| p.step)
            .collect();
        assert_eq!(evals, [10, 20, 30, 40, 50, 60], "{task_name}");
        assert!(b.curve.iter().all(|p| p.eval.is_none()));

        // The training trajectory is bit-identical with and without evaluations.
        assert_eq!(
            strip(&a.curve),
            strip(&b.curve),
            "{task_name}: {method_name}"
        );
        assert_eq!(a.last_batch_loss.to_bits(), b.last_batch_loss.to_bits());
        assert_eq!(a.validation, b.validation);
        assert_eq!(a.test, b.test);

        // The periodic evaluation at the last step is taken at the same point as the final one
        // (the averaged `x`): the whole validation split fits in `eval_max_examples`.
        let last_eval = a.curve.last().unwrap().eval.unwrap();
        let final_val = a.validation.unwrap();
        assert!(final_val.examples <= spec.eval_max_examples);
        assert_eq!(last_eval, final_val, "{task_name}");
    }
}

#[test]
fn schedule_free_evaluates_at_the_averaged_point() {
    // The final metrics are those of the averaged `x`, not of the training point `y`: replay
    // the same run by hand without `prepare_eval` and compare.
    let spec = task_spec("logreg/iris");
    let task = prepare(&spec);
    let m = method("schedulefree-sgd");
    let r = run(task.as_ref(), &m, 2, Some(30));

    // Wrap the optimizer so that the engine's `prepare_eval` and `prepare_train` are no-ops.
    struct NoEvalSwitch(Box<dyn Optimizer>);
    impl Optimizer for NoEvalSwitch {
        fn name(&self) -> &'static str {
            "no-eval-switch"
        }
        fn step(&mut self, p: &mut [f32], g: &[f32], lr: f64) -> StepInfo {
            self.0.step(p, g, lr)
        }
    }
    let y = lrctl_engine::with_threads(1, || {
        let device = lrctl_tasks::default_device();
        let mut w = task.instantiate(2, &device).unwrap();
        let (opt, mut ctl) = m.build(w.n_params()).unwrap();
        let options = RunOptions {
            seed: 2,
            steps: Some(30),
            ..Default::default()
        };
        lrctl_engine::train(
            w.as_mut(),
            &spec,
            &mut NoEvalSwitch(opt),
            ctl.as_mut(),
            &options,
        )
        .unwrap()
    });
    // Same trajectory, different evaluation point.
    assert_eq!(strip(&r.curve), strip(&y.curve));
    assert_eq!(r.last_batch_loss.to_bits(), y.last_batch_loss.to_bits());
    assert_ne!(
        r.validation.unwrap().loss,
        y.validation.unwrap().loss,
        "evaluated at y, not at the average x"
    );
}

// ---------------------------------------------------------------------------------------------
// Effective learning rate
// ---------------------------------------------------------------------------------------------

#[test]
fn prodigy_records_its_effective_learning_rate() {
    let mut spec = task_spec("logreg/iris");
    spec.curve_points = 50;
    let task = prepare(&spec);
    let r = run(task.as_ref(), &method("prodigy"), 0, Some(50));
    assert_eq!(r.outcome, Outcome::Finished);
    assert_eq!(r.curve.len(), 50);
    assert!(
        r.curve.iter().all(|p| p.lr == 1.0),
        "controller lr is Prodigy's multiplier"
    );
    assert!(
        r.curve
            .iter()
            .all(|p| p.effective_lr.is_finite() && p.effective_lr > 0.0)
    );
    assert!(r.curve.iter().all(|p| p.effective_lr != p.lr));
    // d starts at d0 = 1e-6 and only grows.
    let d: Vec<f64> = r.curve.iter().map(|p| p.effective_lr).collect();
    assert!(d.windows(2).all(|w| w[1] >= w[0]), "{d:?}");
    assert!(d[d.len() - 1] > 100.0 * 1e-6, "d did not grow: {d:?}");
    // It is serialised with the curve.
    let json = serde_json::to_value(&r).unwrap();
    let p0 = &json["curve"][0];
    assert_eq!(p0["effective_lr"].as_f64(), Some(d[0]));
    assert_eq!(p0["lr"].as_f64(), Some(1.0));

    // For Adam the effective rate is the controller's.
    let a = run(task.as_ref(), &method("adam-fixed"), 0, Some(10));
    assert!(
        a.curve
            .iter()
            .all(|p| p.effective_lr == p.lr && p.lr == 1e-3)
    );
}

// ---------------------------------------------------------------------------------------------
// Budgets, curve and observation contracts
// ---------------------------------------------------------------------------------------------

#[test]
fn budget_curve_points_and_evals_follow_the_task() {
    let mut spec = task_spec("logreg/wine-quality");
    // 1599 rows: 320 test, 128 validation, 1151 train → 18 steps per epoch at batch 64.
    spec.budget = Budget::Epochs(2.5);
    spec.curve_points = 9;
    spec.evals = 3;
    let task = prepare(&spec);
    let n_train = task.summary().train;
    let per_epoch = n_train.div_ceil(64) as u64;
    let total = (2.5 * per_epoch as f64).ceil() as u64;
    let r = run(task.as_ref(), &method("adam-fixed"), 0, None);
    assert_eq!(r.total_steps, total);
    assert_eq!(r.steps, total);
    let steps: Vec<u64> = r.curve.iter().map(|p| p.step).collect();
    let every = total / 9;
    let mut expect: Vec<u64> = (1..=total)
        .filter(|s| s % every == 0 || *s == total || (1..=3).any(|k| (k * total).div_ceil(3) == *s))
        .collect();
    expect.dedup();
    assert_eq!(steps, expect);
    for p in &r.curve {
        assert_eq!(p.epoch, p.step as f64 / per_epoch as f64);
    }
    let evals = r.curve.iter().filter(|p| p.eval.is_some()).count();
    assert_eq!(evals, 3);
    assert!(
        r.curve.last().unwrap().eval.is_some(),
        "the last evaluation is at the end"
    );
    // Periodic evaluations use at most eval_max_examples rows; the final one all of them.
    assert_eq!(r.validation.unwrap().examples, task.summary().validation);
    assert_eq!(r.test.unwrap().examples, task.summary().test);
    assert_eq!(r.train.unwrap().examples, n_train);
    assert!(r.eval_seconds <= r.seconds);
}

/// A tiny least-squares workload (`½‖θ − t‖²` per example) that records its batches.
struct Mock {
    n: usize,
    theta: Vec<f32>,
    batches: Arc<Mutex<Vec<Vec<usize>>>>,
}

impl Workload for Mock {
    fn n_params(&self) -> usize {
        self.theta.len()
    }
    fn n_train(&self) -> usize {
        self.n
    }
    fn params(&self, out: &mut Vec<f32>) {
        out.clear();
        out.extend_from_slice(&self.theta);
    }
    fn set_params(&mut self, flat: &[f32]) {
        self.theta.copy_from_slice(flat);
    }
    fn loss_and_grad(&mut self, batch: &[usize], grad: &mut Vec<f32>) -> f32 {
        self.batches.lock().unwrap().push(batch.to_vec());
        grad.clear();
        let mut loss = 0.0;
        for (k, &t) in self.theta.iter().enumerate() {
            let d = t - k as f32;
            grad.push(d);
            loss += 0.5 * d * d;
        }
        loss + 1.0
    }
    fn evaluate(&self, _split: Split, limit: Option<usize>) -> Option<Metrics> {
        Some(Metrics {
            loss: 1.0,
            accuracy: Some(0.5),
            bits_per_byte: None,
            perplexity: None,
            examples: limit.unwrap_or(self.n).min(self.n),
        })
    }
}

/// Records every observation it is shown.
struct Recorder(Arc<Mutex<Vec<Observation>>>);
impl Controller for Recorder {
    fn lr(&mut self, obs: &Observation) -> f64 {
        self.0.lock().unwrap().push(*obs);
        0.1
    }
}

#[test]
fn batches_cover_each_epoch_once_and_controller_sees_evaluations() {
    let n = 10;
    let batches = Arc::new(Mutex::new(Vec::new()));
    let mut w = Mock {
        n,
        theta: vec![0.0; 3],
        batches: Arc::clone(&batches),
    };
    let mut spec = task_spec("logreg/iris");
    spec.batch_size = 4;
    spec.evals = 2;
    spec.budget = Budget::Epochs(3.0);
    let observations = Arc::new(Mutex::new(Vec::new()));
    let mut ctl = Recorder(Arc::clone(&observations));
    let (mut opt, _) = method("adam-fixed").build(3).unwrap();
    let options = RunOptions {
        seed: 1,
        ..Default::default()
    };
    let r = lrctl_engine::train(&mut w, &spec, opt.as_mut(), &mut ctl, &options).unwrap();
    // 10 rows at batch 4: batches of 4, 4, 2 per epoch; 3 epochs = 9 steps.
    assert_eq!(r.total_steps, 9);
    assert_eq!(r.outcome, Outcome::Finished);
    let batches = batches.lock().unwrap();
    assert_eq!(batches.len(), 9);
    let mut shuffles = Vec::new();
    for epoch in batches.chunks(3) {
        let sizes: Vec<usize> = epoch.iter().map(Vec::len).collect();
        assert_eq!(sizes, [4, 4, 2]);
        let mut all: Vec<usize> = epoch.concat();
        shuffles.push(all.clone());
        all.sort();
        assert_eq!(
            all,
            (0..n).collect::<Vec<_>>(),
            "an epoch visits every row once"
        );
    }
    assert!(
        shuffles[0] != shuffles[1] || shuffles[1] != shuffles[2],
        "reshuffled"
    );

    let obs = observations.lock().unwrap();
    assert_eq!(obs.len(), 9);
    for (i, o) in obs.iter().enumerate() {
        assert_eq!(o.step, i as u64);
        assert_eq!(o.total_steps, 9);
        assert_eq!(o.steps_per_epoch, 3);
        assert_eq!(o.epoch, i as u64 / 3);
        assert!(o.grad.norm.is_finite());
        assert_eq!(o.grad.cos_prev.is_none(), i == 0);
    }
    // Evaluations after steps 5 and 9: the first is shown to the controller at step 5 (the
    // sixth step); the second comes after the last step.
    let seen: Vec<(u64, u64)> = obs
        .iter()
        .filter_map(|o| o.eval.map(|e| (o.step, e.step)))
        .collect();
    assert_eq!(seen, [(5, 5)]);
    let e = obs[5].eval.unwrap();
    assert_eq!((e.loss, e.metric), (1.0, Some(0.5)));
}

/// An optimizer that records what the engine tells it (issue 22's per-tensor and
/// loss-reading optimizers rely on this protocol) and takes plain SGD steps.
struct Told {
    shapes: Arc<Mutex<Vec<Vec<Vec<usize>>>>>,
    /// `(loss told, steps taken so far)` per call.
    losses: Arc<Mutex<Vec<(f64, usize)>>>,
    steps: usize,
}

impl Optimizer for Told {
    fn name(&self) -> &'static str {
        "told"
    }
    fn set_param_shapes(&mut self, shapes: &[Vec<usize>]) {
        assert_eq!(self.steps, 0, "shapes come before the first step");
        self.shapes.lock().unwrap().push(shapes.to_vec());
    }
    fn observe_loss(&mut self, loss: f64) {
        self.losses.lock().unwrap().push((loss, self.steps));
    }
    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        for (p, g) in params.iter_mut().zip(grads) {
            *p -= lr as f32 * g;
        }
        self.steps += 1;
        StepInfo { effective_lr: lr }
    }
}

#[test]
fn optimizers_are_told_the_tensor_shapes_once_and_every_loss() {
    let spec = task_spec("mlp/digits");
    let task = prepare(&spec);
    let mut w = task.instantiate(2, &lrctl_tasks::default_device()).unwrap();
    let (shapes, losses) = (
        Arc::new(Mutex::new(Vec::new())),
        Arc::new(Mutex::new(Vec::new())),
    );
    let mut opt = Told {
        shapes: Arc::clone(&shapes),
        losses: Arc::clone(&losses),
        steps: 0,
    };
    let (_, mut ctl) = method("adam-fixed").build(w.n_params()).unwrap();
    let options = RunOptions {
        seed: 3,
        steps: Some(7),
        ..Default::default()
    };
    let r = lrctl_engine::train(w.as_mut(), &spec, &mut opt, ctl.as_mut(), &options).unwrap();
    let shapes = shapes.lock().unwrap();
    assert_eq!(shapes.len(), 1, "told once");
    assert!(
        shapes[0].len() > 1,
        "an MLP has several tensors: {:?}",
        shapes[0]
    );
    let total: usize = shapes[0].iter().map(|s| s.iter().product::<usize>()).sum();
    assert_eq!(total, w.n_params());
    // One loss before each step, the one whose gradient the step receives.
    let losses = losses.lock().unwrap();
    let order: Vec<usize> = losses.iter().map(|&(_, before)| before).collect();
    assert_eq!(order, (0..7).collect::<Vec<_>>());
    assert!(
        losses.iter().all(|&(l, _)| l.is_finite() && l > 0.0),
        "{losses:?}"
    );
    assert_eq!(r.total_steps, 7);
}
