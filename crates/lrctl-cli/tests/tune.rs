//! End-to-end tests of `lrctl tune`: the printed incumbent and cost, the JSON report, and the
//! messages bad input gets.

mod common;

use common::{run_err, run_ok};

const HYPERBAND: &[&str] = &[
    "tune",
    "--task",
    "logreg/iris",
    "--method",
    "adam-fixed",
    "--tuner",
    "hyperband",
    "--max-budget",
    "81",
    "--min-budget",
    "3",
    "--jobs",
    "2",
    "--quiet",
];

fn report(dir: &std::path::Path, file: &str) -> serde_json::Value {
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(file)).unwrap()).unwrap();
    // Timings differ between runs; everything else must not.
    for t in v["trials"].as_array_mut().unwrap() {
        t["seconds"] = 0.into();
    }
    v["cost"]["seconds"] = 0.into();
    v["cost"]["wall_seconds"] = 0.into();
    v
}

#[test]
fn tune_prints_the_incumbent_and_the_cost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut args = HYPERBAND.to_vec();
    args.extend(["--out", "a.json"]);
    let text = run_ok(d, &args);
    assert!(text.contains("with hyperband"), "{text}");
    assert!(text.contains("controller.lr"), "{text}");
    assert!(text.contains("incumbent   trial "), "{text}");
    assert!(text.contains(" at 81 steps: controller.lr = "), "{text}");
    assert!(text.contains("score       "), "{text}");
    assert!(text.contains("cost        50 trials"), "{text}");
    assert!(text.contains("full runs of 81 steps"), "{text}");
    assert!(text.contains("wrote a.json"), "{text}");

    let a = report(d, "a.json");
    let trials = a["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 50);
    let steps: u64 = trials.iter().map(|t| t["steps"].as_u64().unwrap()).sum();
    assert_eq!(a["cost"]["steps"].as_u64(), Some(steps));
    assert_eq!(a["cost"]["trials"].as_u64(), Some(50));
    assert_eq!(a["tuner"], "hyperband");
    assert_eq!(a["objective"], "valid-metric");
    let inc = &a["incumbent"];
    assert_eq!(inc["budget"].as_u64(), Some(81));
    assert_eq!(
        a["tuned"]["controller"]["lr"], inc["config"]["controller.lr"],
        "the tuned method carries the incumbent's rate"
    );
    for t in trials {
        assert!(
            [3, 9, 27, 81].contains(&t["budget"].as_u64().unwrap()),
            "{t}"
        );
    }

    // The same tuning seed reproduces the run, trained again (no store) or replayed from the
    // trials the first run stored.
    let mut again = HYPERBAND.to_vec();
    again.extend(["--out", "b.json", "--no-store"]);
    run_ok(d, &again);
    assert_eq!(a, report(d, "b.json"));
    let mut replay = HYPERBAND.to_vec();
    replay.extend(["--out", "c.json"]);
    let text = run_ok(d, &replay);
    assert!(text.contains("resuming: 50 of this run's trials"), "{text}");
    assert_eq!(a, report(d, "c.json"));
}

#[test]
fn a_tuned_method_is_written_as_a_method_file_that_runs_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut args = HYPERBAND.to_vec();
    args.extend(["--trials", "12", "--out", "tuned.toml"]);
    let text = run_ok(d, &args);
    assert!(
        text.contains("controller.lr in [") && text.contains(", 1] log"),
        "{text}"
    );
    let toml = std::fs::read_to_string(d.join("tuned.toml")).unwrap();
    assert!(
        toml.contains("name = \"adam-fixed-tuned-logreg-iris\""),
        "{toml}"
    );
    assert!(toml.contains("tuned on logreg/iris by hyperband"), "{toml}");
    let out = run_ok(
        d,
        &[
            "train",
            "--task",
            "logreg/iris",
            "--method",
            "tuned.toml",
            "--steps",
            "5",
        ],
    );
    assert!(
        out.contains("method      adam-fixed-tuned-logreg-iris"),
        "{out}"
    );
    let out = run_ok(
        d,
        &[
            "run",
            "--task",
            "logreg/iris",
            "--method",
            "tuned.toml",
            "--seeds",
            "1",
            "--steps",
            "5",
            "--quiet",
            "--store",
            "s.db",
        ],
    );
    assert!(out.contains("adam-fixed-tuned-logreg-iris"), "{out}");
}

#[test]
fn a_killed_tuning_run_resumes_from_its_stored_trials() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut args: Vec<&str> = HYPERBAND.to_vec();
    args.extend(["--out", "whole.json", "--store", "whole.db"]);
    run_ok(d, &args);
    // A run killed after 20 trials leaves those in its store: keep only them.
    std::fs::copy(d.join("whole.db"), d.join("part.db")).unwrap();
    if !delete_trials_from_20(d) {
        return;
    }
    let mut resumed: Vec<&str> = HYPERBAND.to_vec();
    resumed.extend(["--out", "resumed.json", "--store", "part.db"]);
    let text = run_ok(d, &resumed);
    assert!(text.contains("resuming: 20 of this run's trials"), "{text}");
    assert_eq!(report(d, "whole.json"), report(d, "resumed.json"));
}

/// Deletes every trial from id 20 on in `part.db` with the sqlite3 shell; false (skipped)
/// when the shell is missing and not required.
fn delete_trials_from_20(d: &std::path::Path) -> bool {
    let out = std::process::Command::new("sqlite3")
        .arg(d.join("part.db"))
        .arg("delete from trial where trial >= 20")
        .output();
    match out {
        Ok(o) => {
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            true
        }
        Err(e) => {
            assert!(
                std::env::var("LRCTL_REQUIRE_SQLITE3").as_deref() != Ok("1"),
                "sqlite3: {e}"
            );
            eprintln!("skipped: no sqlite3 shell");
            false
        }
    }
}
#[test]
fn tune_rejects_bad_input_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let with = |extra: &[&str]| -> String {
        let mut args = vec!["tune", "--task", "logreg/iris", "--method", "adam-fixed"];
        args.extend(extra);
        run_err(d, &args)
    };

    let msg = with(&["--tuner", "hyperbnad"]);
    assert!(
        msg.contains("unknown tuner `hyperbnad`")
            && msg.contains("random, sh, hyperband, asha, bohb, smac, top-k"),
        "{msg}"
    );
    let msg = with(&["--tuner", "sh", "--min-budget", "100", "--max-budget", "81"]);
    assert!(
        msg.contains("--min-budget (100) is greater than --max-budget (81)"),
        "{msg}"
    );
    let msg = with(&["--tuner", "sh", "--min-budget", "1000"]);
    assert!(
        msg.contains("--min-budget (1000)") && msg.contains("--max-budget"),
        "{msg}"
    );
    let msg = with(&["--tuner", "sh", "--eta", "1.5"]);
    assert!(msg.contains("--eta"), "{msg}");
    let msg = with(&["--tuner", "sh", "--objective", "accuracy"]);
    assert!(msg.contains("valid-metric"), "{msg}");

    let msg = run_err(
        d,
        &[
            "tune",
            "--task",
            "logreg/iris",
            "--method",
            "prodigy",
            "--tuner",
            "smac",
        ],
    );
    assert!(
        msg.contains("method `prodigy` has no learning rate to tune") && msg.contains("--space"),
        "{msg}"
    );
    let msg = run_err(
        d,
        &[
            "tune",
            "--task",
            "logreg/irs",
            "--method",
            "adam-fixed",
            "--tuner",
            "smac",
        ],
    );
    assert!(msg.contains("did you mean `logreg/iris`"), "{msg}");

    std::fs::write(
        d.join("space.toml"),
        "[search.controller.t0]\ntype = \"int\"\nlow = 1\nhigh = 50\n",
    )
    .unwrap();
    let msg = with(&["--tuner", "smac", "--space", "space.toml"]);
    assert!(
        msg.contains("--space space.toml")
            && msg.contains("no hyperparameter `controller.t0`")
            && msg.contains("controller.lr"),
        "{msg}"
    );
    std::fs::write(
        d.join("bad.toml"),
        "[search.controller.lr]\nlow = 0.0\nhigh = 1.0\nlog = true\n",
    )
    .unwrap();
    let msg = with(&["--tuner", "smac", "--space", "bad.toml"]);
    assert!(
        msg.contains("bad.toml") && msg.contains("`controller.lr`") && msg.contains("log"),
        "{msg}"
    );
}
