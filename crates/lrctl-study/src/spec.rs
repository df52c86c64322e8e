//! Study specifications: suites or tasks × methods × seeds, from flags or a TOML file, resolved
//! into cells.
//!
//! ```toml
//! name = "my-study"
//! suites = ["quick"]
//! tasks = ["libsvm/letter", "mlp/digits@w2"]
//! methods = ["adam-fixed", "prodigy", "methods/my-method.toml"]
//! seeds = 3            # or a list: [0, 1, 7]
//! steps = 200          # optional: override every task's budget (a smoke run)
//!
//! [[task]]             # optional: tasks defined inline, same fields as the built-in ones
//! name = "libsvm/mine"
//! ...
//! [[method]]           # optional: methods defined inline
//! name = "adamw-3e-3"
//! ...
//! ```

use std::collections::BTreeSet;
use std::path::Path;

pub use lrctl_engine::ENGINE_VERSION;
use lrctl_tasks::{Budget, TaskSpec};
use lrctl_wrap::Method;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::suite;

/// At most this many seeds per study (beyond it a typo, not a study: `--seeds 4294967295`
/// would expand to billions of cells).
pub const MAX_SEEDS: usize = 10_000;

/// At most this many cells per study.
pub const MAX_CELLS: usize = 2_000_000;

/// Seeds as a count (`0..n`) or an explicit list.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Seeds {
    /// Seeds `0..n`.
    Count(u32),
    /// These seeds.
    List(Vec<u64>),
}

impl Seeds {
    /// The seed values.
    pub fn values(&self) -> Vec<u64> {
        match self {
            Seeds::Count(n) => (0..u64::from(*n)).collect(),
            Seeds::List(v) => v.clone(),
        }
    }

    /// Checks that there is at least one seed and none is repeated.
    pub fn validate(&self) -> Result<(), StudyError> {
        let bad = |why: String| StudyError::Invalid {
            field: "seeds".into(),
            reason: why,
        };
        match self {
            Seeds::Count(0) => Err(bad("a count of 0 runs nothing; give at least 1".into())),
            Seeds::Count(n) if *n as usize > MAX_SEEDS => Err(bad(format!(
                "{n} seeds is more than one study runs (at most {MAX_SEEDS}); split it"
            ))),
            Seeds::Count(_) => Ok(()),
            Seeds::List(v) if v.len() > MAX_SEEDS => Err(bad(format!(
                "{} seeds is more than one study runs (at most {MAX_SEEDS}); split it",
                v.len()
            ))),
            Seeds::List(v) if v.is_empty() => Err(bad("the list is empty".into())),
            Seeds::List(v) => {
                let mut seen = BTreeSet::new();
                match v.iter().find(|s| !seen.insert(**s)) {
                    Some(s) => Err(bad(format!(
                        "seed {s} is listed more than once (each seed is one cell per task and \
                         method)"
                    ))),
                    None => Ok(()),
                }
            }
        }
    }
}

impl<'de> Deserialize<'de> for Seeds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Untagged enums say only "did not match any variant"; say what a seed can be.
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Count(i64),
            List(Vec<i64>),
        }
        let explain = "seeds: give a count (`seeds = 3` runs seeds 0, 1, 2) or a list of \
                       non-negative integers (`seeds = [0, 5, 7]`)";
        let raw = Raw::deserialize(d).map_err(|_| serde::de::Error::custom(explain))?;
        match raw {
            Raw::Count(n) => u32::try_from(n)
                .map(Seeds::Count)
                .map_err(|_| serde::de::Error::custom(format!("{explain}; got {n}"))),
            Raw::List(v) => v
                .iter()
                .map(|&s| u64::try_from(s))
                .collect::<Result<Vec<u64>, _>>()
                .map(Seeds::List)
                .map_err(|_| serde::de::Error::custom(format!("{explain}; got {v:?}"))),
        }
    }
}

/// A study as written by the user (flags or file), before resolution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    /// Study name in the store (default: the suites joined by `+`, or `default`).
    #[serde(default)]
    pub name: Option<String>,
    /// Suites whose tasks (and default methods/seeds) are included.
    #[serde(default)]
    pub suites: Vec<String>,
    /// Further task names.
    #[serde(default)]
    pub tasks: Vec<String>,
    /// Method names or `.toml` paths (default: the suites' methods, else the default set).
    #[serde(default)]
    pub methods: Vec<String>,
    /// Seeds (default: the largest seed count of the suites, else 3).
    #[serde(default)]
    pub seeds: Option<Seeds>,
    /// Override every task's budget with this many steps.
    #[serde(default)]
    pub steps: Option<u64>,
    /// Tasks defined inline.
    #[serde(default, rename = "task")]
    pub inline_tasks: Vec<TaskSpec>,
    /// Methods defined inline.
    #[serde(default, rename = "method")]
    pub inline_methods: Vec<Method>,
}

/// Why a study cannot be resolved.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// A study file that cannot be read or parsed.
    #[error("{file}: {message}")]
    File {
        /// The file.
        file: String,
        /// What is wrong (with line and column for TOML errors).
        message: String,
    },
    /// An unknown suite.
    #[error("unknown suite `{0}`; the suites are: {1}")]
    UnknownSuite(String, String),
    /// A task that cannot be resolved.
    #[error(transparent)]
    Task(#[from] lrctl_tasks::TaskError),
    /// A method that cannot be found or read.
    #[error(transparent)]
    Method(#[from] lrctl_method::MethodError),
    /// A method whose settings are invalid.
    #[error(transparent)]
    Wrap(#[from] lrctl_wrap::WrapError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] lrctl_store::StoreError),
    /// This build refuses to work on a study or cell (another lrctl version submitted it).
    #[error("{0}")]
    Refused(String),
    /// A task's data cannot be loaded on this machine.
    #[error("{task} · {method}: {reason}")]
    Prepare {
        /// The task.
        task: String,
        /// The method of the cell that needed it.
        method: String,
        /// Why (where the data was looked for).
        reason: String,
    },
    /// Writing an export failed.
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
    /// Nothing to run.
    #[error(
        "the study has no {0}: name a suite (`--suite quick`), tasks (`--task`) or a study file"
    )]
    Empty(&'static str),
    /// A field of the study with a value it cannot have.
    #[error("study field `{field}`: {reason}")]
    Invalid {
        /// The field (`seeds`, `steps`, `name`, `task.budget`, …).
        field: String,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// Two different definitions under one name.
    #[error("two different {kind}s are named `{name}` in this study")]
    Duplicate {
        /// `task` or `method`.
        kind: &'static str,
        /// The name.
        name: String,
    },
}

impl StudyFile {
    /// Reads a study file.
    pub fn from_file(path: &Path) -> Result<Self, StudyError> {
        let text = std::fs::read_to_string(path).map_err(|e| StudyError::File {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        let mut file: StudyFile = toml::from_str(&text).map_err(|e| StudyError::File {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        // Method files and inline tasks' data files named in a study file are relative to it,
        // wherever the command runs from.
        let dir = path.parent().unwrap_or(Path::new("."));
        for m in &mut file.methods {
            if m.ends_with(".toml") && Path::new(m.as_str()).is_relative() {
                *m = dir.join(&*m).display().to_string();
            }
        }
        for t in &mut file.inline_tasks {
            if let Some(p) = t.data.path().filter(|p| p.is_relative()) {
                t.data = t.data.with_path(dir.join(p));
            }
        }
        if file.name.is_none() {
            file.name = path.file_stem().map(|s| s.to_string_lossy().into_owned());
        }
        Ok(file)
    }

    /// Resolves names into full task and method configurations and expands the cells.
    pub fn resolve(&self) -> Result<Study, StudyError> {
        let mut task_names: Vec<String> = Vec::new();
        let mut suite_methods: Vec<String> = Vec::new();
        let mut suite_seeds = 0;
        for name in &self.suites {
            let s = suite::find(name).ok_or_else(|| {
                StudyError::UnknownSuite(
                    name.clone(),
                    suite::suites()
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", "),
                )
            })?;
            task_names.extend(s.tasks);
            suite_methods.extend(s.methods.unwrap_or_else(lrctl_wrap::default_names));
            suite_seeds = suite_seeds.max(s.seeds);
        }
        task_names.extend(self.tasks.iter().cloned());

        let mut tasks: Vec<TaskSpec> = Vec::new();
        for name in dedup(&task_names) {
            tasks.push(lrctl_tasks::registry::find(&name)?);
        }
        tasks.extend(self.inline_tasks.iter().cloned());
        if let Some(steps) = self.steps {
            if steps == 0 {
                return Err(StudyError::Invalid {
                    field: "steps".into(),
                    reason: "a budget of 0 steps trains nothing; give at least 1".into(),
                });
            }
            for t in &mut tasks {
                t.budget = Budget::Steps(steps);
            }
        }
        for t in &mut tasks {
            check_name("task", &t.name)?;
            t.validate()?;
            // A task on a user's file is pinned to the file's content: its cells are that
            // data's, wherever the file is and whoever runs the study. (A file missing here
            // cannot be pinned: `run` skips the task, and submitting refuses it.)
            if t.data.path().is_some_and(|p| p.exists()) {
                *t = t.clone().pinned()?;
            }
            round_trips("task", &t.name, &*t)?;
        }
        check_unique(tasks.iter().map(|t| (t.name.as_str(), t)), "task")?;
        if tasks.is_empty() {
            return Err(StudyError::Empty("tasks"));
        }

        let method_names = if self.methods.is_empty() && self.inline_methods.is_empty() {
            if suite_methods.is_empty() {
                lrctl_wrap::default_names()
            } else {
                suite_methods
            }
        } else {
            self.methods.clone()
        };
        let mut methods: Vec<Method> = Vec::new();
        for name in dedup(&method_names) {
            // A name in `methods` may be one of the file's own inline methods.
            let m = match self.inline_methods.iter().find(|m| m.name() == name) {
                Some(inline) => inline.clone(),
                None => lrctl_wrap::find(&name)?,
            };
            m.validate()?;
            methods.push(m);
        }
        for m in &self.inline_methods {
            m.validate()?;
            if !methods.iter().any(|have| have == m) {
                methods.push(m.clone());
            }
        }
        check_unique(methods.iter().map(|m| (m.name(), m)), "method")?;
        for m in &methods {
            check_name("method", m.name())?;
            round_trips("method", m.name(), m)?;
        }
        if methods.is_empty() {
            return Err(StudyError::Empty("methods"));
        }
        if let Some(m) = methods.iter().find(|m| m.learn().is_some())
            && tasks.len() < lrctl_wrap::learn::MIN_STUDY_TASKS
        {
            return Err(StudyError::Invalid {
                field: "methods".into(),
                reason: format!(
                    "`{}` is a learned method: its policy for each task is meta-trained on the \
                     study's other tasks (leave-one-task-out), so the study needs at least {} \
                     tasks; it has {}",
                    m.name(),
                    lrctl_wrap::learn::MIN_STUDY_TASKS,
                    tasks.len()
                ),
            });
        }

        let seeds = match &self.seeds {
            Some(s) => {
                s.validate()?;
                s.values()
            }
            None => Seeds::Count(if suite_seeds > 0 { suite_seeds } else { 3 }).values(),
        };
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| default_name(&self.suites, &tasks));
        check_name("study", &name)?;
        let cells = tasks.len() * methods.len() * seeds.len();
        if cells > MAX_CELLS {
            return Err(StudyError::Invalid {
                field: "seeds".into(),
                reason: format!(
                    "{} task(s) × {} method(s) × {} seed(s) = {cells} cells is more than one \
                     study holds (at most {MAX_CELLS}); split it",
                    tasks.len(),
                    methods.len(),
                    seeds.len()
                ),
            });
        }
        Ok(Study {
            name,
            tasks,
            methods,
            seeds,
        })
    }
}

/// The name of a study that was given none: its suites, else its tasks (the first two and a
/// count), so ad-hoc runs on different tasks do not pile into one study.
fn default_name(suites: &[String], tasks: &[TaskSpec]) -> String {
    if !suites.is_empty() {
        return suites.join("+");
    }
    let names: Vec<&str> = tasks.iter().map(|t| t.name.as_str()).collect();
    match names.len() {
        0 => "default".to_string(),
        1 | 2 => names.join("+"),
        n => format!("{}+{}+{} more", names[0], names[1], n - 2),
    }
}

/// A name that is shown in tables, file names and scripts: not empty, no control characters.
fn check_name(kind: &str, name: &str) -> Result<(), StudyError> {
    let reason = if name.trim().is_empty() {
        "is empty"
    } else if name.chars().any(char::is_control) {
        "contains a control character (a newline, tab, …)"
    } else if name.trim() != name {
        "starts or ends with white space"
    } else {
        return Ok(());
    };
    Err(StudyError::Invalid {
        field: format!("{kind} name"),
        reason: format!("{name:?} {reason}; give a plain name"),
    })
}

/// A configuration is stored as JSON and read back by workers: one that does not survive the
/// round trip (a NaN becomes `null`) could never be trained, so it is refused before
/// anything is stored.
fn round_trips<T: Serialize + serde::de::DeserializeOwned + PartialEq>(
    kind: &str,
    name: &str,
    value: &T,
) -> Result<(), StudyError> {
    let json = serde_json::to_string(value).map_err(|e| StudyError::Invalid {
        field: kind.into(),
        reason: format!("`{name}` cannot be stored: {e}"),
    })?;
    match serde_json::from_str::<T>(&json) {
        Ok(back) if back == *value => Ok(()),
        Ok(_) => Err(StudyError::Invalid {
            field: kind.into(),
            reason: format!(
                "`{name}` does not read back as written (a number that is not finite?)"
            ),
        }),
        Err(e) => Err(StudyError::Invalid {
            field: kind.into(),
            reason: format!(
                "`{name}` cannot be read back once stored ({e}); a number that is not finite \
                 (nan, inf) is the usual cause"
            ),
        }),
    }
}

fn dedup(names: &[String]) -> Vec<String> {
    let mut seen = BTreeSet::new();
    names
        .iter()
        .filter(|n| seen.insert(n.as_str()))
        .cloned()
        .collect()
}

fn check_unique<'a, T: PartialEq + 'a>(
    items: impl Iterator<Item = (&'a str, &'a T)>,
    kind: &'static str,
) -> Result<(), StudyError> {
    let items: Vec<_> = items.collect();
    for (i, (n, a)) in items.iter().enumerate() {
        for (m, b) in &items[i + 1..] {
            if n == m && a != b {
                return Err(StudyError::Duplicate {
                    kind,
                    name: n.to_string(),
                });
            }
        }
    }
    Ok(())
}

/// A resolved study: full configurations, ready to expand into cells.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Study {
    /// Name in the store.
    pub name: String,
    /// Tasks, in order.
    pub tasks: Vec<TaskSpec>,
    /// Methods, in order.
    pub methods: Vec<Method>,
    /// Seeds.
    pub seeds: Vec<u64>,
}

/// One planned cell.
#[derive(Debug, Clone, PartialEq)]
pub struct CellPlan<'a> {
    /// The task.
    pub task: &'a TaskSpec,
    /// The method.
    pub method: &'a Method,
    /// The seed.
    pub seed: u64,
    /// Hash of the full resolved configuration (task, method, engine version).
    pub config_hash: String,
}

impl Study {
    /// Every (task, method, seed) cell, task-major; the cells of selection methods (`auto`,
    /// `race`) come after all others, so that workers, which claim in this order, train the
    /// results an `auto` cell learns from first.
    pub fn cells(&self) -> Vec<CellPlan<'_>> {
        let mut out = Vec::new();
        let (plain, selecting): (Vec<&Method>, Vec<&Method>) =
            self.methods.iter().partition(|m| !m.is_selection());
        for methods in [plain, selecting] {
            self.push_cells(&methods, &mut out);
        }
        out
    }

    fn push_cells<'a>(&'a self, methods: &[&'a Method], out: &mut Vec<CellPlan<'a>>) {
        for task in &self.tasks {
            for method in methods.iter().copied() {
                let hash = config_hash(task, method);
                for &seed in &self.seeds {
                    out.push(CellPlan {
                        task,
                        method,
                        seed,
                        config_hash: hash.clone(),
                    });
                }
            }
        }
    }

    /// The study as JSON (stored with the study so reports need nothing else).
    ///
    /// It records the lrctl and engine versions that submitted it: workers of another version
    /// refuse to write results into it (see [`check_submitter`]).
    pub fn to_json(&self) -> String {
        let mut v = serde_json::to_value(self).expect("study serialises");
        let obj = v.as_object_mut().expect("a study is an object");
        obj.insert("lrctl_version".into(), LRCTL_VERSION.into());
        obj.insert("engine_version".into(), ENGINE_VERSION.into());
        v.to_string()
    }
}

/// The version of this lrctl build (every crate of the workspace shares it).
pub const LRCTL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Checks that a stored study was submitted by this lrctl version and engine, so that a worker
/// never mixes results of two builds into one study. Studies stored before versions were
/// recorded pass. The error says what to do.
pub fn check_submitter(study_name: &str, spec_json: &str) -> Result<(), StudyError> {
    let v: serde_json::Value = serde_json::from_str(spec_json).map_err(|e| {
        StudyError::Refused(format!(
            "study `{study_name}`: its stored specification is unreadable: {e}"
        ))
    })?;
    let lrctl = v.get("lrctl_version").and_then(|x| x.as_str());
    let engine = v.get("engine_version").and_then(|x| x.as_u64());
    let same = lrctl.is_none_or(|l| l == LRCTL_VERSION)
        && engine.is_none_or(|e| e == u64::from(ENGINE_VERSION));
    if same {
        return Ok(());
    }
    Err(StudyError::Refused(format!(
        "study `{study_name}` was submitted by lrctl {} (engine {}), but this worker is lrctl \
         {LRCTL_VERSION} (engine {ENGINE_VERSION}); it refuses to write results into it. Run \
         workers built from the same version as the submitter, or submit the study again with \
         this build (changed cells are superseded, stored results kept)",
        lrctl.unwrap_or("?"),
        engine.map_or("?".to_string(), |e| e.to_string())
    )))
}

/// SHA-256 (hex) over the canonical JSON of the task, the method and [`ENGINE_VERSION`]. A
/// task pinned to its data's content ([`TaskSpec::data_sha256`]) is hashed by that content,
/// not by where the file lies.
pub fn config_hash(task: &TaskSpec, method: &Method) -> String {
    let mut task_json = serde_json::to_value(task).expect("a task serialises");
    if task.data_sha256.is_some()
        && let Some(data) = task_json.get_mut("data").and_then(|d| d.as_object_mut())
    {
        data.remove("path");
    }
    let json = serde_json::json!({
        "engine": ENGINE_VERSION,
        "task": task_json,
        "method": method,
    });
    let digest = Sha256::digest(json.to_string().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored cells are found again by their configuration hash: a change to how tasks or
    /// methods serialise would silently re-run every study. These values were computed by
    /// lrctl before the method types moved to `lrctl-wrap`; change them only together with
    /// [`ENGINE_VERSION`] or a deliberate change of the configuration format.
    #[test]
    fn configuration_hashes_are_stable() {
        let file = StudyFile {
            tasks: vec!["logreg/iris".into()],
            methods: vec!["adam-fixed".into(), "smac-fixed".into(), "race".into()],
            seeds: Some(Seeds::Count(1)),
            steps: Some(2),
            ..StudyFile::default()
        };
        let study = file.resolve().unwrap();
        let cells = study.cells();
        let hashes: Vec<(&str, &str)> = cells
            .iter()
            .map(|c| (c.method.name(), c.config_hash.as_str()))
            .collect();
        let want = [
            (
                "adam-fixed",
                "0f87e12de991a20b4cd2eb39e51b616abb4f99bbc04fe8f759186522f7183215",
            ),
            (
                "smac-fixed",
                "32273aaad94c141f0a23c5647f4805fa0f0c5e6ffc47ff78c07adf3c29d2efcb",
            ),
            (
                "race",
                "72f64c97680ca5f8331b5ecd272bdc20028741254c29bfd4f8d73b86f6d56cf9",
            ),
        ];
        assert_eq!(hashes, want);
    }
}
