//! End-to-end tests of the `lrctl` binary: the main job, resumption, parallel determinism,
//! export, interruption and the messages bad input gets.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{LONG, finished_count, lrctl, mirror, run_err, run_ok, stdout_ok, wait_for};

/// A small study: two methods × two seeds on iris, short budgets.
const SMALL: &[&str] = &[
    "run",
    "--task",
    "logreg/iris",
    "--method",
    "adam-fixed",
    "--method",
    "prodigy",
    "--seeds",
    "2",
    "--steps",
    "60",
    "--quiet",
];

fn cells_json(dir: &Path, store: &str) -> serde_json::Value {
    let text = run_ok(
        dir,
        &[
            "export",
            "--format",
            "json",
            "--store",
            store,
            "--out",
            "cells.json",
        ],
    );
    assert!(text.contains("wrote"), "{text}");
    serde_json::from_str(&std::fs::read_to_string(dir.join("cells.json")).unwrap()).unwrap()
}

#[test]
fn run_resume_and_extend() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = run_ok(d, SMALL);
    assert!(text.contains("trained 4 cell(s)"), "{text}");
    assert!(text.contains("logreg/iris"), "{text}");
    assert!(text.contains("prodigy"), "{text}");
    assert!(d.join("lrctl.db").exists(), "the default store is lrctl.db");

    // The same command again trains nothing.
    let text = run_ok(d, SMALL);
    assert!(text.contains("trained 0 cell(s)"), "{text}");

    // One more seed runs only the new cells.
    let mut more: Vec<&str> = SMALL.to_vec();
    let i = more.iter().position(|a| *a == "2").unwrap();
    more[i] = "3";
    let text = run_ok(d, &more);
    assert!(text.contains("trained 2 cell(s)"), "{text}");

    // A changed hyperparameter (the budget) makes new cells instead of reusing old results.
    let mut changed: Vec<&str> = more.clone();
    let i = changed.iter().position(|a| *a == "60").unwrap();
    changed[i] = "70";
    let text = run_ok(d, &changed);
    assert!(text.contains("trained 6 cell(s)"), "{text}");
    assert!(text.contains("superseded"), "{text}");

    // An ad-hoc study is named after its task, not piled into `default`.
    let status = run_ok(d, &["status"]);
    let line = status
        .lines()
        .find(|l| l.starts_with("logreg/iris "))
        .unwrap_or_else(|| panic!("{status}"));
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[1], "6", "6 current cells: {status}");
    assert_eq!(cols[4], "6", "all finished: {status}");

    let v = cells_json(d, "lrctl.db");
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 6);
    for c in cells {
        assert_eq!(c["outcome"], "finished", "{c}");
        assert_eq!(c["steps"], 70);
        let acc = c["test_metric"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&acc));
        assert_eq!(c["metric_name"], "accuracy");
    }
}

#[test]
fn jobs_one_and_two_give_identical_results() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let common = [
        "run",
        "--task",
        "logreg/iris",
        "--task",
        "mlp/digits",
        "--method",
        "adam-fixed",
        "--method",
        "cocob",
        "--method",
        "schedulefree-adamw",
        "--seeds",
        "2",
        "--steps",
        "40",
        "--quiet",
    ];
    let mut a: Vec<&str> = common.to_vec();
    a.extend(["--jobs", "1", "--store", "one.db"]);
    let mut b: Vec<&str> = common.to_vec();
    b.extend(["--jobs", "2", "--store", "two.db"]);
    run_ok(d, &a);
    run_ok(d, &b);
    let key = |v: &serde_json::Value| {
        let mut rows: Vec<String> = v["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                format!(
                    "{} {} {} {} {} {} {} {}",
                    c["task"],
                    c["method"],
                    c["seed"],
                    c["config_hash"],
                    c["outcome"],
                    c["final_train_loss"],
                    c["test_loss"],
                    c["test_metric"]
                )
            })
            .collect();
        rows.sort();
        rows
    };
    let one = key(&cells_json(d, "one.db"));
    let two = key(&cells_json(d, "two.db"));
    assert_eq!(one.len(), 12);
    assert_eq!(one, two);
}

#[test]
fn export_show_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(d, SMALL);

    let csv = stdout_ok(d, &["export", "--format", "csv"]);
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for col in [
        "task",
        "method",
        "seed",
        "outcome",
        "final_train_loss",
        "test_metric",
    ] {
        assert!(header.contains(&col), "missing column {col}: {header:?}");
    }
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r.split(',').count() == header.len()));

    // The CSV and JSON exports round-trip to the same numbers, bit for bit.
    let json = cells_json(d, "lrctl.db");
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    for row in &rows {
        let f: Vec<&str> = row.split(',').collect();
        let id: i64 = f[col("cell_id")].parse().unwrap();
        let cell = json["cells"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["cell_id"] == id)
            .unwrap();
        for name in [
            "final_train_loss",
            "test_loss",
            "test_metric",
            "validation_metric",
        ] {
            let from_csv: f64 = f[col(name)].parse().unwrap();
            assert_eq!(from_csv, cell[name].as_f64().unwrap(), "{name}");
        }
        assert_eq!(f[col("method")], cell["method"].as_str().unwrap());
        assert_eq!(f[col("seed")], cell["seed"].to_string());
        let stamp = f[col("finished_at")];
        assert!(
            stamp.len() == 24 && stamp.ends_with('Z') && &stamp[10..11] == "T",
            "{stamp}"
        );
    }

    let curves = stdout_ok(d, &["export", "--table", "curves", "--format", "csv"]);
    let header = curves.lines().next().unwrap();
    assert!(header.contains("effective_lr"), "{header}");
    assert!(curves.lines().count() > 4 * 10, "curves have points");

    // ASlib scenario: every file, one run line per cell, one feature row per task.
    let err = run_err(d, &["export", "--format", "aslib"]);
    assert!(err.contains("--out DIR"), "{err}");
    run_ok(d, &["export", "--format", "aslib", "--out", "aslib"]);
    for f in [
        "description.txt",
        "algorithm_runs.arff",
        "feature_values.arff",
        "feature_runstatus.arff",
        "cv.arff",
    ] {
        assert!(d.join("aslib").join(f).exists(), "{f}");
    }
    let runs = std::fs::read_to_string(d.join("aslib/algorithm_runs.arff")).unwrap();
    let data: Vec<&str> = runs.split("@DATA\n").nth(1).unwrap().lines().collect();
    assert_eq!(data.len(), 4);
    assert!(
        data.iter()
            .all(|l| l.starts_with("'logreg/iris',") && l.ends_with(",ok"))
    );
    let features = std::fs::read_to_string(d.join("aslib/feature_values.arff")).unwrap();
    let row = features.split("@DATA\n").nth(1).unwrap().trim();
    assert_eq!(
        row.split(',').count(),
        2 + lrctl_wrap::features::StaticFeatures::names().len(),
        "{row}"
    );
    assert!(!row.contains('?'), "every static feature known: {row}");
    let description = std::fs::read_to_string(d.join("aslib/description.txt")).unwrap();
    assert!(
        description.contains("scenario_id: logreg_iris"),
        "{description}"
    );

    let show = run_ok(d, &["show", "--task", "logreg/iris"]);
    assert!(show.contains("adam-fixed") && show.contains("* "), "{show}");
    let err = run_err(d, &["show", "--task", "mlp/nothing"]);
    assert!(err.contains("no task `mlp/nothing`"), "{err}");
    let err = run_err(d, &["show", "--study", "nope"]);
    assert!(
        err.contains("no study `nope`") && err.contains("logreg/iris"),
        "{err}"
    );
    let err = run_err(d, &["status", "--store", "missing.db"]);
    assert!(err.contains("missing.db"), "{err}");
    assert!(
        !d.join("missing.db").exists(),
        "status must not create a store"
    );
}

/// Names listed by `lrctl methods`.
fn builtin_methods(dir: &Path) -> Vec<String> {
    let methods = run_ok(dir, &["methods"]);
    let names: Vec<String> = methods
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 16, "{methods}");
    names
}

#[test]
fn every_builtin_method_trains() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(
        d,
        &[
            "train",
            "--task",
            "logreg/iris",
            "--method",
            "prodigy",
            "--out",
            "curve.csv",
        ],
    );
    let csv = std::fs::read_to_string(d.join("curve.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert!(header.contains(&"effective_lr") && header.contains(&"eval_metric"));
    assert!(
        csv.lines()
            .skip(1)
            .all(|l| l.split(',').count() == header.len())
    );
    assert!(csv.lines().count() > 50, "a point per interval");
    let err = run_err(
        d,
        &[
            "train",
            "--task",
            "logreg/iris",
            "--method",
            "prodigy",
            "--out",
            "x.txt",
        ],
    );
    assert!(err.contains(".json") && err.contains(".csv"), "{err}");
    for m in builtin_methods(d) {
        let args = [
            "train",
            "--task",
            "logreg/iris",
            "--method",
            &m,
            "--steps",
            "30",
        ];
        if lrctl_wrap::find(&m).unwrap().wrapper.is_some() {
            // A tuned or selection method is more than one run: `train` says where it goes
            // instead of silently training its fallback configuration.
            let err = run_err(d, &args);
            assert!(err.contains("lrctl run"), "{m}: {err}");
            continue;
        }
        let out = run_ok(d, &args);
        assert!(out.contains("outcome     finished"), "{m}: {out}");
    }
}

#[test]
fn divergence_is_data_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("boom.toml"),
        "name = \"sgd-boom\"\nparadigm = \"fixed\"\n[optimizer]\nkind = \"sgd\"\n\
         [controller]\nkind = \"constant\"\nlr = 1e30\n",
    )
    .unwrap();
    let out = run_ok(
        d,
        &[
            "run",
            "--task",
            "logreg/iris",
            "--method",
            "boom.toml",
            "--seeds",
            "2",
            "--quiet",
        ],
    );
    let v = cells_json(d, "lrctl.db");
    for c in v["cells"].as_array().unwrap() {
        assert_eq!(c["outcome"], "diverged", "{out}\n{c}");
        assert!(c["reason"].as_str().unwrap().len() > 3);
    }
}

#[test]
fn bad_input_gets_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = run_err(d, &["run", "--task", "logreg/irsi", "--quiet"]);
    assert!(err.contains("did you mean `logreg/iris`"), "{err}");
    let err = run_err(d, &["run", "--suite", "quik"]);
    assert!(
        err.contains("unknown suite `quik`") && err.contains("quick"),
        "{err}"
    );
    let err = run_err(d, &["run", "--task", "logreg/iris", "--method", "prodigi"]);
    assert!(err.contains("prodigy"), "{err}");
    let err = run_err(d, &["run", "--task", "logreg/iris", "--seeds", "0"]);
    assert!(err.contains("--seeds"), "{err}");

    std::fs::write(
        d.join("bad.toml"),
        "name = \"bad\"\n[optimizer]\nkind = \"adamw\"\nbetas = [0.9\n",
    )
    .unwrap();
    let err = run_err(d, &["run", "--task", "logreg/iris", "--method", "bad.toml"]);
    assert!(err.contains("bad.toml") && err.contains("line"), "{err}");

    std::fs::write(
        d.join("study.toml"),
        "tasks = [\"logreg/iris\"]\nsedes = 3\n",
    )
    .unwrap();
    let err = run_err(d, &["run", "--file", "study.toml"]);
    assert!(err.contains("study.toml") && err.contains("sedes"), "{err}");

    // Data that is not there: the message says where it looked and how to provide it.
    let err = lrctl()
        .current_dir(d)
        .args([
            "run",
            "--task",
            "libsvm/a9a",
            "--quiet",
            "--data-dir",
            "/nonexistent/dir",
        ])
        .env("HOME", d)
        .env("XDG_CACHE_HOME", d.join("cache"))
        .output()
        .unwrap();
    assert!(!err.status.success());
    let err = String::from_utf8_lossy(&err.stderr);
    assert!(err.contains("/nonexistent/dir/libsvm/a9a"), "{err}");
    assert!(err.contains("LRCTL_DATA_DIR"), "{err}");
    assert!(
        !d.join("lrctl.db").exists() || {
            // Nothing was trained, and the store holds no result.
            let status = run_ok(d, &["status"]);
            !status.contains("finished     1")
        }
    );
}

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn ctrl_c_stops_cleanly_and_the_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let child = lrctl()
        .current_dir(d)
        .args(LONG)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_for(
        d,
        |s| finished_count(s) >= 1,
        Duration::from_secs(120)
    ));
    signal(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("interrupted"), "{err}");
    let status = run_ok(d, &["status"]);
    let line = status
        .lines()
        .find(|l| l.starts_with("mlp/digits "))
        .unwrap();
    let cols: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cols[3], "0", "nothing left running: {status}");
    let done = finished_count(&status);
    assert!(done < 8, "interrupted before the end: {status}");

    let text = run_ok(d, LONG);
    assert!(
        text.contains(&format!("trained {} cell(s)", 8 - done)),
        "{text}"
    );
    assert_eq!(finished_count(&run_ok(d, &["status"])), 8);
}

#[test]
fn kill_9_loses_only_cells_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut child = lrctl()
        .current_dir(d)
        .args(LONG)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for(
        d,
        |s| finished_count(s) >= 1,
        Duration::from_secs(120)
    ));
    child.kill().unwrap();
    child.wait().unwrap();
    let before = cells_json(d, "lrctl.db");
    let finished_before: Vec<serde_json::Value> = before["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["outcome"] == "finished")
        .cloned()
        .collect();
    assert!(!finished_before.is_empty());

    // Rerunning on the same host requeues the dead worker's cells at once and finishes the rest.
    run_ok(d, LONG);
    let after = cells_json(d, "lrctl.db");
    let cells = after["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 8);
    assert!(cells.iter().all(|c| c["outcome"] == "finished"));
    for old in &finished_before {
        let new = cells
            .iter()
            .find(|c| c["cell_id"] == old["cell_id"])
            .unwrap();
        assert_eq!(
            new["test_metric"], old["test_metric"],
            "finished cells untouched"
        );
        assert_eq!(new["attempts"], old["attempts"]);
    }
}

#[test]
fn readme_test_command_is_what_ci_runs() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let command = "cargo test --workspace --locked";
    assert!(readme.contains(command), "README names the test command");
    assert!(
        ci.lines().any(|l| l.trim() == command),
        ".ci/run runs the README's test command"
    );
    assert!(
        readme.contains("cargo run --release -- run"),
        "README names the main job"
    );
    // The Python package's tests: README's command, run by .ci/run after the cargo tests.
    let python = "pip install ./crates/lrctl-py && pytest crates/lrctl-py/tests";
    assert!(
        readme.contains(python),
        "README names the Python test command"
    );
    let cargo_at = ci.lines().position(|l| l.trim() == command).unwrap();
    let python_at = ci
        .lines()
        .position(|l| l.contains("./crates/lrctl-py") && l.contains("pytest crates/lrctl-py/tests"))
        .expect(".ci/run installs the Python package and runs its tests");
    assert!(
        python_at > cargo_at,
        ".ci/run runs the Python tests after the cargo tests"
    );
}

#[test]
fn readme_study_file_resolves() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme.find("```toml\n").expect("README has a study file") + 8;
    let len = readme[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("study.toml"), &readme[start..start + len]).unwrap();
    std::fs::copy(
        root.join("crates/lrctl-method/methods/adam-fixed.toml"),
        d.join("my-method.toml"),
    )
    .unwrap();
    let text = std::fs::read_to_string(d.join("my-method.toml"))
        .unwrap()
        .replace("name = \"adam-fixed\"", "name = \"my-method\"");
    std::fs::write(d.join("my-method.toml"), text).unwrap();
    let study = lrctl_study::StudyFile::from_file(&d.join("study.toml"))
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(study.name, "my-study");
    assert_eq!(study.tasks.len(), 6);
    assert_eq!(study.methods.len(), 4);
    assert_eq!(study.seeds.len(), 5);
}

#[test]
fn the_main_job_runs_the_quick_suite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let text = run_ok(d, &["run", "--quiet"]);
    assert!(text.contains("study `quick`"), "{text}");
    assert!(text.contains("= 96 cells"), "{text}");
    assert!(text.contains("trained 96 cell(s)"), "{text}");
    for task in [
        "logreg/iris",
        "logreg/breast-cancer",
        "logreg/wine-quality",
        "mlp/digits",
    ] {
        assert!(text.contains(task), "table for {task}: {text}");
    }
    for method in [
        "adam-fixed",
        "cawr-default",
        "prodigy",
        "dadapt-adam",
        "cocob",
        "dowg",
    ] {
        assert!(text.contains(method), "{method}: {text}");
    }
    // A best row in every task (every method tied at the best is marked).
    assert!(text.matches("\n  * ").count() >= 4, "{text}");
    for table in text.split("\n\n").filter(|t| t.contains("test ")) {
        assert!(table.contains("\n  * "), "a best row: {table}");
    }
    assert!(d.join("lrctl.db").exists());
    let v = cells_json(d, "lrctl.db");
    let cells = v["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 96);
    // Learning happened: the best digits MLP is far above chance.
    let best = cells
        .iter()
        .filter(|c| c["task"] == "mlp/digits")
        .filter_map(|c| c["test_metric"].as_f64())
        .fold(0.0, f64::max);
    assert!(best > 0.9, "digits accuracy {best}");
}

#[test]
fn train_runs_every_method_on_every_task_family() {
    let Some(data) = mirror() else {
        eprintln!("skipped: no data mirror (set LRCTL_DATA_DIR)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = data.to_str().unwrap();
    // Plain methods: tuned and selection methods are refused by `train` (tested above).
    let methods: Vec<String> = builtin_methods(d)
        .into_iter()
        .filter(|m| lrctl_wrap::find(m).unwrap().wrapper.is_none())
        .collect();
    for task in [
        "libsvm/letter",
        "mlp/digits",
        "mlp/fashion-mnist-10k",
        "cnn/mnist",
        "lm/tinyshakespeare",
    ] {
        for method in &methods {
            let out = run_ok(
                d,
                &[
                    "train",
                    "--task",
                    task,
                    "--method",
                    method,
                    "--steps",
                    "3",
                    "--eval-examples",
                    "16",
                    "--data-dir",
                    data,
                    "--out",
                    "r.json",
                ],
            );
            assert!(
                out.contains("outcome     finished"),
                "{task} {method}: {out}"
            );
            let r: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
            assert_eq!(r["result"]["steps"], 3, "{task} {method}");
            let test = &r["result"]["test"];
            if task.starts_with("lm/") {
                let bpb = test["bits_per_byte"].as_f64().unwrap();
                assert!(bpb > 0.0 && bpb < 9.0, "{task}: {bpb}");
            } else {
                let acc = test["accuracy"].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&acc), "{task}: {acc}");
            }
        }
    }
    // A user's own file trains the same way.
    let out = run_ok(
        d,
        &[
            "train",
            "--task",
            "libsvm/file",
            "--method",
            "prodigy",
            "--steps",
            "20",
            "--data",
            &format!("{data}/libsvm/iris.scale"),
            "--data-dir",
            data,
        ],
    );
    assert!(out.contains("outcome     finished"), "{out}");
}

#[test]
fn select_evaluates_and_recommends() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(
        d,
        &[
            "run",
            "--suite",
            "quick",
            "--method",
            "adam-fixed",
            "--method",
            "prodigy",
            "--method",
            "cocob",
            "--seeds",
            "2",
            "--steps",
            "40",
            "--quiet",
        ],
    );
    let text = run_ok(d, &["select", "--evaluate"]);
    for s in ["sbs", "regression", "pairwise", "knn"] {
        assert!(text.lines().any(|l| l.starts_with(s)), "{s}: {text}");
    }
    assert!(text.contains("4 tasks × 3 methods"), "{text}");
    let text = run_ok(d, &["select", "--evaluate", "--probe-steps", "20"]);
    assert!(
        text.contains("static + probe meta-features (20 probe steps"),
        "{text}"
    );
    let text = run_ok(
        d,
        &["select", "--task", "logreg/iris", "--probe-steps", "20"],
    );
    assert!(text.contains("20 probe steps"), "{text}");
    let text = run_ok(d, &["select", "--task", "logreg/iris"]);
    assert!(text.contains("recommended for logreg/iris: "), "{text}");
    // The best measured selector by default; a study task is held out of what it learns;
    // a 4-task, 2-seed study is flagged as thin evidence.
    assert!(text.contains("(selector regression)"), "{text}");
    assert!(text.contains("evidence: 3 study task(s)"), "{text}");
    assert!(text.contains("warning: little evidence"), "{text}");
    assert!(text.contains("probe cost"), "{text}");
    // A user's own file, through the bring-your-own-file task.
    let rows: String = (0..60)
        .map(|i| {
            format!(
                "{} 1:{} 2:{}\n",
                i % 3,
                (i % 7) as f64 / 7.0,
                (i % 5) as f64 / 5.0
            )
        })
        .collect();
    std::fs::write(d.join("mine.svm"), rows).unwrap();
    let text = run_ok(
        d,
        &["select", "--task", "libsvm/file", "--data", "mine.svm"],
    );
    assert!(text.contains("recommended for libsvm/file: "), "{text}");
    let err = run_err(d, &["select"]);
    assert!(err.contains("--evaluate"), "{err}");
    let err = run_err(
        d,
        &["select", "--task", "logreg/iris", "--selector", "oracle"],
    );
    assert!(err.contains("unknown selector `oracle`"), "{err}");
}

/// Deleted files among a process's open descriptors that are this store's WAL or shared
/// memory (Linux `/proc`).
fn unlinked_wal(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .map(|p| p.display().to_string())
                .filter(|p| p.contains("lrctl.db-") && p.ends_with("(deleted)"))
                .collect()
        })
        .unwrap_or_default()
}

/// Regression: a worker process's store connections keep their locks while other programs
/// read the store. (Reading the file header through a second descriptor when a worker
/// thread opened its connection dropped the process's POSIX locks; the next program to close
/// an SQLite connection on the store — the `sqlite3` shell here — then took the running
/// study's WAL for abandoned and deleted it, so the study went on committing into an unlinked
/// file: results invisible to `status`, and lost on a crash.)
#[test]
fn reading_the_store_never_unlinks_a_running_study_wal() {
    let sqlite3 = Command::new("sqlite3")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !sqlite3 {
        assert!(
            std::env::var_os("LRCTL_REQUIRE_SQLITE3").is_none(),
            "LRCTL_REQUIRE_SQLITE3 is set but the sqlite3 shell is missing"
        );
        eprintln!("skipped: no sqlite3 shell (apt-get install sqlite3)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut child = lrctl()
        .current_dir(d)
        .args(LONG)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Both worker threads have their connections once a first cell is done.
    let started = wait_for(d, |s| finished_count(s) >= 1, Duration::from_secs(120));
    let mut seen = Vec::new();
    let mut gone = Vec::new();
    // Read repeatedly while the study runs: whether the locks were lost depends on which
    // connection held them at that moment, so one read may not show it.
    for _ in 0..40 {
        if child.try_wait().ok().flatten().is_some() {
            break;
        }
        let out = Command::new("sqlite3")
            .arg(d.join("lrctl.db"))
            .arg("select count(*) from cell where state = 'done'")
            .output()
            .unwrap();
        seen.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
        gone.extend(unlinked_wal(pid));
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().ok();
    child.wait().ok();
    assert!(started, "the study finished a first cell");
    assert!(
        gone.is_empty(),
        "the running study writes into deleted files: {gone:?}"
    );
    assert!(
        seen.iter().any(|n| n.parse::<u32>().is_ok_and(|n| n >= 1)),
        "another program sees the study's results: {seen:?}"
    );
}
