//! A learned method in a study: each task's cells use a policy meta-trained on the study's
//! other tasks, once per task (shared by its seeds), stored generation by generation, and
//! charged amortised over the study's tasks.

use lrctl_study::{RunConfig, Seeds, StudyFile};

/// learned-loto with a tiny budget.
fn learned() -> lrctl_wrap::Method {
    let mut m = lrctl_wrap::find("learned-loto").unwrap();
    let Some(lrctl_wrap::Wrapper::Learn(l)) = m.wrapper.as_mut() else {
        panic!("learned-loto is learned")
    };
    l.generations = 2;
    l.fidelity = 0.5;
    l.interval = 5;
    m
}

fn file(tasks: &[&str]) -> StudyFile {
    StudyFile {
        name: Some("learned".into()),
        tasks: tasks.iter().map(|t| t.to_string()).collect(),
        methods: vec!["adam-fixed".into(), "learned-loto".into()],
        seeds: Some(Seeds::Count(2)),
        steps: Some(20),
        ..StudyFile::default()
    }
}

#[test]
fn each_task_gets_a_policy_that_never_saw_it_shared_by_its_seeds() {
    let tasks = ["logreg/iris", "logreg/wine-quality", "logreg/breast-cancer"];
    let mut study = file(&tasks).resolve().unwrap();
    study.methods[1] = learned();
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("s.db").display().to_string();
    let cfg = RunConfig {
        jobs: 2,
        ..RunConfig::new(lrctl_data::DataDirs::new(None))
    };
    lrctl_study::run_study(&location, &study, &cfg).unwrap();
    let mut s = lrctl_store::open(&location).unwrap();
    let row = s.study("learned").unwrap().unwrap();
    let id = row.id;
    let cells = s.cells(id, lrctl_store::CellSet::Current).unwrap();
    assert_eq!(cells.len(), 3 * 2 * 2);
    let mut policies = std::collections::HashMap::new();
    for c in cells.iter().filter(|c| c.method == "learned-loto") {
        let r = c.result.as_ref().unwrap();
        assert_eq!(r.outcome, lrctl_store::Outcome::Finished, "{c:?}");
        let json: serde_json::Value = serde_json::from_str(&r.result_json).unwrap();
        let l = &json["learning"];
        assert_eq!(l["held_out"], c.task.as_str());
        let trained: Vec<&str> = l["trained_on"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap())
            .collect();
        assert_eq!(trained.len(), 2);
        assert!(!trained.contains(&c.task.as_str()), "{trained:?}");
        assert_eq!(l["amortised_over"], 3);
        let charged = l["steps"].as_u64().unwrap();
        assert_eq!(r.cost_steps, r.steps + charged);
        assert_eq!(
            charged,
            (l["cost_steps"].as_u64().unwrap() as f64 / 3.0).round() as u64
        );
        let key = l["learn_key"].as_str().unwrap().to_string();
        assert_eq!(s.trials(&key).unwrap().len(), 2, "two generations stored");
        let policy = l["method"]["controller"]["policy"].clone();
        if let Some(other) = policies.insert(c.task.clone(), (key.clone(), policy.clone())) {
            assert_eq!(other, (key, policy), "one fold per task, for both seeds");
        }
    }
    assert_eq!(policies.len(), 3);
    // `auto`'s references and the candidates of selection reports leave learned methods out.
    let snap = lrctl_study::snapshot::Snapshot::read(s.as_mut(), row).unwrap();
    assert_eq!(
        lrctl_study::selection::learned_methods(&snap),
        ["learned-loto"]
    );
    assert_eq!(
        lrctl_study::selection::candidates_only(&snap).methods,
        ["adam-fixed"]
    );
}

#[test]
fn a_study_of_fewer_than_three_tasks_with_a_learned_method_is_refused() {
    let e = file(&["logreg/iris", "logreg/wine-quality"])
        .resolve()
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("learned-loto") && e.contains("at least 3 tasks"),
        "{e}"
    );
}
