//! Tuning a method's hyperparameters on a task: real training runs behind
//! [`lrctl_tune::run_trials`].
//!
//! [`tune`] builds the tuner, and its [`EngineTrials`] runner applies each trial's configuration
//! to the method ([`lrctl_method::with_params`]), trains it with the engine for the trial's
//! budget, and scores the run ([`objective_value`]; diverged runs get the worst score). Every
//! trial trains with one seed derived from the tuning seed (common random numbers:
//! configurations are compared on the same initialisation and data order), and the tuner is
//! seeded with the tuning seed, so a tuning run is deterministic (see
//! [`lrctl_tune::run_trials`] for parallel runs and [`FidelitySchedule`] for how low-fidelity
//! trials relate to the full run).

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use lrctl_engine::{Checkpoint, Outcome, RunOptions, RunResult};
use lrctl_method::MethodSpec;
use lrctl_tasks::Task;
use lrctl_tune::{
    DriverSettings, Fidelity, FidelitySchedule, Incumbent, Objective, Scoring, SearchSpace,
    Trained, TrialHooks, TrialRequest, TrialResult, TrialRunner, TuneCost, TuneError,
    TunerSettings,
};
use serde::{Deserialize, Serialize};

use crate::WrapError;

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
    pub scoring: Scoring,
    /// Tuning seed (the evaluation seeds are the study's).
    #[serde(default)]
    pub seed: u64,
    /// The space searched (default: the method's learning rate, see
    /// [`lrctl_method::default_space`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<SearchSpace>,
    /// Trials trained together as one batched model (`lrctl_tune::DriverSettings::batch`;
    /// default 1: one at a time). Above 1 the tuner proposes that many trials at once, like
    /// that many parallel workers, which changes what it knows when it proposes (and so the
    /// trials), and trials that start together train over the same mini-batches in one pass
    /// on models with a stacked form (logistic regression).
    #[serde(default = "default_batch", skip_serializing_if = "is_one")]
    pub batch: usize,
    /// Width fidelity ([`crate::width`]): tune on the task at this width multiplier and train
    /// the cell's (wider) task with the learning rate found there. Absent: tune the task itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width_from: Option<u32>,
}

fn default_min_fraction() -> f64 {
    0.2
}

fn default_eta() -> f64 {
    3.0
}

fn default_batch() -> usize {
    1
}

fn is_one(n: &usize) -> bool {
    *n == 1
}

impl TuneSpec {
    /// The fidelity for a task whose full run is `max_steps` long.
    pub fn fidelity(&self, max_steps: u64) -> Result<Fidelity, WrapError> {
        if !(self.min_budget_fraction > 0.0 && self.min_budget_fraction <= 1.0) {
            return Err(WrapError::Invalid(format!(
                "tune.min_budget_fraction must be in (0, 1], not {}",
                self.min_budget_fraction
            )));
        }
        let min = ((max_steps as f64 * self.min_budget_fraction).round() as u64)
            .clamp(1, max_steps.max(1));
        Ok(Fidelity::new(min, max_steps.max(1), self.eta).map_err(TuneError::from)?)
    }

    /// The space searched for `method`.
    pub fn space(&self, method: &MethodSpec) -> Result<SearchSpace, WrapError> {
        match &self.search {
            Some(s) => {
                lrctl_method::check_space(method, s)?;
                Ok(s.clone())
            }
            None => Ok(lrctl_method::default_space(method)?),
        }
    }

    /// Checks what can be checked before a task is known: the tuner exists, the budgets and
    /// scoring are valid, and the space fits the method.
    pub fn validate(&self, method: &MethodSpec) -> Result<(), WrapError> {
        let space = self.space(method)?;
        let fidelity = self.fidelity(100)?;
        let settings = TunerSettings {
            trials: self.trials,
            ..TunerSettings::new(space, fidelity)
        };
        lrctl_tune::tuner(&self.tuner, &settings)?;
        if self.width_from.is_some() {
            let space = self.space(method)?;
            crate::width::check_method(method, &space)
                .map_err(|e| WrapError::Invalid(format!("tune.width_from: {e}")))?;
        }
        if self.batch == 0 {
            return Err(WrapError::Invalid(
                "tune.batch must be at least 1 (1: trials one at a time)".into(),
            ));
        }
        check_worst_score(&self.scoring)
    }
}

fn check_worst_score(scoring: &Scoring) -> Result<(), WrapError> {
    if scoring.worst_score.is_finite() {
        Ok(())
    } else {
        Err(WrapError::Invalid(format!(
            "the worst score must be a finite number (got {})",
            scoring.worst_score
        )))
    }
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
    /// Trials each job trains together as one batched model ([`DriverSettings::batch`]; 1:
    /// one at a time).
    pub batch: usize,
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
            batch: 1,
            eval_limit: None,
            fidelity_schedule: FidelitySchedule::default(),
        }
    }

    /// Trials the tuner will issue (the cap it is built with).
    pub fn planned_trials(&self) -> usize {
        self.trials.unwrap_or(lrctl_tune::DEFAULT_TRIALS)
    }
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
    /// Trials each job trained together ([`TuneSettings::batch`]).
    #[serde(default = "default_batch")]
    pub batch: usize,
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

/// The training loss averaged over the steps a curve covers (each point weighs the steps of
/// its interval); `None` for an empty curve.
pub fn mean_train_loss(curve: &[lrctl_engine::CurvePoint]) -> Option<f64> {
    let (mut sum, mut prev) = (0.0, 0u64);
    for p in curve {
        sum += p.train_loss * (p.step - prev) as f64;
        prev = p.step;
    }
    (prev > 0).then(|| sum / prev as f64)
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
        Objective::MeanTrainLoss => mean_train_loss(&r.curve),
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
    hooks: &TrialHooks<'_>,
) -> Result<TuneReport, WrapError> {
    let wall = Instant::now();
    lrctl_method::check_space(method, space).map_err(WrapError::SpaceMismatch)?;
    let tuner_settings = TunerSettings {
        space: space.clone(),
        fidelity: settings.fidelity,
        seed: settings.seed,
        trials: settings.trials,
    };
    let mut tuner = lrctl_tune::tuner(&settings.tuner, &tuner_settings)?;
    check_worst_score(&settings.scoring)?;
    let schedule = settings.fidelity_schedule;
    if schedule == FidelitySchedule::WsdBranch && method.controller.branch_step(1).is_none() {
        return Err(WrapError::Invalid(format!(
            "fidelity schedule `wsd-branch` needs a warmup-stable-decay controller; method `{}` \
             has `{}` (use `restart`, `full-horizon` or `continue`)",
            method.name,
            method.controller.kind()
        )));
    }
    let jobs = settings.jobs.max(1);
    let training_seed = lrctl_engine::derive_seed(settings.seed, "tune-training");
    let runner = EngineTrials {
        task,
        method,
        seed: training_seed,
        scoring: settings.scoring,
        eval_limit: settings.eval_limit,
        cancel: hooks.cancel,
        progress: hooks.progress,
        schedule,
        max_budget: settings.fidelity.max_budget,
    };
    let driver = DriverSettings {
        jobs,
        batch: settings.batch.max(1),
        schedule,
        max_budget: settings.fidelity.max_budget,
    };
    let trials = lrctl_tune::run_trials(tuner.as_mut(), &runner, driver, hooks)?;
    let incumbent = tuner.incumbent();
    let tuned = incumbent
        .as_ref()
        .map(|inc| lrctl_method::with_params(method, &inc.config))
        .transpose()?;
    let cost = trials.cost(settings.fidelity.max_budget, wall.elapsed().as_secs_f64());
    Ok(TuneReport {
        task: task.spec().name.clone(),
        method: method.clone(),
        tuner: tuner.name().to_string(),
        objective: settings.scoring.objective,
        worst_score: settings.scoring.worst_score,
        seed: settings.seed,
        training_seed,
        jobs,
        batch: settings.batch.max(1),
        fidelity: settings.fidelity,
        fidelity_schedule: settings.fidelity_schedule,
        space: space.clone(),
        trials: trials.told,
        incumbent,
        tuned,
        cost,
        cancelled: trials.cancelled,
    })
}

/// Trains tuning trials with the engine: what every trial of one tuning run shares.
pub struct EngineTrials<'a> {
    /// The task tuned on.
    pub task: &'a dyn Task,
    /// The method whose hyperparameters each trial sets.
    pub method: &'a MethodSpec,
    /// The seed every trial trains with.
    pub seed: u64,
    /// How runs are scored.
    pub scoring: Scoring,
    /// Caps every evaluation at this many examples.
    pub eval_limit: Option<usize>,
    /// Called as each trial advances (see [`TrialHooks::progress`]).
    pub progress: Option<&'a (dyn Fn(u64, u64) + Sync)>,
    /// Cancellation.
    pub cancel: Option<&'a std::sync::atomic::AtomicBool>,
    /// How low-fidelity trials are run.
    pub schedule: FidelitySchedule,
    /// The full run's budget.
    pub max_budget: u64,
}

impl TrialRunner for EngineTrials<'_> {
    type Paused = Checkpoint;

    fn run(
        &self,
        request: &TrialRequest,
        resume: Option<Checkpoint>,
        keep: bool,
    ) -> Option<Trained<Checkpoint>> {
        let start = Instant::now();
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let method = lrctl_method::with_params(self.method, &request.config)
                .map_err(|e| e.to_string())?;
            let options = RunOptions {
                seed: self.seed,
                steps: Some(request.budget),
                progress: self.progress,
                cancel: self.cancel,
                eval_limit: self.eval_limit,
            };
            lrctl_engine::with_threads(1, || match self.schedule {
                FidelitySchedule::Restart => {
                    Ok(lrctl_engine::train_method(self.task, &method, &options)
                        .map_err(|e| e.to_string())?
                        .map(|r| (r, 0, None)))
                }
                _ => self
                    .train_resumable(&method, &options, resume, keep)
                    .map_err(|e| e.to_string()),
            })
        }))
        .unwrap_or_else(|panic| {
            Err(format!(
                "the run panicked: {}",
                crate::panic_message(&*panic)
            ))
        });
        self.trained(request, run, start.elapsed().as_secs_f64())
    }

    /// Trials that start together from scratch: trained as one stacked model over the same
    /// mini-batches ([`lrctl_engine::train_stacked`]) when the task's model family has a
    /// stacked form and the fidelity schedule trains every trial from scratch (`restart`,
    /// `full-horizon`) — a lone trial too, so that a trial's result does not depend on
    /// whether it found batch mates; one by one otherwise, or when
    /// `LRCTL_NO_STACKED_TRIALS=1` (to compare results or speed). The batch's wall time is
    /// split into the trials' `seconds` in proportion to the steps each trained.
    fn run_batch(&self, requests: &[TrialRequest]) -> Vec<Option<Trained<Checkpoint>>> {
        let one_by_one = || requests.iter().map(|r| self.run(r, None, false)).collect();
        let stackable = matches!(
            self.schedule,
            FidelitySchedule::Restart | FidelitySchedule::FullHorizon
        );
        if requests.is_empty()
            || !stackable
            || std::env::var_os("LRCTL_NO_STACKED_TRIALS").is_some_and(|v| v == "1")
        {
            return one_by_one();
        }
        let start = Instant::now();
        let methods: Vec<Result<MethodSpec, String>> = requests
            .iter()
            .map(|r| lrctl_method::with_params(self.method, &r.config).map_err(|e| e.to_string()))
            .collect();
        // Members: the trials whose configuration applies; the others fail as they would alone.
        let index: Vec<usize> = (0..requests.len())
            .filter(|&i| methods[i].is_ok())
            .collect();
        let members: Vec<lrctl_engine::stacked::Member<'_>> = index
            .iter()
            .map(|&i| lrctl_engine::stacked::Member {
                method: methods[i].as_ref().expect("filtered"),
                steps: requests[i].budget,
                horizon: match self.schedule {
                    FidelitySchedule::FullHorizon => self.max_budget,
                    _ => requests[i].budget,
                },
            })
            .collect();
        let options = RunOptions {
            seed: self.seed,
            steps: None,
            progress: self.progress,
            cancel: self.cancel,
            eval_limit: self.eval_limit,
        };
        let trained = std::panic::catch_unwind(AssertUnwindSafe(|| {
            lrctl_engine::with_threads(1, || {
                lrctl_engine::train_stacked(self.task, &members, &options)
            })
        }));
        let Ok(Ok(Some(results))) = trained else {
            // No stacked form (or it could not start, or panicked): each trial alone, where
            // it is recorded as it would be without batching.
            return one_by_one();
        };
        let mut runs: Vec<Option<Result<Option<ResumableRun>, String>>> = methods
            .iter()
            .map(|m| m.as_ref().err().map(|e| Err(e.clone())))
            .collect();
        for (&i, r) in index.iter().zip(results) {
            runs[i] = Some(
                r.map(|r| r.map(|r| (r, 0, None)))
                    .map_err(|e| e.to_string()),
            );
        }
        let steps: Vec<u64> = runs
            .iter()
            .map(|r| match r {
                Some(Ok(Some((r, ..)))) => r.steps,
                _ => 0,
            })
            .collect();
        let total: u64 = steps.iter().sum();
        let seconds = start.elapsed().as_secs_f64();
        let n = requests.len() as f64;
        requests
            .iter()
            .zip(runs)
            .zip(steps)
            .map(|((request, run), steps)| {
                let share = if total > 0 {
                    steps as f64 / total as f64
                } else {
                    1.0 / n
                };
                self.trained(
                    request,
                    run.expect("every trial has a run"),
                    seconds * share,
                )
            })
            .collect()
    }

    fn paused_steps(&self, paused: &Checkpoint) -> u64 {
        paused.run.steps()
    }

    /// Eight `f32` vectors of the model's size: the engine's parameters, gradients and update,
    /// and an optimizer's state.
    fn paused_bytes(&self, paused: &Checkpoint) -> usize {
        8 * std::mem::size_of::<f32>() * paused.run.params().len()
    }
}

impl EngineTrials<'_> {
    /// A trial's result from its run (`Ok(None)`: cancelled; `Err`: why it failed).
    fn trained(
        &self,
        request: &TrialRequest,
        run: Result<Option<ResumableRun>, String>,
        seconds: f64,
    ) -> Option<Trained<Checkpoint>> {
        let (outcome, reason, steps, objective, paused) = match run {
            Ok(None) => return None,
            Ok(Some((r, from, paused))) => (
                r.outcome,
                r.reason.clone(),
                r.steps - from,
                objective_value(self.scoring.objective, &r),
                paused,
            ),
            Err(reason) => (Outcome::Failed, Some(reason), 0, None, None),
        };
        let result = TrialResult {
            id: request.id,
            config: request.config.clone(),
            budget: request.budget,
            bracket: request.bracket,
            rung: request.rung,
            parent: request.parent,
            score: self.scoring.sanitize(objective.unwrap_or(f64::NAN)),
            objective,
            outcome,
            reason,
            steps,
            seconds,
        };
        Some(Trained { result, paused })
    }
}

/// A trial's run: its result, the step it started from, and its paused run.
type ResumableRun = (RunResult, u64, Option<Checkpoint>);

impl EngineTrials<'_> {
    /// A trial under `FullHorizon`, `Continue` or `WsdBranch` on the engine's pausable run:
    /// the result, the step it started from (its parent's, or 0), and the paused run a
    /// promotion may continue (when `keep`); `None` when cancelled.
    fn train_resumable(
        &self,
        method: &MethodSpec,
        options: &RunOptions<'_>,
        resume: Option<Checkpoint>,
        keep: bool,
    ) -> Result<Option<ResumableRun>, WrapError> {
        let budget = options.steps.expect("a trial has a budget");
        let (mut workload, mut run) = match resume {
            Some(run) => {
                let mut workload = self
                    .task
                    .instantiate(options.seed, &lrctl_tasks::default_device())
                    .map_err(lrctl_engine::StartError::from)?;
                run.run.load_into(workload.as_mut());
                (workload, run)
            }
            None => lrctl_engine::start(self.task, method, options)?,
        };
        let from = run.run.steps();
        if self.schedule == FidelitySchedule::WsdBranch {
            // The schedule is over this trial's budget; the steps before its decay are every
            // longer budget's too, so a copy taken there is what a promotion continues.
            let branch = method.controller.branch_step(budget).ok_or_else(|| {
                WrapError::Invalid("wsd-branch needs a warmup-stable-decay controller".into())
            })?;
            run.run.set_horizon(budget);
            if run.advance_to(workload.as_mut(), branch, options).is_err() {
                return Ok(None);
            }
            let kept = if keep { run.try_clone() } else { None };
            if run.advance_to(workload.as_mut(), budget, options).is_err() {
                return Ok(None);
            }
            return Ok(Some((run.finish(workload.as_mut()), from, kept)));
        }
        // FullHorizon and Continue: the full run's schedule, cut short at the budget.
        run.run.set_horizon(self.max_budget);
        if run.advance_to(workload.as_mut(), budget, options).is_err() {
            return Ok(None);
        }
        Ok(Some(if keep {
            let result = run.result(workload.as_mut());
            (result, from, Some(run))
        } else {
            (run.finish(workload.as_mut()), from, None)
        }))
    }
}
