//! End-to-end tests of `lrctl meta-train`: a learned controller meta-trained on embedded
//! tasks, written as a policy and a method file that other commands take, resumed from its
//! saved state, and the messages bad input gets.

mod common;

use common::{run_err, run_ok};

const ARGS: &[&str] = &[
    "meta-train",
    "--tasks",
    "logreg/iris,logreg/wine-quality",
    "--out",
    "pol.json",
    "--generations",
    "4",
    "--full-generations",
    "1",
    "--jobs",
    "2",
];

#[test]
fn meta_train_writes_a_policy_and_a_method_that_trains_on_a_held_out_task() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = run_ok(d, ARGS);
    assert!(
        out.contains("meta-trained a linear policy on 2 task(s)"),
        "{out}"
    );
    assert!(out.contains("generation   4/4 (100 % budget)"), "{out}");
    let policy: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("pol.json")).unwrap()).unwrap();
    assert_eq!(policy["format"], "lrctl-policy");
    assert_eq!(
        policy["layers"][0]["weights"][0].as_array().unwrap().len(),
        13
    );
    let method = std::fs::read_to_string(d.join("pol.toml")).unwrap();
    assert!(method.contains("kind = \"learned\"") && method.contains("policy = \"pol.json\""));
    // The learned method trains a task it never saw.
    let out = run_ok(
        d,
        &[
            "train",
            "--task",
            "logreg/breast-cancer",
            "--method",
            "pol.toml",
        ],
    );
    assert!(out.contains("test"), "{out}");

    // Run again (with another --jobs, which changes no result): everything is in the saved
    // state, nothing is trained twice, same policy.
    let before = std::fs::read_to_string(d.join("pol.json")).unwrap();
    let again: Vec<&str> = ARGS
        .iter()
        .map(|a| if *a == "2" { "1" } else { a })
        .collect();
    assert!(again.windows(2).any(|w| w == ["--jobs", "1"]));
    let out = run_ok(d, &again);
    assert!(
        out.contains("resuming") && out.contains("after generation 4"),
        "{out}"
    );
    assert_eq!(std::fs::read_to_string(d.join("pol.json")).unwrap(), before);
    // Other settings against the same state are refused, not mixed.
    let mut other = ARGS.to_vec();
    other.extend(["--sigma", "0.1"]);
    let err = run_err(d, &other);
    assert!(
        err.contains("other settings") && err.contains("--fresh"),
        "{err}"
    );
}

#[test]
fn meta_train_refuses_bad_input_before_training() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = run_err(
        d,
        &["meta-train", "--tasks", "logreg/iris", "--out", "p.txt"],
    );
    assert!(err.contains("FILE.json"), "{err}");
    let err = run_err(
        d,
        &[
            "meta-train",
            "--tasks",
            "logreg/iris",
            "--out",
            "p.json",
            "--fidelity",
            "0",
        ],
    );
    assert!(err.contains("fidelity must be in (0, 1]"), "{err}");
    let err = run_err(
        d,
        &["meta-train", "--tasks", "logreg/irsi", "--out", "p.json"],
    );
    assert!(err.contains("logreg/iris"), "{err}");
    std::fs::write(d.join("bad.json"), "{\"format\": \"lrctl-policy\"}").unwrap();
    let err = run_err(
        d,
        &[
            "meta-train",
            "--tasks",
            "logreg/iris",
            "--out",
            "p.json",
            "--init",
            "bad.json",
        ],
    );
    assert!(err.contains("bad.json"), "{err}");
    assert!(!d.join("p.json").exists());
    // A task whose data is missing is named before any training: no state is saved.
    let out = common::lrctl()
        .current_dir(d)
        .args([
            "meta-train",
            "--tasks",
            "logreg/iris,libsvm/a9a",
            "--out",
            "p.json",
            "--data-dir",
            "/nonexistent/dir",
        ])
        .env("HOME", d)
        .env("XDG_CACHE_HOME", d.join("cache"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("libsvm/a9a"), "{err}");
    assert!(!d.join("p.state.json").exists());
}

#[test]
fn leave_one_task_out_tests_each_policy_on_the_task_it_never_saw() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = run_err(
        d,
        &[
            "meta-train",
            "--tasks",
            "logreg/iris,logreg/wine-quality",
            "--out",
            "l.json",
            "--loto",
        ],
    );
    assert!(err.contains("at least three tasks"), "{err}");
    let tasks = "logreg/iris,logreg/wine-quality,logreg/breast-cancer";
    let out = run_ok(
        d,
        &[
            "meta-train",
            "--tasks",
            tasks,
            "--out",
            "l.json",
            "--loto",
            "--generations",
            "2",
            "--full-generations",
            "1",
            "--quiet",
        ],
    );
    assert!(out.contains("held-out mean log-ratio"), "{out}");
    let report = read_json(&d.join("l.json"));
    let folds = report["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 3);
    for f in folds {
        let held = f["held_out"].as_str().unwrap();
        let trained = names(&f["trained_on"]);
        // The held-out task is never among those the policy learnt from.
        assert_eq!(trained.len(), 2);
        assert!(!trained.contains(&held), "{held} in {trained:?}");
        assert_eq!(f["objective"][0]["task"], held);
    }

    // Cross-task folds: four tasks in two folds, each held out whole.
    let four = "logreg/iris,logreg/wine-quality,logreg/breast-cancer,mlp/digits";
    for k in ["1", "5"] {
        let err = run_err(
            d,
            &[
                "meta-train",
                "--tasks",
                four,
                "--out",
                "f.json",
                "--loto",
                "--folds",
                k,
            ],
        );
        assert!(err.contains(&format!("--folds {k}")), "{err}");
    }
    let err = run_err(
        d,
        &[
            "meta-train",
            "--tasks",
            four,
            "--out",
            "f.json",
            "--folds",
            "2",
        ],
    );
    assert!(err.contains("--loto"), "{err}");
    run_ok(
        d,
        &[
            "meta-train",
            "--tasks",
            four,
            "--out",
            "f.json",
            "--loto",
            "--folds",
            "2",
            "--generations",
            "2",
            "--full-generations",
            "1",
            "--quiet",
        ],
    );
    let report = read_json(&d.join("f.json"));
    let folds = report["folds"].as_array().unwrap();
    assert_eq!(folds.len(), 4);
    for f in folds {
        let held = f["held_out"].as_str().unwrap();
        let mates = names(&f["fold_mates"]);
        let trained = names(&f["trained_on"]);
        assert_eq!((mates.len(), trained.len()), (1, 2), "{f}");
        assert!(
            !trained.contains(&held) && !trained.contains(&mates[0]),
            "{f}"
        );
    }
}

#[test]
fn a_policy_over_prodigy_stores_every_run_and_finetuning_reports_its_gain_per_cost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The policy scales Prodigy's d·lr (its controller's lr of 1 is the base rate).
    let out = run_ok(
        d,
        &[
            "meta-train",
            "--tasks",
            "logreg/iris,logreg/wine-quality",
            "--method",
            "prodigy",
            "--out",
            "p.json",
            "--generations",
            "2",
            "--full-generations",
            "1",
            "--jobs",
            "2",
            "--store",
            "s.db",
        ],
    );
    assert!(out.contains("stored every run in s.db"), "{out}");
    let method = std::fs::read_to_string(d.join("p.toml")).unwrap();
    assert!(method.contains("kind = \"prodigy\""), "{method}");
    assert!(method.contains("# Meta-training cost: "), "{method}");
    // One stored row per run of the saved state, under the printed key.
    let key = out
        .split_whitespace()
        .find(|w| w.starts_with("meta-train-"))
        .unwrap()
        .trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("p.state.json")).unwrap()).unwrap();
    let runs: usize = state["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["runs"].as_array().unwrap().len())
        .sum();
    let mut store = lrctl_store::open(d.join("s.db").to_str().unwrap()).unwrap();
    let rows = store.trials(key).unwrap();
    assert_eq!(rows.len(), runs);
    let steps: u64 = rows.iter().map(|r| r.steps).sum();
    let recorded: u64 = state["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["steps"].as_u64().unwrap())
        .sum();
    assert_eq!(steps, recorded, "the rows add up to the recorded cost");
    // The learned method over Prodigy trains.
    let out = run_ok(
        d,
        &[
            "train",
            "--task",
            "logreg/breast-cancer",
            "--method",
            "p.toml",
        ],
    );
    assert!(out.contains("test"), "{out}");

    // Finetuning on a new task states what the extra cost bought.
    let out = run_ok(
        d,
        &[
            "meta-train",
            "--init",
            "p.json",
            "--method",
            "prodigy",
            "--tasks",
            "logreg/breast-cancer",
            "--generations",
            "1",
            "--full-generations",
            "1",
            "--jobs",
            "2",
            "--out",
            "f.json",
        ],
    );
    assert!(
        out.contains("finetuning: mean log-ratio") && out.contains("per million steps"),
        "{out}"
    );
    // A policy of another shape cannot start a finetuning run: both shapes are named.
    let err = run_err(
        d,
        &[
            "meta-train",
            "--init",
            "p.json",
            "--hidden",
            "4",
            "--tasks",
            "logreg/breast-cancer",
            "--out",
            "g.json",
        ],
    );
    assert!(err.contains("[]") && err.contains("[4]"), "{err}");
}

/// A JSON file this test's command wrote.
fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A JSON array of task names.
fn names(v: &serde_json::Value) -> Vec<&str> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}
