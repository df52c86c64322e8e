//! `lrctl bench`: lrctl's measurements, the README table, and the PyTorch reference building
//! the same models (when Debian's python3-torch is installed; CI installs it and sets
//! `LRCTL_REQUIRE_TORCH=1`).

mod common;

use common::{mirror, run_err, run_ok};

fn report(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("bench.json")).unwrap()).unwrap()
}

#[test]
fn lrctl_side_reports_steps_phases_shares_and_the_readme_table() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("README.md"),
        "# x\n<!-- bench:begin -->\nold table\n<!-- bench:end -->\ntail\n",
    )
    .unwrap();
    let out = run_ok(
        d,
        &[
            "bench",
            "--task",
            "logreg/breast-cancer",
            "--task",
            "mlp/digits",
            "--reps",
            "2",
            "--steps",
            "25",
            "--warmup",
            "2",
            "--threads",
            "1",
            "--no-pytorch",
            "--no-study",
            "--out",
            "bench.json",
            "--readme",
            "README.md",
        ],
    );
    assert!(out.contains("| `mlp/digits` |"), "{out}");
    let r = report(d);
    let tasks = r["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    for t in tasks {
        let runs = t["lrctl"].as_array().unwrap();
        assert_eq!(runs.len(), 2, "one run per repetition");
        for run in runs {
            assert_eq!(run["step_ms"].as_array().unwrap().len(), 25);
            assert_eq!(run["phases"]["steps"], 25, "warm-up steps are not counted");
            assert!(run["phases"]["forward_backward"].as_f64().unwrap() > 0.0);
            assert!(run["peak_rss_mb"].as_f64().unwrap() > 1.0);
            let updates = run["update_ms"].as_array().unwrap();
            let names: Vec<&str> = updates.iter().map(|u| u[0].as_str().unwrap()).collect();
            assert_eq!(names, ["adamw", "prodigy", "dadapt-adam", "dowg"]);
            assert!(run["budget_steps"].as_u64().unwrap() > 25);
        }
        let share = t["machinery_share"].as_f64().unwrap();
        assert!(share > 0.0 && share < 1.0, "{share}");
        assert!(t["store_share"].as_f64().unwrap() > 0.0);
        assert!(t["speed_ratio"].is_null(), "no reference ran");
        let lat = t["lrctl_latency_ms"].as_array().unwrap();
        assert!(lat[0].as_f64().unwrap() <= lat[2].as_f64().unwrap());
    }
    let readme = std::fs::read_to_string(d.join("README.md")).unwrap();
    assert!(!readme.contains("old table"), "{readme}");
    assert!(readme.contains("| `logreg/breast-cancer` |"), "{readme}");
    assert!(readme.ends_with("<!-- bench:end -->\ntail\n"), "{readme}");
}

#[test]
fn a_reference_with_another_model_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A stand-in "python" whose torch import works and whose model has 1 parameter.
    let fake = d.join("fake-python");
    std::fs::write(
        &fake,
        "#!/bin/sh\ncase \"$2\" in *import*) echo 9.9; exit 0;; esac\n\
         echo '{\"step_ms\":[1.0],\"n_params\":1,\"peak_rss_mb\":1,\"rss_before_model_mb\":1,\
         \"version\":\"fake\",\"threads\":1}'\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let err = run_err(
        d,
        &[
            "bench",
            "--task",
            "logreg/breast-cancer",
            "--reps",
            "1",
            "--steps",
            "3",
            "--no-study",
            "--python",
            fake.to_str().unwrap(),
        ],
    );
    assert!(err.contains("the models differ"), "{err}");
}

#[test]
fn a_python_without_torch_gets_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_err(
        dir.path(),
        &[
            "bench",
            "--task",
            "logreg/breast-cancer",
            "--python",
            "/bin/false",
        ],
    );
    assert!(err.contains("cannot import torch"), "{err}");
    assert!(err.contains("--no-pytorch"), "{err}");
}

fn torch_available() -> bool {
    std::process::Command::new("/usr/bin/python3")
        .args(["-c", "import torch"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The reference script builds every family's model with exactly lrctl's parameter count
/// (the command refuses otherwise) and trains it on the exported data: one task of every
/// registered family (the first built-in one on embedded data, else on the mirror when it is
/// present), so a new family is checked without editing this test.
#[test]
fn pytorch_reference_trains_the_same_models() {
    if !torch_available() {
        assert!(
            std::env::var_os("LRCTL_REQUIRE_TORCH").is_none(),
            "LRCTL_REQUIRE_TORCH is set but /usr/bin/python3 cannot import torch"
        );
        eprintln!("skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut args = vec![
        "bench",
        "--task",
        "logreg/breast-cancer",
        "--task",
        "mlp/digits",
        "--reps",
        "1",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--no-study",
        "--out",
        "bench.json",
    ];
    let data = mirror();
    let builtin = lrctl_tasks::registry::builtin();
    let mut covered = vec!["linear", "mlp"];
    let mut extra: Vec<String> = Vec::new();
    for &family in lrctl_tasks::ModelSpec::KINDS {
        let of_family = || {
            builtin
                .iter()
                .filter(move |t| t.model.family() == family && !t.data.needs_path())
        };
        let task = of_family()
            .find(|t| t.data.is_embedded())
            .or_else(|| of_family().find(|_| data.is_some()));
        match task {
            Some(t) if !covered.contains(&family) => {
                covered.push(family);
                extra.push(t.name.clone());
            }
            Some(_) => {}
            None => eprintln!("no data mirror: the {family} reference model is not checked"),
        }
    }
    for name in &extra {
        args.extend(["--task", name.as_str()]);
    }
    let data_dir = data.as_ref().map(|p| p.to_str().unwrap().to_string());
    if let Some(data) = &data_dir {
        args.extend(["--data-dir", data]);
    }
    let out = run_ok(d, &args);
    assert!(out.contains("PyTorch"), "{out}");
    let r = report(d);
    assert_eq!(r["tasks"].as_array().unwrap().len(), 2 + extra.len());
    for t in r["tasks"].as_array().unwrap() {
        let (l, p) = (&t["lrctl"][0], &t["pytorch"][0]);
        assert_eq!(l["n_params"], p["n_params"], "{}", t["task"]);
        assert_eq!(p["step_ms"].as_array().unwrap().len(), 2);
        assert!(t["speed_ratio"]["median"].as_f64().unwrap() > 0.0);
    }
}

/// `lrctl bench --study` on a tiny study (embedded iris, one seed, a plain method and a tuned
/// one with four trials, 60-step budget): the PyTorch script replays every run lrctl trained
/// — the tuning trials included, with their budgets and learning-rate schedules — and the
/// report counts the same cells, trials and steps on both sides and computes the ratio.
#[test]
fn study_bench_replays_every_run_in_pytorch() {
    if !torch_available() {
        assert!(
            std::env::var_os("LRCTL_REQUIRE_TORCH").is_none(),
            "LRCTL_REQUIRE_TORCH is set but /usr/bin/python3 cannot import torch"
        );
        eprintln!("skipped: /usr/bin/python3 has no torch (apt-get install python3-torch)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A tuned method whose trials run a schedule (so per-step rates are replayed) and whose
    // optimizer needs no package beyond torch.
    std::fs::write(
        d.join("tiny-tuned.toml"),
        r#"name = "tiny-tuned"
description = "AdamW + SGDR, base LR tuned by SMAC over four trials (bench test)"
paradigm = "tuned"

[optimizer]
kind = "adamw"

[controller]
kind = "cosine-warm-restarts"
lr = 0.005
t0 = 10
t_mult = 2

[tune]
tuner = "smac"
trials = 4
min_budget_fraction = 0.34
eta = 3
objective = "final-train-loss"
worst_score = 100.0

[tune.search."controller.lr"]
low = 0.0001
high = 0.5
log = true
default = 0.005
"#,
    )
    .unwrap();
    std::fs::write(
        d.join("README.md"),
        "x\n<!-- bench-study:begin -->\nold\n<!-- bench-study:end -->\ny\n",
    )
    .unwrap();
    let out = run_ok(
        d,
        &[
            "bench",
            "--study",
            "--task",
            "logreg/iris",
            "--method",
            "adam-fixed",
            "--method",
            "tiny-tuned.toml",
            "--seeds",
            "1",
            "--steps",
            "60",
            "--out",
            "study.json",
            "--readme",
            "README.md",
        ],
    );
    assert!(out.contains("| `logreg/iris` | 2 |"), "{out}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("study.json")).unwrap()).unwrap();
    let t = &r["tasks"][0];
    let l = &t["lrctl"];
    assert_eq!(l["cells"], 2, "{t}");
    let trials = l["trials"].as_u64().unwrap();
    assert!(trials >= 2, "the tuned method ran its trials: {t}");
    // Two cells of 60 steps, plus the trials' steps (at least the smallest budget each).
    let steps = l["steps"].as_u64().unwrap();
    assert!(steps >= 120 + trials * 20, "{t}");
    assert_eq!(t["pytorch_steps"], l["steps"], "{t}");
    assert!(l["tuning_seconds"].as_f64().unwrap() > 0.0, "{t}");
    assert!(t["pytorch_tuning_seconds"].as_f64().unwrap() > 0.0, "{t}");
    let ratio = t["ratio"].as_f64().unwrap();
    let expected =
        t["pytorch_wall_seconds"].as_f64().unwrap() / l["wall_seconds"].as_f64().unwrap();
    assert!((ratio - expected).abs() < 1e-9 * expected, "{t}");
    let methods: Vec<&str> = r["methods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(methods, ["adam-fixed", "tiny-tuned"], "{r}");
    for m in methods {
        assert!(
            t["pytorch_method_seconds"][m].as_f64().unwrap() > 0.0,
            "{t}"
        );
        assert!(l["method_seconds"][m].as_f64().unwrap() > 0.0, "{t}");
    }
    let readme = std::fs::read_to_string(d.join("README.md")).unwrap();
    assert!(!readme.contains("old"), "{readme}");
    assert!(readme.contains("| **all** | 2 |"), "{readme}");
    assert!(
        readme.ends_with("<!-- bench-study:end -->\ny\n"),
        "{readme}"
    );
}
