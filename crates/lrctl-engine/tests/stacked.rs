//! Batched trials (`lrctl_engine::train_stacked`): each member of a stacked logistic
//! regression ends where its own run ends, within the family's tolerance; a diverging member
//! leaves the others alone; a family without a stacked form is refused so the caller falls
//! back to one run per trial.

use std::sync::Arc;

use lrctl_data::DataDirs;
use lrctl_engine::stacked::Member;
use lrctl_engine::{Outcome, RunOptions, RunResult};
use lrctl_method::MethodSpec;
use lrctl_tasks::Task;

/// Logistic regression's tolerance: relative, on every loss (final mini-batch, every curve
/// point, final evaluations). Only the summation order of the loss and gradient differs
/// (stacked GEMM blocking; softmax cross-entropy written out instead of burn's ops and
/// autodiff), a few ulps per step, which a convex model does not amplify: the largest
/// difference seen here is 1.3e-6 (a validation loss).
const LINEAR_TOLERANCE: f64 = 1e-4;

fn task(name: &str) -> Arc<dyn Task> {
    let spec = lrctl_tasks::registry::find(name).unwrap();
    lrctl_tasks::prepare(&spec, &DataDirs::default()).unwrap()
}

fn method(name: &str, lr: Option<f64>) -> MethodSpec {
    let m = lrctl_method::find(name).unwrap();
    let Some(lr) = lr else { return m };
    let mut json = serde_json::to_value(&m).unwrap();
    json["controller"]["lr"] = lr.into();
    serde_json::from_value(json).unwrap()
}

fn options(steps: u64) -> RunOptions<'static> {
    RunOptions {
        seed: 11,
        steps: Some(steps),
        ..Default::default()
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= LINEAR_TOLERANCE * a.abs().max(b.abs()).max(1e-3)
}

/// `stacked` is `alone` within the tolerance: outcome, steps, losses, curve, evaluations.
fn assert_same(what: &str, stacked: &RunResult, alone: &RunResult) {
    assert_eq!(
        stacked.outcome, alone.outcome,
        "{what}: {:?}",
        stacked.reason
    );
    assert_eq!(stacked.steps, alone.steps, "{what}");
    if alone.outcome != Outcome::Finished {
        return;
    }
    assert!(
        close(stacked.last_batch_loss, alone.last_batch_loss),
        "{what}: last loss {} vs {}",
        stacked.last_batch_loss,
        alone.last_batch_loss
    );
    assert_eq!(stacked.curve.len(), alone.curve.len(), "{what}");
    for (s, a) in stacked.curve.iter().zip(&alone.curve) {
        assert_eq!((s.step, s.lr), (a.step, a.lr), "{what}");
        assert!(
            close(s.train_loss, a.train_loss),
            "{what} at step {}: {} vs {}",
            s.step,
            s.train_loss,
            a.train_loss
        );
        assert_eq!(s.eval.is_some(), a.eval.is_some(), "{what}");
    }
    let (s, a) = (stacked.validation.unwrap(), alone.validation.unwrap());
    assert!(close(s.loss, a.loss), "{what}: {} vs {}", s.loss, a.loss);
    assert!(
        (s.accuracy.unwrap() - a.accuracy.unwrap()).abs() <= 0.01,
        "{what}"
    );
}

#[test]
fn members_end_where_their_own_runs_end() {
    let task = task("logreg/wine-quality");
    // Constant, cosine and warm-restart schedules under Adam/AdamW, Schedule-Free SGD (whose
    // evaluation point is not its training point), different lengths and one horizon longer
    // than the run (a full-horizon trial cut short).
    let methods = [
        method("adam-fixed", Some(0.01)),
        method("adamw-cosine", None),
        method("cawr-default", None),
        method("schedulefree-sgd", None),
        method("adam-fixed", Some(0.05)),
    ];
    let lengths = [(300, 300), (300, 300), (200, 200), (300, 300), (100, 300)];
    let members: Vec<Member<'_>> = methods
        .iter()
        .zip(lengths)
        .map(|(m, (steps, horizon))| Member {
            method: m,
            steps,
            horizon,
        })
        .collect();
    let stacked = lrctl_engine::train_stacked(task.as_ref(), &members, &options(0))
        .unwrap()
        .expect("logistic regression has a stacked form");
    for ((m, r), (steps, horizon)) in methods.iter().zip(&stacked).zip(lengths) {
        let stacked = r.as_ref().unwrap().as_ref().unwrap();
        let (mut workload, mut run) =
            lrctl_engine::start(task.as_ref(), m, &options(steps)).unwrap();
        run.run.set_horizon(horizon);
        run.advance_to(workload.as_mut(), steps, &options(steps))
            .unwrap();
        let alone = run.finish(workload.as_mut());
        assert_same(&m.name, stacked, &alone);
    }
    // A member's numbers do not depend on its batch mates: alone in a stack, bit for bit the
    // same (each output column of the stacked GEMM is its own dot products).
    let first = lrctl_engine::train_stacked(task.as_ref(), &members[..1], &options(0))
        .unwrap()
        .unwrap();
    let (a, b) = (
        first[0].as_ref().unwrap().as_ref().unwrap(),
        stacked[0].as_ref().unwrap().as_ref().unwrap(),
    );
    assert_eq!(a.last_batch_loss, b.last_batch_loss);
    let losses = |r: &RunResult| r.curve.iter().map(|p| p.train_loss).collect::<Vec<_>>();
    assert_eq!(losses(a), losses(b));
    assert_eq!(a.validation, b.validation);
}

#[test]
fn a_diverging_member_is_its_own_data_and_poisons_nobody() {
    let task = task("logreg/iris");
    let good = [
        method("adam-fixed", Some(0.01)),
        method("adam-fixed", Some(0.1)),
    ];
    let wild = method("adam-fixed", Some(1e6));
    let all = [&good[0], &wild, &good[1]];
    let members: Vec<Member<'_>> = all
        .iter()
        .map(|m| Member {
            method: m,
            steps: 150,
            horizon: 150,
        })
        .collect();
    let stacked = lrctl_engine::train_stacked(task.as_ref(), &members, &options(0))
        .unwrap()
        .unwrap();
    let results: Vec<&RunResult> = stacked
        .iter()
        .map(|r| r.as_ref().unwrap().as_ref().unwrap())
        .collect();
    assert_eq!(results[1].outcome, Outcome::Diverged);
    let alone = |m: &MethodSpec| {
        lrctl_engine::train_method(task.as_ref(), m, &options(150))
            .unwrap()
            .unwrap()
    };
    let wild_alone = alone(&wild);
    assert_eq!(wild_alone.outcome, Outcome::Diverged);
    assert_eq!(results[1].steps, wild_alone.steps);
    assert_same("lr 0.01", results[0], &alone(&good[0]));
    assert_same("lr 0.1", results[2], &alone(&good[1]));
}

#[test]
fn a_family_without_a_stacked_form_is_refused() {
    let task = task("mlp/digits");
    let m = method("adam-fixed", None);
    let members = [Member {
        method: &m,
        steps: 3,
        horizon: 3,
    }; 2];
    let got = lrctl_engine::train_stacked(task.as_ref(), &members, &options(0)).unwrap();
    assert!(got.is_none());
}
