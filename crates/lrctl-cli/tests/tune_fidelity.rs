//! `lrctl tune --fidelity`: continuing promoted trials trains fewer steps than it budgets and
//! says so; bad values get clear messages.

mod common;

use common::{run_err, run_ok};

fn tune_args(method: &str, fidelity: &str) -> Vec<String> {
    [
        "tune",
        "--task",
        "logreg/iris",
        "--method",
        method,
        "--tuner",
        "hyperband",
        "--max-budget",
        "27",
        "--min-budget",
        "3",
        "--trials",
        "13",
        "--jobs",
        "1",
        "--quiet",
        "--fidelity",
        fidelity,
        "--out",
        "r.json",
    ]
    .map(String::from)
    .to_vec()
}

fn run(dir: &std::path::Path, method: &str, fidelity: &str) -> (String, serde_json::Value) {
    let args = tune_args(method, fidelity);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let text = run_ok(dir, &args);
    let json = std::fs::read_to_string(dir.join("r.json")).unwrap();
    (text, serde_json::from_str(&json).unwrap())
}

#[test]
fn continue_and_wsd_branch_train_fewer_steps_than_they_budget() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (text, restart) = run(d, "adamw-cosine", "restart");
    assert!(text.contains("fidelity restart"), "{text}");
    let cost = &restart["cost"];
    assert_eq!(cost["steps"], cost["budget_steps"]);

    let (text, cont) = run(d, "adamw-cosine", "continue");
    assert!(text.contains("fidelity continue"), "{text}");
    assert!(text.contains("continued a paused run"), "{text}");
    assert_eq!(cont["fidelity_schedule"], "continue");
    let cost = &cont["cost"];
    assert!(cost["continued"].as_u64().unwrap() > 0, "{cost}");
    assert!(
        cost["steps"].as_u64() < cost["budget_steps"].as_u64(),
        "{cost}"
    );
    assert_eq!(cost["budget_steps"], restart["cost"]["budget_steps"]);
    assert!(text.contains("steps budgeted"), "{text}");

    let (_, wsd) = run(d, "adamw-wsd", "wsd-branch");
    let cost = &wsd["cost"];
    assert!(
        cost["steps"].as_u64() < cost["budget_steps"].as_u64(),
        "{cost}"
    );
}

#[test]
fn bad_fidelity_values_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = tune_args("adamw-cosine", "sometimes");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let msg = run_err(d, &args);
    assert!(
        msg.contains("restart, full-horizon, continue, wsd-branch"),
        "{msg}"
    );
    let args = tune_args("adamw-cosine", "wsd-branch");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let msg = run_err(d, &args);
    assert!(
        msg.contains("warmup-stable-decay") && msg.contains("`cosine`"),
        "{msg}"
    );
}
