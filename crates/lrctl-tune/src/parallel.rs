//! The parallel trial driver: feeds a [`Tuner`] with real training runs on several cores,
//! deterministically, whatever trains a trial.
//!
//! [`run_trials`] asks the tuner for trials, hands each to a [`TrialRunner`] (which trains it
//! for its budget and scores it), and tells the tuner the scores, until the tuner is done.
//! Trials run in parallel, one per job.
//!
//! **Determinism.** With several jobs the driver still feeds the tuner a fixed ask/tell
//! sequence: it simulates the jobs in *virtual time* (a trial occupies its job for the steps it
//! is charged) and tells results in the order their virtual runs end, waiting for a real run
//! that is late. The same tuner seed, settings and number of jobs therefore give the same
//! trials, scores and incumbent whatever the machine's timing (a different number of jobs can
//! change what an asynchronous tuner knows when it asks).
//!
//! **Fidelity.** How a low-budget trial relates to the full run is a [`FidelitySchedule`]. Under
//! the schedules that [reuse checkpoints](FidelitySchedule::reuses_checkpoints), a trial's
//! runner may return its run paused; a promotion of that trial (a request naming it as
//! `parent`) continues it instead of restarting, charged only the steps beyond it. Paused runs
//! are kept, by trial id, only for trials below the top budget (the top rung is never promoted)
//! and only until their promotion takes them; at most [`MAX_PAUSED_RUNS`] of them and about
//! [`MAX_PAUSED_BYTES`] in all, the oldest dropped first (older brackets are done). A promotion
//! whose parent's run is gone trains from scratch, which a runner must make give the identical
//! result at the full cost.
//!
//! **Batched trials.** With [`DriverSettings::batch`] above 1, each job takes up to `batch`
//! trials at once (the tuner sees `jobs × batch` slots), and the trials that start at the same
//! virtual time from scratch (none continuing a paused run, kept for a promotion or replayed)
//! go to [`TrialRunner::run_batch`] together, at most `batch` per call, each call on one
//! thread and at most `jobs` calls at once: a runner that can train them as one batched model over the same mini-batches
//! (small models, whose step is overhead-bound) does, and the default trains them one by one.
//! Grouping is decided by the ask/tell sequence, not by timing, so it is deterministic too.
//!
//! **Resuming.** Trials already run (a killed tuning run's stored trials) can be handed in
//! ([`TrialHooks::known`]): a trial the tuner asks for again with the same configuration and
//! budget is told its stored result instead of being trained. The ask/tell sequence is
//! deterministic, so the replay rebuilds the tuner's state exactly and training resumes at the
//! first missing trial.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use lrctl_record::Outcome;
use serde::{Deserialize, Serialize};

use crate::{Ask, Config, Incumbent, TrialRequest, TuneError, Tuner};

/// How low-fidelity trials relate to the full run.
///
/// * [`Restart`](FidelitySchedule::Restart) (the default): every trial trains from scratch and
///   its schedule is defined over the trial's own budget: a cosine schedule in a 9-step trial
///   anneals to its floor at step 9, so short trials rank schedules as a full run would rather
///   than judging a schedule that never got to decay. A promoted trial is charged its whole
///   budget.
/// * [`FullHorizon`](FidelitySchedule::FullHorizon): every trial trains from scratch with the
///   schedule of the full run (`max_budget` steps) cut short at its budget, what naive
///   multi-fidelity tuning does: a 9-step trial of an 81-step cosine barely leaves its peak
///   rate, so low rungs favour rates that are only good without annealing. The baseline.
///   Periodic evaluations are spaced over the full run too, so a short trial evaluates less
///   often than under `Restart`.
/// * [`Continue`](FidelitySchedule::Continue): full-horizon schedules, and a promoted trial
///   continues its parent's run (kept paused in memory) from the parent's budget instead of
///   restarting, charged only the steps beyond it (Li et al. 2018, *Hyperband*, allow this). A
///   run cannot change its schedule's length midway, so continuing implies the full-horizon
///   schedule and its bias at low rungs: it buys compute with fidelity. Resuming is exact, so
///   every trial's result is that of the same trial under `FullHorizon`; only the cost differs.
/// * [`WsdBranch`](FidelitySchedule::WsdBranch): for warmup-stable-decay methods, both. A
///   trial's schedule is over its own budget (as with `Restart`), and since every budget's
///   schedule shares the warm-up and stable phase, a promoted trial continues the parent's
///   stable phase from a copy taken just before the parent's decay and decays over the tail of
///   its own budget (Hu et al. 2024, *MiniCPM*; Hägele et al. 2024, *Scaling Laws and
///   Compute-Optimal Training Beyond Fixed Training Durations*). Exact again: every trial's
///   result is that of the same trial under `Restart`, charged `budget − branch step of the
///   parent` steps.
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
    type Err = TuneError;

    fn from_str(s: &str) -> Result<Self, TuneError> {
        FidelitySchedule::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let known: Vec<&str> = FidelitySchedule::ALL.iter().map(|f| f.name()).collect();
                TuneError::Setting(format!(
                    "unknown fidelity schedule `{s}`; use one of {}",
                    known.join(", ")
                ))
            })
    }
}

/// At most this many paused runs wait for a promotion (see the module docs); beyond it the
/// oldest is dropped and its promotion, if any, restarts.
pub const MAX_PAUSED_RUNS: usize = 64;

/// At most about this many bytes of paused runs wait for a promotion
/// ([`TrialRunner::paused_bytes`]); beyond it the oldest is dropped.
pub const MAX_PAUSED_BYTES: usize = 1 << 30;

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

/// What a [`TrialRunner`] returns for one trial: its result, and its run paused where a
/// promotion may continue it (`None` when it cannot be continued).
pub struct Trained<P> {
    /// The trial's result.
    pub result: TrialResult,
    /// The paused run, for a promotion to continue.
    pub paused: Option<P>,
}

/// Trains trials for [`run_trials`]: one call per trial, from several threads at once.
pub trait TrialRunner: Sync {
    /// A paused run that a promoted trial may continue.
    type Paused: Send;

    /// Trains `request` for its budget on the current thread and scores it, continuing
    /// `resume` (its parent's paused run) when given; `None` when cancelled. With `keep`, the
    /// driver may promote the trial later and wants its run back paused (in
    /// [`Trained::paused`]); without, the runner need not keep it. A run that diverges or fails
    /// is a result (scored the worst score), not an error.
    fn run(
        &self,
        request: &TrialRequest,
        resume: Option<Self::Paused>,
        keep: bool,
    ) -> Option<Trained<Self::Paused>>;

    /// Trains `requests` — trials that start together from scratch, none kept for a promotion —
    /// on the current thread: one entry per request, in order, each as [`run`](Self::run)
    /// would return it (`None` when cancelled). The default runs them one by one; a runner
    /// that trains them as one batched model overrides it (see the module docs). Each result
    /// keeps its own score, outcome and steps; how the shared time is split into each trial's
    /// `seconds` is the runner's to say.
    fn run_batch(&self, requests: &[TrialRequest]) -> Vec<Option<Trained<Self::Paused>>> {
        requests.iter().map(|r| self.run(r, None, false)).collect()
    }

    /// Steps a paused run has trained: what a promotion continuing it is not charged again.
    fn paused_steps(&self, paused: &Self::Paused) -> u64;

    /// Memory a paused run holds, about (bounds what waits, see [`MAX_PAUSED_BYTES`]).
    fn paused_bytes(&self, paused: &Self::Paused) -> usize;
}

/// What [`TrialHooks::on_trial`] is called with: a told trial and the incumbent after it.
pub type TrialCallback<'a> = dyn Fn(&TrialResult, Option<&Incumbent>) + 'a;

/// Callbacks, cancellation and stored trials for [`run_trials`]; the default has none.
#[derive(Default)]
pub struct TrialHooks<'a> {
    /// Called when a trial starts.
    pub on_start: Option<&'a dyn Fn(&TrialRequest)>,
    /// Called when a trial's score was told, with the incumbent after it.
    pub on_trial: Option<&'a TrialCallback<'a>>,
    /// When set to true, trials in flight stop and [`run_trials`] returns the trials told so
    /// far ([`Trials::cancelled`]).
    pub cancel: Option<&'a AtomicBool>,
    /// Results of trials already run, by id (see the module docs).
    pub known: Option<&'a HashMap<u64, TrialResult>>,
    /// For the trial runner, not the driver: called from the training threads as a trial
    /// advances, with (steps done, total steps) — a worker's lease heartbeat, which a trial
    /// longer than the lease would otherwise let expire.
    pub progress: Option<&'a (dyn Fn(u64, u64) + Sync)>,
}

/// How [`run_trials`] runs: parallelism and fidelity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DriverSettings {
    /// Trials trained at once (at least 1).
    pub jobs: usize,
    /// Trials each job trains together as one batch (at least 1; 1: one at a time). The tuner
    /// sees `jobs × batch` slots, so this, like `jobs`, can change what it knows when it asks.
    pub batch: usize,
    /// How promoted trials relate to their parents.
    pub schedule: FidelitySchedule,
    /// The largest budget: trials at it are never promoted, so their runs are not kept.
    pub max_budget: u64,
}

/// What [`run_trials`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Trials {
    /// Every told trial, in id order.
    pub told: Vec<TrialResult>,
    /// Trials that continued a paused run instead of training from scratch (trained in this
    /// run: replayed stored trials count as not continued).
    pub continued: usize,
    /// Whether the run was cancelled before the tuner was done.
    pub cancelled: bool,
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
    /// Trials that continued a paused run instead of training from scratch (see
    /// [`Trials::continued`]).
    #[serde(default)]
    pub continued: usize,
    /// Seconds of the trials added up (one core each): the compute bill.
    pub seconds: f64,
    /// Wall-clock seconds of the whole tuning run (less than `seconds` with several jobs).
    pub wall_seconds: f64,
    /// `steps` in units of one full-budget run (`max_budget` steps).
    pub full_runs: f64,
}

impl Trials {
    /// The bill of these trials; `wall_seconds` is the caller's measurement.
    pub fn cost(&self, max_budget: u64, wall_seconds: f64) -> TuneCost {
        let steps: u64 = self.told.iter().map(|t| t.steps).sum();
        TuneCost {
            trials: self.told.len(),
            steps,
            budget_steps: self.told.iter().map(|t| t.budget).sum(),
            continued: self.continued,
            seconds: self.told.iter().map(|t| t.seconds).sum(),
            wall_seconds,
            full_runs: steps as f64 / max_budget.max(1) as f64,
        }
    }
}

/// Runs `tuner` to the end with `runner` training its trials on `settings.jobs` threads (see
/// the module docs). Fails only when the tuner misbehaves (a tell it rejects, a wait with
/// nothing in flight).
pub fn run_trials<R: TrialRunner>(
    tuner: &mut dyn Tuner,
    runner: &R,
    settings: DriverSettings,
    hooks: &TrialHooks<'_>,
) -> Result<Trials, TuneError> {
    let batch = settings.batch.max(1);
    let jobs = settings.jobs.max(1) * batch;
    let cancelled = || hooks.cancel.is_some_and(|c| c.load(Ordering::Relaxed));
    let mut told: Vec<TrialResult> = Vec::new();
    let mut continued = 0usize;
    // With batches, `jobs × batch` slots but at most `jobs` batches training at once.
    let cores = Cores::new(settings.jobs.max(1));
    let cores = &cores;
    std::thread::scope(|scope| -> Result<(), TuneError> {
        let (tx, rx) = mpsc::channel::<(u64, Option<Arrived<R::Paused>>)>();
        // Virtual time at which each job can take its next trial (`None`: the tuner is done).
        let mut free_at: Vec<Option<u64>> = vec![Some(0); jobs];
        // Trials in flight, by (virtual end, id): the order their results are told in.
        let mut running: BTreeSet<(u64, u64)> = BTreeSet::new();
        // Paused runs of told trials a promotion may continue, by trial id. Filled when a
        // trial is told, so its content (and so the cost) does not depend on timing.
        let mut paused: Paused<R::Paused> = Paused::default();
        let mut arrived: HashMap<u64, Option<Arrived<R::Paused>>> = HashMap::new();
        // Trials asked at virtual time `pending_at` that wait to start together.
        let mut pending: Vec<TrialRequest> = Vec::new();
        let mut pending_at = 0u64;
        let flush = |pending: &mut Vec<TrialRequest>| {
            if pending.is_empty() {
                return;
            }
            let group = std::mem::take(pending);
            let tx = tx.clone();
            scope.spawn(move || {
                let _core = cores.take();
                let results = runner.run_batch(&group);
                let results = results.into_iter().chain(std::iter::repeat_with(|| None));
                for (request, result) in group.iter().zip(results) {
                    let arrived = result.map(|mut trained| {
                        trained.paused = None;
                        Arrived {
                            trained,
                            continued: false,
                        }
                    });
                    let _ = tx.send((request.id, arrived));
                }
            });
        };
        let mut wait_for = |id: u64| -> Option<Arrived<R::Paused>> {
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
            // A later time: the trials asked together before now start.
            if now > pending_at {
                flush(&mut pending);
            }
            while let Some(&(end, id)) = running.first().filter(|(end, _)| *end <= now) {
                running.remove(&(end, id));
                // `None`: cancelled in flight, never told.
                if let Some(Arrived {
                    trained,
                    continued: resumed,
                }) = wait_for(id)
                {
                    if let Some(p) = trained.paused {
                        let bytes = runner.paused_bytes(&p);
                        paused.insert(id, p, bytes);
                    }
                    continued += usize::from(resumed);
                    tuner.tell(id, trained.result.score)?;
                    if let Some(f) = hooks.on_trial {
                        f(&trained.result, tuner.incumbent().as_ref());
                    }
                    told.push(trained.result);
                }
            }
            if cancelled() {
                flush(&mut pending);
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
                        .filter(|_| settings.schedule.reuses_checkpoints())
                        .and_then(|p| paused.take(p))
                        .filter(|p| runner.paused_steps(p) <= request.budget);
                    let charged =
                        request.budget - resume.as_ref().map_or(0, |p| runner.paused_steps(p));
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
                        // The store keeps what a run measured; where the trial sits in the
                        // tuner's schedule comes from the (identical) request.
                        let result = TrialResult {
                            bracket: request.bracket,
                            rung: request.rung,
                            parent: request.parent,
                            ..t.clone()
                        };
                        let arrived = Arrived {
                            trained: Trained {
                                result,
                                paused: None,
                            },
                            continued: false,
                        };
                        let _ = tx.send((request.id, Some(arrived)));
                        continue;
                    }
                    let keep = settings.schedule.reuses_checkpoints()
                        && request.budget < settings.max_budget;
                    if batch > 1 && resume.is_none() && !keep {
                        pending_at = now;
                        pending.push(request);
                        if pending.len() == batch {
                            flush(&mut pending);
                        }
                        continue;
                    }
                    scope.spawn(move || {
                        let _core = cores.take();
                        let id = request.id;
                        let continued = resume.is_some();
                        let result = runner.run(&request, resume, keep).map(|mut trained| {
                            if !keep {
                                trained.paused = None;
                            }
                            Arrived { trained, continued }
                        });
                        // The receiver lives until every trial is collected.
                        let _ = tx.send((id, result));
                    });
                }
                // Nothing to issue until the next run in flight ends.
                Ask::Wait => match running.first() {
                    Some(&(end, _)) => free_at[job] = Some(end),
                    None => {
                        return Err(TuneError::Setting(format!(
                            "tuner `{}` waits with no trial in flight",
                            tuner.name()
                        )));
                    }
                },
                Ask::Done => break,
            }
        }
        // Nothing is pending when the tuner is done (it waits for outstanding trials), but
        // never leave a trial unstarted.
        flush(&mut pending);
        Ok(())
    })?;
    told.sort_by_key(|t| t.id);
    Ok(Trials {
        told,
        continued,
        cancelled: cancelled(),
    })
}

/// A counting semaphore: how many batches train at once. Which waiting batch goes first only
/// changes timing, never a result (results are told in virtual-time order).
struct Cores {
    free: std::sync::Mutex<usize>,
    freed: std::sync::Condvar,
}

/// A core taken from [`Cores`], given back when dropped.
struct Core<'a>(&'a Cores);

impl Cores {
    fn new(n: usize) -> Cores {
        Cores {
            free: std::sync::Mutex::new(n),
            freed: std::sync::Condvar::new(),
        }
    }

    fn take(&self) -> Core<'_> {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        while *free == 0 {
            free = self.freed.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= 1;
        Core(self)
    }
}

impl Drop for Core<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        self.0.freed.notify_one();
    }
}

/// A trial's result as it reaches the driver.
struct Arrived<P> {
    trained: Trained<P>,
    /// Whether the trial continued its parent's paused run.
    continued: bool,
}

/// Paused runs by trial id, bounded by [`MAX_PAUSED_RUNS`] and [`MAX_PAUSED_BYTES`].
struct Paused<P> {
    runs: BTreeMap<u64, (P, usize)>,
    bytes: usize,
}

impl<P> Default for Paused<P> {
    fn default() -> Self {
        Paused {
            runs: BTreeMap::new(),
            bytes: 0,
        }
    }
}

impl<P> Paused<P> {
    /// Keeps trial `id`'s run, dropping the oldest ones beyond the bounds.
    fn insert(&mut self, id: u64, run: P, bytes: usize) {
        self.bytes += bytes;
        self.runs.insert(id, (run, bytes));
        while self.runs.len() > MAX_PAUSED_RUNS
            || (self.bytes > MAX_PAUSED_BYTES && self.runs.len() > 1)
        {
            if let Some((_, (_, b))) = self.runs.pop_first() {
                self.bytes -= b;
            }
        }
    }

    /// Takes trial `id`'s run out, if kept.
    fn take(&mut self, id: u64) -> Option<P> {
        let (run, bytes) = self.runs.remove(&id)?;
        self.bytes -= bytes;
        Some(run)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Fidelity, Param, SearchSpace, TunerSettings};

    /// A runner whose score is a quadratic in the one parameter, and whose paused "run" is the
    /// steps it trained.
    struct Quadratic;

    impl TrialRunner for Quadratic {
        type Paused = u64;

        fn run(&self, r: &TrialRequest, resume: Option<u64>, _: bool) -> Option<Trained<u64>> {
            let x = r.config["x"];
            let from = resume.unwrap_or(0);
            Some(Trained {
                result: TrialResult {
                    id: r.id,
                    config: r.config.clone(),
                    budget: r.budget,
                    bracket: r.bracket,
                    rung: r.rung,
                    parent: r.parent,
                    score: (x - 0.3).powi(2) + 1.0 / r.budget as f64,
                    objective: None,
                    outcome: Outcome::Finished,
                    reason: None,
                    steps: r.budget - from,
                    seconds: 0.0,
                },
                paused: Some(r.budget),
            })
        }

        fn paused_steps(&self, p: &u64) -> u64 {
            *p
        }

        fn paused_bytes(&self, _: &u64) -> usize {
            8
        }
    }

    fn hyperband() -> Box<dyn Tuner> {
        let space = SearchSpace::new(vec![Param::float("x", 0.0, 1.0, false)]).unwrap();
        let fidelity = Fidelity::new(3, 27, 3.0).unwrap();
        let settings = TunerSettings {
            trials: Some(40),
            ..TunerSettings::new(space, fidelity)
        };
        crate::tuner("hyperband", &settings).unwrap()
    }

    fn settings(jobs: usize, schedule: FidelitySchedule) -> DriverSettings {
        DriverSettings {
            jobs,
            batch: 1,
            schedule,
            max_budget: 27,
        }
    }

    #[test]
    fn the_same_trials_whatever_the_timing() {
        let one = run_trials(
            hyperband().as_mut(),
            &Quadratic,
            settings(2, FidelitySchedule::Restart),
            &TrialHooks::default(),
        )
        .unwrap();
        assert_eq!(one.told.len(), 40);
        assert!(!one.cancelled);
        for _ in 0..3 {
            let again = run_trials(
                hyperband().as_mut(),
                &Quadratic,
                settings(2, FidelitySchedule::Restart),
                &TrialHooks::default(),
            )
            .unwrap();
            assert_eq!(again, one);
        }
        let cost = one.cost(27, 0.0);
        assert_eq!(
            cost.steps, cost.budget_steps,
            "restarts are charged in full"
        );
    }

    #[test]
    fn promotions_continue_their_parents_and_are_charged_the_difference() {
        let restart = run_trials(
            hyperband().as_mut(),
            &Quadratic,
            settings(1, FidelitySchedule::Restart),
            &TrialHooks::default(),
        )
        .unwrap();
        let cont = run_trials(
            hyperband().as_mut(),
            &Quadratic,
            settings(1, FidelitySchedule::Continue),
            &TrialHooks::default(),
        )
        .unwrap();
        assert!(cont.continued > 0);
        let scores = |t: &Trials| t.told.iter().map(|t| t.score).collect::<Vec<_>>();
        assert_eq!(scores(&restart), scores(&cont), "resuming is exact");
        let (r, c) = (restart.cost(27, 0.0), cont.cost(27, 0.0));
        assert_eq!(r.budget_steps, c.budget_steps);
        assert!(c.steps < r.steps);
        for t in cont.told.iter().filter(|t| t.parent.is_some()) {
            assert!(t.steps < t.budget, "trial {} restarted", t.id);
        }
    }

    #[test]
    fn stored_trials_are_replayed_not_trained() {
        let first = run_trials(
            hyperband().as_mut(),
            &Quadratic,
            settings(2, FidelitySchedule::Restart),
            &TrialHooks::default(),
        )
        .unwrap();
        let known: HashMap<u64, TrialResult> = first
            .told
            .iter()
            .take(10)
            .map(|t| {
                let mut t = t.clone();
                t.seconds = 99.0;
                (t.id, t)
            })
            .collect();
        let hooks = TrialHooks {
            known: Some(&known),
            ..TrialHooks::default()
        };
        let again = run_trials(
            hyperband().as_mut(),
            &Quadratic,
            settings(2, FidelitySchedule::Restart),
            &hooks,
        )
        .unwrap();
        let replayed = again.told.iter().filter(|t| t.seconds == 99.0).count();
        assert_eq!(replayed, 10);
        assert_eq!(again.told.len(), first.told.len());
    }

    /// [`Quadratic`], recording the size of every batch it is handed.
    struct Batches(std::sync::Mutex<Vec<Vec<u64>>>);

    impl TrialRunner for Batches {
        type Paused = u64;

        fn run(&self, r: &TrialRequest, resume: Option<u64>, keep: bool) -> Option<Trained<u64>> {
            self.0.lock().unwrap().push(vec![r.id]);
            Quadratic.run(r, resume, keep)
        }

        fn run_batch(&self, requests: &[TrialRequest]) -> Vec<Option<Trained<u64>>> {
            self.0
                .lock()
                .unwrap()
                .push(requests.iter().map(|r| r.id).collect());
            requests
                .iter()
                .map(|r| Quadratic.run(r, None, false))
                .collect()
        }

        fn paused_steps(&self, p: &u64) -> u64 {
            *p
        }

        fn paused_bytes(&self, _: &u64) -> usize {
            8
        }
    }

    #[test]
    fn trials_that_start_together_are_trained_together() {
        let slots = run_trials(
            hyperband().as_mut(),
            &Quadratic,
            settings(4, FidelitySchedule::Restart),
            &TrialHooks::default(),
        )
        .unwrap();
        let runner = Batches(std::sync::Mutex::new(Vec::new()));
        let batched = run_trials(
            hyperband().as_mut(),
            &runner,
            DriverSettings {
                batch: 2,
                ..settings(2, FidelitySchedule::Restart)
            },
            &TrialHooks::default(),
        )
        .unwrap();
        // Four slots either way: the same trials, told in the same order.
        assert_eq!(batched, slots);
        let mut groups = runner.0.into_inner().unwrap();
        assert!(groups.iter().all(|g| (1..=2).contains(&g.len())));
        assert!(groups.iter().any(|g| g.len() == 2), "{groups:?}");
        // Every trial trained once, each batch's trials issued together.
        let mut ids: Vec<u64> = groups.iter().flatten().copied().collect();
        ids.sort_unstable();
        assert_eq!(ids, (0..40).collect::<Vec<_>>());
        for g in &mut groups {
            let budgets: Vec<u64> = g.iter().map(|&id| slots.told[id as usize].budget).collect();
            assert!(g.windows(2).all(|w| w[0] < w[1]), "{g:?} {budgets:?}");
        }
        // Promotions continuing a paused run are never batched.
        let runner = Batches(std::sync::Mutex::new(Vec::new()));
        let cont = run_trials(
            hyperband().as_mut(),
            &runner,
            DriverSettings {
                batch: 2,
                ..settings(2, FidelitySchedule::Continue)
            },
            &TrialHooks::default(),
        )
        .unwrap();
        for g in runner.0.into_inner().unwrap() {
            if g.len() > 1 {
                assert!(g.iter().all(|&id| cont.told[id as usize].parent.is_none()
                    || cont.told[id as usize].budget == 27));
            }
        }
    }

    #[test]
    fn paused_runs_are_bounded() {
        let mut p: Paused<u64> = Paused::default();
        for id in 0..(MAX_PAUSED_RUNS as u64 + 5) {
            p.insert(id, id, 1);
        }
        assert_eq!(p.runs.len(), MAX_PAUSED_RUNS);
        assert!(p.take(0).is_none(), "the oldest went first");
        assert_eq!(
            p.take(MAX_PAUSED_RUNS as u64 + 4),
            Some(MAX_PAUSED_RUNS as u64 + 4)
        );
        let mut big: Paused<u64> = Paused::default();
        big.insert(0, 0, MAX_PAUSED_BYTES);
        big.insert(1, 1, 1);
        assert!(big.take(0).is_none() && big.take(1).is_some());
    }
}
