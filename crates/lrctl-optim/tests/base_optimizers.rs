//! SGD, Adam and AdamW against PyTorch 1.13's `torch.optim` over 60–100 steps, and the
//! `[optimizer]` table of every kind in this file's scope (base, Schedule-Free, Mechanic) as a
//! method file writes it.
//!
//! Fixtures come from `scripts/fixtures/gen_optimizers_base.py`; the error criterion is
//! [`fixture_replay::Agreement`] (relative to the distance each coordinate travelled, plus
//! `f32` storage slack) at `rtol = 1e-5`, effective LR purely relative.

mod fixture_replay;

use fixture_replay::{Agreement, load, replay_spec};
use lrctl_optim::adam::{AdamConfig, AdamWConfig};
use lrctl_optim::mechanic::MechanicConfig;
use lrctl_optim::schedulefree::{ScheduleFreeAdamWConfig, ScheduleFreeSgdConfig};
use lrctl_optim::sgd::SgdConfig;
use lrctl_optim::{OptimError, OptimizerSpec};

/// The issue's bar for the base optimizers: 1e-5 relative.
const AGREEMENT: Agreement = Agreement {
    rtol: 1e-5,
    floor: 0.1,
    ulps: 2.0,
};

/// Replays every case of `file` at [`AGREEMENT`]; returns the case names.
fn check_fixture(file: &str, class: &str) -> Vec<String> {
    let fixture = load(file);
    assert_eq!(fixture.reference.package, "torch", "{file}");
    assert_eq!(fixture.reference.class, class, "{file}");
    assert!(fixture.reference.version.starts_with("1.13"), "{file}");
    assert!(
        fixture.problem.n_params() >= 50,
        "{file}: problem too small"
    );
    for case in &fixture.cases {
        assert!(case.steps.len() >= 50, "{file} `{}`: < 50 steps", case.name);
        let replayed = replay_spec(&fixture.problem, case);
        let (ours, theirs) = (replayed[0].loss, case.steps[0].loss);
        assert!(
            (ours - theirs).abs() <= 1e-6 * theirs,
            "{file} `{}`: initial loss {ours} vs {theirs}",
            case.name
        );
        let worst = AGREEMENT
            .check(&fixture.problem.initial_params, case, &replayed)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        eprintln!(
            "{file} `{}`: worst parameter error {:.1e} (step {}), effective lr {:.1e}",
            case.name, worst.params.0, worst.params.1, worst.effective_lr.0
        );
    }
    fixture.cases.iter().map(|c| c.name.clone()).collect()
}

/// Whether some case's lr changes from step to step.
fn has_schedule(file: &str) -> bool {
    load(file)
        .cases
        .iter()
        .any(|c| c.lr.windows(2).any(|w| w[0] != w[1]))
}

#[test]
fn sgd_matches_torch() {
    let names = check_fixture("base_sgd.json", "torch.optim.SGD");
    for want in [
        "plain",
        "momentum-schedule",
        "nesterov-wd",
        "dampening-wd-step-decay",
    ] {
        assert!(names.iter().any(|n| n == want), "missing case {want}");
    }
    assert!(has_schedule("base_sgd.json"));
}

#[test]
fn adam_matches_torch() {
    let names = check_fixture("base_adam.json", "torch.optim.Adam");
    assert!(names.iter().any(|n| n == "l2-amsgrad-schedule"));
    assert!(has_schedule("base_adam.json"));
}

#[test]
fn adamw_matches_torch() {
    let names = check_fixture("base_adamw.json", "torch.optim.AdamW");
    assert!(names.iter().any(|n| n == "paper"));
    assert!(has_schedule("base_adamw.json"));
}

/// The criterion is not vacuous: a slightly different configuration fails it.
#[test]
fn a_perturbed_configuration_fails_the_agreement() {
    let fixture = load("base_adamw.json");
    let case = fixture.case("paper");
    let mut perturbed = case.spec();
    let OptimizerSpec::AdamW(c) = &mut perturbed else {
        panic!("paper case is adamw")
    };
    c.betas[1] = 0.991;
    let mut opt = perturbed.build(fixture.problem.n_params()).unwrap();
    let replayed = fixture_replay::replay(&fixture.problem, case, opt.as_mut());
    assert!(
        AGREEMENT
            .check(&fixture.problem.initial_params, case, &replayed)
            .is_err()
    );
}

fn parse(text: &str) -> Result<OptimizerSpec, OptimError> {
    let mut table: toml::Table = toml::from_str(text).expect("valid TOML");
    let optimizer = table.remove("optimizer").expect("an [optimizer] table");
    OptimizerSpec::from_deserializer(optimizer)
}

#[test]
fn method_file_tables_parse_with_defaults() {
    let spec = parse(
        r#"
        [optimizer]
        kind = "adamw"
        betas = [0.9, 0.99]
        eps = 1e-8
        weight_decay = 0.0
        "#,
    )
    .unwrap();
    assert_eq!(
        spec,
        OptimizerSpec::AdamW(AdamWConfig {
            betas: [0.9, 0.99],
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
        })
    );
    assert_eq!(spec.kind(), "adamw");
    let cases = [
        (
            "kind = \"sgd\"\nmomentum = 0.9\nnesterov = true",
            OptimizerSpec::Sgd(SgdConfig {
                momentum: 0.9,
                nesterov: true,
                ..SgdConfig::default()
            }),
        ),
        (
            "kind = \"adam\"\namsgrad = true",
            OptimizerSpec::Adam(AdamConfig {
                amsgrad: true,
                ..AdamConfig::default()
            }),
        ),
        (
            "kind = \"schedulefree-sgd\"\nwarmup_steps = 100\nr = 1.0",
            OptimizerSpec::ScheduleFreeSgd(ScheduleFreeSgdConfig {
                warmup_steps: 100,
                r: 1.0,
                ..ScheduleFreeSgdConfig::default()
            }),
        ),
        (
            "kind = \"schedulefree-adamw\"\nbetas = [0.9, 0.99]\ndecay_at_z = true",
            OptimizerSpec::ScheduleFreeAdamW(ScheduleFreeAdamWConfig {
                betas: [0.9, 0.99],
                decay_at_z: true,
                ..ScheduleFreeAdamWConfig::default()
            }),
        ),
    ];
    for (body, want) in cases {
        let spec = parse(&format!("[optimizer]\n{body}\n")).unwrap();
        assert_eq!(spec, want, "{body}");
        // Round trip through TOML.
        let text = toml::to_string(&spec).unwrap();
        assert_eq!(toml::from_str::<OptimizerSpec>(&text).unwrap(), want);
        assert!(spec.build(10).is_ok());
    }
}

#[test]
fn mechanic_nests_its_base_optimizer() {
    let spec = parse(
        r#"
        [optimizer]
        kind = "mechanic"
        store_delta = true

        [optimizer.base]
        kind = "adamw"
        betas = [0.9, 0.99]
        weight_decay = 0.0
        "#,
    )
    .unwrap();
    let base = OptimizerSpec::AdamW(AdamWConfig {
        betas: [0.9, 0.99],
        weight_decay: 0.0,
        ..AdamWConfig::default()
    });
    assert_eq!(
        spec,
        OptimizerSpec::Mechanic(MechanicConfig {
            store_delta: true,
            ..MechanicConfig::new(base)
        })
    );
    let opt = spec.build(5).unwrap();
    assert_eq!(opt.name(), "mechanic");
    // The base is required.
    let err = parse("[optimizer]\nkind = \"mechanic\"\n").unwrap_err();
    assert!(err.to_string().contains("base"), "{err}");
    // Only SGD, Adam and AdamW can be wrapped.
    let err =
        parse("[optimizer]\nkind = \"mechanic\"\n[optimizer.base]\nkind = \"schedulefree-sgd\"")
            .unwrap_err();
    assert!(
        matches!(err, OptimError::InvalidField { field: "base", .. }),
        "{err}"
    );
}

#[test]
fn bad_tables_name_the_kind_or_field() {
    let parse_err = |body: &str| parse(&format!("[optimizer]\n{body}\n")).unwrap_err();
    // Unknown kind and unknown field: parse errors naming them.
    let err = parse_err("kind = \"adamx\"");
    assert!(
        matches!(err, OptimError::Parse(_)) && err.to_string().contains("adamx"),
        "{err}"
    );
    for (kind, field) in [
        ("sgd", "nesterov_momentum"),
        ("adam", "beta1"),
        ("adamw", "lr"),
        ("schedulefree-sgd", "warmup"),
        ("schedulefree-adamw", "decay_at_y"),
    ] {
        let err = parse_err(&format!("kind = \"{kind}\"\n{field} = 1"));
        assert!(
            matches!(err, OptimError::Parse(_)) && err.to_string().contains(field),
            "{kind}: {err}"
        );
    }
    let err = parse_err("kind = \"mechanic\"\nbase = { kind = \"sgd\", moment = 0.9 }");
    assert!(err.to_string().contains("moment"), "{err}");
    // Wrong type.
    let err = parse_err("kind = \"adam\"\nbetas = 0.9");
    assert!(matches!(err, OptimError::Parse(_)), "{err}");
    // Values out of range: the validation error names kind and field.
    for (body, kind, field) in [
        ("kind = \"adam\"\neps = -1e-8", "adam", "eps"),
        ("kind = \"adamw\"\nbetas = [0.9, 1.0]", "adamw", "betas[1]"),
        ("kind = \"adamw\"\nbetas = [-0.1, 0.9]", "adamw", "betas[0]"),
        ("kind = \"sgd\"\nmomentum = 1.5", "sgd", "momentum"),
        ("kind = \"sgd\"\nweight_decay = -0.1", "sgd", "weight_decay"),
        ("kind = \"sgd\"\nnesterov = true", "sgd", "nesterov"),
        (
            "kind = \"schedulefree-sgd\"\nmomentum = 0.0",
            "schedulefree-sgd",
            "momentum",
        ),
        (
            "kind = \"schedulefree-adamw\"\neps = 0.0",
            "schedulefree-adamw",
            "eps",
        ),
        (
            "kind = \"mechanic\"\nbetas = [0.9, 1.1]\nbase = { kind = \"sgd\" }",
            "mechanic",
            "betas",
        ),
        (
            "kind = \"mechanic\"\nbase = { kind = \"adamw\", eps = -1.0 }",
            "adamw",
            "eps",
        ),
    ] {
        let err = parse_err(body);
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("`{kind}`")) && msg.contains(&format!("`{field}`")),
            "{body}: {msg}"
        );
    }
    // The same checks guard `build`.
    let bad = OptimizerSpec::Adam(AdamConfig {
        eps: -1.0,
        ..AdamConfig::default()
    });
    assert!(bad.build(3).is_err());
}

/// A NaN gradient (or parameter) must reach the parameters, never panic and never be
/// swallowed: the engine detects divergence from non-finite parameters.
#[test]
fn nan_gradients_propagate_to_the_parameters() {
    let specs = [
        "kind = \"sgd\"\nmomentum = 0.9",
        "kind = \"sgd\"\nmomentum = 0.9\nnesterov = true\nweight_decay = 0.1",
        "kind = \"adam\"\namsgrad = true",
        "kind = \"adamw\"",
        "kind = \"schedulefree-sgd\"",
        "kind = \"schedulefree-adamw\"\nweight_decay = 0.1",
        "kind = \"mechanic\"\nbase = { kind = \"sgd\" }",
        "kind = \"mechanic\"\nstore_delta = true\nbase = { kind = \"adamw\" }",
    ];
    for body in specs {
        let spec = parse(&format!("[optimizer]\n{body}\n")).unwrap();
        let mut opt = spec.build(3).unwrap();
        let mut params = vec![1.0f32, -1.0, 0.5];
        for _ in 0..3 {
            let g = [0.1, 0.2, -0.3];
            opt.step(&mut params, &g, 0.01);
        }
        let info = opt.step(&mut params, &[f32::NAN, 0.1, 0.1], 0.01);
        opt.prepare_eval(&mut params);
        assert!(params.iter().any(|p| !p.is_finite()), "{body}: {params:?}");
        if spec.kind() == "mechanic" {
            // The scale itself becomes NaN (as in the reference), so every parameter does,
            // rather than the scale being clamped to 0 and the rest reset to x_ref.
            assert!(info.effective_lr.is_nan(), "{body}: {info:?}");
            assert!(params.iter().all(|p| p.is_nan()), "{body}: {params:?}");
        }
    }
}
