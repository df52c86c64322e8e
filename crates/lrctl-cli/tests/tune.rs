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

    // The same tuning seed reproduces the run.
    let mut again = HYPERBAND.to_vec();
    again.extend(["--out", "b.json"]);
    run_ok(d, &again);
    assert_eq!(a, report(d, "b.json"));
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
