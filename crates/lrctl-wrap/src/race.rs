//! The race selection method (see [`crate::select`]): candidates train briefly on the task, the
//! best one's run is the cell's.

use std::time::Instant;

use lrctl_engine::{Checkpoint, Outcome, RunOptions};
use lrctl_method::MethodSpec;
use lrctl_tasks::Task;
use lrctl_tune::{Objective, Scoring};

use crate::error::CellError;
use crate::method::Method;
use crate::select::{Context, RaceSpec, SelectKind, Selected, race_candidate};
use crate::tune::{mean_train_loss, objective_value};
use crate::tuned::task_steps;

/// The candidates of `race` (plain methods), or why they cannot race.
fn candidates(method: &Method, race: &RaceSpec) -> Result<Vec<(String, MethodSpec)>, CellError> {
    race.check_fraction()
        .map_err(|e| CellError::failed(method.name(), e))?;
    race.candidates
        .iter()
        .map(|name| {
            race_candidate(name)
                .map(|m| (name.clone(), m))
                .map_err(|e| CellError::failed(format!("{}: race candidate", method.name()), e))
        })
        .collect()
}

fn scoring(race: &RaceSpec) -> Scoring {
    Scoring {
        objective: race.objective,
        ..Scoring::default()
    }
}

/// A race's choice: the winner, every candidate's score, and what the race cost.
fn raced(winner: MethodSpec, scores: Vec<(String, f64)>, steps: u64, seconds: f64) -> Selected {
    Selected {
        kind: SelectKind::Race,
        method: Method::from(winner),
        scores,
        steps,
        seconds,
        reference_tasks: Vec::new(),
        fallback: None,
    }
}

/// The shared, restarted race (a race table with `seed`): each candidate runs a complete
/// `fraction` of the budget (its schedule compressed) with the race seed; the winner then
/// trains from scratch on the cell's seed, and every race step is charged.
pub(crate) fn restarted(
    task: &dyn Task,
    method: &Method,
    race: &RaceSpec,
    ctx: &Context<'_>,
) -> Result<Selected, CellError> {
    let candidates = candidates(method, race)?;
    if candidates.is_empty() {
        return Ok(Selected::fallback(
            SelectKind::Race,
            method,
            "no candidates".into(),
        ));
    }
    let steps = ((task_steps(task) as f64 * race.fraction).ceil() as u64).max(1);
    let seed = lrctl_engine::derive_seed(race.seed.unwrap_or(0), "race");
    let scoring = scoring(race);
    let heartbeat = ctx.beat;
    let beat = move |_: u64, _: u64| heartbeat();
    let (mut spent_steps, mut spent_seconds) = (0u64, 0.0f64);
    let mut scores = Vec::new();
    let mut best: Option<(f64, MethodSpec)> = None;
    for (name, candidate) in candidates {
        let start = Instant::now();
        let options = RunOptions {
            seed,
            steps: Some(steps),
            // The cell's heartbeats go on while it races (a long race outlived its lease).
            progress: Some(&beat),
            cancel: Some(ctx.cancel),
            eval_limit: None,
        };
        let run = lrctl_engine::with_threads(1, || {
            lrctl_engine::train_method(task, &candidate, &options)
        })
        .map_err(|e| CellError::failed(format!("{}: racing `{name}`", method.name()), e))?;
        let Some(run) = run else {
            return Err(CellError::Cancelled);
        };
        spent_steps += run.steps;
        spent_seconds += start.elapsed().as_secs_f64();
        let score = scoring.sanitize(objective_value(race.objective, &run).unwrap_or(f64::NAN));
        scores.push((name, score));
        if best.as_ref().is_none_or(|(b, _)| score < *b) {
            best = Some((score, candidate));
        }
    }
    let (_, winner) = best.expect("at least one candidate");
    Ok(raced(winner, scores, spent_steps, spent_seconds))
}

/// A paused race run's score (lower is better): training-loss objectives read the run as it
/// stands; validation objectives evaluate it (without disturbing it).
fn paused_score(
    objective: Objective,
    run: &mut Checkpoint,
    workload: &mut dyn lrctl_tasks::Workload,
) -> f64 {
    if run.run.outcome() != Outcome::Finished {
        return f64::NAN;
    }
    match objective {
        Objective::FinalTrainLoss => run.run.last_loss(),
        Objective::MeanTrainLoss => {
            mean_train_loss(run.run.curve()).unwrap_or_else(|| run.run.last_loss())
        }
        Objective::ValidLoss | Objective::ValidMetric => {
            let r = run.result(workload);
            objective_value(objective, &r).unwrap_or(f64::NAN)
        }
    }
}

/// The race with continuation (see [`crate::select`]): returns the choice, charged with the
/// losers' steps and seconds, and the winner's paused run.
pub(crate) fn continued(
    task: &dyn Task,
    method: &Method,
    race: &RaceSpec,
    seed: u64,
    ctx: &Context<'_>,
) -> Result<(Selected, Option<Checkpoint>), CellError> {
    let candidates = candidates(method, race)?;
    if candidates.is_empty() {
        let why = "no candidates".to_string();
        return Ok((Selected::fallback(SelectKind::Race, method, why), None));
    }
    let budget = task_steps(task);
    let steps = ((budget as f64 * race.fraction).ceil() as u64).clamp(1, budget);
    let scoring = scoring(race);
    let heartbeat = ctx.beat;
    let beat = move |_: u64, _: u64| heartbeat();
    let (mut spent_steps, mut spent_seconds) = (0u64, 0.0f64);
    let mut scores = Vec::new();
    let mut best: Option<(f64, MethodSpec, Checkpoint, f64)> = None;
    for (name, candidate) in candidates {
        let start = Instant::now();
        let failed = |e: &dyn std::fmt::Display| {
            CellError::failed(format!("{}: racing `{name}`", method.name()), e)
        };
        let (score, run) = lrctl_engine::with_threads(1, || {
            let options = RunOptions {
                seed,
                steps: None,
                progress: Some(&beat),
                cancel: Some(ctx.cancel),
                eval_limit: None,
            };
            let (mut workload, mut run) =
                lrctl_engine::start(task, &candidate, &options).map_err(|e| failed(&e))?;
            run.advance_to(workload.as_mut(), steps, &options)
                .map_err(|_| CellError::Cancelled)?;
            let score = paused_score(race.objective, &mut run, workload.as_mut());
            Ok::<_, CellError>((scoring.sanitize(score), run))
        })?;
        let seconds = start.elapsed().as_secs_f64();
        scores.push((name, score));
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
