//! The `[controller]` table: every kind parses from TOML, builds, round-trips, describes
//! itself, and bad tables give errors that name the field.

use lrctl_control::{ControlError, ControllerSpec, Observation};
use serde::{Deserialize, Serialize};

/// How a method file embeds the table.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Method {
    name: String,
    controller: ControllerSpec,
}

fn parse(table: &str) -> Result<ControllerSpec, String> {
    let text = format!("name = \"m\"\n\n[controller]\n{table}");
    toml::from_str::<Method>(&text)
        .map(|m| m.controller)
        .map_err(|e| e.to_string())
}

/// One table of every kind (plus a few aliases and nested compositions).
const EXAMPLES: &[&str] = &[
    "kind = \"constant\"\nlr = 0.001",
    "kind = \"step\"\nlr = 0.1\nstep_size = 30\ngamma = 0.1",
    "kind = \"step\"\nlr = 0.1\nstep_size = 3\nunit = \"epoch\"",
    "kind = \"multi-step\"\nlr = 0.1\nmilestones = [100, 150]",
    "kind = \"exponential\"\nlr = 0.1\ngamma = 0.99",
    "kind = \"polynomial\"\nlr = 0.1\npower = 2.0",
    "kind = \"polynomial\"\nlr = 0.1\ntotal_iters = 50\neta_min = 0.001",
    "kind = \"inverse-sqrt\"\nlr = 0.001\nwarmup = 4000",
    "kind = \"linear-warmup\"\nlr = 0.01\nwarmup = 100\nstart_factor = 0.01",
    "kind = \"cosine\"\nlr = 0.01\neta_min = 1e-5",
    "kind = \"cosine\"\nlr = 0.01\nt_max = 500",
    "kind = \"cosine-warm-restarts\"\nlr = 0.005\nt0 = 10\nt_mult = 2\neta_min = 0.0",
    "kind = \"one-cycle\"\nmax_lr = 0.01\nanneal_strategy = \"cos\"",
    "kind = \"one-cycle\"\nlr = 0.01\ntotal = 1000\npct_start = 0.25\nanneal = \"linear\"\nthree_phase = true",
    "kind = \"warmup-stable-decay\"\nlr = 0.001\nwarmup = 100\ndecay_fraction = 0.2\ndecay = \"sqrt\"\nmin_lr = 1e-5",
    "kind = \"wsd\"\nlr = 0.001",
    "kind = \"sequential\"\nlr = 0.01\nmilestones = [100]\nphases = [\n  { kind = \"linear-warmup\", warmup = 100, start_factor = 0.01 },\n  { kind = \"cosine\", eta_min = 1e-5 },\n]",
    "kind = \"sequential\"\nmilestones = [10, 20]\n\n[[controller.phases]]\nkind = \"constant\"\nlr = 0.1\n\n[[controller.phases]]\nkind = \"constant\"\nlr = 0.01\n\n[[controller.phases]]\nkind = \"cosine-warm-restarts\"\nlr = 0.05\nt0 = 5",
    "kind = \"product\"\nlr = 0.001\nfactors = [\n  { kind = \"linear-warmup\", warmup = 50, start_factor = 0.0 },\n  { kind = \"cosine\" },\n]",
    "kind = \"multiplicative\"\nlr = 1.0\nfactors = [\n  { kind = \"linear-warmup\", warmup = 5 },\n  { kind = \"sequential\", milestones = [50], phases = [{ kind = \"constant\" }, { kind = \"exponential\", gamma = 0.9 }] },\n]",
    "kind = \"reduce-on-plateau\"\nlr = 0.001",
    "kind = \"reduce-on-plateau\"\nlr = 0.001\nmonitor = \"eval-metric\"\nmode = \"max\"\npatience = 2\nfactor = 0.5\ncooldown = 1\nthreshold = 0.01\nthreshold_mode = \"abs\"\nmin_lr = 1e-6\neps = 0.0",
    "kind = \"reduce-on-plateau\"\nlr = 0.001\nmonitor = \"train-loss\"\nwindow = 50",
    "kind = \"hypergradient\"\nlr = 0.001\nbeta = 1e-7",
    "kind = \"hypergradient\"\nlr = 0.01\nhypergrad_lr = 0.001\nmin_lr = 1e-4\nmax_lr = 1.0",
    "kind = \"sps\"\nlr = 1.0",
    "kind = \"sps\"\ngamma_b = 10.0\nc = 0.2\nf_star = 0.0",
];

fn examples() -> Vec<ControllerSpec> {
    EXAMPLES
        .iter()
        .map(|t| parse(t).unwrap_or_else(|e| panic!("{t}\n{e}")))
        .collect()
}

#[test]
fn every_kind_has_an_example() {
    let kinds: std::collections::BTreeSet<&str> = examples().iter().map(|s| s.kind()).collect();
    assert_eq!(kinds.len(), 16, "{kinds:?}");
}

#[test]
fn every_example_builds_and_round_trips_through_toml_and_json() {
    for spec in examples() {
        spec.validate().unwrap_or_else(|e| panic!("{spec:?}: {e}"));
        let m = Method {
            name: "m".into(),
            controller: spec.clone(),
        };
        let text = toml::to_string(&m).unwrap();
        let back: Method = toml::from_str(&text).unwrap_or_else(|e| panic!("{text}\n{e}"));
        assert_eq!(back, m, "{text}");
        assert!(
            text.contains(&format!("kind = \"{}\"", spec.kind())),
            "{text}"
        );
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<ControllerSpec>(&json).unwrap(), spec);
    }
}

#[test]
fn the_papers_cawr_default_table() {
    let spec =
        parse("kind = \"cosine-warm-restarts\"\nlr = 0.005\nt0 = 10\nt_mult = 2\neta_min = 0.0")
            .unwrap();
    assert_eq!(spec.kind(), "cosine-warm-restarts");
    assert_eq!(spec.lr(), Some(0.005));
    assert_eq!(
        spec.describe(),
        "cosine with warm restarts (SGDR): lr 0.005 → 0, T0 10 steps, T_mult 2"
    );
    let mut c = spec.build().unwrap();
    let lrs: Vec<f64> = (0..31)
        .map(|t| c.lr(&Observation::at_step(t, 1000)))
        .collect();
    assert_eq!(lrs[0], 0.005);
    assert_eq!(lrs[10], 0.005);
    assert_eq!(lrs[30], 0.005);
    assert!((lrs[5] - 0.0025).abs() < 1e-15);
    assert!((lrs[20] - 0.0025).abs() < 1e-15);
}

#[test]
fn descriptions_are_one_line() {
    for spec in examples() {
        let d = spec.describe();
        assert!(!d.is_empty() && !d.contains('\n'), "{d}");
    }
    let spec = parse(EXAMPLES[16]).unwrap();
    assert_eq!(
        spec.describe(),
        "sequential (lr 0.01): [linear warm-up: the enclosing lr × 0.01 → 1 over 100 steps] until \
         step 100, then [cosine annealing: the enclosing lr → 0.00001 over the budget]"
    );
}

#[test]
fn defaults_follow_pytorch() {
    let spec = parse("kind = \"one-cycle\"\nlr = 0.1").unwrap();
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(json["pct_start"], 0.3);
    assert_eq!(json["div_factor"], 25.0);
    assert_eq!(json["final_div_factor"], 1e4);
    assert_eq!(json["anneal"], "cosine");
    let spec = parse("kind = \"reduce-on-plateau\"\nlr = 0.1").unwrap();
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(json["factor"], 0.1);
    assert_eq!(json["patience"], 10);
    assert_eq!(json["threshold"], 1e-4);
    assert_eq!(json["threshold_mode"], "rel");
    assert_eq!(json["eps"], 1e-8);
    let spec = parse("kind = \"linear-warmup\"\nlr = 0.1\nwarmup = 5").unwrap();
    let json = serde_json::to_value(&spec).unwrap();
    assert_eq!(json["start_factor"], 1.0 / 3.0);
    assert_eq!(json["end_factor"], 1.0);
    let spec = parse("kind = \"cosine-warm-restarts\"\nlr = 0.1\nt0 = 5").unwrap();
    assert_eq!(serde_json::to_value(&spec).unwrap()["t_mult"], 1);
}

#[test]
fn unknown_kinds_and_fields_are_parse_errors_that_name_them() {
    let e = parse("kind = \"cosine-warm-restart\"\nlr = 0.005\nt0 = 10").unwrap_err();
    assert!(e.contains("unknown variant `cosine-warm-restart`"), "{e}");
    assert!(
        e.contains("cosine-warm-restarts"),
        "lists the known kinds: {e}"
    );
    let e = parse("kind = \"cosine-warm-restarts\"\nlr = 0.005\nt0 = 10\nt-mult = 2").unwrap_err();
    assert!(
        e.contains("unknown field `t-mult`") && e.contains("`t_mult`"),
        "{e}"
    );
    let e = parse("kind = \"sps\"\nlr = 1.0\ngamma = 0.5").unwrap_err();
    assert!(e.contains("unknown field `gamma`"), "{e}");
    let e = parse("kind = \"cosine-warm-restarts\"\nlr = 0.005").unwrap_err();
    assert!(e.contains("missing field `t0`"), "{e}");
    let e = parse("lr = 0.005").unwrap_err();
    assert!(e.contains("kind"), "{e}");
    let e = parse("kind = \"cosine-warm-restarts\"\nlr = 0.005\nt0 = -3").unwrap_err();
    assert!(e.contains("-3"), "{e}");
    let e = parse("kind = \"cosine-warm-restarts\"\nlr = \"fast\"\nt0 = 3").unwrap_err();
    assert!(e.contains("fast"), "{e}");
    // Nested tables are checked too.
    let e = parse(
        "kind = \"sequential\"\nlr = 0.1\nmilestones = [5]\nphases = [{ kind = \"constant\" }, { kind = \"cosine\", etamin = 0.0 }]",
    )
    .unwrap_err();
    assert!(e.contains("unknown field `etamin`"), "{e}");
    // The TOML error carries the line.
    let e = parse("kind = \"step\"\nlr = 0.1\nstep_size = 3\nunit = \"epochs\"").unwrap_err();
    assert!(
        e.contains("unknown variant `epochs`") && e.contains("line"),
        "{e}"
    );
}

#[test]
fn from_deserializer_parses_and_validates() {
    let v: toml::Value = toml::from_str("kind = \"step\"\nlr = 0.1\nstep_size = 0").unwrap();
    let e = ControllerSpec::from_deserializer(v).unwrap_err();
    assert!(
        matches!(&e, ControlError::Invalid { field, .. } if field == "step_size"),
        "{e}"
    );
    let v: toml::Value = toml::from_str("kind = \"stepp\"\nlr = 0.1").unwrap();
    let e = ControllerSpec::from_deserializer(v).unwrap_err();
    assert!(
        matches!(&e, ControlError::Parse(m) if m.contains("stepp")),
        "{e}"
    );
    let v: toml::Value = toml::from_str("kind = \"step\"\nlr = 0.1\nstep_size = 2").unwrap();
    assert_eq!(ControllerSpec::from_deserializer(v).unwrap().kind(), "step");
}

fn build_err(table: &str) -> ControlError {
    match parse(table)
        .unwrap_or_else(|e| panic!("{table}\n{e}"))
        .build()
    {
        Ok(_) => panic!("{table}: built"),
        Err(e) => e,
    }
}

fn field_of(e: &ControlError) -> &str {
    match e {
        ControlError::Invalid { field, .. } => field,
        ControlError::Parse(m) => panic!("parse error {m}"),
    }
}

#[test]
fn out_of_range_values_name_the_field() {
    let cases = [
        ("kind = \"constant\"\nlr = -0.1", "lr"),
        ("kind = \"constant\"\nlr = nan", "lr"),
        ("kind = \"constant\"\nlr = inf", "lr"),
        ("kind = \"constant\"", "lr"),
        ("kind = \"cosine-warm-restarts\"\nlr = 0.005\nt0 = 0", "t0"),
        (
            "kind = \"cosine-warm-restarts\"\nlr = 0.005\nt0 = 10\nt_mult = 0",
            "t_mult",
        ),
        (
            "kind = \"cosine-warm-restarts\"\nlr = 0.005\nt0 = 10\neta_min = -1.0",
            "eta_min",
        ),
        (
            "kind = \"step\"\nlr = 0.1\nstep_size = 10\ngamma = 0.0",
            "gamma",
        ),
        ("kind = \"exponential\"\nlr = 0.1\ngamma = -0.9", "gamma"),
        (
            "kind = \"multi-step\"\nlr = 0.1\nmilestones = []",
            "milestones",
        ),
        ("kind = \"cosine\"\nlr = 0.1\ntotal = 0", "total"),
        ("kind = \"linear-warmup\"\nlr = 0.1\nwarmup = 0", "warmup"),
        (
            "kind = \"one-cycle\"\nlr = 0.1\npct_start = 2.0",
            "pct_start",
        ),
        (
            "kind = \"wsd\"\nlr = 0.1\ndecay_fraction = -0.1",
            "decay_fraction",
        ),
        ("kind = \"sequential\"\nlr = 0.1\nphases = []", "phases"),
        (
            "kind = \"sequential\"\nlr = 0.1\nphases = [{ kind = \"constant\" }]\nmilestones = [3]",
            "milestones",
        ),
        (
            "kind = \"sequential\"\nlr = 0.1\nmilestones = [5, 5]\nphases = [{ kind = \"constant\" }, { kind = \"constant\" }, { kind = \"constant\" }]",
            "milestones",
        ),
        (
            "kind = \"sequential\"\nlr = 0.1\nmilestones = [5]\nphases = [{ kind = \"constant\" }, { kind = \"cosine\", eta_min = -1.0 }]",
            "phases[1].eta_min",
        ),
        (
            "kind = \"sequential\"\nmilestones = [5]\nphases = [{ kind = \"constant\", lr = 0.1 }, { kind = \"cosine\" }]",
            "phases[1].lr",
        ),
        (
            "kind = \"sequential\"\nlr = 0.1\nmilestones = [5]\nphases = [{ kind = \"constant\" }, { kind = \"sps\", lr = 1.0 }]",
            "phases[1].kind",
        ),
        ("kind = \"product\"\nlr = 0.1\nfactors = []", "factors"),
        (
            "kind = \"product\"\nfactors = [{ kind = \"cosine\" }]",
            "lr",
        ),
        (
            "kind = \"product\"\nlr = 0.1\nfactors = [{ kind = \"cosine\", lr = 0.5 }]",
            "factors[0].lr",
        ),
        (
            "kind = \"product\"\nlr = 0.1\nfactors = [{ kind = \"sequential\", milestones = [3], phases = [{ kind = \"constant\" }, { kind = \"step\", step_size = 0 }] }]",
            "factors[0].phases[1].step_size",
        ),
        (
            "kind = \"reduce-on-plateau\"\nlr = 0.1\nfactor = 1.5",
            "factor",
        ),
        (
            "kind = \"reduce-on-plateau\"\nlr = 0.1\nmonitor = \"eval-metric\"",
            "mode",
        ),
        ("kind = \"hypergradient\"\nlr = 0.1\nbeta = -1e-3", "beta"),
        ("kind = \"sps\"\nlr = 1.0\nc = 0.0", "c"),
    ];
    for (table, field) in cases {
        let e = build_err(table);
        assert_eq!(field_of(&e), field, "{table}: {e}");
        assert!(e.to_string().contains(&format!("`{field}`")), "{e}");
    }
    let e = build_err("kind = \"cosine-warm-restarts\"\nlr = 0.005\nt0 = 0");
    assert_eq!(
        e.to_string(),
        "controller field `t0` must be at least 1, got 0"
    );
}

fn lrs(spec: &ControllerSpec, total: u64) -> Vec<f64> {
    let mut c = spec.build().unwrap();
    (0..total)
        .map(|t| c.lr(&Observation::at_step(t, total)))
        .collect()
}

fn assert_close(got: &[f64], want: &[f64]) {
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= 1e-12 * w.abs().max(1e-300),
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn sequential_phases_restart_their_clock_and_inherit_or_override_lr() {
    let spec = parse(EXAMPLES[17]).unwrap(); // 0.1 for 10 steps, 0.01 for 10, then SGDR t0 5
    let got = lrs(&spec, 30);
    assert_eq!(&got[..10], &[0.1; 10]);
    assert_eq!(&got[10..20], &[0.01; 10]);
    assert_eq!(got[20], 0.05);
    assert_eq!(got[25], 0.05); // restart 5 steps into the phase
    // A budget-relative phase anneals over exactly its phase.
    let spec = parse(
        "kind = \"sequential\"\nlr = 1.0\nmilestones = [2]\nphases = [{ kind = \"constant\", lr = 0.5 }, { kind = \"polynomial\" }]",
    )
    .unwrap();
    assert_close(&lrs(&spec, 6), &[0.5, 0.5, 1.0, 0.75, 0.5, 0.25]);
}

#[test]
fn product_is_warmup_times_cosine() {
    let spec = parse(
        "kind = \"product\"\nlr = 2.0\nfactors = [{ kind = \"linear-warmup\", warmup = 2, start_factor = 0.5 }, { kind = \"cosine\", eta_min = 1.0 }]",
    )
    .unwrap();
    // Warm-up factors 0.5, 0.75, 1, 1; cosine 2 → 1 over 4 steps, as factors of 2:
    // 1, (1.5 + 0.5·cos(π/4))/2, 0.75, (1.5 + 0.5·cos(3π/4))/2.
    let c = 0.5f64.sqrt();
    let cos = [1.0, (1.5 + 0.5 * c) / 2.0, 0.75, (1.5 - 0.5 * c) / 2.0];
    let warm = [0.5, 0.75, 1.0, 1.0];
    let want: Vec<f64> = (0..4).map(|t| 2.0 * warm[t] * cos[t]).collect();
    assert_close(&lrs(&spec, 4), &want);
    // A product with lr 0 is 0, not NaN.
    let spec = parse("kind = \"product\"\nlr = 0.0\nfactors = [{ kind = \"cosine\" }]").unwrap();
    assert_eq!(lrs(&spec, 3), [0.0; 3]);
}

#[test]
fn epoch_units_read_the_observation_epoch() {
    let spec =
        parse("kind = \"step\"\nlr = 1.0\nstep_size = 1\ngamma = 0.5\nunit = \"epoch\"").unwrap();
    let mut c = spec.build().unwrap();
    let mut o = Observation::at_step(3, 100);
    o.steps_per_epoch = 10;
    o.epoch = 2;
    assert_eq!(c.lr(&o), 0.25);
}

#[test]
fn no_schedule_returns_nan_or_negative_anywhere() {
    for spec in examples().iter().filter(|s| s.is_schedule()) {
        let schedule = spec.schedule().unwrap().unwrap();
        for total in [1u64, 2, 3, 7, 100] {
            for spe in [1u64, 3, 1000] {
                for step in (0..total + 5).chain([10 * total, u64::MAX / 2]) {
                    let v = schedule.lr(lrctl_control::Clock::with_epochs(step, total, spe));
                    assert!(
                        v.is_finite() && v >= 0.0,
                        "{} total {total} step {step}: {v}",
                        spec.describe()
                    );
                }
            }
        }
    }
    for spec in examples().iter().filter(|s| !s.is_schedule()) {
        assert!(spec.schedule().unwrap().is_none());
    }
}
