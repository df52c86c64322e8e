//! The learning-rate-free methods published after lrctl's paper (issue 22) against their
//! reference implementations: Prodigy + Schedule-Free (`prodigy-plus-schedule-free`),
//! Schedule-Free RAdam and the Schedule-Free wrapper (`schedulefree`), AdamG and KATE
//! (`pytorch-optimizer`), MoMo and MoMo-Adam (`momo-opt`), layer-wise DoG (`dog-optimizer`).
//!
//! Fixtures come from `scripts/fixtures/gen_optimizers_post_paper.py`. Each case is replayed
//! with the engine's protocol (the tensor shapes before the first step, the mini-batch loss
//! before each step) and checked step by step with [`fixture_replay::Agreement`] at 1e-4
//! relative: the training parameters, the effective learning rate and, for the Schedule-Free
//! family, the averaged point the engine evaluates at.

mod fixture_replay;

use fixture_replay::{Agreement, Case, Fixture, Replayed, Step, load};
use lrctl_optim::Optimizer;
use serde::Deserialize;

/// 1e-4 relative, parameters measured against the distance travelled (floored at a tenth of
/// the largest coordinate's travel) plus `2·sqrt(t+1)` ulps of `f32` storage at step `t`.
const AGREEMENT: Agreement = Agreement {
    rtol: 1e-4,
    floor: 0.1,
    ulps: 2.0,
};

/// The evaluation records of a fixture (fields the shared harness does not read).
#[derive(Debug, Deserialize)]
struct EvalFixture {
    cases: Vec<EvalCase>,
}

#[derive(Debug, Deserialize)]
struct EvalCase {
    name: String,
    /// How far rounding-level noise moved the reference's own trajectory (see the generator):
    /// a case that noise alone moves by the tolerance could not tell right from wrong.
    reference_sensitivity: f64,
    eval_every: Option<usize>,
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

/// Replays `case` as the engine drives an optimizer, evaluating (`prepare_eval`, record,
/// `prepare_train`) after every step where the reference did.
fn replay(
    fixture: &Fixture,
    case: &Case,
    evals: &EvalCase,
    optimizer: &mut dyn Optimizer,
) -> (Vec<Replayed>, Vec<Replayed>) {
    let problem = &fixture.problem;
    let mut params = problem.initial_params.clone();
    let (mut train, mut eval) = (Vec::new(), Vec::new());
    optimizer.set_param_shapes(&problem.shapes());
    for (t, (batch, &lr)) in case.batches.iter().zip(&case.lr).enumerate() {
        let (loss, grad) = problem.loss_and_grad(&params, batch);
        optimizer.observe_loss(loss);
        let info = optimizer.step(&mut params, &grad, lr);
        let record = Replayed {
            loss,
            effective_lr: info.effective_lr,
            params: params.clone(),
        };
        if evals.steps[t].eval_params.is_some() {
            optimizer.prepare_eval(&mut params);
            eval.push(Replayed {
                params: params.clone(),
                ..record.clone()
            });
            optimizer.prepare_train(&mut params);
            assert_eq!(params, record.params, "`{}`: evaluating moved y", case.name);
        }
        train.push(record);
    }
    (train, eval)
}

/// The reference's evaluation records as a `Case` the harness can check.
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
            .map(|&t| Step {
                loss: case.steps[t].loss,
                effective_lr: case.steps[t].effective_lr,
                params: evals.steps[t].eval_params.clone().unwrap(),
            })
            .collect(),
    }
}

/// Replays every case of `file` and checks it against the reference `package` `version`
/// `class`; returns the fixture.
fn check_fixture(file: &str, package: &str, version: &str, class: &str) -> Fixture {
    let fixture = load(file);
    let evals = load_eval(file);
    assert_eq!(fixture.reference.package, package, "{file}");
    assert_eq!(fixture.reference.version, version, "{file}");
    assert_eq!(fixture.reference.class, class, "{file}");
    assert!(
        fixture.cases.len() >= 2,
        "{file}: default and non-default cases"
    );
    for (case, ev) in fixture.cases.iter().zip(&evals.cases) {
        assert_eq!(case.name, ev.name);
        assert!(case.steps.len() >= 50, "{file} `{}`: < 50 steps", case.name);
        assert!(
            ev.reference_sensitivity < AGREEMENT.rtol / 2.0,
            "{file} `{}`: ill-conditioned case",
            case.name
        );
        let mut opt = case
            .spec()
            .build(fixture.problem.n_params())
            .unwrap_or_else(|e| panic!("{file} `{}`: {e}", case.name));
        let (train, eval) = replay(&fixture, case, ev, opt.as_mut());
        // The problem itself: the same loss as PyTorch at the shared initial point.
        let (ours, theirs) = (train[0].loss, case.steps[0].loss);
        assert!(
            (ours - theirs).abs() <= 1e-5 * theirs.abs(),
            "{file}: loss {ours} vs {theirs}"
        );
        let worst = AGREEMENT
            .check(&fixture.problem.initial_params, case, &train)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let mut line = format!(
            "{file} `{}`: worst error params {:.1e} (step {}), effective lr {:.1e} (step {})",
            case.name, worst.params.0, worst.params.1, worst.effective_lr.0, worst.effective_lr.1
        );
        if let Some(every) = ev.eval_every {
            assert_eq!(eval.len(), case.steps.len() / every, "{}", case.name);
            let worst_eval = AGREEMENT
                .check(&fixture.problem.initial_params, &eval_case(case, ev), &eval)
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            line += &format!(", evaluation point {:.1e}", worst_eval.params.0);
            // The averaged point is not the training point (else the check would be vacuous).
            assert_ne!(
                eval.last().unwrap().params,
                train[eval.len() * every - 1].params
            );
        }
        eprintln!("{line}");
        // The run did something: the parameters moved.
        assert_ne!(
            train.last().unwrap().params,
            fixture.problem.initial_params,
            "{file} `{}`: never moved",
            case.name
        );
    }
    fixture
}

#[test]
fn prodigy_schedule_free_matches_the_reference() {
    let fixture = check_fixture(
        "post_prodigy_sf.json",
        "prodigy-plus-schedule-free",
        "2.0.1",
        "prodigyplus.ProdigyPlusScheduleFree",
    );
    // Every option lrctl offers has its own case.
    for option in [
        "factored",
        "adam_atan2",
        "cautious",
        "grams",
        "adopt",
        "bias_correction",
        "split_groups",
        "split_groups_mean",
        "stableadamw",
        "weight_decay_by_lr",
        "schedulefree_c",
        "prodigy_steps",
        "d_limiter",
    ] {
        assert!(
            fixture.cases.iter().any(|c| c.config.get(option).is_some()),
            "no case sets `{option}`"
        );
    }
}

#[test]
fn schedule_free_radam_matches_the_reference() {
    check_fixture(
        "post_schedulefree_radam.json",
        "schedulefree",
        "1.4.1",
        "schedulefree.RAdamScheduleFree",
    );
}

#[test]
fn schedule_free_wrapper_matches_the_reference_around_three_bases() {
    let fixture = check_fixture(
        "post_schedulefree_wrapper.json",
        "schedulefree",
        "1.4.1",
        "schedulefree.ScheduleFreeWrapperReference",
    );
    let bases: Vec<&str> = fixture
        .cases
        .iter()
        .map(|c| c.config["base"]["kind"].as_str().unwrap())
        .collect();
    // A base that takes the controller's lr as its step size, and one that sets its own (the
    // wrapper's averaging weights then follow Prodigy's d).
    assert_eq!(bases, ["adamw", "sgd", "prodigy"]);
}

#[test]
fn adamg_matches_the_reference() {
    check_fixture(
        "post_adamg.json",
        "pytorch-optimizer",
        "4.1.0",
        "pytorch_optimizer.AdamG",
    );
}

#[test]
fn kate_matches_the_reference() {
    check_fixture(
        "post_kate.json",
        "pytorch-optimizer",
        "4.1.0",
        "pytorch_optimizer.Kate",
    );
}

#[test]
fn momo_matches_the_reference() {
    check_fixture("post_momo.json", "momo-opt", "0.1.0", "momo.Momo");
}

#[test]
fn momo_adam_matches_the_reference() {
    check_fixture("post_momo_adam.json", "momo-opt", "0.1.0", "momo.MomoAdam");
}

#[test]
fn layerwise_dog_matches_the_reference() {
    check_fixture("post_ldog.json", "dog-optimizer", "1.0.3", "dog.LDoG");
}
