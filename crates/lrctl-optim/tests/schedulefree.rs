//! Schedule-Free SGD and AdamW against `schedulefree` 1.4.1 (`SGDScheduleFreeReference`,
//! `AdamWScheduleFreeReference`), including the averaged point `x` the engine evaluates at,
//! and the guarantee that evaluating does not change training.
//!
//! Fixtures come from `scripts/fixtures/gen_optimizers_base.py`; the error criterion is
//! [`fixture_replay::Agreement`] for the training parameters `y`, the evaluation parameters
//! `x` and the effective learning rate, at `rtol = 1e-5`: ten times stricter than issue 4's
//! bar of 1e-4, since Schedule-Free has no global sums to amplify rounding.

mod fixture_replay;

use fixture_replay::{Agreement, Case, Fixture, Replayed, load};
use lrctl_optim::Optimizer;
use serde::Deserialize;

const AGREEMENT: Agreement = Agreement {
    rtol: 1e-5,
    floor: 0.1,
    ulps: 2.0,
};

/// The evaluation records of a Schedule-Free fixture (fields the shared harness ignores).
#[derive(Debug, Deserialize)]
struct EvalFixture {
    cases: Vec<EvalCase>,
}

#[derive(Debug, Deserialize)]
struct EvalCase {
    name: String,
    eval_every: usize,
    steps: Vec<EvalStep>,
}

#[derive(Debug, Deserialize)]
struct EvalStep {
    /// Parameters in evaluation mode after the step, where the reference evaluated.
    eval_params: Option<Vec<f32>>,
}

fn load_eval(file: &str) -> EvalFixture {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(file);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Replays `case`, calling `prepare_eval` / `prepare_train` after every step where the
/// reference evaluated and recording the evaluation parameters.
fn replay_with_eval(
    fixture: &Fixture,
    case: &Case,
    evals: &EvalCase,
    optimizer: &mut dyn Optimizer,
) -> (Vec<Replayed>, Vec<Replayed>) {
    let mut params = fixture.problem.initial_params.clone();
    let (mut train, mut eval) = (Vec::new(), Vec::new());
    for (t, (batch, &lr)) in case.batches.iter().zip(&case.lr).enumerate() {
        let (loss, grad) = fixture.problem.loss_and_grad(&params, batch);
        let info = optimizer.step(&mut params, &grad, lr);
        train.push(Replayed {
            loss,
            effective_lr: info.effective_lr,
            params: params.clone(),
        });
        if evals.steps[t].eval_params.is_some() {
            optimizer.prepare_eval(&mut params);
            eval.push(Replayed {
                loss,
                effective_lr: info.effective_lr,
                params: params.clone(),
            });
            optimizer.prepare_train(&mut params);
        }
    }
    (train, eval)
}

/// The reference's evaluation records as a `Case` the harness can check (same lr and
/// effective lr, `eval_params` as the parameters).
fn eval_case(case: &Case, evals: &EvalCase) -> Case {
    let keep: Vec<usize> = (0..case.steps.len())
        .filter(|&t| evals.steps[t].eval_params.is_some())
        .collect();
    Case {
        name: format!("{} (evaluation point x)", case.name),
        note: case.note.clone(),
        config: case.config.clone(),
        reference_kwargs: case.reference_kwargs.clone(),
        lr: keep.iter().map(|&t| case.lr[t]).collect(),
        batches: keep.iter().map(|&t| case.batches[t].clone()).collect(),
        grad_clip_norm: None,
        steps: keep
            .iter()
            .map(|&t| fixture_replay::Step {
                loss: case.steps[t].loss,
                effective_lr: case.steps[t].effective_lr,
                params: evals.steps[t].eval_params.clone().unwrap(),
            })
            .collect(),
    }
}

fn check_fixture(file: &str, class: &str) {
    let fixture = load(file);
    let evals = load_eval(file);
    assert_eq!(fixture.reference.package, "schedulefree", "{file}");
    assert_eq!(fixture.reference.version, "1.4.1", "{file}");
    assert_eq!(fixture.reference.class, class, "{file}");
    assert!(fixture.cases.len() >= 2);
    assert!(
        fixture
            .cases
            .iter()
            .any(|c| c.lr.windows(2).any(|w| w[0] != w[1])),
        "{file}: no case with a changing lr"
    );
    for (case, ev) in fixture.cases.iter().zip(&evals.cases) {
        assert_eq!(case.name, ev.name);
        assert!(case.steps.len() >= 50, "{file} `{}`: < 50 steps", case.name);
        let n_evals = ev.steps.iter().filter(|s| s.eval_params.is_some()).count();
        assert_eq!(n_evals, case.steps.len() / ev.eval_every, "{}", case.name);
        let mut opt = case.spec().build(fixture.problem.n_params()).unwrap();
        let (train, eval) = replay_with_eval(&fixture, case, ev, opt.as_mut());
        let worst = AGREEMENT
            .check(&fixture.problem.initial_params, case, &train)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let expected_eval = eval_case(case, ev);
        let worst_eval = AGREEMENT
            .check(&fixture.problem.initial_params, &expected_eval, &eval)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        eprintln!(
            "{file} `{}`: worst error y {:.1e}, x {:.1e}, effective lr {:.1e} ({n_evals} evaluations)",
            case.name, worst.params.0, worst_eval.params.0, worst.effective_lr.0
        );
        // The averaged point is not the training point (the test would be vacuous otherwise).
        let last = eval.last().unwrap();
        let at_same_step = &train[(case.steps.len() / ev.eval_every) * ev.eval_every - 1];
        assert_ne!(last.params, at_same_step.params);
    }
}

#[test]
fn schedulefree_sgd_matches_the_reference() {
    check_fixture(
        "schedulefree_sgd.json",
        "schedulefree.SGDScheduleFreeReference",
    );
}

#[test]
fn schedulefree_adamw_matches_the_reference() {
    check_fixture(
        "schedulefree_adamw.json",
        "schedulefree.AdamWScheduleFreeReference",
    );
}

/// Evaluating (prepare_eval, then prepare_train) at any cadence leaves the training
/// trajectory bit-identical to a run that never evaluates.
#[test]
fn evaluation_does_not_change_training() {
    for file in ["schedulefree_sgd.json", "schedulefree_adamw.json"] {
        let fixture = load(file);
        for case in &fixture.cases {
            let run = |eval_every: Option<usize>| {
                let mut opt = case.spec().build(fixture.problem.n_params()).unwrap();
                let mut params = fixture.problem.initial_params.clone();
                let mut trace = Vec::new();
                let mut evaluated = Vec::new();
                for (t, (batch, &lr)) in case.batches.iter().zip(&case.lr).enumerate() {
                    let (_, grad) = fixture.problem.loss_and_grad(&params, batch);
                    let info = opt.step(&mut params, &grad, lr);
                    trace.push((info.effective_lr.to_bits(), params.clone()));
                    if eval_every.is_some_and(|k| t % k == 0) {
                        opt.prepare_eval(&mut params);
                        evaluated.push(params.clone());
                        // A second prepare_eval is harmless.
                        opt.prepare_eval(&mut params);
                        opt.prepare_train(&mut params);
                        opt.prepare_train(&mut params);
                    }
                }
                (trace, evaluated)
            };
            let (plain, _) = run(None);
            for k in [1, 3, 7] {
                let (with_eval, evaluated) = run(Some(k));
                assert!(!evaluated.is_empty());
                assert!(
                    plain == with_eval,
                    "{file} `{}`: evaluating every {k} steps changed training",
                    case.name
                );
            }
        }
    }
}

/// Before the first step there is no average yet: evaluation sees the initial parameters.
#[test]
fn evaluation_before_the_first_step_is_a_no_op() {
    let fixture = load("schedulefree_adamw.json");
    let case = &fixture.cases[0];
    let mut opt = case.spec().build(fixture.problem.n_params()).unwrap();
    let mut params = fixture.problem.initial_params.clone();
    opt.prepare_eval(&mut params);
    assert_eq!(params, fixture.problem.initial_params);
    opt.prepare_train(&mut params);
    let (_, grad) = fixture.problem.loss_and_grad(&params, &case.batches[0]);
    opt.step(&mut params, &grad, case.lr[0]);
    let reference = &case.steps[0].params;
    for (a, b) in params.iter().zip(reference) {
        assert!((a - b).abs() <= 1e-6 * b.abs().max(1e-3), "{a} vs {b}");
    }
}
