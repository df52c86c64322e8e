//! Mechanic around SGD and AdamW against `mechanic-pytorch` 0.0.1
//! (`mechanic_pytorch.mechanize(torch.optim.SGD)` / `mechanize(torch.optim.AdamW)`), with the
//! offsets recomputed (the package default) and stored.
//!
//! Fixture from `scripts/fixtures/gen_optimizers_base.py`; the error criterion is
//! [`fixture_replay::Agreement`] at `rtol = 1e-4` (issue 4's bar) for parameters and for the
//! effective learning rate `max(s, 0) · lr`, with `floor = 1`: every coordinate's error is
//! measured against the largest distance any coordinate has travelled (not against its own
//! travel, as the other fixture tests do).
//!
//! Why the coarser floor: the reference's default recovers its offsets as
//! `(x_t − x_ref)/(s_t + eps)` from `f32` parameters, so a rounding difference in `x_t` comes
//! back multiplied by `s_{t+1}/s_t`, and the scale grows by orders of magnitude early on. The
//! reference is therefore only reproducible to its own rounding: the generator reruns each case
//! with W split into two tensors (the same mathematics, another summation order) and records
//! how far the reference moves from itself (`reference_self_disagreement`); for the
//! `adamw-paper-schedule` case that is 8.9e-5 of the largest travel, and lrctl is 4.4e-5 from
//! it. Per coordinate relative to its own travel lrctl's worst error there is 1.3e-4; the other
//! three cases pass at 1e-5 of their own travel.

mod fixture_replay;

use fixture_replay::{Agreement, load, replay_spec};
use lrctl_optim::OptimizerSpec;
use serde::Deserialize;

const AGREEMENT: Agreement = Agreement {
    rtol: 1e-4,
    floor: 1.0,
    ulps: 2.0,
};

/// The default criterion of the other fixture tests (error against each coordinate's own
/// travel), which every case but the recovered-offset AdamW one meets at 1e-5.
const PER_COORDINATE: Agreement = Agreement {
    rtol: 1e-5,
    floor: 0.1,
    ulps: 2.0,
};

/// The reference's sensitivity to its own rounding, recorded by the generator.
#[derive(Debug, Deserialize)]
struct SelfDisagreement {
    max_params_error_over_largest_travel: f64,
    max_effective_lr_relative_error: f64,
}

#[derive(Debug, Deserialize)]
struct CaseExtra {
    name: String,
    reference_self_disagreement: SelfDisagreement,
}

#[derive(Debug, Deserialize)]
struct FixtureExtra {
    cases: Vec<CaseExtra>,
}

#[test]
fn mechanic_matches_mechanic_pytorch() {
    let fixture = load("mechanic.json");
    assert_eq!(fixture.reference.package, "mechanic-pytorch");
    assert_eq!(fixture.reference.version, "0.0.1");
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mechanic.json");
    let extra: FixtureExtra =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut kinds = Vec::new();
    for (case, extra) in fixture.cases.iter().zip(&extra.cases) {
        assert_eq!(case.name, extra.name);
        let spread = &extra.reference_self_disagreement;
        assert!(case.steps.len() >= 50, "`{}`: < 50 steps", case.name);
        let OptimizerSpec::Mechanic(cfg) = case.spec() else {
            panic!("`{}` is not a mechanic case", case.name)
        };
        kinds.push((cfg.base.kind(), cfg.store_delta));
        let replayed = replay_spec(&fixture.problem, case);
        let worst = AGREEMENT
            .check(&fixture.problem.initial_params, case, &replayed)
            .unwrap_or_else(|e| panic!("mechanic.json: {e}"));
        eprintln!(
            "mechanic.json `{}`: worst parameter error {:.1e} (step {}), effective lr {:.1e} \
             (step {}); the reference against itself: {:.1e}, {:.1e}",
            case.name,
            worst.params.0,
            worst.params.1,
            worst.effective_lr.0,
            worst.effective_lr.1,
            spread.max_params_error_over_largest_travel,
            spread.max_effective_lr_relative_error,
        );
        if cfg.store_delta || cfg.base.kind() == "sgd" {
            PER_COORDINATE
                .check(&fixture.problem.initial_params, case, &replayed)
                .unwrap_or_else(|e| panic!("mechanic.json: {e}"));
        }
        // The scale must have grown by orders of magnitude from its ~1e-6 start, or the
        // fixture would not exercise the tuner.
        let (first, last) = (
            case.steps[0].effective_lr / case.lr[0],
            case.steps.last().unwrap().effective_lr / case.lr.last().unwrap(),
        );
        assert!(
            last > 1e3 * first,
            "`{}`: s {first:e} -> {last:e}",
            case.name
        );
    }
    for want in [
        ("sgd", false),
        ("adamw", false),
        ("sgd", true),
        ("adamw", true),
    ] {
        assert!(kinds.contains(&want), "no case for {want:?}");
    }
    assert!(
        fixture
            .cases
            .iter()
            .any(|c| c.lr.windows(2).any(|w| w[0] != w[1])),
        "no case with a changing lr"
    );
}
