//! Learned methods inside studies (`learned-loto`, or any method with a `[learn]` table):
//! honest leave-one-task-out. For a cell of task T, a policy is meta-trained
//! ([`crate::meta`]) on the study's *other* tasks — never on T — and then steers the method's
//! own optimizer and controller (the base) on T, exactly as `auto` learns only from the other
//! tasks' results.
//!
//! **Cross-task folds.** With `folds = k` in `[learn]` the study's tasks are dealt into `k`
//! folds ([`fold_groups`]) and T's policy is meta-trained on the *other folds'* tasks: T and
//! its fold-mates are all held out, and the `k` policies serve every task. It is
//! leave-one-task-out's cheaper stand-in (k meta-trainings instead of one per task, each on
//! fewer tasks — a harder test of the policy, never an easier one).
//!
//! The fold's policy depends on the held-out tasks, the other tasks and the method, not on the
//! evaluation seed, so it is meta-trained once per (study's tasks, held-out tasks, method):
//! cells of one process share it ([`LearnCache`]) and its state goes to the store's trial
//! table after every generation, keyed by [`learn_key`] (trial = generation, configuration =
//! the whole [`MetaState`]). A cell that finds stored generations (another seed's cell, another
//! worker, or a killed run) resumes after the last one, so a kill -9 loses at most the
//! generation in flight. Two workers that start the same fold at once both train it (the
//! result is deterministic; the store keeps the first row of each generation).
//!
//! **Cost.** A fold's meta-training cost (every generation's steps and seconds, base runs
//! included) is recorded whole in the cell's result (`learning.cost_steps`), and each cell is
//! charged it **amortised over the study's tasks**: `cost / n_tasks`. A policy trained on the
//! other tasks is what one deployable policy costs, and in use it serves every task of the
//! distribution, not one; charging the whole fold to each task would count the same kind of
//! policy `n_tasks` times. (Tuned methods, by contrast, pay their whole tuning per task,
//! because tuning serves only that task.) The report states both numbers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use lrctl_control::ControllerSpec;
use lrctl_control::online::PolicyWeights;
use lrctl_method::MethodSpec;
use lrctl_record::Outcome;
use lrctl_store::{Store, TrialRow};
use lrctl_tasks::{Task, TaskSpec};
use lrctl_tune::Objective;
use serde::{Deserialize, Serialize};

use crate::error::{CellError, WrapError};
use crate::meta::{EvolverKind, MetaSettings, MetaState, MetaTasks, Observed};
use crate::method::Method;

/// How a learned method meta-trains its policy (the `[learn]` table of a method file). The
/// method's `[optimizer]` and `[controller]` are the base the policy steers.
///
/// ```toml
/// [learn]
/// hidden = []          # a linear policy; [16] for an MLP with 16 hidden units
/// evolver = "cma"      # or "es"
/// generations = 6
/// full_generations = 1 # the last generation trains each task's whole budget
/// fidelity = 0.2       # the ones before train 20 % of it
/// seeds = [0]
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnSpec {
    /// Hidden layer sizes of the policy (empty: linear).
    #[serde(default)]
    pub hidden: Vec<usize>,
    /// The evolution strategy.
    #[serde(default = "default_evolver")]
    pub evolver: EvolverKind,
    /// Generations in all.
    #[serde(default = "default_generations")]
    pub generations: u64,
    /// The last this many generations train each task's whole budget.
    #[serde(default = "default_full")]
    pub full_generations: u64,
    /// Fraction of each task's budget in the earlier generations, in (0, 1].
    #[serde(default = "default_fidelity")]
    pub fidelity: f64,
    /// Training seeds of every meta-training task.
    #[serde(default = "default_seeds")]
    pub seeds: Vec<u64>,
    /// Initial step size of the search over weights.
    #[serde(default = "default_sigma")]
    pub sigma: f64,
    /// Steps between the policy's decisions.
    #[serde(default = "default_interval")]
    pub interval: u64,
    /// The largest factor the policy may scale the base rate by.
    #[serde(default = "default_max_factor")]
    pub max_factor: f64,
    /// What a meta-training run is scored on (lower is better).
    #[serde(default = "default_objective")]
    pub objective: Objective,
    /// Seeds the evolver.
    #[serde(default)]
    pub seed: u64,
    /// Cross-task folds (see the module docs): absent, leave-one-task-out; `k` ≥ 2, the
    /// study's tasks dealt into `k` folds, each task's policy meta-trained on the other folds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folds: Option<usize>,
}

fn default_evolver() -> EvolverKind {
    EvolverKind::Cma
}
fn default_generations() -> u64 {
    6
}
fn default_full() -> u64 {
    1
}
fn default_fidelity() -> f64 {
    0.2
}
fn default_seeds() -> Vec<u64> {
    vec![0]
}
fn default_sigma() -> f64 {
    0.5
}
fn default_interval() -> u64 {
    10
}
fn default_max_factor() -> f64 {
    10.0
}
fn default_objective() -> Objective {
    Objective::FinalTrainLoss
}

/// Fewest tasks a study with a learned method needs: a fold meta-trains on two or more others
/// (with one, the policy learns that task, not a distribution).
pub const MIN_STUDY_TASKS: usize = 3;

impl LearnSpec {
    /// The meta-training settings: one job (a cell holds one core), no initial policy.
    pub fn settings(&self) -> MetaSettings {
        MetaSettings {
            hidden: self.hidden.clone(),
            evolver: self.evolver,
            generations: self.generations,
            full_generations: self.full_generations,
            fidelity: self.fidelity,
            seeds: self.seeds.clone(),
            sigma: self.sigma,
            interval: self.interval,
            max_factor: self.max_factor,
            objective: self.objective,
            seed: self.seed,
            jobs: 1,
            init: None,
        }
    }

    /// Checks the settings and that the base is not itself learned.
    pub fn validate(&self, base: &MethodSpec) -> Result<(), WrapError> {
        self.settings()
            .validate()
            .map_err(|e| WrapError::Invalid(format!("[learn]: {e}")))?;
        if self.folds.is_some_and(|k| k < 2) {
            return Err(WrapError::Invalid(
                "[learn] folds: give at least 2 folds (or leave it out for leave-one-task-out)"
                    .into(),
            ));
        }
        if matches!(base.controller, ControllerSpec::Learned(_)) {
            return Err(WrapError::Invalid(format!(
                "method `{}` has a [learn] table over a learned controller; its [controller] \
                 is the base the policy steers",
                base.name
            )));
        }
        Ok(())
    }
}

/// What a learned method's fold produced for one held-out task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Learned {
    /// The method trained: the base steered by the fold's policy (inline weights).
    pub method: MethodSpec,
    /// The task the policy never saw (the cell's).
    pub held_out: String,
    /// With cross-task folds, the cell's fold-mates: held out of meta-training too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fold_mates: Vec<String>,
    /// The tasks it was meta-trained on.
    pub trained_on: Vec<String>,
    /// Generations run.
    pub generations: u64,
    /// The last generation's best fitness (mean log-ratio to the base; NaN: none finished).
    pub best_fitness: Option<f64>,
    /// The fold's whole meta-training cost, in optimizer steps (replayed generations included:
    /// they were paid for once).
    pub cost_steps: u64,
    /// The fold's whole meta-training cost, in seconds of training (one core each).
    pub cost_seconds: f64,
    /// The study's tasks the cost is spread over (see the module docs).
    pub amortised_over: usize,
    /// Steps charged to the cell: `cost_steps / amortised_over`, rounded.
    pub steps: u64,
    /// Seconds charged to the cell: `cost_seconds / amortised_over`.
    pub seconds: f64,
    /// Generations this process trained (the rest came from the store).
    pub trained_here: u64,
    /// Identifies the fold's meta-training in the store's `trial` table.
    pub learn_key: String,
}

/// Folds shared by the cells of one process, by learn key.
pub type LearnCache = Mutex<HashMap<String, Arc<OnceLock<Result<Learned, CellError>>>>>;

/// Identifies a fold: SHA-256 over the held-out tasks (one: leave-one-task-out), the tasks it
/// trains on (in name order), the method ([learn] settings included) and the engine version.
pub fn learn_key(held_out: &[&TaskSpec], trained_on: &[&TaskSpec], method: &Method) -> String {
    // One held-out task keys as itself, not as a list: leave-one-task-out's keys predate folds.
    let held_out = match held_out {
        [one] => serde_json::json!(one),
        many => serde_json::json!(many),
    };
    let json = serde_json::json!({
        "engine": lrctl_engine::ENGINE_VERSION,
        "held_out": held_out,
        "trained_on": trained_on,
        "method": method,
        "purpose": "learned-policy",
    });
    crate::sha256_hex(&json.to_string())
}

/// Deals `tasks` into `k` cross-task folds: sorted by model family (logistic regression, MLP,
/// CNN, LM) then name, task `i` goes to fold `i mod k`, so every fold gets a share of each
/// family and the folds do not depend on the order a study lists its tasks in. Each fold's
/// names are in name order; a fold is empty when `k` exceeds the tasks.
pub fn fold_groups(tasks: &[&TaskSpec], k: usize) -> Vec<Vec<String>> {
    let mut sorted: Vec<&TaskSpec> = tasks.to_vec();
    sorted.sort_by(|a, b| (a.model.complexity(), &a.name).cmp(&(b.model.complexity(), &b.name)));
    let mut groups = vec![Vec::new(); k.max(1)];
    for (i, t) in sorted.iter().enumerate() {
        groups[i % k.max(1)].push(t.name.clone());
    }
    for g in &mut groups {
        g.sort();
    }
    groups
}

/// What a fold needs besides the task and method.
pub struct Context<'a> {
    /// Where the study's tasks come from.
    pub references: &'a dyn crate::References,
    /// The store generations go to (and resume from).
    pub store: &'a Mutex<Box<dyn Store>>,
    /// Folds of this process.
    pub cache: &'a LearnCache,
    /// Cancellation (checked before every meta-training run).
    pub cancel: &'a AtomicBool,
    /// Called after every meta-training run (heartbeats).
    pub beat: &'a (dyn Fn() + Sync),
}

/// Resolves a learned method for the cell's task: its fold's policy, meta-trained on the
/// study's other tasks (or resumed from the store). `Ok(None)` for other methods.
pub fn resolve(
    task: &dyn Task,
    method: &Method,
    ctx: &Context<'_>,
) -> Result<Option<Learned>, CellError> {
    let Some(spec) = method.learn() else {
        return Ok(None);
    };
    let me = task.spec().name.clone();
    let all = ctx.references.study_tasks()?;
    let n_tasks = all.len().max(1);
    if n_tasks < MIN_STUDY_TASKS {
        return Err(CellError::failed(
            method.name(),
            format!(
                "a learned method needs a study of at least {MIN_STUDY_TASKS} tasks (its policy \
                 for a task is meta-trained on the others); this study has {n_tasks}"
            ),
        ));
    }
    // The held-out tasks: the cell's, and with cross-task folds its fold-mates.
    let held: Vec<String> = match spec.folds {
        None => vec![me.clone()],
        Some(k) => {
            let specs: Vec<&TaskSpec> = all.iter().map(|t| t.spec()).collect();
            let groups = fold_groups(&specs, k);
            let largest = groups.iter().map(Vec::len).max().unwrap_or(0);
            if n_tasks - largest < 2 {
                return Err(CellError::failed(
                    method.name(),
                    format!(
                        "{k} cross-task folds of this study's {n_tasks} tasks leave fewer than 2 \
                         tasks to meta-train on; use fewer folds or more tasks"
                    ),
                ));
            }
            groups
                .into_iter()
                .find(|g| g.contains(&me))
                .unwrap_or_else(|| vec![me.clone()])
        }
    };
    // The held-out tasks never enter meta-training: only the others do.
    let mut others: Vec<Arc<dyn Task>> = all
        .iter()
        .filter(|t| !held.contains(&t.spec().name))
        .cloned()
        .collect();
    // In name order, so the fold (and its key) does not depend on how the study lists them.
    others.sort_by(|a, b| a.spec().name.cmp(&b.spec().name));
    let held_specs: Vec<&TaskSpec> = {
        let mut v: Vec<&TaskSpec> = all
            .iter()
            .map(|t| t.spec())
            .filter(|s| held.contains(&s.name))
            .collect();
        if v.is_empty() {
            v.push(task.spec());
        }
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    };
    let specs: Vec<&TaskSpec> = others.iter().map(|t| t.spec()).collect();
    let key = learn_key(&held_specs, &specs, method);
    let cell = {
        let mut map = ctx.cache.lock().expect("not poisoned");
        Arc::clone(map.entry(key.clone()).or_default())
    };
    let result = cell
        .get_or_init(|| fold(&held, &others[..], n_tasks, method, spec, &key, ctx))
        .clone();
    if result == Err(CellError::Cancelled) {
        // Do not keep a cancelled fold: the next attempt resumes from the stored generations.
        ctx.cache.lock().expect("not poisoned").remove(&key);
    }
    // A fold serves every task it holds out: the cell's own is the held-out one.
    result.map(|mut learned| {
        learned.fold_mates = held.iter().filter(|n| **n != me).cloned().collect();
        learned.held_out = me;
        Some(learned)
    })
}

/// Meta-trains (or resumes) the fold of `held_out` on `tasks` — which must contain none of
/// them — storing the state after every generation.
fn fold(
    held_out: &[String],
    tasks: &(impl MetaTasks + ?Sized),
    n_tasks: usize,
    method: &Method,
    spec: &LearnSpec,
    key: &str,
    ctx: &Context<'_>,
) -> Result<Learned, CellError> {
    let context = format!(
        "meta-training {} without {}",
        method.name(),
        held_out.join(", ")
    );
    let err = |e: &dyn std::fmt::Display| CellError::failed(&context, e);
    let names: Vec<String> = (0..tasks.count()).map(|t| tasks.name(t)).collect();
    if names.iter().any(|n| held_out.contains(n)) {
        return Err(err(&"a held-out task is among the training tasks"));
    }
    let settings = spec.settings();
    let stored = ctx
        .store
        .lock()
        .expect("not poisoned")
        .trials(key)
        .map_err(|e| err(&e))?;
    let mut state = match stored.iter().max_by_key(|r| r.trial) {
        Some(row) => {
            let state: MetaState = serde_json::from_str(&row.config_json).map_err(|e| {
                err(&format!(
                    "stored generation {} is unreadable: {e}",
                    row.trial
                ))
            })?;
            if state.tasks != names || state.settings != settings || state.base != method.spec {
                return Err(err(&format!(
                    "stored generation {} belongs to another fold (learn key {key})",
                    row.trial
                )));
            }
            state
        }
        None => MetaState::new(settings, tasks, &method.spec).map_err(|e| err(&e))?,
    };
    let watched = Observed::new(tasks, ctx.beat).cancelled_by(ctx.cancel);
    let mut trained_here = 0;
    while !state.done() {
        let record = match crate::meta::step(&mut state, &watched) {
            Ok(r) => r,
            Err(_) if ctx.cancel.load(Ordering::Relaxed) => return Err(CellError::Cancelled),
            Err(e) => return Err(err(&e)),
        };
        trained_here += 1;
        let row = TrialRow {
            tuning_key: key.to_string(),
            trial: record.generation,
            config_json: serde_json::to_string(&state).map_err(|e| err(&e))?,
            budget: (record.fraction * 1e6).round() as u64,
            score: record.best.filter(|s| s.is_finite()),
            outcome: if record.best.is_some() {
                Outcome::Finished
            } else {
                Outcome::Diverged
            },
            steps: record.steps,
            seconds: record.seconds,
        };
        ctx.store
            .lock()
            .expect("not poisoned")
            .put_trial(&row)
            .map_err(|e| err(&format!("storing generation {}: {e}", record.generation)))?;
    }
    let (cost_steps, cost_seconds) = state.cost();
    let net = state.policy();
    let learned = state.method(PolicyWeights::Inline(Box::new(net)), method.name());
    Ok(Learned {
        method: learned,
        held_out: held_out.first().cloned().unwrap_or_default(),
        fold_mates: Vec::new(),
        trained_on: names,
        generations: state.history.len() as u64,
        best_fitness: state.history.last().and_then(|g| g.best),
        cost_steps,
        cost_seconds,
        amortised_over: n_tasks,
        steps: (cost_steps as f64 / n_tasks as f64).round() as u64,
        seconds: cost_seconds / n_tasks as f64,
        trained_here,
        learn_key: key.to_string(),
    })
}
