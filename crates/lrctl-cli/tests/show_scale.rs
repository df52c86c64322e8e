//! `lrctl show --scale` on a tiny ladder (an MLP at width ×1 and ×2, a tuned and an untuned
//! method) and on a study without a ladder.

mod common;

use common::run_ok;

#[test]
fn show_scale_prints_the_ladder_or_says_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = |study: &str, tasks: &[&str]| {
        let mut args = vec!["run", "--study", study, "--quiet", "--seeds", "1"];
        for t in tasks {
            args.extend(["--task", t]);
        }
        args.extend([
            "--method",
            "adam-fixed",
            "--method",
            "smac-fixed",
            "--steps",
            "5",
            "--jobs",
            "1",
        ]);
        run_ok(d, &args);
    };
    run("flat", &["logreg/iris"]);
    let out = run_ok(d, &["show", "--scale", "--study", "flat"]);
    assert!(out.contains("This study has no ladder"), "{out}");
    run("ladder", &["mlp/digits", "mlp/digits@w2"]);
    let out = run_ok(d, &["show", "--scale", "--study", "ladder"]);
    assert!(out.contains("mlp/digits along width"), "{out}");
    assert!(out.contains("| ×2 | mlp/digits@w2 |"), "{out}");
    assert!(out.contains("| smac-fixed | tuned |"), "{out}");
}

/// `smac-fixed-w1` tunes once at width ×1 — on the ×1 rung that is the task itself, not a
/// refusal — and `show --scale` pairs it with `smac-fixed` in a transfer table.
#[test]
fn a_width_fidelity_method_runs_on_every_rung_and_gets_a_transfer_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut args = vec!["run", "--study", "transfer", "--quiet", "--seeds", "1"];
    for t in ["mlp/digits", "mlp/digits@w2"] {
        args.extend(["--task", t]);
    }
    for m in ["adam-fixed", "smac-fixed", "smac-fixed-w1"] {
        args.extend(["--method", m]);
    }
    args.extend(["--steps", "5", "--jobs", "1"]);
    run_ok(d, &args);
    let status = run_ok(d, &["status", "--study", "transfer"]);
    let row = status.lines().find(|l| l.starts_with("transfer")).unwrap();
    // cells queued running finished diverged failed: all 6 done, none failed.
    let counts: Vec<&str> = row.split_whitespace().skip(1).take(6).collect();
    assert_eq!(counts[0], "6", "{status}");
    assert_eq!(counts[5], "0", "{status}");
    let out = run_ok(d, &["show", "--scale", "--study", "transfer"]);
    assert!(out.contains("smac-fixed-w1 (from ×1)"), "{out}");
    assert!(out.contains("transfer regret"), "{out}");
}
