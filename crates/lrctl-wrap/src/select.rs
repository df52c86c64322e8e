//! Selection methods inside studies: `race` and `auto` choose, per task, the method a cell
//! trains, and are charged for choosing.
//!
//! * **race** ([`RaceSpec`], [`crate::race`]): every candidate starts the cell's own run (the
//!   cell's seed, its schedule over the full budget) and is paused after `fraction` of the
//!   budget; the lowest objective wins and its paused run is **continued** to the end, exactly
//!   as if it had never stopped ([`lrctl_engine::Checkpoint`]), so the cell's result is the
//!   winner's plain run on that seed. The losers' steps and seconds are charged on top. (With
//!   `seed` set in the race table, the older form: one shared race with that seed, the winner
//!   restarted.)
//! * **auto** ([`AutoSpec`], [`crate::auto`]): a selector from `lrctl-select`, fitted on the
//!   study's *other* tasks (static meta-features → every other method's normalised held-out
//!   score), picks a method from the task's static meta-features before anything trains on it.
//!   It needs the other tasks' results, which the study provides ([`References`]).
//!
//! A chosen tuned method then tunes itself as usual (see [`crate::tuned`]), charged on top.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, OnceLock};

use lrctl_engine::Checkpoint;
use lrctl_method::MethodSpec;
use lrctl_tasks::Task;
use serde::{Deserialize, Serialize};

use crate::error::{CellError, WrapError};
use crate::method::Method;

/// How a selection method picks the method it trains on a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SelectSpec {
    /// Run every candidate briefly on the task and train the best.
    Race(RaceSpec),
    /// Let a selector trained on the study's other tasks choose before any training.
    Auto(AutoSpec),
}

impl SelectSpec {
    /// Checks the settings without a task: the race's fraction and candidates (plain built-in
    /// or file methods), the selector's name.
    pub fn validate(&self, _fallback: &MethodSpec) -> Result<(), WrapError> {
        match self {
            SelectSpec::Race(race) => {
                race.check_fraction()?;
                for name in &race.candidates {
                    race_candidate(name)?;
                }
                Ok(())
            }
            SelectSpec::Auto(auto) => {
                lrctl_select::selector_with_seed(&auto.selector, 0).ok_or_else(|| {
                    WrapError::Select(lrctl_select::SelectError::UnknownSelector(
                        auto.selector.clone(),
                    ))
                })?;
                Ok(())
            }
        }
    }
}

/// A race between candidate methods: each runs `fraction` of the task's budget; the one with
/// the lowest objective trains in full on the cell's seed (see the module docs).
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

impl RaceSpec {
    /// Checks that the fraction is in (0, 1].
    pub fn check_fraction(&self) -> Result<(), WrapError> {
        if self.fraction > 0.0 && self.fraction <= 1.0 {
            Ok(())
        } else {
            Err(WrapError::Invalid(format!(
                "select.fraction must be in (0, 1], not {}",
                self.fraction
            )))
        }
    }
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

/// Which kind of selection chose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SelectKind {
    /// A race between candidates on the task.
    Race,
    /// A selector fitted on the study's other tasks.
    Auto,
}

/// What a selection method chose for a task, and what choosing cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selected {
    /// How it chose.
    pub kind: SelectKind,
    /// The chosen method (its own `[tune]` table, if any, still to be resolved).
    pub method: Method,
    /// Why this one: each candidate's race score, or the selector's predicted scores.
    pub scores: Vec<(String, f64)>,
    /// Steps spent choosing (the race's runs).
    pub steps: u64,
    /// Seconds spent choosing.
    pub seconds: f64,
    /// For `auto`: the tasks the selector was fitted on (never the cell's own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_tasks: Vec<String>,
    /// Set when the selection fell back to the method's own optimizer and controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<String>,
}

impl Selected {
    /// The selection method's own optimizer and controller, chosen because there was nothing
    /// to choose from (`why`).
    pub(crate) fn fallback(kind: SelectKind, method: &Method, why: String) -> Selected {
        Selected {
            kind,
            method: Method::from(method.spec.clone()),
            scores: Vec::new(),
            steps: 0,
            seconds: 0.0,
            reference_tasks: Vec::new(),
            fallback: Some(why),
        }
    }
}

/// Choices shared by the cells of one process, by (task, method) configuration.
pub type SelectionCache = Mutex<HashMap<String, Arc<OnceLock<Result<Selected, CellError>>>>>;

/// The results an `auto` cell learns from: the study's other tasks under its plain methods.
pub struct ReferenceSet {
    /// Held-out scores `[method][task][seed]` (NaN: diverged or failed).
    pub table: lrctl_eval::ScoreTable,
    /// Static meta-features of the table's tasks, in its task order.
    pub features: lrctl_select::MetaFeatures,
    /// The stored configuration of each of the table's methods, by name.
    pub methods: HashMap<String, Method>,
}

/// Where a cell's selection finds the study it belongs to.
pub trait References: Sync {
    /// The reference set for a cell of `task`: every other task's plain-method results.
    /// `Err(Deferred)` while some are still queued (train those first), `Ok(None)` while some
    /// are running (wait), `Ok(Some(_))` once all are done.
    fn references(&self, task: &str) -> Result<Option<ReferenceSet>, CellError>;

    /// Every task of the cell's study, its own included, prepared, in name order: what a
    /// learned method ([`crate::learn`]) meta-trains its fold on (after leaving the cell's task
    /// out). Default: none (not in a study).
    fn study_tasks(&self) -> Result<Vec<Arc<dyn Task>>, CellError> {
        Ok(Vec::new())
    }
}

/// What a selection needs besides the task: the study's results, heartbeats, cancellation.
pub struct Context<'a> {
    /// The study's other results (for `auto`).
    pub references: &'a dyn References,
    /// Called while choosing (heartbeats).
    pub beat: &'a (dyn Fn() + Sync),
    /// Cancellation.
    pub cancel: &'a AtomicBool,
}

/// Resolves a selection method for the cell's task: what it chose, and (for a continued race)
/// the winner's paused run. `Ok(None)` for other methods.
pub fn resolve(
    task: &dyn Task,
    method: &Method,
    seed: u64,
    cache: &SelectionCache,
    ctx: &Context<'_>,
) -> Result<Option<(Selected, Option<Checkpoint>)>, CellError> {
    let Some(spec) = method.select() else {
        return Ok(None);
    };
    if let SelectSpec::Race(race) = spec
        && race.seed.is_none()
    {
        // Per cell (its own seed), never shared: the winner's paused run goes on in the cell.
        return crate::race::continued(task, method, race, seed, ctx).map(|(s, c)| Some((s, c)));
    }
    let key = serde_json::json!({ "task": task.spec(), "method": method }).to_string();
    if let Some(done) = cache
        .lock()
        .expect("not poisoned")
        .get(&key)
        .and_then(|c| c.get().cloned())
    {
        return done.map(|s| Some((s, None)));
    }
    let result = match spec {
        SelectSpec::Race(race) => crate::race::restarted(task, method, race, ctx)?,
        SelectSpec::Auto(auto) => crate::auto::choose(task, method, auto, ctx)?,
    };
    let cell = {
        let mut map = cache.lock().expect("not poisoned");
        Arc::clone(map.entry(key).or_default())
    };
    let _ = cell.set(Ok(result.clone()));
    Ok(Some((result, None)))
}

/// A race candidate: a plain method (no tuned or selection method).
pub(crate) fn race_candidate(name: &str) -> Result<MethodSpec, WrapError> {
    let candidate = crate::method::find(name)?;
    if candidate.wrapper.is_some() {
        return Err(WrapError::Invalid(format!(
            "race candidate `{name}` is a tuned or selection method; race plain methods"
        )));
    }
    Ok(candidate.spec)
}
