//! A study mixing lrctl's tasks with a user task (trained by a Python function): the engine's
//! workers train their own cells and leave the user task's queued for its function, and the
//! report's snapshot reads the user task's metric.

use lrctl_study::{ExternalMetric, ExternalTask, RunConfig, Seeds, StudyFile};

#[test]
fn engine_workers_leave_a_user_tasks_cells_to_its_function() {
    let dir = tempfile::tempdir().unwrap();
    let location = dir.path().join("mixed.db").display().to_string();
    let user = ExternalTask::new(
        "my-model",
        serde_json::json!({"batch_size": 16, "family": "mlp"}),
        20,
        None,
        ExternalMetric::Accuracy,
    )
    .unwrap();
    let methods = [lrctl_wrap::find("adam-fixed").unwrap()];
    {
        let mut store = lrctl_store::open(&location).unwrap();
        let (_, added) =
            lrctl_study::submit_external(store.as_mut(), "mixed", &user, &methods, &[0, 1])
                .unwrap();
        assert_eq!(added.added, 2);
    }
    let study = StudyFile {
        name: Some("mixed".into()),
        tasks: vec!["logreg/iris".into()],
        methods: vec!["adam-fixed".into()],
        seeds: Some(Seeds::Count(2)),
        steps: Some(10),
        ..StudyFile::default()
    }
    .resolve()
    .unwrap();
    let cfg = RunConfig {
        jobs: 2,
        ..RunConfig::new(lrctl_data::DataDirs::new(None))
    };
    let report = lrctl_study::run_study(&location, &study, &cfg).unwrap();
    assert_eq!(report.ran, 2);
    let mut store = lrctl_store::open(&location).unwrap();
    let row = store.study("mixed").unwrap().unwrap();
    let cells = store.cells(row.id, lrctl_store::CellSet::Current).unwrap();
    assert_eq!(cells.len(), 4);
    for c in &cells {
        let done = c.state == lrctl_store::CellState::Done;
        assert_eq!(done, c.task == "logreg/iris", "{} {:?}", c.task, c.state);
        assert_eq!(
            lrctl_study::is_external(&c.task_config),
            c.task == "my-model"
        );
        if c.task == "my-model" {
            assert_eq!(c.config_hash, user.config_hash(&methods[0]));
        }
    }
    let snap = lrctl_study::snapshot::Snapshot::from_cells(row, cells);
    let mine = snap.tasks.iter().find(|t| t.name == "my-model").unwrap();
    assert_eq!((mine.metric, mine.maximize), ("accuracy", true));
    let features = snap.static_features();
    let i = snap
        .tasks
        .iter()
        .position(|t| t.name == "my-model")
        .unwrap();
    let names = lrctl_wrap::features::StaticFeatures::names();
    let batch = names.iter().position(|n| *n == "batch_size").unwrap();
    assert_eq!(features[i][batch], 16.0);
}
