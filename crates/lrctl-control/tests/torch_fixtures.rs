//! Replays PyTorch's schedulers from `tests/fixtures/torch_schedules.json` (written by
//! `scripts/fixtures/gen_schedules.py` with PyTorch 1.13; CI needs only the JSON).
//!
//! Every case carries the `[controller]` table (as JSON) that should reproduce PyTorch's
//! learning rates step for step, so these tests also exercise the configuration format.
//!
//! Tolerances. lrctl computes every schedule in closed form. PyTorch's `lr` sequence is what it
//! trains with; its chainable schedulers (`ExponentialLR`, `CosineAnnealingLR`, `LinearLR`,
//! `PolynomialLR`, the phases of `SequentialLR`) compute it recursively and drift from the
//! closed form by accumulated rounding, while `CosineAnnealingWarmRestarts` and `OneCycleLR`
//! evaluate closed forms whose terms are grouped differently from lrctl's single interpolation
//! formula. Measured worst cases are ~1e-13 relative (a cosine to `eta_min = 0` near its end,
//! where the rate is tiny and the rounding of the cosine's argument dominates; SGDR with long
//! cycles); most cases agree to a few ulp. Both comparisons use [`REL_TOL`] = 1e-12 relative; cases where PyTorch also
//! exposes `_get_closed_form_lr` are checked against it as well. Reduce-on-plateau multiplies exactly as PyTorch does and is compared
//! at [`EXACT_TOL`] (a few ulp, for JSON float parsing).

use lrctl_control::{ControllerSpec, EvalObservation, GradStats, Observation};
use serde::Deserialize;

const REL_TOL: f64 = 1e-12;
const EXACT_TOL: f64 = 1e-15;

#[derive(Deserialize)]
struct Fixture {
    torch_version: String,
    schedules: Vec<ScheduleCase>,
    plateau: Vec<PlateauCase>,
}

#[derive(Deserialize)]
struct ScheduleCase {
    name: String,
    torch: String,
    controller: ControllerSpec,
    total_steps: u64,
    steps_per_epoch: u64,
    lr: Vec<f64>,
    closed_form: Option<Vec<f64>>,
}

#[derive(Deserialize)]
struct PlateauCase {
    name: String,
    torch: String,
    controller: ControllerSpec,
    metrics: Vec<f64>,
    lr: Vec<f64>,
}

fn fixture() -> Fixture {
    let text = include_str!("fixtures/torch_schedules.json");
    serde_json::from_str(text).expect("fixture parses")
}

fn rel_err(a: f64, b: f64) -> f64 {
    if a == b {
        0.0
    } else {
        (a - b).abs() / a.abs().max(b.abs())
    }
}

fn obs(step: u64, total: u64, steps_per_epoch: u64) -> Observation {
    Observation {
        step,
        total_steps: total,
        steps_per_epoch,
        epoch: step / steps_per_epoch,
        loss: f64::NAN,
        grad: GradStats::default(),
        eval: None,
    }
}

#[test]
fn fixture_covers_the_required_schedulers() {
    let f = fixture();
    assert!(f.torch_version.starts_with("1.13"), "{}", f.torch_version);
    let names: Vec<&str> = f.schedules.iter().map(|c| c.name.as_str()).collect();
    for required in [
        "step",
        "step-per-epoch",
        "multi-step",
        "exponential",
        "polynomial",
        "cosine",
        "cosine-budget",
        "cosine-per-epoch",
        "cawr-default",
        "cawr-tmult1",
        "cawr-tmult3-etamin",
        "cawr-per-epoch",
        "one-cycle",
        "one-cycle-linear",
        "one-cycle-three-phase",
        "linear",
        "sequential",
        "sequential-3",
    ] {
        assert!(names.contains(&required), "fixture lacks case {required}");
    }
    assert!(f.plateau.len() >= 4);
    // The paper's cawr-default: T0 = 10 steps, T_mult = 2, eta_min = 0, base 0.005.
    let cawr = f
        .schedules
        .iter()
        .find(|c| c.name == "cawr-default")
        .unwrap();
    assert_eq!(
        cawr.controller,
        serde_json::from_str::<ControllerSpec>(
            r#"{"kind": "cosine-warm-restarts", "lr": 0.005, "t0": 10, "t_mult": 2, "eta_min": 0.0}"#
        )
        .unwrap()
    );
    assert!(cawr.total_steps >= 630, "covers several restarts");
}

#[test]
fn schedules_match_pytorch_step_for_step() {
    let f = fixture();
    let mut failures = Vec::new();
    for case in &f.schedules {
        assert_eq!(case.lr.len() as u64, case.total_steps, "{}", case.name);
        let mut ctl = case
            .controller
            .build()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let schedule = case
            .controller
            .schedule()
            .unwrap()
            .expect("a fixed schedule");
        let (mut worst, mut worst_closed) = (0.0f64, None::<f64>);
        for t in 0..case.total_steps {
            let o = obs(t, case.total_steps, case.steps_per_epoch);
            let got = ctl.lr(&o);
            assert_eq!(
                got,
                schedule.lr(lrctl_control::Clock::of(&o)),
                "{} step {t}",
                case.name
            );
            let want = case.lr[t as usize];
            let e = rel_err(got, want);
            worst = worst.max(e);
            if e > REL_TOL {
                failures.push(format!(
                    "{} ({}) step {t}: lrctl {got:e}, torch {want:e}",
                    case.name, case.torch
                ));
            }
            if let Some(closed) = &case.closed_form {
                let e = rel_err(got, closed[t as usize]);
                worst_closed = Some(worst_closed.unwrap_or(0.0).max(e));
                if e > REL_TOL {
                    failures.push(format!(
                        "{} closed form step {t}: lrctl {got:e}, torch {:e}",
                        case.name, closed[t as usize]
                    ));
                }
            }
        }
        let closed = worst_closed.map_or("n/a".to_string(), |e| format!("{e:.1e}"));
        println!(
            "{:24} max rel err vs torch {worst:.1e}, vs closed form {closed}",
            case.name
        );
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures[..failures.len().min(20)].join("\n")
    );
}

/// Feeds a plateau case through the controller the way the engine would: evaluation results
/// arrive with the observation of the first step after them; training losses arrive every step.
#[test]
fn reduce_on_plateau_matches_pytorch() {
    let f = fixture();
    for case in &f.plateau {
        let mut ctl = case
            .controller
            .build()
            .unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let json = serde_json::to_value(&case.controller).unwrap();
        let monitor = json
            .get("monitor")
            .and_then(|m| m.as_str())
            .unwrap_or("train-loss");
        let n = case.metrics.len();
        assert_eq!(case.lr.len(), n + 1, "{}", case.name);
        let mut got = Vec::with_capacity(n + 1);
        for k in 0..=n {
            let mut o = obs(k as u64, n as u64 + 1, 1);
            match monitor {
                // lr of step k: after k metric values; value k-1 arrives with step k.
                "eval-loss" | "eval-metric" => {
                    if k > 0 {
                        let v = case.metrics[k - 1];
                        o.eval = Some(EvalObservation {
                            step: k as u64,
                            loss: if monitor == "eval-loss" { v } else { f64::NAN },
                            metric: (monitor == "eval-metric").then_some(v),
                        });
                    }
                }
                // window = 1: the loss of step k is fed after step k's rate is chosen.
                "train-loss" => o.loss = case.metrics.get(k).copied().unwrap_or(f64::NAN),
                other => panic!("unexpected monitor {other}"),
            }
            got.push(ctl.lr(&o));
        }
        let reductions = case.lr.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(
            reductions >= 2,
            "{}: the case should exercise reductions",
            case.name
        );
        for (k, (g, w)) in got.iter().zip(&case.lr).enumerate() {
            assert!(
                rel_err(*g, *w) <= EXACT_TOL,
                "{} ({}) after {k} values: lrctl {g:e}, torch {w:e}",
                case.name,
                case.torch
            );
        }
    }
}
