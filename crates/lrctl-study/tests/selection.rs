//! Selection methods in studies: `race` and `auto` produce cells with their full cost, `auto`
//! never learns from its own task, and both choose the same for every seed of a task.

use lrctl_study::{RunConfig, Seeds, StudyFile};

/// The quick suite's tasks with the race's six plain methods, `race` and `auto`, two seeds.
fn run(dir: &std::path::Path, name: &str, jobs: usize) -> Vec<lrctl_store::CellRow> {
    let file = StudyFile {
        name: Some(name.into()),
        suites: vec!["quick".into()],
        methods: [
            "adam-fixed",
            "cawr-default",
            "dadapt-adam",
            "prodigy",
            "cocob",
            "dowg",
            "race",
            "auto",
        ]
        .map(String::from)
        .to_vec(),
        seeds: Some(Seeds::Count(2)),
        ..StudyFile::default()
    };
    let study = file.resolve().unwrap();
    let location = dir.join(format!("{name}.db")).display().to_string();
    let cfg = RunConfig {
        jobs,
        ..RunConfig::new(lrctl_data::DataDirs::new(None))
    };
    lrctl_study::run_study(&location, &study, &cfg).unwrap();
    let mut s = lrctl_store::open(&location).unwrap();
    let id = s.study(name).unwrap().unwrap().id;
    s.cells(id, lrctl_store::CellSet::Current).unwrap()
}

fn selection(c: &lrctl_store::CellRow) -> serde_json::Value {
    let r = c.result.as_ref().expect("every cell has a result");
    let json: serde_json::Value = serde_json::from_str(&r.result_json).unwrap();
    json["selection"].clone()
}

#[test]
fn race_and_auto_cells_carry_their_choice_and_cost() {
    let dir = tempfile::tempdir().unwrap();
    let cells = run(dir.path(), "sel", 2);
    // The race's six candidates, so that every winner also ran as a plain method.
    let plain = [
        "adam-fixed",
        "cawr-default",
        "dadapt-adam",
        "prodigy",
        "cocob",
        "dowg",
    ];
    let mut choices = std::collections::HashMap::new();
    for c in &cells {
        let r = c.result.as_ref().unwrap();
        assert_eq!(r.outcome, lrctl_store::Outcome::Finished, "{c:?}");
        match c.method.as_str() {
            "race" => {
                let s = selection(c);
                let scores = s["scores"].as_array().unwrap();
                assert_eq!(scores.len(), 6, "{s}");
                // The winner has the lowest race score.
                let best = scores
                    .iter()
                    .min_by(|a, b| a[1].as_f64().unwrap().total_cmp(&b[1].as_f64().unwrap()))
                    .unwrap();
                assert_eq!(s["method"]["name"], best[0], "{s}");
                // The five losers' 10 % runs are charged on top of the (continued) winner's run.
                let race_steps = 5 * (r.total_steps as f64 * 0.1).ceil() as u64;
                assert!(s["steps"].as_u64().unwrap() <= race_steps, "{s}");
                assert!(s["steps"].as_u64().unwrap() > 0, "{s}");
                assert_eq!(r.cost_steps, r.steps + s["steps"].as_u64().unwrap());
                assert_eq!(
                    r.steps, r.total_steps,
                    "the winner's run went on to the end"
                );
                assert!(r.cost_seconds > r.seconds);
                // Continuing the paused run is exactly the winner's plain run on this seed.
                let winner = s["method"]["name"].as_str().unwrap();
                let plain_cell = cells
                    .iter()
                    .find(|p| p.task == c.task && p.seed == c.seed && p.method == winner)
                    .expect("the winner also ran as a plain method");
                let p = plain_cell.result.as_ref().unwrap();
                assert_eq!(
                    (r.test_metric, r.final_train_loss, r.validation_loss),
                    (p.test_metric, p.final_train_loss, p.validation_loss),
                    "{} seed {}: race continued {winner}",
                    c.task,
                    c.seed
                );
                choices
                    .entry((c.task.clone(), "race"))
                    .or_insert_with(Vec::new)
                    .push((c.seed, s["method"]["name"].clone()));
            }
            "auto" => {
                let s = selection(c);
                assert!(s["fallback"].is_null(), "{s}");
                let reference: Vec<&str> = s["reference_tasks"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|t| t.as_str().unwrap())
                    .collect();
                assert_eq!(
                    reference.len(),
                    3,
                    "the other three quick tasks: {reference:?}"
                );
                assert!(!reference.contains(&c.task.as_str()), "never its own task");
                let scored: Vec<&str> = s["scores"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p[0].as_str().unwrap())
                    .collect();
                assert_eq!(scored, plain, "candidates: the plain methods only");
                assert!(plain.contains(&s["method"]["name"].as_str().unwrap()));
                assert_eq!(r.cost_steps, r.steps, "auto trains nothing to choose");
                assert!(r.cost_seconds >= r.seconds);
                choices
                    .entry((c.task.clone(), "auto"))
                    .or_insert_with(Vec::new)
                    .push((c.seed, s["method"]["name"].clone()));
            }
            m => assert!(plain.contains(&m)),
        }
    }
    assert_eq!(choices.len(), 8, "race and auto on each of the 4 tasks");
    for (k, v) in &choices {
        assert_eq!(v.len(), 2, "{k:?}");
        // auto chooses per task; a race runs on each cell's own seed and may differ.
        if k.1 == "auto" {
            assert_eq!(v[0].1, v[1].1, "{k:?}: one choice for every seed");
        }
    }
    // The evaluation of the study's own selection methods: against the plain methods only.
    let mut store = lrctl_store::open(&dir.path().join("sel.db").display().to_string()).unwrap();
    let row = store.study("sel").unwrap().unwrap();
    let snap = lrctl_study::snapshot::Snapshot::read(store.as_mut(), row).unwrap();
    assert_eq!(
        lrctl_study::selection::selection_methods(&snap),
        ["race", "auto"]
    );
    let candidates = lrctl_study::selection::candidates_only(&snap);
    assert_eq!(
        candidates.methods, plain,
        "selectors choose among plain methods"
    );
    assert_eq!(candidates.tasks.len(), 4);
    let realised = lrctl_study::selection::realised(&snap);
    assert_eq!(realised.len(), 2);
    for r in &realised {
        assert_eq!(r.tasks, 4, "{r:?}");
        assert!(plain.contains(&r.sbs.0.as_str()), "{r:?}");
        assert!(r.score > 0.0 && r.score <= 1.0 + 1e-12, "{r:?}");
        assert!(
            r.oracle >= r.sbs.1 - 1e-12 && r.oracle <= 1.0 + 1e-12,
            "{r:?}"
        );
        if let Some(g) = r.gap_closed {
            let want = (r.score - r.sbs.1) / (r.oracle - r.sbs.1);
            assert!((g - want).abs() < 1e-9, "{r:?}");
        }
        assert!(r.cost_ratio > 0.0, "{r:?}");
    }
    let race = realised.iter().find(|r| r.method == "race").unwrap();
    assert!(
        race.cost_ratio > 1.0,
        "the race's runs are charged: {race:?}"
    );
    drop(store);

    // With one job the same choices are made: they do not depend on timing.
    let again = run(dir.path(), "sel1", 1);
    for c in again
        .iter()
        .filter(|c| c.method == "auto" || c.method == "race")
    {
        let want = &choices[&(
            c.task.clone(),
            if c.method == "race" { "race" } else { "auto" },
        )];
        let want = &want.iter().find(|(seed, _)| *seed == c.seed).unwrap().1;
        assert_eq!(
            selection(c)["method"]["name"],
            *want,
            "{} {}",
            c.task,
            c.method
        );
    }
}
