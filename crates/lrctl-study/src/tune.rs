//! Tuning a method's hyperparameters on a task: the driver between an ask/tell
//! [`Tuner`](lrctl_tune::Tuner) and real training runs.
//!
//! [`tune`] asks the tuner for trials (a configuration and a budget in steps), applies each
//! configuration to the method ([`lrctl_method::with_params`]), trains it with
//! [`train_cell`](crate::run::train_cell) for the trial's budget, scores the run
//! ([`objective_value`], diverged runs get the worst score) and tells the tuner, until the tuner
//! is done. Trials run in parallel, one single-threaded trial per job.
//!
//! **Fidelity.** How a low-budget trial relates to the full run is a [`FidelitySchedule`]:
//!
//! * [`Restart`](FidelitySchedule::Restart) (the default): every trial trains from scratch and
//!   its schedule is defined over the trial's own budget: a cosine schedule in a 9-step trial
//!   anneals to its floor at step 9, so short trials rank schedules as a full run would rather
//!   than judging a schedule that never got to decay. A promoted trial is charged its whole
//!   budget.
//! * [`FullHorizon`](FidelitySchedule::FullHorizon): every trial trains from scratch with the
//!   schedule of the full run (`max_budget` steps) cut short at its budget, what naive
//!   multi-fidelity tuning does: a 9-step trial of an 81-step cosine barely leaves its peak
//!   rate, so low rungs favour rates that are only good without annealing. The baseline.
//!   Periodic evaluations are spaced over the full run too, so a short trial evaluates less
//!   often than under `Restart`.
//! * [`Continue`](FidelitySchedule::Continue): full-horizon schedules, and a promoted trial
//!   continues its parent's run (kept paused in memory, [`lrctl_engine::Checkpoint`]) from the
//!   parent's budget instead of restarting, charged only the steps beyond it (Li et al. 2018,
//!   *Hyperband*, allow this). A run cannot change its schedule's length midway, so continuing
//!   implies the full-horizon schedule and its bias at low rungs: it buys compute with
//!   fidelity. Resuming is exact, so every trial's result is that of the same trial under
//!   `FullHorizon`; only the cost differs.
//! * [`WsdBranch`](FidelitySchedule::WsdBranch): for warmup-stable-decay methods, both. A
//!   trial's schedule is over its own budget (as with `Restart`), and since every budget's
//!   schedule shares the warm-up and stable phase, a promoted trial continues the parent's
//!   stable phase from a copy taken just before the parent's decay and decays over the tail of
//!   its own budget (Hu et al. 2024, *MiniCPM*; Hägele et al. 2024, *Scaling Laws and
//!   Compute-Optimal Training Beyond Fixed Training Durations*). Exact again: every trial's
//!   result is that of the same trial under `Restart`, charged `budget − branch step of the
//!   parent` steps.
//!
//! Paused runs are kept, by trial id, only for trials below `max_budget` (the top rung is
//! never promoted) and only until their promotion takes them; at most
//! [`MAX_PAUSED_RUNS`] of them and about [`MAX_PAUSED_BYTES`] in all, the oldest dropped first
//! (older brackets are done). A promotion whose parent's run is gone (dropped, or the parent
//! was replayed from the store) trains from scratch with the same schedule, which gives the
//! identical result at the full cost.
//!
//! **Determinism.** Every trial trains with one seed derived from the tuning seed (common random
//! numbers: configurations are compared on the same initialisation and data order), and the
//! tuner is seeded with the tuning seed. With several jobs the driver still feeds the tuner a
//! fixed ask/tell sequence: it simulates the jobs in *virtual time* (a trial occupies its job
//! for `budget` time units) and tells results in the order their virtual runs end, waiting for
//! a real run that is late. The same tuning seed, settings and number of jobs therefore give
//! the same trials, scores and incumbent whatever the machine's timing (a different number of
//! jobs can change what an asynchronous tuner knows when it asks).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use lrctl_engine::{Checkpoint, Outcome, RunOptions, RunResult};
use lrctl_method::MethodSpec;
use lrctl_tasks::Task;
use lrctl_tune::{
    Ask, Config, Fidelity, Incumbent, Objective, Scoring, SearchSpace, TrialRequest, TunerSettings,
};
use serde::{Deserialize, Serialize};

/// How low-fidelity trials relate to the full run; see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FidelitySchedule {
    /// Every trial trains from scratch for its budget, its schedule defined over that budget.
    #[default]
    Restart,
    /// Every trial trains from scratch for its budget, its schedule defined over the full
    /// budget and cut short (naive multi-fidelity; the baseline).
    FullHorizon,
    /// Full-horizon schedules; a promoted trial continues its parent's run, charged only the
    /// steps beyond the parent's budget.
    Continue,
    /// Warmup-stable-decay methods only: schedules over each trial's own budget; a promoted
    /// trial continues the parent's stable phase from before the parent's decay and decays
    /// over its own tail.
    WsdBranch,
}

impl FidelitySchedule {
    /// Every option, the default first.
    pub const ALL: [FidelitySchedule; 4] = [
        FidelitySchedule::Restart,
        FidelitySchedule::FullHorizon,
        FidelitySchedule::Continue,
        FidelitySchedule::WsdBranch,
    ];

    /// The name used on the command line and in reports, e.g. `full-horizon`.
    pub fn name(self) -> &'static str {
        match self {
            FidelitySchedule::Restart => "restart",
            FidelitySchedule::FullHorizon => "full-horizon",
            FidelitySchedule::Continue => "continue",
            FidelitySchedule::WsdBranch => "wsd-branch",
        }
    }

    /// Whether promoted trials continue a paused run rather than restarting.
    pub fn reuses_checkpoints(self) -> bool {
        matches!(
            self,
            FidelitySchedule::Continue | FidelitySchedule::WsdBranch
        )
    }
}

impl std::fmt::Display for FidelitySchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for FidelitySchedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        FidelitySchedule::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = FidelitySchedule::ALL.iter().map(|f| f.name()).collect();
                format!(
                    "unknown fidelity schedule `{s}`; use one of {}",
                    known.join(", ")
                )
            })
    }
}

/// At most this many paused runs wait for a promotion (see the module docs); beyond it the
/// oldest is dropped and its promotion, if any, restarts.
pub const MAX_PAUSED_RUNS: usize = 64;

/// At most about this many bytes of paused runs wait for a promotion, estimated as eight
/// `f32` vectors of the model's size per run (the engine's parameters, gradients and update,
/// and an optimizer's state); beyond it the oldest is dropped.
pub const MAX_PAUSED_BYTES: usize = 1 << 30;

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
    /// Optimizer steps this trial trained: `budget`, fewer when it diverged, or when it
    /// continued its parent's paused run only the steps beyond the parent's (see
    /// [`FidelitySchedule`]).
    pub steps: u64,
    /// Wall-clock seconds of the trial: building the model, training, evaluating.
    pub seconds: f64,
}

/// What tuning cost, summed over the trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuneCost {
    /// Trials run.
    pub trials: usize,
    /// Optimizer steps trained, over all trials: the compute spent.
    pub steps: u64,
    /// Steps the trials were budgeted: `steps` plus what diverged trials did not take and what
    /// continued trials took over from their parents' runs.
    pub budget_steps: u64,
    /// Trials that continued a paused run instead of training from scratch (trained in this
    /// session: replayed stored trials count as not continued, though their `steps` are what
    /// they trained).
    #[serde(default)]
    pub continued: usize,
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
    let schedule = settings.fidelity_schedule;
    if schedule == FidelitySchedule::WsdBranch && method.controller.branch_step(1).is_none() {
        bail!(
            "fidelity schedule `wsd-branch` needs a warmup-stable-decay controller; method `{}` \
             has `{}` (use `restart`, `full-horizon` or `continue`)",
            method.name,
            method.controller.kind()
        );
    }
    let jobs = settings.jobs.max(1);
    let training_seed = lrctl_engine::derive_seed(settings.seed, "tune-training");
    let cancelled = || hooks.cancel.is_some_and(|c| c.load(Ordering::Relaxed));

    let mut told: Vec<TrialResult> = Vec::new();
    let mut continued = 0usize;
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = mpsc::channel::<(u64, Option<Trained>)>();
        // Virtual time at which each job can take its next trial (`None`: the tuner is done).
        let mut free_at: Vec<Option<u64>> = vec![Some(0); jobs];
        // Trials in flight, by (virtual end, id): the order their results are told in.
        let mut running: BTreeSet<(u64, u64)> = BTreeSet::new();
        // Paused runs of told trials a promotion may continue, by trial id. Filled when a
        // trial is told, so its content (and so the cost) does not depend on timing.
        let mut paused = Paused::default();
        let mut arrived: HashMap<u64, Option<Trained>> = HashMap::new();
        let mut wait_for = |id: u64| -> Option<Trained> {
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
                if let Some(Trained {
                    result,
                    checkpoint,
                    continued: resumed,
                }) = wait_for(id)
                {
                    if let Some(c) = checkpoint {
                        paused.insert(id, c);
                    }
                    continued += usize::from(resumed);
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
                    // A promotion takes its parent's paused run, if it is still there.
                    let resume = request
                        .parent
                        .filter(|_| schedule.reuses_checkpoints())
                        .and_then(|p| paused.take(p))
                        .filter(|c| c.run.steps() <= request.budget);
                    let charged = request.budget - resume.as_ref().map_or(0, |c| c.run.steps());
                    let end = now + charged;
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
                        let trained = Trained {
                            result: t.clone(),
                            checkpoint: None,
                            continued: false,
                        };
                        let _ = tx.send((request.id, Some(trained)));
                        continue;
                    }
                    let trial = TrialJob {
                        task,
                        method,
                        seed: training_seed,
                        scoring: settings.scoring,
                        eval_limit: settings.eval_limit,
                        cancel: hooks.cancel,
                        schedule,
                        max_budget: settings.fidelity.max_budget,
                    };
                    scope.spawn(move || {
                        let id = request.id;
                        let result = trial.run(request, resume);
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
        continued,
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

/// A trial's result, with the paused run a promotion may continue.
struct Trained {
    result: TrialResult,
    checkpoint: Option<Checkpoint>,
    /// Whether the trial continued its parent's paused run.
    continued: bool,
}

/// Paused runs by trial id, bounded by [`MAX_PAUSED_RUNS`] and [`MAX_PAUSED_BYTES`].
#[derive(Default)]
struct Paused {
    runs: BTreeMap<u64, (Checkpoint, usize)>,
    bytes: usize,
}

impl Paused {
    /// Keeps trial `id`'s run, dropping the oldest ones beyond the bounds.
    fn insert(&mut self, id: u64, checkpoint: Checkpoint) {
        let bytes = 8 * std::mem::size_of::<f32>() * checkpoint.run.params().len();
        self.bytes += bytes;
        self.runs.insert(id, (checkpoint, bytes));
        while self.runs.len() > MAX_PAUSED_RUNS
            || (self.bytes > MAX_PAUSED_BYTES && self.runs.len() > 1)
        {
            if let Some((_, (_, b))) = self.runs.pop_first() {
                self.bytes -= b;
            }
        }
    }

    /// Takes trial `id`'s run out, if kept.
    fn take(&mut self, id: u64) -> Option<Checkpoint> {
        let (checkpoint, bytes) = self.runs.remove(&id)?;
        self.bytes -= bytes;
        Some(checkpoint)
    }
}

/// What every trial of a tuning run shares.
#[derive(Clone, Copy)]
struct TrialJob<'a> {
    task: &'a dyn Task,
    method: &'a MethodSpec,
    seed: u64,
    scoring: Scoring,
    eval_limit: Option<usize>,
    cancel: Option<&'a AtomicBool>,
    schedule: FidelitySchedule,
    max_budget: u64,
}

impl TrialJob<'_> {
    /// Trains one trial on the current thread (continuing `resume`, its parent's paused run,
    /// when given) and scores it; `None` when cancelled.
    fn run(self, request: TrialRequest, resume: Option<Checkpoint>) -> Option<Trained> {
        let start = Instant::now();
        let continued = resume.is_some();
        let run = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let method = lrctl_method::with_params(self.method, &request.config)
                .map_err(|e| e.to_string())?;
            let options = RunOptions {
                seed: self.seed,
                steps: Some(request.budget),
                progress: None,
                cancel: self.cancel,
                eval_limit: self.eval_limit,
            };
            lrctl_engine::with_threads(1, || match self.schedule {
                FidelitySchedule::Restart => {
                    Ok(crate::run::train_cell(self.task, &method, &options)?.map(|r| (r, 0, None)))
                }
                _ => self.train_resumable(&method, &options, resume),
            })
        }))
        .unwrap_or_else(|panic| {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!("the run panicked: {msg}"))
        });
        let (outcome, reason, steps, objective, checkpoint) = match run {
            Ok(None) => return None,
            Ok(Some((r, from, checkpoint))) => (
                r.outcome,
                r.reason.clone(),
                r.steps - from,
                objective_value(self.scoring.objective, &r),
                checkpoint,
            ),
            Err(reason) => (Outcome::Failed, Some(reason), 0, None, None),
        };
        let result = TrialResult {
            id: request.id,
            config: request.config,
            budget: request.budget,
            bracket: request.bracket,
            rung: request.rung,
            parent: request.parent,
            score: self.scoring.sanitize(objective.unwrap_or(f64::NAN)),
            objective,
            outcome,
            reason,
            steps,
            seconds: start.elapsed().as_secs_f64(),
        };
        Some(Trained {
            result,
            checkpoint,
            continued,
        })
    }

    /// A trial under `FullHorizon`, `Continue` or `WsdBranch` on the engine's pausable run:
    /// the result, the step it started from (its parent's, or 0), and the paused run a
    /// promotion may continue (`Continue` and `WsdBranch` below the top budget); `None` when
    /// cancelled.
    fn train_resumable(
        &self,
        method: &MethodSpec,
        options: &RunOptions<'_>,
        resume: Option<Checkpoint>,
    ) -> Result<Option<(RunResult, u64, Option<Checkpoint>)>, String> {
        let budget = options.steps.expect("a trial has a budget");
        let device = lrctl_tasks::default_device();
        let mut workload = self
            .task
            .instantiate(options.seed, &device)
            .map_err(|e| format!("building the model: {e}"))?;
        let mut run = match resume {
            Some(run) => {
                run.run.load_into(workload.as_mut());
                run
            }
            None => {
                let (opt, ctl) = method
                    .build(workload.n_params())
                    .map_err(|e| e.to_string())?;
                Checkpoint::new(workload.as_ref(), self.task.spec(), opt, ctl, options)
            }
        };
        let from = run.run.steps();
        let keep = self.schedule.reuses_checkpoints() && budget < self.max_budget;
        if self.schedule == FidelitySchedule::WsdBranch {
            // The schedule is over this trial's budget; the steps before its decay are every
            // longer budget's too, so a copy taken there is what a promotion continues.
            let branch = method
                .controller
                .branch_step(budget)
                .ok_or("wsd-branch needs a warmup-stable-decay controller")?;
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
