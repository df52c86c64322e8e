//! Methods: named configurations of an optimizer and a controller.
//!
//! A method is data, not a code path. The built-in ones are TOML files in `methods/` compiled
//! into the binary; a user's own method is a TOML file with the same fields:
//!
//! ```toml
//! name = "cawr-default"
//! description = "AdamW + cosine annealing with warm restarts per step (T0 10, T_mult 2)"
//! paradigm = "schedule"
//!
//! [optimizer]
//! kind = "adamw"
//! betas = [0.9, 0.99]
//!
//! [controller]
//! kind = "cosine-warm-restarts"
//! lr = 0.005
//! t0 = 10
//! t_mult = 2
//! ```

mod params;

pub use params::{
    DEFAULT_ETA_MIN_RANGE, DEFAULT_LR_RANGE, DEFAULT_T_MULT_RANGE, DEFAULT_T0_RANGE, ParamsError,
    check_space, default_space, space_from_toml, tunable_paths, with_params,
};

use std::path::Path;

use lrctl_control::{Controller, ControllerSpec};
use lrctl_optim::{Optimizer, OptimizerSpec};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The families of learning-rate control the paper compares (plus online controllers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Paradigm {
    /// A constant learning rate.
    Fixed,
    /// A fixed schedule.
    Schedule,
    /// A hyperparameter-free optimizer.
    Free,
    /// An online controller reading observations.
    Online,
    /// Tuned by multi-fidelity HPO.
    Tuned,
    /// Chosen per task by a selector.
    Selected,
}

impl Paradigm {
    /// The name stored and printed.
    pub fn as_str(&self) -> &'static str {
        match self {
            Paradigm::Fixed => "fixed",
            Paradigm::Schedule => "schedule",
            Paradigm::Free => "free",
            Paradigm::Online => "online",
            Paradigm::Tuned => "tuned",
            Paradigm::Selected => "selected",
        }
    }
}

/// A built method: its optimizer and its controller, fresh for one run.
pub type Built = (Box<dyn Optimizer>, Box<dyn Controller>);

/// A named optimizer + controller configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MethodSpec {
    /// Registry name, e.g. `cawr-default`.
    pub name: String,
    /// One line for `lrctl methods`.
    #[serde(default)]
    pub description: String,
    /// Which family of learning-rate control it belongs to.
    pub paradigm: Paradigm,
    /// Whether `lrctl run` includes it by default.
    #[serde(default)]
    pub default: bool,
    /// The update rule.
    pub optimizer: OptimizerSpec,
    /// The learning-rate controller.
    pub controller: ControllerSpec,
    /// For a *tuned method*: how its hyperparameters are tuned on each task before the
    /// evaluation runs (absent: the method is used as written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tune: Option<TuneSpec>,
    /// For a *selection method* (`race`, `auto`): how it chooses, per task, which method to
    /// train. Its own optimizer and controller are the fallback when there is nothing to choose
    /// from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub select: Option<SelectSpec>,
}

/// How a selection method picks the method it trains on a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SelectSpec {
    /// Run every candidate briefly on the task and train the best.
    Race(RaceSpec),
    /// Let a selector trained on the study's other tasks choose before any training.
    Auto(AutoSpec),
}

/// A race between candidate methods: each runs `fraction` of the task's budget with the race
/// seed; the one with the lowest objective is then trained in full on the cell's seed. The
/// winner restarts from scratch (no checkpoint is kept), so the race costs
/// `fraction × candidates` full runs on top of the final run, and every race step is charged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RaceSpec {
    /// Method names (`lrctl methods`) that race; plain methods only (no tuned or selection
    /// methods).
    pub candidates: Vec<String>,
    /// Share of the task's budget each candidate runs (0, 1].
    #[serde(default = "default_race_fraction")]
    pub fraction: f64,
    /// What decides the race (lower is better; diverged = the worst score).
    #[serde(default = "default_race_objective")]
    pub objective: lrctl_tune::Objective,
    /// Unset (the default): the race runs on the cell's own seed, each candidate's run
    /// scheduled over the full budget and paused after `fraction` of it, and the winner's run
    /// is **continued** to the end (its race steps are part of the final run). Set: one race
    /// with this seed, shared by the cells of a process, and the winner trains from scratch on
    /// the cell's seed (how lrctl raced before continuation existed; kept so that stored
    /// configurations mean what they meant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

fn default_race_fraction() -> f64 {
    0.1
}

fn default_race_objective() -> lrctl_tune::Objective {
    lrctl_tune::Objective::FinalTrainLoss
}

/// Selection by a trained selector (see `lrctl-select`): fitted on the study's other tasks
/// (their static meta-features and every other method's results), it picks a method for the
/// cell's task from the task's own static meta-features, before any training on it. The task
/// itself is never in the selector's training data. (Probe features are not used here yet:
/// `lrctl select --probe-steps` evaluates them.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoSpec {
    /// Selector name (`sbs`, `regression`, `pairwise`, `knn`).
    #[serde(default = "default_selector")]
    pub selector: String,
}

fn default_selector() -> String {
    "regression".into()
}

/// How a tuned method tunes itself on a task: a multi-fidelity tuner over a search space of its
/// hyperparameters (dotted paths such as `controller.lr`), with the task's budget as the
/// largest fidelity. Tuning runs once per (task, tuning seed); the incumbent is then retrained
/// on each evaluation seed, and every tuning step is charged to the method's cost.
///
/// In TOML (`smac-fixed.toml`):
/// ```toml
/// [tune]
/// tuner = "smac"
/// trials = 50
/// min_budget_fraction = 0.2
/// objective = "final-train-loss"
/// [tune.search."controller.lr"]
/// low = 0.0
/// high = 1.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TuneSpec {
    /// Tuner name (`lrctl_tune::TUNER_NAMES`).
    pub tuner: String,
    /// Trials, every rung counted (default: the tuner's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trials: Option<usize>,
    /// Smallest trial budget as a fraction of the task's budget (the paper: 20 of 100 epochs).
    #[serde(default = "default_min_fraction")]
    pub min_budget_fraction: f64,
    /// Ratio between successive rungs.
    #[serde(default = "default_eta")]
    pub eta: f64,
    /// What the trials are scored on, and the score of a diverged trial.
    #[serde(flatten)]
    pub scoring: lrctl_tune::Scoring,
    /// Tuning seed (the evaluation seeds are the study's).
    #[serde(default)]
    pub seed: u64,
    /// The space searched (default: the method's learning rate, see [`default_space`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<lrctl_tune::SearchSpace>,
}

fn default_min_fraction() -> f64 {
    0.2
}

fn default_eta() -> f64 {
    3.0
}

impl TuneSpec {
    /// The fidelity for a task whose full run is `max_steps` long.
    pub fn fidelity(&self, max_steps: u64) -> Result<lrctl_tune::Fidelity, String> {
        if !(self.min_budget_fraction > 0.0 && self.min_budget_fraction <= 1.0) {
            return Err(format!(
                "tune.min_budget_fraction must be in (0, 1], not {}",
                self.min_budget_fraction
            ));
        }
        let min = ((max_steps as f64 * self.min_budget_fraction).round() as u64)
            .clamp(1, max_steps.max(1));
        lrctl_tune::Fidelity::new(min, max_steps.max(1), self.eta).map_err(|e| e.to_string())
    }

    /// The space searched for `method`.
    pub fn space(&self, method: &MethodSpec) -> Result<lrctl_tune::SearchSpace, ParamsError> {
        match &self.search {
            Some(s) => {
                check_space(method, s)?;
                Ok(s.clone())
            }
            None => default_space(method),
        }
    }
}

/// Why a method could not be found, read or built.
#[derive(Debug, thiserror::Error)]
pub enum MethodError {
    /// No method of that name.
    #[error("unknown method `{name}`{}; `lrctl methods` lists them all", did_you_mean(.suggestions))]
    Unknown {
        /// The name asked for.
        name: String,
        /// Closest known names.
        suggestions: Vec<String>,
    },
    /// A method file that is not valid TOML or has wrong fields.
    #[error("{file}: {message}")]
    Parse {
        /// The file (or `built-in <name>`).
        file: String,
        /// The TOML error with line and column.
        message: String,
    },
    /// A file that could not be read.
    #[error("cannot read method file {file}: {source}")]
    Io {
        /// The file.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Out-of-range optimizer hyperparameters.
    #[error("method `{method}`: {source}")]
    Optimizer {
        /// Method name.
        method: String,
        /// What is wrong.
        #[source]
        source: lrctl_optim::OptimError,
    },
    /// Out-of-range controller hyperparameters.
    #[error("method `{method}`: {source}")]
    Controller {
        /// Method name.
        method: String,
        /// What is wrong.
        #[source]
        source: lrctl_control::ControlError,
    },
}

fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
        format!("; did you mean {}?", names.join(" or "))
    }
}

/// The built-in method files, compiled in.
const BUILTIN: &[(&str, &str)] = &[
    ("adam-fixed", include_str!("../methods/adam-fixed.toml")),
    ("cawr-default", include_str!("../methods/cawr-default.toml")),
    ("adamw-cosine", include_str!("../methods/adamw-cosine.toml")),
    ("adamw-wsd", include_str!("../methods/adamw-wsd.toml")),
    (
        "plateau-adamw",
        include_str!("../methods/plateau-adamw.toml"),
    ),
    ("hd-adam", include_str!("../methods/hd-adam.toml")),
    ("hd-sgd", include_str!("../methods/hd-sgd.toml")),
    ("sps", include_str!("../methods/sps.toml")),
    ("smac-fixed", include_str!("../methods/smac-fixed.toml")),
    ("bohb-fixed", include_str!("../methods/bohb-fixed.toml")),
    ("cawr-tuned", include_str!("../methods/cawr-tuned.toml")),
    ("race", include_str!("../methods/race.toml")),
    ("race-restart", include_str!("../methods/race-restart.toml")),
    ("auto", include_str!("../methods/auto.toml")),
    ("dadapt-adam", include_str!("../methods/dadapt-adam.toml")),
    ("prodigy", include_str!("../methods/prodigy.toml")),
    ("cocob", include_str!("../methods/cocob.toml")),
    ("dowg", include_str!("../methods/dowg.toml")),
    ("dog", include_str!("../methods/dog.toml")),
    (
        "schedulefree-adamw",
        include_str!("../methods/schedulefree-adamw.toml"),
    ),
    (
        "schedulefree-sgd",
        include_str!("../methods/schedulefree-sgd.toml"),
    ),
    (
        "mechanic-adamw",
        include_str!("../methods/mechanic-adamw.toml"),
    ),
    ("prodigy-sf", include_str!("../methods/prodigy-sf.toml")),
    (
        "schedulefree-radam",
        include_str!("../methods/schedulefree-radam.toml"),
    ),
    (
        "schedulefree-wrap-prodigy",
        include_str!("../methods/schedulefree-wrap-prodigy.toml"),
    ),
    ("adamg", include_str!("../methods/adamg.toml")),
    ("kate", include_str!("../methods/kate.toml")),
    ("momo", include_str!("../methods/momo.toml")),
    ("momo-adam", include_str!("../methods/momo-adam.toml")),
    ("ldog", include_str!("../methods/ldog.toml")),
];

impl MethodSpec {
    /// Parses a method from TOML text; `origin` names the file in errors.
    pub fn from_toml(text: &str, origin: &str) -> Result<Self, MethodError> {
        toml::from_str(text).map_err(|e| MethodError::Parse {
            file: origin.to_string(),
            message: e.to_string(),
        })
    }

    /// Reads a method file.
    pub fn from_file(path: &Path) -> Result<Self, MethodError> {
        let text = std::fs::read_to_string(path).map_err(|source| MethodError::Io {
            file: path.display().to_string(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    /// Builds a fresh optimizer and controller for a model with `n_params` parameters.
    pub fn build(&self, n_params: usize) -> Result<Built, MethodError> {
        let opt = self
            .optimizer
            .build(n_params)
            .map_err(|source| MethodError::Optimizer {
                method: self.name.clone(),
                source,
            })?;
        let ctl = self
            .controller
            .build()
            .map_err(|source| MethodError::Controller {
                method: self.name.clone(),
                source,
            })?;
        Ok((opt, ctl))
    }

    /// Checks that the method builds, without keeping the result.
    pub fn validate(&self) -> Result<(), MethodError> {
        self.build(1).map(|_| ())
    }

    /// SHA-256 (hex) of the canonical JSON of the resolved configuration: changing any
    /// hyperparameter changes the hash.
    pub fn config_hash(&self) -> String {
        let json = serde_json::to_string(self).expect("method serialises");
        hex(&Sha256::digest(json.as_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every built-in method, in registry order.
pub fn builtin() -> Vec<MethodSpec> {
    BUILTIN
        .iter()
        .map(|(name, text)| {
            MethodSpec::from_toml(text, &format!("built-in method {name}"))
                .expect("built-in method files are valid (tested)")
        })
        .collect()
}

/// Looks a built-in method up by name, or reads it from a `.toml` path.
pub fn find(name: &str) -> Result<MethodSpec, MethodError> {
    if name.ends_with(".toml") {
        return MethodSpec::from_file(Path::new(name));
    }
    let all = builtin();
    all.iter()
        .find(|m| m.name == name)
        .cloned()
        .ok_or_else(|| MethodError::Unknown {
            name: name.to_string(),
            suggestions: suggest(name, all.iter().map(|m| m.name.as_str())),
        })
}

/// The names of the methods `lrctl run` uses by default.
pub fn default_names() -> Vec<String> {
    builtin()
        .into_iter()
        .filter(|m| m.default)
        .map(|m| m.name)
        .collect()
}

fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(f64, &str)> = candidates
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(s, _)| *s > 0.7)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses_validates_and_matches_its_file_name() {
        for (file, text) in BUILTIN {
            let m = MethodSpec::from_toml(text, file).unwrap();
            assert_eq!(&m.name, file);
            m.validate().unwrap();
        }
    }

    #[test]
    fn unknown_method_suggests() {
        let msg = find("cawr-defualt").unwrap_err().to_string();
        assert!(msg.contains("cawr-default"), "{msg}");
    }

    #[test]
    fn hash_changes_with_a_hyperparameter() {
        let a = find("adam-fixed").unwrap();
        let mut text = include_str!("../methods/adam-fixed.toml").to_string();
        text = text.replace("0.001", "0.002");
        let b = MethodSpec::from_toml(&text, "edited").unwrap();
        assert_ne!(a.config_hash(), b.config_hash());
        assert_eq!(a.config_hash(), find("adam-fixed").unwrap().config_hash());
    }

    #[test]
    fn malformed_file_names_file_and_line() {
        let err = MethodSpec::from_toml("name = \"x\"\ndescription = 3\n", "my.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("my.toml") && msg.contains("line 2"), "{msg}");
    }
}
