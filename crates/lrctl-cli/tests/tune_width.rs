//! `lrctl tune --fidelity width`: refused with the reason for a task without a width axis and a
//! method without a tunable learning rate; on a tiny MLP it tunes the narrow copy and writes a
//! method whose learning rate then trains the wide task.

mod common;

use common::{run_err, run_ok};

fn args<'a>(task: &'a str, method: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "tune",
        "--task",
        task,
        "--method",
        method,
        "--tuner",
        "random",
        "--trials",
        "3",
        "--max-budget",
        "20",
        "--min-budget",
        "20",
        "--jobs",
        "1",
        "--quiet",
        "--no-store",
        "--fidelity",
        "width",
    ];
    v.extend_from_slice(extra);
    v
}

#[test]
fn width_fidelity_refuses_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let e = run_err(dir.path(), &args("logreg/iris", "adam-fixed", &[]));
    assert!(e.contains("no width axis"), "{e}");
    // Prodigy's `controller.lr` only multiplies its own step size: nothing to transfer.
    std::fs::write(
        dir.path().join("s.toml"),
        "[search.\"controller.lr\"]\nlow = 0.1\nhigh = 10.0\n",
    )
    .unwrap();
    let e = run_err(
        dir.path(),
        &args("mlp/digits@w2", "prodigy", &["--space", "s.toml"]),
    );
    assert!(e.contains("sets its own step size"), "{e}");
    let e = run_err(
        dir.path(),
        &args("mlp/digits@w2", "adam-fixed", &["--width-from", "2"]),
    );
    assert!(e.contains("not narrower"), "{e}");
}

#[test]
fn a_learning_rate_tuned_narrow_trains_the_wide_mlp() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = run_ok(
        d,
        &args("mlp/digits@w2", "adam-fixed", &["--out", "t.toml"]),
    );
    assert!(text.contains("tuning on `mlp/digits`"), "{text}");
    assert!(text.contains("is for `mlp/digits@w2`"), "{text}");
    let out = run_ok(
        d,
        &[
            "train",
            "--task",
            "mlp/digits@w2",
            "--method",
            "t.toml",
            "--steps",
            "10",
        ],
    );
    assert!(out.contains("finished"), "{out}");
}
