//! What a study accepts and refuses, and that tables never mix what they should not: the
//! study-level reproductions of the hardening review (issue 16) and the newcomer's path
//! (issue 19).

mod common;

use common::{run_err, run_ok, stdout_ok};

fn write(dir: &std::path::Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

#[test]
fn tables_never_mix_two_configurations_of_a_method() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = [
        "run",
        "--task",
        "logreg/iris",
        "--method",
        "adam-fixed",
        "--study",
        "s",
        "--quiet",
    ];
    let mut first = base.to_vec();
    first.extend(["--seeds", "2", "--steps", "50"]);
    run_ok(d, &first);
    // Seed 0 again with another budget: seed 1 still holds a 50-step result.
    let mut second = base.to_vec();
    second.extend(["--seeds", "1", "--steps", "1"]);
    let out = run_ok(d, &second);
    assert!(out.contains("older configuration left out"), "{out}");
    let show = run_ok(d, &["show", "--study", "s"]);
    assert!(show.contains("older configuration left out"), "{show}");
    // The table rests on the one cell of the newest configuration: no ± (one seed).
    let row = show
        .lines()
        .find(|l| l.contains("adam-fixed"))
        .unwrap_or_else(|| panic!("{show}"));
    assert!(!row.contains('±'), "{row}");
    assert!(row.trim_end().ends_with(" 1"), "one seed: {row}");
}

#[test]
fn seeds_must_be_distinct_and_non_negative() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = run_err(
        d,
        &[
            "run",
            "--task",
            "logreg/iris",
            "--seeds",
            "1,1,1",
            "--quiet",
        ],
    );
    assert!(err.contains("seed 1 is listed more than once"), "{err}");
    write(d, "neg.toml", "tasks = [\"logreg/iris\"]\nseeds = [-1]\n");
    let err = run_err(d, &["run", "--file", "neg.toml", "--quiet"]);
    assert!(
        err.contains("neg.toml") && err.contains("non-negative integers"),
        "{err}"
    );
    assert!(!d.join("lrctl.db").exists(), "nothing was stored");
}

#[test]
fn an_empty_task_list_is_not_the_quick_suite() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "empty.toml", "tasks = []\n");
    let err = run_err(d, &["run", "--file", "empty.toml", "--quiet"]);
    assert!(err.contains("no tasks"), "{err}");
}

#[test]
fn a_configuration_that_cannot_be_stored_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(
        d,
        "nan.toml",
        r#"
[[task]]
name = "logreg/nan"
description = "a budget that is not a number"
data = { kind = "embedded", name = "iris" }
model = { kind = "linear" }
batch_size = 16
budget = { epochs = nan }
"#,
    );
    let err = run_err(d, &["run", "--file", "nan.toml", "--quiet"]);
    assert!(err.contains("logreg/nan"), "{err}");
    assert!(!d.join("lrctl.db").exists(), "nothing was stored: {err}");
}

#[test]
fn study_files_resolve_paths_against_themselves_and_name_inline_methods() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("sub")).unwrap();
    // A tiny LIBSVM file next to the study file.
    let rows: String = (0..40)
        .map(|i| {
            format!(
                "{} 1:{} 2:{}\n",
                i % 2,
                (i % 7) as f64 / 7.0,
                (i % 5) as f64 / 5.0
            )
        })
        .collect();
    write(&d.join("sub"), "mine.svm", &rows);
    write(
        &d.join("sub"),
        "study.toml",
        r#"
name = "mine"
methods = ["sgd-const"]
seeds = 1
steps = 5

[[task]]
name = "logreg/mine"
description = "my file"
data = { kind = "libsvm", name = "mine", path = "mine.svm" }
model = { kind = "linear" }
batch_size = 8
budget = { epochs = 1 }

[[method]]
name = "sgd-const"
paradigm = "fixed"
optimizer = { kind = "sgd" }
controller = { kind = "constant", lr = 0.1 }
"#,
    );
    // Run from the parent directory: `mine.svm` is found next to the study file.
    let out = run_ok(d, &["run", "--file", "sub/study.toml", "--quiet"]);
    assert!(out.contains("sgd-const"), "{out}");
    let csv = stdout_ok(d, &["export", "--study", "mine", "--format", "csv"]);
    assert!(csv.contains("logreg/mine,sgd-const,0"), "{csv}");
    assert!(csv.contains(",finished,"), "{csv}");
}

#[test]
fn a_task_without_its_data_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let empty = d.join("no-data");
    std::fs::create_dir(&empty).unwrap();
    let out = run_ok(
        d,
        &[
            "run",
            "--task",
            "logreg/iris",
            "--task",
            "libsvm/letter",
            "--method",
            "adam-fixed",
            "--seeds",
            "1",
            "--steps",
            "5",
            "--quiet",
            "--data-dir",
            empty.to_str().unwrap(),
        ],
    );
    if !out.contains("skipped") {
        // The user's cache dir holds the file on this machine: nothing to skip.
        eprintln!("skipped: libsvm/letter was found in the user cache");
        return;
    }
    assert!(out.contains("task `libsvm/letter` skipped"), "{out}");
    let csv = stdout_ok(d, &["export", "--format", "csv"]);
    assert!(csv.contains("logreg/iris,adam-fixed"), "{csv}");
    assert!(
        !csv.contains(",libsvm/letter,"),
        "no cell of the skipped task: {csv}"
    );
}

#[test]
fn a_report_written_over_another_keeps_none_of_its_figures() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for (study, task) in [("a", "logreg/iris"), ("b", "logreg/breast-cancer")] {
        run_ok(
            d,
            &[
                "run",
                "--task",
                task,
                "--method",
                "adam-fixed",
                "--seeds",
                "1",
                "--steps",
                "5",
                "--study",
                study,
                "--quiet",
            ],
        );
    }
    run_ok(
        d,
        &["report", "--study", "a", "--out", "rep", "--reps", "50"],
    );
    let names = |sub: &str| -> Vec<String> {
        std::fs::read_dir(d.join("rep").join(sub))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    };
    assert!(names("figures").iter().any(|n| n.contains("iris")));
    run_ok(
        d,
        &["report", "--study", "b", "--out", "rep", "--reps", "50"],
    );
    for sub in ["figures", "tables"] {
        let stale: Vec<String> = names(sub)
            .into_iter()
            .filter(|n| n.contains("iris"))
            .collect();
        assert!(stale.is_empty(), "{sub}: {stale:?}");
    }
    assert!(names("figures").iter().any(|n| n.contains("breast-cancer")));
    // No temporary file is left behind.
    assert!(!names("figures").iter().any(|n| n.ends_with(".tmp")));
}

#[test]
fn absurd_seed_counts_are_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_err(
        dir.path(),
        &[
            "run",
            "--task",
            "logreg/iris",
            "--seeds",
            "4294967295",
            "--quiet",
        ],
    );
    assert!(err.contains("at most 10000"), "{err}");
}

#[test]
fn a_worker_puts_back_what_it_cannot_train_and_goes_on_and_users_retire_or_requeue_cells() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows: String = (0..40)
        .map(|i| {
            format!(
                "{} 1:{} 2:{}\n",
                i % 2,
                (i % 7) as f64 / 7.0,
                (i % 5) as f64 / 5.0
            )
        })
        .collect();
    write(d, "mine.svm", &rows);
    write(
        d,
        "s.toml",
        r#"
name = "s"
tasks = ["logreg/iris"]
methods = ["adam-fixed"]
seeds = 2
steps = 5

[[task]]
name = "logreg/mine"
description = "my file"
data = { kind = "libsvm", name = "mine", path = "mine.svm" }
model = { kind = "linear" }
batch_size = 8
budget = { epochs = 1 }
"#,
    );
    run_ok(d, &["run", "--file", "s.toml", "--submit-only"]);
    // The file is gone on the worker's machine: its cells go back, the others train.
    std::fs::remove_file(d.join("mine.svm")).unwrap();
    let out = run_ok(d, &["worker", "--study", "s", "--jobs", "1"]);
    assert!(out.contains("put back"), "{out}");
    let status = run_ok(d, &["status", "--study", "s"]);
    let row = status.lines().find(|l| l.starts_with("s ")).unwrap();
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!((cols[1], cols[2], cols[4]), ("4", "2", "2"), "{status}");

    let out = run_ok(
        d,
        &[
            "cells",
            "retire",
            "--study",
            "s",
            "--state",
            "queued",
            "--dry-run",
        ],
    );
    assert!(out.contains("would retire 2 cell(s)"), "{out}");
    let out = run_ok(d, &["cells", "retire", "--study", "s", "--state", "queued"]);
    assert!(out.contains("retired 2 cell(s)"), "{out}");
    let status = run_ok(d, &["status", "--study", "s"]);
    let row = status.lines().find(|l| l.starts_with("s ")).unwrap();
    assert_eq!(row.split_whitespace().nth(1), Some("2"), "{status}");

    // Requeue the finished iris cells and train them again.
    let err = run_err(d, &["cells", "requeue", "--study", "s"]);
    assert!(err.contains("no current cell that matches"), "{err}");
    let out = run_ok(
        d,
        &[
            "cells",
            "requeue",
            "--study",
            "s",
            "--all",
            "--task",
            "logreg/iris",
        ],
    );
    assert!(out.contains("requeued 2 cell(s)"), "{out}");
    let out = run_ok(d, &["worker", "--study", "s"]);
    assert!(out.contains("trained 2 cell(s)"), "{out}");
}

#[test]
fn cells_on_a_users_file_are_the_files_content() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let rows = |k: usize| -> String {
        (0..40)
            .map(|i| {
                format!(
                    "{} 1:{} 2:{}\n",
                    (i + k) % 2,
                    (i % 7) as f64 / 7.0,
                    (i % 5) as f64 / 5.0
                )
            })
            .collect()
    };
    write(d, "mine.svm", &rows(0));
    write(
        d,
        "s.toml",
        r#"
name = "s"
methods = ["adam-fixed"]
seeds = 1
steps = 5

[[task]]
name = "logreg/mine"
description = "my file"
data = { kind = "libsvm", name = "mine", path = "mine.svm" }
model = { kind = "linear" }
batch_size = 8
budget = { epochs = 1 }
"#,
    );
    run_ok(d, &["run", "--file", "s.toml", "--submit-only"]);
    // Another file under the same name on the worker's machine: refused, not trained as if it
    // were the submitted data.
    write(d, "mine.svm", &rows(1));
    run_ok(d, &["worker", "--study", "s"]);
    let csv = stdout_ok(d, &["export", "--study", "s", "--format", "csv"]);
    assert!(
        csv.contains(",failed,") && csv.contains("not the data this task was defined with"),
        "{csv}"
    );
    // Running the study again defines its cells by the file as it is now: new cells.
    let out = run_ok(d, &["run", "--file", "s.toml", "--quiet"]);
    assert!(out.contains("superseded"), "{out}");
    let csv = stdout_ok(d, &["export", "--study", "s", "--format", "csv"]);
    assert!(
        csv.contains(",finished,") && !csv.contains(",failed,"),
        "{csv}"
    );
}

#[test]
fn a_named_dataset_is_not_trained_on_another_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "x.svm", "0 1:1\n1 1:0\n");
    let err = run_err(
        dir.path(),
        &[
            "train",
            "--task",
            "logreg/iris",
            "--method",
            "adam-fixed",
            "--data",
            "x.svm",
            "--steps",
            "2",
        ],
    );
    assert!(err.contains("bring-your-own-file"), "{err}");
}

#[test]
fn set_overrides_a_methods_fields_and_makes_new_cells() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let base = [
        "run",
        "--task",
        "logreg/iris",
        "--method",
        "adam-fixed",
        "--seeds",
        "1",
        "--steps",
        "5",
        "--quiet",
        "--study",
        "s",
    ];
    run_ok(d, &base);
    let mut set = base.to_vec();
    set.extend(["--set", "controller.lr=0.01"]);
    let out = run_ok(d, &set);
    assert!(out.contains("superseded"), "a new configuration: {out}");
    let json = stdout_ok(d, &["export", "--study", "s", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["cells"].as_array().unwrap().len(), 1);
    let out = run_ok(
        d,
        &[
            "train",
            "--task",
            "logreg/iris",
            "--method",
            "adam-fixed",
            "--steps",
            "3",
            "--set",
            "controller.lr=0.02",
            "--out",
            "r.json",
        ],
    );
    assert!(out.contains("finished"), "{out}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.json")).unwrap()).unwrap();
    assert_eq!(r["method"]["controller"]["lr"], 0.02);
    let err = run_err(
        d,
        &[
            "train",
            "--task",
            "logreg/iris",
            "--method",
            "adam-fixed",
            "--set",
            "controller.rate=1",
        ],
    );
    assert!(
        err.contains("no field `controller.rate`") && err.contains("lr"),
        "{err}"
    );
    let err = run_err(
        d,
        &[
            "train",
            "--task",
            "logreg/iris",
            "--method",
            "adam-fixed",
            "--set",
            "x",
        ],
    );
    assert!(err.contains("PATH=VALUE"), "{err}");
}
