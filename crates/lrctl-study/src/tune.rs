//! Tuning a method's hyperparameters on a task: the driver between an ask/tell
//! [`Tuner`](lrctl_tune::Tuner) and real training runs.
//!
//! [`tune`] asks the tuner for trials (a configuration and a budget in steps), applies each
//! configuration to the method ([`lrctl_method::with_params`]), trains it with
//! [`train_cell`](crate::run::train_cell) for the trial's budget, scores the run
//! ([`objective_value`], diverged runs get the worst score) and tells the tuner, until the tuner
//! is done. Trials run in parallel, one single-threaded trial per job.
//!
//! **Fidelity.** Every trial restarts from scratch, and its schedule is defined over the
//! trial's own budget ([`FidelitySchedule::Restart`]): a cosine schedule in a 9-step trial
//! anneals to its floor at step 9, so short trials rank schedules as a full run would rather
//! than judging a schedule that never got to decay. A promoted trial is charged its whole
//! budget; continuing from the lower rung's checkpoint is not implemented (the engine has no
//! resume API yet).
//!
//! **Determinism.** Every trial trains with one seed derived from the tuning seed (common random
//! numbers: configurations are compared on the same initialisation and data order), and the
//! tuner is seeded with the tuning seed. With several jobs the driver still feeds the tuner a
//! fixed ask/tell sequence: it simulates the jobs in *virtual time* (a trial occupies its job
//! for `budget` time units) and tells results in the order their virtual runs end, waiting for
//! a real run that is late. The same tuning seed, settings and number of jobs therefore give
//! the same trials, scores and incumbent whatever the machine's timing (a different number of
//! jobs can change what an asynchronous tuner knows when it asks).

use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use lrctl_engine::{Outcome, RunOptions, RunResult};
use lrctl_method::MethodSpec;
use lrctl_tasks::Task;
use lrctl_tune::{
    Ask, Config, Fidelity, Incumbent, Objective, Scoring, SearchSpace, TrialRequest, TunerSettings,
};
use serde::{Deserialize, Serialize};

/// How low-fidelity trials relate to the full run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FidelitySchedule {
    /// Every trial trains from scratch for its budget, its schedule defined over that budget.
    #[default]
    Restart,
}

/// What a tuning run is: the tuner, its budgets, the objective and the parallelism.
#[derive(Debug, Clone, PartialEq)]
pub struct TuneSettings {
    /// Tuner name ([`lrctl_tune::TUNER_NAMES`] or an alias).
    pub tuner: String,
    /// Budgets of a trial, in optimizer steps.
    pub fidelity: Fidelity,
    /// Trials to issue, every rung counted (`None`: [`lrctl_tune::DEFAULT_TRIALS`]).
    pub trials: Option<usize>,
    /// Tuning seed: seeds the tuner and (derived) every trial's training.
    pub seed: u64,
    /// The objective and the score of diverged trials.
    pub scoring: Scoring,
    /// Trials trained at once, one thread each.
    pub jobs: usize,
    /// Caps every evaluation at this many examples (quick runs; `None`: whole splits).
    pub eval_limit: Option<usize>,
    /// How low-fidelity trials are run.
    pub fidelity_schedule: FidelitySchedule,
}

impl TuneSettings {
    /// Settings for `tuner` over `fidelity` with seed 0, the default number of trials, the
    /// default objective (validation metric, worst score 100), one job and whole evaluations.
    pub fn new(tuner: &str, fidelity: Fidelity) -> TuneSettings {
        TuneSettings {
            tuner: tuner.to_string(),
            fidelity,
            trials: None,
            seed: 0,
            scoring: Scoring::default(),
            jobs: 1,
            eval_limit: None,
            fidelity_schedule: FidelitySchedule::default(),
        }
    }

    /// Trials the tuner will issue (the cap it is built with).
    pub fn planned_trials(&self) -> usize {
        self.trials.unwrap_or(lrctl_tune::DEFAULT_TRIALS)
    }
}

/// What [`TuneHooks::on_trial`] is called with: a told trial and the incumbent after it.
pub type TrialCallback<'a> = dyn Fn(&TrialResult, Option<&Incumbent>) + 'a;

/// Callbacks and cancellation for [`tune`]; the default has none.
#[derive(Default)]
pub struct TuneHooks<'a> {
    /// Called when a trial starts.
    pub on_start: Option<&'a dyn Fn(&TrialRequest)>,
    /// Called when a trial's score was told, with the incumbent after it.
    pub on_trial: Option<&'a TrialCallback<'a>>,
    /// When set to true, trials in flight stop and [`tune`] returns the trials told so far
    /// ([`TuneReport::cancelled`]).
    pub cancel: Option<&'a AtomicBool>,
    /// Results of trials already run (a killed tuning run's stored trials), by id: a trial the
    /// tuner asks for again with the same configuration and budget is told its stored result
    /// instead of being trained. The ask/tell sequence is deterministic, so the replay rebuilds
    /// the tuner's state exactly and training resumes at the first missing trial.
    pub known: Option<&'a HashMap<u64, TrialResult>>,
}

/// One finished trial.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialResult {
    /// Trial id, in the order the tuner issued them.
    pub id: u64,
    /// Hyperparameters (dotted paths into the method).
    pub config: Config,
    /// Training length in steps.
    pub budget: u64,
    /// Hyperband bracket (0 for tuners without brackets).
    pub bracket: usize,
    /// Rung within the bracket (0 = lowest budget).
    pub rung: usize,
    /// The lower-rung trial of the same configuration this one was promoted from.
    pub parent: Option<u64>,
    /// The score told to the tuner (lower is better; the worst score when the run diverged,
    /// failed or its objective was not finite).
    pub score: f64,
    /// The objective's own value, `None` when the run did not finish.
    pub objective: Option<f64>,
    /// How the run ended.
    pub outcome: Outcome,
    /// Why it diverged or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Optimizer steps actually taken (fewer than `budget` when it diverged).
    pub steps: u64,
    /// Wall-clock seconds of the trial: building the model, training, evaluating.
    pub seconds: f64,
}

/// What tuning cost, summed over the trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneCost {
    /// Trials run.
    pub trials: usize,
    /// Optimizer steps taken, over all trials.
    pub steps: u64,
    /// Steps the trials were budgeted (`steps` plus what diverged trials did not take).
    pub budget_steps: u64,
    /// Seconds of the trials added up (one core each): the compute bill.
    pub seconds: f64,
    /// Wall-clock seconds of the whole tuning run (less than `seconds` with several jobs).
    pub wall_seconds: f64,
    /// `steps` in units of one full-budget run (`max_budget` steps).
    pub full_runs: f64,
}

/// Everything a tuning run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneReport {
    /// Task name.
    pub task: String,
    /// The method tuned, as given.
    pub method: MethodSpec,
    /// Canonical tuner name.
    pub tuner: String,
    /// What was minimised.
    pub objective: Objective,
    /// Score of diverged and failed trials.
    pub worst_score: f64,
    /// Tuning seed.
    pub seed: u64,
    /// The seed every trial trained with (derived from `seed`).
    pub training_seed: u64,
    /// Trials trained at once.
    pub jobs: usize,
    /// Budgets.
    pub fidelity: Fidelity,
    /// How low-fidelity trials were run.
    pub fidelity_schedule: FidelitySchedule,
    /// The space searched.
    pub space: SearchSpace,
    /// Every told trial, in id order.
    pub trials: Vec<TrialResult>,
    /// The best trial at the highest budget any trial reached.
    pub incumbent: Option<Incumbent>,
    /// The method with the incumbent's configuration applied.
    pub tuned: Option<MethodSpec>,
    /// What tuning cost.
    pub cost: TuneCost,
    /// Whether the run was cancelled before the tuner was done.
    pub cancelled: bool,
}

/// The value of `objective` for a run (lower is better), `None` when the run did not finish
/// or lacks the quantity:
///
/// * final-train-loss — the loss of the last mini-batch (the paper's choice);
/// * mean-train-loss — the mean mini-batch loss over the whole run (step-weighted over the
///   curve's intervals: the area under the training curve per step);
/// * valid-loss — the final loss on the validation split;
/// * valid-metric — the final validation metric as a loss: the error rate `1 − accuracy` for
///   classifiers, bits per byte (already lower-is-better) for language models.
pub fn objective_value(objective: Objective, r: &RunResult) -> Option<f64> {
    if r.outcome != Outcome::Finished {
        return None;
    }
    let value = match objective {
        Objective::FinalTrainLoss => Some(r.last_batch_loss),
        Objective::MeanTrainLoss => {
            let (mut sum, mut prev) = (0.0, 0u64);
            for p in &r.curve {
                sum += p.train_loss * (p.step - prev) as f64;
                prev = p.step;
            }
            (prev > 0).then(|| sum / prev as f64)
        }
        Objective::ValidLoss => r.validation.as_ref().map(|m| m.loss),
        Objective::ValidMetric => r
            .validation
            .as_ref()
            .and_then(|m| m.accuracy.map(|a| 1.0 - a).or(m.bits_per_byte)),
    }?;
    value.is_finite().then_some(value)
}

/// Tunes `method` on `task` over `space` (dotted hyperparameter paths; see
/// [`lrctl_method::default_space`]) and returns every trial, the incumbent and the cost.
///
/// Fails before training on an unknown tuner, an invalid fidelity or trial count, or a space
/// that names hyperparameters the method does not have. A trial whose run diverges, fails or
/// panics is scored [`Scoring::worst_score`] and tuning goes on.
pub fn tune(
    task: &dyn Task,
    method: &MethodSpec,
    space: &SearchSpace,
    settings: &TuneSettings,
    hooks: &TuneHooks<'_>,
) -> Result<TuneReport> {
    let wall = Instant::now();
    lrctl_method::check_space(method, space).context("the search space does not fit the method")?;
    let tuner_settings = TunerSettings {
        space: space.clone(),
        fidelity: settings.fidelity,
        seed: settings.seed,
        trials: settings.trials,
    };
    let mut tuner = lrctl_tune::tuner(&settings.tuner, &tuner_settings)?;
    if !settings.scoring.worst_score.is_finite() {
        bail!(
            "the worst score must be a finite number (got {})",
            settings.scoring.worst_score
        );
    }
    let jobs = settings.jobs.max(1);
    let training_seed = lrctl_engine::derive_seed(settings.seed, "tune-training");
    let cancelled = || hooks.cancel.is_some_and(|c| c.load(Ordering::Relaxed));

    let mut told: Vec<TrialResult> = Vec::new();
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = mpsc::channel::<(u64, Option<TrialResult>)>();
        // Virtual time at which each job can take its next trial (`None`: the tuner is done).
        let mut free_at: Vec<Option<u64>> = vec![Some(0); jobs];
        // Trials in flight, by (virtual end, id): the order their results are told in.
        let mut running: BTreeSet<(u64, u64)> = BTreeSet::new();
        let mut arrived: HashMap<u64, Option<TrialResult>> = HashMap::new();
        let mut wait_for = |id: u64| -> Option<TrialResult> {
            loop {
                if let Some(r) = arrived.remove(&id) {
                    return r;
                }
                let (got, r) = rx.recv().expect("the driver holds a sender");
                arrived.insert(got, r);
            }
        };

        while let Some((job, now)) = free_at
            .iter()
            .enumerate()
            .filter_map(|(j, t)| t.map(|t| (j, t)))
            .min_by_key(|&(j, t)| (t, j))
        {
            while let Some(&(end, id)) = running.first().filter(|(end, _)| *end <= now) {
                running.remove(&(end, id));
                // `None`: cancelled in flight, never told.
                if let Some(result) = wait_for(id) {
                    tuner.tell(id, result.score)?;
                    if let Some(f) = hooks.on_trial {
                        f(&result, tuner.incumbent().as_ref());
                    }
                    told.push(result);
                }
            }
            if cancelled() {
                // Let the runs in flight stop, then report what was told.
                for (_, id) in std::mem::take(&mut running) {
                    wait_for(id);
                }
                break;
            }
            match tuner.ask() {
                Ask::Trial(request) => {
                    let end = now + request.budget;
                    running.insert((end, request.id));
                    free_at[job] = Some(end);
                    if let Some(f) = hooks.on_start {
                        f(&request);
                    }
                    let tx = tx.clone();
                    let stored = hooks
                        .known
                        .and_then(|k| k.get(&request.id))
                        .filter(|t| t.budget == request.budget && t.config == request.config);
                    if let Some(t) = stored {
                        let _ = tx.send((request.id, Some(t.clone())));
                        continue;
                    }
                    let scoring = settings.scoring;
                    let eval_limit = settings.eval_limit;
                    let cancel = hooks.cancel;
                    scope.spawn(move || {
                        let id = request.id;
                        let result = run_trial(
                            task,
                            method,
                            request,
                            training_seed,
                            scoring,
                            eval_limit,
                            cancel,
                        );
                        // The receiver lives until every trial is collected.
                        let _ = tx.send((id, result));
                    });
                }
                // Nothing to issue until the next run in flight ends.
                Ask::Wait => match running.first() {
                    Some(&(end, _)) => free_at[job] = Some(end),
                    None => bail!("tuner `{}` waits with no trial in flight", tuner.name()),
                },
                Ask::Done => break,
            }
        }
        Ok(())
    })?;
    told.sort_by_key(|t| t.id);

    let incumbent = tuner.incumbent();
    let tuned = incumbent
        .as_ref()
        .map(|inc| lrctl_method::with_params(method, &inc.config))
        .transpose()?;
    let steps: u64 = told.iter().map(|t| t.steps).sum();
    let cost = TuneCost {
        trials: told.len(),
        steps,
        budget_steps: told.iter().map(|t| t.budget).sum(),
        seconds: told.iter().map(|t| t.seconds).sum(),
        wall_seconds: wall.elapsed().as_secs_f64(),
        full_runs: steps as f64 / settings.fidelity.max_budget as f64,
    };
    Ok(TuneReport {
        task: task.spec().name.clone(),
        method: method.clone(),
        tuner: tuner.name().to_string(),
        objective: settings.scoring.objective,
        worst_score: settings.scoring.worst_score,
        seed: settings.seed,
        training_seed,
        jobs,
        fidelity: settings.fidelity,
        fidelity_schedule: settings.fidelity_schedule,
        space: space.clone(),
        trials: told,
        incumbent,
        tuned,
        cost,
        cancelled: cancelled(),
    })
}

/// Trains one trial on the current thread and scores it; `None` when cancelled.
fn run_trial(
    task: &dyn Task,
    method: &MethodSpec,
    request: TrialRequest,
    seed: u64,
    scoring: Scoring,
    eval_limit: Option<usize>,
    cancel: Option<&AtomicBool>,
) -> Option<TrialResult> {
    let start = Instant::now();
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
        let method =
            lrctl_method::with_params(method, &request.config).map_err(|e| e.to_string())?;
        let options = RunOptions {
            seed,
            steps: Some(request.budget),
            progress: None,
            cancel,
            eval_limit,
        };
        lrctl_engine::with_threads(1, || crate::run::train_cell(task, &method, &options))
    }))
    .unwrap_or_else(|panic| {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown panic".into());
        Err(format!("the run panicked: {msg}"))
    });
    let (outcome, reason, steps, objective) = match run {
        Ok(None) => return None,
        Ok(Some(r)) => (
            r.outcome,
            r.reason.clone(),
            r.steps,
            objective_value(scoring.objective, &r),
        ),
        Err(reason) => (Outcome::Failed, Some(reason), 0, None),
    };
    Some(TrialResult {
        id: request.id,
        config: request.config,
        budget: request.budget,
        bracket: request.bracket,
        rung: request.rung,
        parent: request.parent,
        score: scoring.sanitize(objective.unwrap_or(f64::NAN)),
        objective,
        outcome,
        reason,
        steps,
        seconds: start.elapsed().as_secs_f64(),
    })
}
