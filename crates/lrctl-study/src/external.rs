//! Tasks that lrctl's engine does not train: a user's own training loop (a PyTorch model driven
//! from Python through `lrctl.Study.run(task=..., fn=...)`) whose cells live in the same store
//! as the engine's.
//!
//! Such a task has no [`TaskSpec`](lrctl_tasks::TaskSpec): its identity is its name, the
//! user's description of it (any JSON: model, data, batch size, …; only its SHA-256 matters)
//! and its budget. A cell's `task_config` is the [`ExternalTask`] as JSON and its
//! `config_hash` covers it the way [`config_hash`](crate::config_hash) covers a built-in task,
//! so changing the description, the budget or the method makes new cells and a rerun skips the
//! finished ones. Only the process that has the training function can train these cells:
//! engine workers put them back ([`is_external`]).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use lrctl_store::{AddReport, NewCell, Store, StudyId};
use lrctl_tasks::Direction;
use lrctl_wrap::Method;
use lrctl_wrap::features::StaticFeatures;

use crate::spec::{ENGINE_VERSION, LRCTL_VERSION, StudyError};

/// What a cell's `task_config` says its kind is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExternalKind {
    /// Trained by a user's function outside lrctl's engine.
    External,
}

/// The held-out number an external task reports at its evaluations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ExternalMetric {
    /// Accuracy (larger is better).
    Accuracy,
    /// The evaluation loss itself (smaller is better).
    Loss,
}

impl ExternalMetric {
    /// Its name in results and reports.
    pub fn name(self) -> &'static str {
        match self {
            ExternalMetric::Accuracy => "accuracy",
            ExternalMetric::Loss => "loss",
        }
    }

    /// Which way is better.
    pub fn direction(self) -> Direction {
        match self {
            ExternalMetric::Accuracy => Direction::Maximize,
            ExternalMetric::Loss => Direction::Minimize,
        }
    }

    /// Parses `accuracy` or `loss`.
    pub fn parse(s: &str) -> Result<ExternalMetric, StudyError> {
        match s {
            "accuracy" => Ok(ExternalMetric::Accuracy),
            "loss" => Ok(ExternalMetric::Loss),
            other => Err(StudyError::Invalid {
                field: "metric".into(),
                reason: format!("`{other}` is not a metric of a user task: accuracy or loss"),
            }),
        }
    }
}

/// A task trained outside lrctl's engine, as its cells store it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalTask {
    /// Always [`ExternalKind::External`]: what tells these configurations from a `TaskSpec`.
    pub kind: ExternalKind,
    /// The task's name in the study.
    pub name: String,
    /// The user's description (any JSON), kept for reading.
    pub description: serde_json::Value,
    /// SHA-256 of the description's canonical JSON: the task's identity besides its name.
    pub description_sha256: String,
    /// The budget of one run in optimizer steps.
    pub budget_steps: u64,
    /// Optimizer steps of one pass over the training data, when the user says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps_per_epoch: Option<u64>,
    /// What the evaluations report besides the loss.
    pub metric: ExternalMetric,
}

impl ExternalTask {
    /// A user task, checked: a non-empty name that no built-in task has, a budget of at least one
    /// step.
    pub fn new(
        name: &str,
        description: serde_json::Value,
        budget_steps: u64,
        steps_per_epoch: Option<u64>,
        metric: ExternalMetric,
    ) -> Result<ExternalTask, StudyError> {
        let invalid = |field: &str, reason: String| StudyError::Invalid {
            field: field.into(),
            reason,
        };
        if name.trim().is_empty() || name.chars().any(char::is_control) {
            return Err(invalid("task", format!("{name:?} is not a task name")));
        }
        if lrctl_tasks::registry::find(name).is_ok() {
            return Err(invalid(
                "task",
                format!(
                    "`{name}` is a built-in task, trained by lrctl's engine: name your own task \
                     differently"
                ),
            ));
        }
        if budget_steps == 0 {
            return Err(invalid("budget_steps", "must be at least 1".into()));
        }
        if steps_per_epoch == Some(0) {
            return Err(invalid("steps_per_epoch", "must be at least 1".into()));
        }
        let digest = Sha256::digest(description.to_string().as_bytes());
        Ok(ExternalTask {
            kind: ExternalKind::External,
            name: name.to_string(),
            description,
            description_sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
            budget_steps,
            steps_per_epoch,
            metric,
        })
    }

    /// The external task a cell's stored `task_config` holds, if it holds one.
    pub fn parse(task_config: &str) -> Option<ExternalTask> {
        serde_json::from_str(task_config).ok()
    }

    /// The configuration hash of this task under `method`: SHA-256 over the canonical JSON of
    /// the engine version, the task (its description by hash) and the method, like
    /// [`config_hash`](crate::config_hash) for built-in tasks.
    pub fn config_hash(&self, method: &Method) -> String {
        let json = serde_json::json!({
            "engine": ENGINE_VERSION,
            "task": self.identity(),
            "method": method,
        });
        let digest = Sha256::digest(json.to_string().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The task's meta-features, when its description gives them ([`description_features`]).
    pub fn features(&self) -> Option<StaticFeatures> {
        description_features(&self.description, Some(self.budget_steps))
    }

    /// The key a tuned method's trials on this task are stored under (shared by the method's
    /// cells of every seed, like [`lrctl_wrap::tuned::tuning_key`] for built-in tasks).
    pub fn tuning_key(&self, method: &Method) -> String {
        let json = serde_json::json!({
            "engine": ENGINE_VERSION,
            "task": self.identity(),
            "method": method,
            "purpose": "tuning",
        });
        let digest = Sha256::digest(json.to_string().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The task as JSON without its description (which its hash stands for).
    fn identity(&self) -> serde_json::Value {
        let mut task = serde_json::to_value(self).expect("a task serialises");
        if let Some(t) = task.as_object_mut() {
            t.remove("description");
        }
        task
    }

    /// The cells of this task under `methods` × `seeds`.
    pub fn cells(&self, methods: &[Method], seeds: &[u64]) -> Vec<NewCell> {
        let task_config = serde_json::to_string(self).expect("a task serialises");
        let mut out = Vec::with_capacity(methods.len() * seeds.len());
        for m in methods {
            let method_config = serde_json::to_string(m).expect("a method serialises");
            let config_hash = self.config_hash(m);
            for &seed in seeds {
                out.push(NewCell {
                    task: self.name.clone(),
                    method: m.name().to_string(),
                    seed,
                    config_hash: config_hash.clone(),
                    task_config: task_config.clone(),
                    method_config: method_config.clone(),
                });
            }
        }
        out
    }
}

/// The meta-features a user task's description gives (the keys `lrctl.describe` writes:
/// `train_rows`, `n_features`, `n_classes`, `n_params`, `batch_size`, `budget_steps`,
/// `family`), or `None` without a batch size. `budget_steps` defaults to `budget`.
pub fn description_features(
    description: &serde_json::Value,
    budget: Option<u64>,
) -> Option<StaticFeatures> {
    let d = description.as_object()?;
    let uint = |k: &str| d.get(k).and_then(serde_json::Value::as_u64);
    Some(StaticFeatures {
        train_rows: uint("train_rows").and_then(|v| usize::try_from(v).ok()),
        n_features: uint("n_features").and_then(|v| usize::try_from(v).ok()),
        n_classes: uint("n_classes").and_then(|v| usize::try_from(v).ok()),
        n_params: uint("n_params"),
        batch_size: usize::try_from(uint("batch_size")?).ok()?,
        budget_steps: uint("budget_steps").or(budget),
        family: d
            .get("family")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_string(),
    })
}

/// Whether a stored `task_config` is an external task's (which lrctl's engine cannot train).
pub fn is_external(task_config: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(task_config)
        .is_ok_and(|v| v.get("kind").and_then(|k| k.as_str()) == Some("external"))
}

/// Records the study (created, or extended when it exists: its stored specification keeps its
/// built-in tasks and gains this task and any new methods) and adds the task's cells,
/// idempotently (see [`Store::add_cells`]). A study submitted by another lrctl version is
/// refused.
pub fn submit_external(
    store: &mut dyn Store,
    study: &str,
    task: &ExternalTask,
    methods: &[Method],
    seeds: &[u64],
) -> Result<(StudyId, AddReport), StudyError> {
    if methods.is_empty() {
        return Err(StudyError::Empty("methods"));
    }
    if seeds.is_empty() {
        return Err(StudyError::Invalid {
            field: "seeds".into(),
            reason: "give at least one seed".into(),
        });
    }
    let mut spec = match store.study(study)? {
        Some(row) => {
            crate::spec::check_submitter(&row.name, &row.spec_json)?;
            serde_json::from_str::<serde_json::Value>(&row.spec_json)
                .ok()
                .filter(serde_json::Value::is_object)
                .unwrap_or_else(|| serde_json::json!({}))
        }
        None => serde_json::json!({ "name": study, "tasks": [], "methods": [], "seeds": [] }),
    };
    let obj = spec.as_object_mut().expect("an object");
    obj.insert("lrctl_version".into(), LRCTL_VERSION.into());
    obj.insert("engine_version".into(), ENGINE_VERSION.into());
    let listed = obj
        .entry("methods")
        .or_insert_with(|| serde_json::json!([]));
    if let Some(list) = listed.as_array_mut() {
        for m in methods {
            if !list.iter().any(|x| x["name"].as_str() == Some(m.name())) {
                list.push(serde_json::to_value(m).expect("a method serialises"));
            }
        }
    }
    let external = obj
        .entry("external_tasks")
        .or_insert_with(|| serde_json::json!([]));
    if let Some(list) = external.as_array_mut() {
        list.retain(|t| t["name"].as_str() != Some(task.name.as_str()));
        list.push(serde_json::to_value(task).expect("a task serialises"));
    }
    let id = store.upsert_study(study, &spec.to_string())?;
    let added = store.add_cells(id, &task.cells(methods, seeds))?;
    Ok((id, added))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(description: serde_json::Value, steps: u64) -> ExternalTask {
        ExternalTask::new(
            "my-model",
            description,
            steps,
            None,
            ExternalMetric::Accuracy,
        )
        .expect("valid")
    }

    #[test]
    fn identity_is_name_description_budget_and_method() {
        let m = lrctl_wrap::find("adam-fixed").expect("built in");
        let p = lrctl_wrap::find("prodigy").expect("built in");
        let a = task(serde_json::json!({"width": 64}), 100);
        assert_eq!(
            a.config_hash(&m),
            task(serde_json::json!({"width": 64}), 100).config_hash(&m)
        );
        for other in [
            task(serde_json::json!({"width": 32}), 100),
            task(serde_json::json!({"width": 64}), 200),
        ] {
            assert_ne!(a.config_hash(&m), other.config_hash(&m));
        }
        assert_ne!(a.config_hash(&m), a.config_hash(&p));
        let stored = serde_json::to_string(&a).expect("serialises");
        assert!(is_external(&stored));
        assert_eq!(ExternalTask::parse(&stored), Some(a.clone()));
        let builtin = lrctl_tasks::registry::find("logreg/iris").expect("built in");
        assert!(!is_external(
            &serde_json::to_string(&builtin).expect("serialises")
        ));
        assert_eq!(a.cells(&[m, p], &[0, 1, 2]).len(), 6);
        assert_eq!(a.features(), None);
        let described = task(
            serde_json::json!({"batch_size": 32, "n_params": 1000, "family": "mlp"}),
            100,
        );
        let f = described.features().expect("a batch size");
        assert_eq!(
            (f.batch_size, f.n_params, f.budget_steps),
            (32, Some(1000), Some(100))
        );
        assert_eq!(f.family, "mlp");
    }

    #[test]
    fn bad_tasks_say_what_is_wrong() {
        let d = serde_json::Value::Null;
        let m = ExternalMetric::Loss;
        let err = |r: Result<ExternalTask, StudyError>| r.expect_err("invalid").to_string();
        assert!(err(ExternalTask::new("logreg/iris", d.clone(), 5, None, m)).contains("built-in"));
        assert!(err(ExternalTask::new(" ", d.clone(), 5, None, m)).contains("task name"));
        assert!(err(ExternalTask::new("x", d.clone(), 0, None, m)).contains("budget_steps"));
        assert!(err(ExternalTask::new("x", d, 5, Some(0), m)).contains("steps_per_epoch"));
        assert!(ExternalMetric::parse("f1").is_err());
    }
}
