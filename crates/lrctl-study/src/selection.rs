//! Selection methods inside studies: `race` and `auto` choose, per task, the method a cell
//! trains, and are charged for choosing.
//!
//! * **race** ([`RaceSpec`]): every candidate starts the cell's own run (the cell's seed, its
//!   schedule over the full budget) and is paused after `fraction` of the budget; the lowest
//!   objective wins and its paused run is **continued** to the end, exactly as if it had never
//!   stopped ([`lrctl_engine::Checkpoint`]), so the cell's result is the winner's plain run on
//!   that seed. The losers' steps and seconds are charged on top. (With `seed` set in the race
//!   table, the older form: one shared race with that seed, the winner restarted.)
//! * **auto** ([`AutoSpec`]): a selector from `lrctl-select`, fitted on the study's *other*
//!   tasks (static meta-features → every other method's normalised held-out score), picks a
//!   method from the task's static meta-features before anything trains on it. It needs the
//!   other tasks' results: study cells of selection methods are claimed after all others
//!   ([`crate::Study::cells`]), and an `auto` cell whose reference cells are still queued is
//!   deferred (put back), and waits while they are running. Its choice is then deterministic.
//!
//! A chosen tuned method then tunes itself as usual (see [`crate::tuned`]), charged on top.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use lrctl_engine::{Checkpoint, Outcome, RunOptions};
use lrctl_method::{AutoSpec, MethodSpec, RaceSpec, SelectSpec};
use lrctl_store::{CellState, Store, StudyId};
use lrctl_tasks::Task;
use serde::{Deserialize, Serialize};

use crate::snapshot::Snapshot;

/// What a selection method chose for a task, and what choosing cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Selected {
    /// `race` or `auto`.
    pub kind: String,
    /// The chosen method (its own `[tune]` table, if any, still to be resolved).
    pub method: MethodSpec,
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

/// Choices shared by the cells of one process, by (task, method) configuration.
pub type SelectionCache = Mutex<HashMap<String, Arc<OnceLock<Result<Selected, String>>>>>;

/// Why a selection did not produce a choice now.
#[derive(Debug, Clone, PartialEq)]
pub enum NotYet {
    /// Cells it depends on are still queued: put this cell back and train those first.
    Deferred,
    /// The run was cancelled.
    Cancelled,
    /// It cannot run (bad candidates, unreadable study): the cell fails with this reason.
    Failed(String),
}

/// Where an `auto` cell finds the results it learns from.
pub struct Context<'a> {
    /// The store (shared with the cell's heartbeats).
    pub store: &'a Mutex<Box<dyn Store>>,
    /// The cell's study.
    pub study: StudyId,
    /// Called while waiting (heartbeats).
    pub beat: &'a (dyn Fn() + Sync),
    /// Cancellation.
    pub cancel: &'a AtomicBool,
}

/// Whether a stored method configuration (JSON) is a selection method.
pub fn is_selection(method_config: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(method_config)
        .is_ok_and(|v| v.get("select").is_some_and(|s| !s.is_null()))
}

/// Resolves a selection method for the cell's task; `Ok(None)` for other methods.
pub fn resolve(
    task: &dyn Task,
    method: &MethodSpec,
    seed: u64,
    cache: &SelectionCache,
    ctx: &Context<'_>,
) -> Result<Option<(Selected, Option<Checkpoint>)>, NotYet> {
    let Some(spec) = &method.select else {
        return Ok(None);
    };
    if let SelectSpec::Race(race) = spec
        && race.seed.is_none()
    {
        // Per cell (its own seed), never shared: the winner's paused run goes on in the cell.
        return run_race_continued(task, method, race, seed, ctx).map(|(s, c)| Some((s, c)));
    }
    let key = serde_json::json!({ "task": task.spec(), "method": method }).to_string();
    if let Some(done) = cache
        .lock()
        .expect("not poisoned")
        .get(&key)
        .and_then(|c| c.get().cloned())
    {
        return done.map(|s| Some((s, None))).map_err(NotYet::Failed);
    }
    let result = match spec {
        SelectSpec::Race(race) => run_race(task, method, race, ctx)?,
        SelectSpec::Auto(auto) => run_auto(task, method, auto, ctx)?,
    };
    let cell = {
        let mut map = cache.lock().expect("not poisoned");
        Arc::clone(map.entry(key).or_default())
    };
    let _ = cell.set(Ok(result.clone()));
    Ok(Some((result, None)))
}

fn fallback(kind: &str, method: &MethodSpec, why: String) -> Selected {
    let mut own = method.clone();
    own.select = None;
    Selected {
        kind: kind.into(),
        method: own,
        scores: Vec::new(),
        steps: 0,
        seconds: 0.0,
        reference_tasks: Vec::new(),
        fallback: Some(why),
    }
}

fn task_steps(task: &dyn Task) -> u64 {
    let n = task.summary().train;
    task.spec()
        .budget
        .steps(n, task.spec().batch_size.min(n).max(1))
}

fn run_race(
    task: &dyn Task,
    method: &MethodSpec,
    race: &RaceSpec,
    ctx: &Context<'_>,
) -> Result<Selected, NotYet> {
    check_fraction(method, race)?;
    if race.candidates.is_empty() {
        return Ok(fallback("race", method, "no candidates".into()));
    }
    let steps = ((task_steps(task) as f64 * race.fraction).ceil() as u64).max(1);
    let seed = lrctl_engine::derive_seed(race.seed.unwrap_or(0), "race");
    let scoring = lrctl_tune::Scoring {
        objective: race.objective,
        ..lrctl_tune::Scoring::default()
    };
    let heartbeat = ctx.beat;
    let beat = move |_: u64, _: u64| heartbeat();
    let (mut spent_steps, mut spent_seconds) = (0u64, 0.0f64);
    let mut scores = Vec::new();
    let mut best: Option<(f64, MethodSpec)> = None;
    for name in &race.candidates {
        let candidate = race_candidate(method, name)?;
        let start = Instant::now();
        let options = RunOptions {
            seed,
            steps: Some(steps),
            // The cell's heartbeats go on while it races (a long race outlived its lease).
            progress: Some(&beat),
            cancel: Some(ctx.cancel),
            eval_limit: None,
        };
        let run =
            lrctl_engine::with_threads(1, || crate::run::train_cell(task, &candidate, &options))
                .map_err(|e| NotYet::Failed(format!("{}: racing `{name}`: {e}", method.name)))?;
        let Some(run) = run else {
            return Err(NotYet::Cancelled);
        };
        spent_steps += run.steps;
        spent_seconds += start.elapsed().as_secs_f64();
        let score = scoring
            .sanitize(crate::tune::objective_value(race.objective, &run).unwrap_or(f64::NAN));
        scores.push((name.clone(), score));
        if best.as_ref().is_none_or(|(b, _)| score < *b) {
            best = Some((score, candidate));
        }
    }
    let (_, winner) = best.expect("at least one candidate");
    Ok(raced(winner, scores, spent_steps, spent_seconds))
}

fn check_fraction(method: &MethodSpec, race: &RaceSpec) -> Result<(), NotYet> {
    if race.fraction > 0.0 && race.fraction <= 1.0 {
        Ok(())
    } else {
        Err(NotYet::Failed(format!(
            "{}: select.fraction must be in (0, 1], not {}",
            method.name, race.fraction
        )))
    }
}

/// A race's choice: the winner, every candidate's score, and what the race cost.
fn raced(winner: MethodSpec, scores: Vec<(String, f64)>, steps: u64, seconds: f64) -> Selected {
    Selected {
        kind: "race".into(),
        method: winner,
        scores,
        steps,
        seconds,
        reference_tasks: Vec::new(),
        fallback: None,
    }
}

/// Checks that a race candidate is a plain method.
fn race_candidate(method: &MethodSpec, name: &str) -> Result<MethodSpec, NotYet> {
    let candidate = lrctl_method::find(name)
        .map_err(|e| NotYet::Failed(format!("{}: race candidate: {e}", method.name)))?;
    if candidate.tune.is_some() || candidate.select.is_some() {
        return Err(NotYet::Failed(format!(
            "{}: race candidate `{name}` is a tuned or selection method; race plain methods",
            method.name
        )));
    }
    Ok(candidate)
}

/// A paused race run's score (lower is better): training-loss objectives read the run as it
/// stands; validation objectives evaluate it (without disturbing it).
fn race_score(
    objective: lrctl_tune::Objective,
    run: &mut Checkpoint,
    workload: &mut dyn lrctl_tasks::Workload,
) -> f64 {
    use lrctl_tune::Objective;
    if run.run.outcome() != Outcome::Finished {
        return f64::NAN;
    }
    match objective {
        Objective::FinalTrainLoss => run.run.last_loss(),
        Objective::MeanTrainLoss => {
            crate::tune::mean_train_loss(run.run.curve()).unwrap_or_else(|| run.run.last_loss())
        }
        Objective::ValidLoss | Objective::ValidMetric => {
            let r = run.result(workload);
            crate::tune::objective_value(objective, &r).unwrap_or(f64::NAN)
        }
    }
}

/// The race with continuation (see the module docs): returns the choice, charged with the
/// losers' steps and seconds, and the winner's paused run.
fn run_race_continued(
    task: &dyn Task,
    method: &MethodSpec,
    race: &RaceSpec,
    seed: u64,
    ctx: &Context<'_>,
) -> Result<(Selected, Option<Checkpoint>), NotYet> {
    check_fraction(method, race)?;
    if race.candidates.is_empty() {
        return Ok((fallback("race", method, "no candidates".into()), None));
    }
    let budget = task_steps(task);
    let steps = ((budget as f64 * race.fraction).ceil() as u64).clamp(1, budget);
    let scoring = lrctl_tune::Scoring {
        objective: race.objective,
        ..lrctl_tune::Scoring::default()
    };
    let device = lrctl_tasks::default_device();
    let heartbeat = ctx.beat;
    let beat = move |_: u64, _: u64| heartbeat();
    let (mut spent_steps, mut spent_seconds) = (0u64, 0.0f64);
    let mut scores = Vec::new();
    let mut best: Option<(f64, MethodSpec, Checkpoint, f64)> = None;
    for name in &race.candidates {
        let candidate = race_candidate(method, name)?;
        let start = Instant::now();
        let failed = |e: &dyn std::fmt::Display| {
            NotYet::Failed(format!("{}: racing `{name}`: {e}", method.name))
        };
        let (score, run) = lrctl_engine::with_threads(1, || {
            let mut workload = task.instantiate(seed, &device).map_err(|e| failed(&e))?;
            let (opt, ctl) = candidate
                .build(workload.n_params())
                .map_err(|e| failed(&e))?;
            let options = RunOptions {
                seed,
                steps: None,
                progress: Some(&beat),
                cancel: Some(ctx.cancel),
                eval_limit: None,
            };
            let mut run = Checkpoint::new(&*workload, task.spec(), opt, ctl, &options);
            run.advance_to(workload.as_mut(), steps, &options)
                .map_err(|_| NotYet::Cancelled)?;
            let score = race_score(race.objective, &mut run, workload.as_mut());
            Ok::<_, NotYet>((scoring.sanitize(score), run))
        })?;
        let seconds = start.elapsed().as_secs_f64();
        scores.push((name.clone(), score));
        if best.as_ref().is_none_or(|(b, ..)| score < *b) {
            if let Some((_, _, loser, s)) = best.take() {
                spent_steps += loser.run.steps();
                spent_seconds += s;
            }
            best = Some((score, candidate, run, seconds));
        } else {
            spent_steps += run.run.steps();
            spent_seconds += seconds;
        }
    }
    let (_, winner, run, _) = best.expect("at least one candidate");
    Ok((raced(winner, scores, spent_steps, spent_seconds), Some(run)))
}

/// Static meta-features of a task, measured without training it (the model is built to count
/// its parameters).
pub fn task_features(task: &dyn Task) -> Result<Vec<f64>, String> {
    let n_params = task
        .instantiate(0, &lrctl_tasks::default_device())
        .map_err(|e| format!("building the model: {e}"))?
        .n_params();
    let mut f = crate::aslib::static_features(task.spec(), &[]);
    f[3] = (n_params as f64).ln();
    Ok(f)
}

fn run_auto(
    task: &dyn Task,
    method: &MethodSpec,
    auto: &AutoSpec,
    ctx: &Context<'_>,
) -> Result<Selected, NotYet> {
    let me = task.spec().name.clone();
    let failed = |e: &dyn std::fmt::Display| NotYet::Failed(format!("{}: {e}", method.name));
    let mut selector = lrctl_select::selector_with_seed(&auto.selector, 0).ok_or_else(|| {
        failed(&format!(
            "unknown selector `{}`; the selectors are: {}",
            auto.selector,
            lrctl_select::SELECTOR_NAMES.join(", ")
        ))
    })?;
    // Wait until every reference cell (other tasks, non-selection methods) has a result.
    let cells = loop {
        if ctx.cancel.load(Ordering::Relaxed) {
            return Err(NotYet::Cancelled);
        }
        let cells = ctx
            .store
            .lock()
            .expect("not poisoned")
            .cells(ctx.study, false)
            .map_err(|e| failed(&e))?;
        let reference: Vec<_> = cells
            .into_iter()
            .filter(|c| c.task != me && !is_selection(&c.method_config))
            .collect();
        if reference.iter().any(|c| c.state == CellState::Queued) {
            return Err(NotYet::Deferred);
        }
        if reference.iter().all(|c| c.state == CellState::Done) {
            break reference;
        }
        (ctx.beat)();
        std::thread::sleep(Duration::from_millis(200));
    };
    let start = Instant::now();
    let study = ctx
        .store
        .lock()
        .expect("not poisoned")
        .studies()
        .map_err(|e| failed(&e))?
        .into_iter()
        .find(|s| s.id == ctx.study)
        .ok_or_else(|| failed(&"the study is gone"))?;
    let configs: HashMap<String, String> = cells
        .iter()
        .map(|c| (c.method.clone(), c.method_config.clone()))
        .collect();
    let snap = Snapshot::from_cells(study, cells);
    if snap.tasks.len() < 2 || snap.methods.is_empty() {
        return Ok(fallback(
            "auto",
            method,
            format!(
                "{} other task(s) with results: a selector needs at least 2",
                snap.tasks.len()
            ),
        ));
    }
    let table = snap.score_table();
    let perf = lrctl_select::performance_matrix(&table);
    let feats = lrctl_select::MetaFeatures::new(
        crate::aslib::FEATURES
            .iter()
            .map(|s| s.to_string())
            .collect(),
        snap.static_features(),
    )
    .map_err(|e| failed(&e))?;
    let all: Vec<usize> = (0..snap.tasks.len()).collect();
    let standardizer = feats.standardizer(&all);
    selector.fit(&feats.standardized(&standardizer, &all), &perf);
    let target = task_features(task).map_err(|e| failed(&e))?;
    let predicted = selector.predict(&standardizer.transform(&target));
    let Some(best) = lrctl_select::argmax(&predicted) else {
        return Ok(fallback(
            "auto",
            method,
            "the selector chose nothing".into(),
        ));
    };
    let name = &snap.methods[best];
    let chosen: MethodSpec = serde_json::from_str(&configs[name])
        .map_err(|e| failed(&format!("the stored configuration of `{name}`: {e}")))?;
    Ok(Selected {
        kind: "auto".into(),
        method: chosen,
        scores: snap.methods.iter().cloned().zip(predicted).collect(),
        steps: 0,
        // Measuring the task and fitting the selector; the reference results were paid for by
        // their own cells.
        seconds: start.elapsed().as_secs_f64(),
        reference_tasks: snap.tasks.iter().map(|t| t.name.clone()).collect(),
        fallback: None,
    })
}

/// How a study's selection methods did against the candidates they choose from.
///
/// Scores are per-task min–max normalised final scores over *all* of the task's runs
/// (candidates and selection methods alike; 1 = the task's best run), averaged over seeds and
/// then over the tasks where the selection method has results. The single best candidate
/// (`sbs`) and the per-task oracle are taken among the candidates (the non-selection methods)
/// on the same tasks; `gap_closed` is `(score − sbs) / (oracle − sbs)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Realised {
    /// The selection method (`race`, `auto`, …).
    pub method: String,
    /// Tasks it has results on.
    pub tasks: usize,
    /// Its mean normalised score.
    pub score: f64,
    /// The single best candidate on those tasks, and its mean normalised score.
    pub sbs: (String, f64),
    /// The per-task oracle's mean normalised score among the candidates.
    pub oracle: f64,
    /// Share of the single-best → oracle gap closed; `None` when there is no gap.
    pub gap_closed: Option<f64>,
    /// Its charged optimizer steps (choosing included) over the single best's, per task,
    /// averaged over the tasks (steps, not seconds: they do not depend on the machine's load).
    pub cost_ratio: f64,
}

/// The names of a snapshot's selection methods (their stored configuration has `[select]`).
pub fn selection_methods(snap: &Snapshot) -> Vec<String> {
    snap.methods
        .iter()
        .filter(|m| {
            snap.cells
                .iter()
                .any(|c| &c.method == *m && is_selection(&c.method_config))
        })
        .cloned()
        .collect()
}

/// The snapshot without its selection methods: the candidates that selectors choose from
/// (what leave-one-task-out evaluates and what `auto` learns from).
pub fn candidates_only(snap: &Snapshot) -> Snapshot {
    let selection = selection_methods(snap);
    let cells = snap
        .cells
        .iter()
        .filter(|c| !selection.contains(&c.method))
        .cloned()
        .collect();
    Snapshot::from_cells(snap.study.clone(), cells)
}

/// How each selection method of `snap` did ([`Realised`]); empty when it has none.
pub fn realised(snap: &Snapshot) -> Vec<Realised> {
    let selection = selection_methods(snap);
    if selection.is_empty() {
        return Vec::new();
    }
    let table = snap.score_table();
    let perf = lrctl_select::performance_matrix(&table);
    let has = |m: usize, t: usize| table.scores[m][t].iter().any(|s| !s.is_nan());
    // Mean charged steps (tuning and races included) of a method's cells on a task.
    let steps = |method: &str, task: &str| {
        let v: Vec<f64> = snap
            .cells
            .iter()
            .filter(|c| c.method == method && c.task == task)
            .filter_map(|c| c.result.as_ref().map(|r| r.cost_steps as f64))
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let candidates: Vec<usize> = (0..table.n_methods())
        .filter(|&m| !selection.contains(&table.methods[m]))
        .collect();
    selection
        .iter()
        .filter_map(|name| {
            let m = table.method_index(name)?;
            let tasks: Vec<usize> = (0..table.n_tasks()).filter(|&t| has(m, t)).collect();
            if tasks.is_empty() || candidates.is_empty() {
                return None;
            }
            let mean = |f: &dyn Fn(usize) -> f64| {
                tasks.iter().map(|&t| f(t)).sum::<f64>() / tasks.len() as f64
            };
            let score = mean(&|t| perf[t][m]);
            let oracle = mean(&|t| candidates.iter().map(|&c| perf[t][c]).fold(0.0, f64::max));
            let (sbs, sbs_score) = candidates
                .iter()
                .map(|&c| (c, mean(&|t| perf[t][c])))
                .max_by(|a, b| a.1.total_cmp(&b.1))?;
            let gap = oracle - sbs_score;
            Some(Realised {
                method: name.clone(),
                tasks: tasks.len(),
                score,
                sbs: (table.methods[sbs].clone(), sbs_score),
                oracle,
                gap_closed: (gap > 1e-12).then(|| (score - sbs_score) / gap),
                cost_ratio: mean(&|t| {
                    let task = table.tasks[t].as_str();
                    steps(name, task) / steps(&table.methods[sbs], task).max(1.0)
                }),
            })
        })
        .collect()
}
