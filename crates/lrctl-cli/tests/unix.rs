//! What a Unix user expects of a command-line tool: completions, man pages, an event stream.

mod common;

use common::{run_ok, stdout_ok};

#[test]
fn completions_and_man_pages() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for shell in ["bash", "zsh", "fish"] {
        let script = stdout_ok(d, &["completions", shell]);
        assert!(
            script.contains("lrctl") && script.contains("tune"),
            "{shell}"
        );
    }
    let page = stdout_ok(d, &["man"]);
    assert!(
        page.contains(".TH lrctl 1") && page.contains("compare and select"),
        "{page}"
    );
    run_ok(d, &["man", "--out", "man"]);
    for page in ["lrctl.1", "lrctl-run.1", "lrctl-tune.1", "lrctl-select.1"] {
        assert!(d.join("man").join(page).exists(), "{page}");
    }
}

#[test]
fn run_writes_its_events_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    run_ok(
        d,
        &[
            "run",
            "--task",
            "logreg/iris",
            "--method",
            "adam-fixed",
            "--seeds",
            "3",
            "--steps",
            "10",
            "--quiet",
            "--events",
            "events.jsonl",
        ],
    );
    let text = std::fs::read_to_string(d.join("events.jsonl")).unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kind = |k: &str| events.iter().filter(|e| e["event"] == k).count();
    assert_eq!(kind("started"), 1, "{text}");
    assert_eq!(kind("cell-started"), 3, "{text}");
    assert_eq!(kind("cell-done"), 3, "{text}");
    assert_eq!(kind("finished"), 1, "{text}");
    assert_eq!(events[0]["total"], 3);
    let done = events.iter().find(|e| e["event"] == "cell-done").unwrap();
    assert_eq!(done["outcome"], "finished");
    assert_eq!(done["task"], "logreg/iris");
}

#[test]
fn tasks_methods_optimizers_and_controllers_can_be_inspected() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = stdout_ok(d, &["tasks", "show", "libsvm/vowel"]);
    for want in [
        "shape         528 training rows",
        "parameters    121",
        "800 optimizer steps",
    ] {
        assert!(t.contains(want), "{want}: {t}");
    }
    let m = stdout_ok(d, &["methods", "show", "prodigy"]);
    assert!(
        m.contains("kind = \"prodigy\"") && m.contains("d_coef"),
        "{m}"
    );
    let o = stdout_ok(d, &["optimizers"]);
    assert!(o.contains("prodigy  (sets its own step size"), "{o}");
    assert!(
        o.contains("    weight_decay = 0.01"),
        "AdamW's default: {o}"
    );
    let c = stdout_ok(d, &["controllers"]);
    assert!(c.contains("cosine-warm-restarts\n    required: t0"), "{c}");
    let err = common::run_err(d, &["tasks", "show", "libsvm/vowl"]);
    assert!(err.contains("libsvm/vowel"), "suggests: {err}");
}

#[test]
fn out_dash_writes_to_stdout_and_curves_name_their_cell() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let json = stdout_ok(
        d,
        &[
            "train",
            "--task",
            "logreg/iris",
            "--method",
            "adam-fixed",
            "--steps",
            "5",
            "--out",
            "-",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&json).expect("stdout is the JSON alone");
    assert_eq!(v["result"]["steps"], 5);
    run_ok(
        d,
        &[
            "train",
            "--task",
            "logreg/iris",
            "--method",
            "adam-fixed",
            "--steps",
            "5",
            "--seed",
            "3",
            "--out",
            "c.csv",
        ],
    );
    let csv = std::fs::read_to_string(d.join("c.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("task,method,seed,metric_name,step,")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("logreg/iris,adam-fixed,3,accuracy,")
    );
    run_ok(
        d,
        &[
            "run",
            "--task",
            "logreg/iris",
            "--seeds",
            "1",
            "--steps",
            "3",
            "--quiet",
        ],
    );
    let csv = stdout_ok(d, &["export", "--format", "csv", "--out", "-"]);
    assert!(csv.starts_with("study,cell_id,"), "{csv}");
}
