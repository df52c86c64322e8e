//! The training engine: one loop for every task.
//!
//! Each step: draw the next mini-batch of a seeded per-epoch shuffle, forward and backward,
//! compute cheap global gradient statistics, ask the controller for the learning rate, let the
//! optimizer update the whole flat parameter vector, and record. Evaluation runs at the task's
//! cadence at the optimizer's evaluation point (Schedule-Free's averaged iterate), then training
//! resumes from the training point. A non-finite loss, gradient or parameter ends the run as
//! [`Outcome::Diverged`], keeping the curve so far: divergence is data, not a crash. A controller
//! that cannot decide ([`Controller::failure`]: an external policy that raised) ends it as
//! [`Outcome::Failed`] with its reason.
//!
//! The loop lives in [`Run`], a value that can stop between any two steps, report, and go on
//! exactly as if it had not stopped, possibly on another thread with a freshly built model
//! ([`Checkpoint`] bundles it with the optimizer and controller); [`train`] runs one from start
//! to end. Multi-fidelity tuning continues promoted trials this way, and trains trials that
//! share a task, a seed and a start together as one stacked model ([`train_stacked`]).

mod curve;
pub mod stacked;
mod stats;

pub use curve::{CurvePoint, Outcome, RunResult};
pub use stacked::train_stacked;
pub use stats::{all_finite, grad_norm, grad_stats};

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use lrctl_control::{Controller, EvalObservation, GradStats, Observation};
use lrctl_method::MethodSpec;
use lrctl_optim::{Finiteness, Optimizer};
use lrctl_tasks::{Split, Task, TaskSpec, Workload, steps_per_epoch};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

/// At most this many examples for the final training-set evaluation (the whole split when
/// smaller), and at most four times the task's periodic evaluation size: it reports the
/// training loss at the end, it does not need the whole split.
const FINAL_TRAIN_EVAL_ROWS: usize = 16_384;

/// A run whose mini-batch loss exceeds this multiple of its first loss has diverged, even while
/// the numbers stay finite (a linear model under a huge step size grows its logits, and so its
/// cross-entropy, without bound instead of overflowing).
pub const DIVERGENCE_FACTOR: f64 = 100.0;

/// Bumped whenever the engine changes in a way that changes results, so old cells are not
/// silently reused (it is part of every cell's configuration hash).
pub const ENGINE_VERSION: u32 = 1;

/// Knobs of one run that are not part of the task or the method.
#[derive(Default)]
pub struct RunOptions<'a> {
    /// The cell's seed (model initialisation is seeded by the task; this seeds the shuffles).
    pub seed: u64,
    /// Overrides the task's budget in optimizer steps.
    pub steps: Option<u64>,
    /// Called after every step with (steps done, total steps).
    pub progress: Option<&'a (dyn Fn(u64, u64) + Sync)>,
    /// When set to true, the run stops at the next step boundary and returns `None`.
    pub cancel: Option<&'a AtomicBool>,
    /// Caps every evaluation, periodic and final, at this many examples (smoke runs; by
    /// default the final validation and test evaluations cover their whole splits).
    pub eval_limit: Option<usize>,
}

/// Derives an independent stream seed for one purpose from a cell seed.
pub fn derive_seed(seed: u64, purpose: &str) -> u64 {
    // FNV-1a over the purpose, mixed with the seed by SplitMix64's finaliser.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in purpose.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = seed ^ h;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Trains `workload` with `optimizer` and `controller` for the task's budget.
///
/// A thin wrapper over [`Run`]: start, advance to the end of the budget, finish. Returns
/// `None` only when cancelled through [`RunOptions::cancel`].
pub fn train(
    workload: &mut dyn Workload,
    task: &TaskSpec,
    optimizer: &mut dyn Optimizer,
    controller: &mut dyn Controller,
    options: &RunOptions<'_>,
) -> Option<RunResult> {
    let mut run = Run::new(&*workload, task, options);
    let end = run.horizon();
    run.advance_to(workload, optimizer, controller, end, options)
        .ok()?;
    Some(run.finish(workload, optimizer))
}

/// Why a cell could not start training: its model or its method could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The task's model could not be built (bad shapes, missing data).
    #[error("building the model: {0}")]
    Model(#[from] lrctl_tasks::TaskError),
    /// The method's optimizer or controller could not be built.
    #[error(transparent)]
    Method(#[from] lrctl_method::MethodError),
}

/// The optimizer under the task's parametrisation: under µP at a width other than ×1, the
/// method's optimizer with µP's per-layer learning-rate multipliers
/// ([`lrctl_optim::multiplied::Multiplied`], [`lrctl_tasks::mup`]); otherwise unchanged. µP's
/// learning rates are defined for SGD (the SGD column of Table 3) and Adam/AdamW (the Adam
/// column); an optimizer that sets its own step size, or another rule, is refused with the
/// reason (scaling its steps from outside would fight its own step-size estimate).
pub fn parametrize(
    task: &TaskSpec,
    method: &MethodSpec,
    workload: &dyn Workload,
    optimizer: Box<dyn Optimizer>,
) -> Result<Box<dyn Optimizer>, StartError> {
    use lrctl_optim::OptimizerSpec;
    use lrctl_tasks::mup::{UpdateRule, lr_multipliers};
    let shapes = workload.param_shapes();
    let width = f64::from(task.width);
    // Nothing to scale: leave the optimizer alone whatever it is.
    if lr_multipliers(task.parametrization, UpdateRule::Adam, width, &shapes).is_none() {
        return Ok(optimizer);
    }
    let rule = match &method.optimizer {
        OptimizerSpec::Sgd(_) => UpdateRule::Sgd,
        OptimizerSpec::Adam(_) | OptimizerSpec::AdamW(_) => UpdateRule::Adam,
        other => {
            return Err(StartError::Model(lrctl_tasks::TaskError::Invalid {
                name: task.name.clone(),
                reason: format!(
                    "parametrization = \"mup\" needs SGD or Adam/AdamW (the optimizers of µP's \
                     Table 3); method `{}` uses `{}`",
                    method.name,
                    other.kind()
                ),
            }));
        }
    };
    let m = lr_multipliers(task.parametrization, rule, width, &shapes).expect("checked above");
    Ok(Box::new(lrctl_optim::multiplied::Multiplied::new(
        optimizer, m,
    )))
}

/// Builds `task`'s model seeded with `options.seed` and a fresh optimizer and controller from
/// `method`, paused before the first step: the model and the [`Checkpoint`] that trains it.
pub fn start(
    task: &dyn Task,
    method: &MethodSpec,
    options: &RunOptions<'_>,
) -> Result<(Box<dyn Workload>, Checkpoint), StartError> {
    let workload = task.instantiate(options.seed, &lrctl_tasks::default_device())?;
    let (optimizer, controller) = method.build(workload.n_params())?;
    let optimizer = parametrize(task.spec(), method, &*workload, optimizer)?;
    let run = Checkpoint::new(&*workload, task.spec(), optimizer, controller, options);
    Ok((workload, run))
}

/// Trains one cell of `task` under `method` on the current thread pool (see [`with_threads`]):
/// the seeded model, a fresh optimizer and controller, the task's budget (or
/// [`RunOptions::steps`]). `Ok(None)` when cancelled.
pub fn train_method(
    task: &dyn Task,
    method: &MethodSpec,
    options: &RunOptions<'_>,
) -> Result<Option<RunResult>, StartError> {
    let device = lrctl_tasks::default_device();
    let mut workload = task.instantiate(options.seed, &device)?;
    let (opt, mut ctl) = method.build(workload.n_params())?;
    let mut opt = parametrize(task.spec(), method, &*workload, opt)?;
    Ok(train(
        workload.as_mut(),
        task.spec(),
        opt.as_mut(),
        ctl.as_mut(),
        options,
    ))
}

/// A stopwatch that adds the time since its last lap to a phase.
struct Lap(Instant);

impl Lap {
    fn lap(&mut self, slot: &mut f64) {
        let now = Instant::now();
        *slot += (now - self.0).as_secs_f64();
        self.0 = now;
    }
}

/// [`Run::advance_to`] stopped because [`RunOptions::cancel`] was set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// One training run as a value that can stop between any two steps and go on later, exactly
/// as if it had never stopped.
///
/// [`train`] is `Run::new`, [`advance_to`](Run::advance_to) the end, [`finish`](Run::finish).
/// Multi-fidelity tuning uses the pieces: train a configuration to a low budget, report it
/// ([`result`](Run::result), which evaluates without disturbing the run), and when the tuner
/// promotes it continue the same run to the next budget instead of restarting (Li et al. 2018,
/// *Hyperband*, note that a promoted configuration may resume from its checkpoint).
///
/// The run holds everything of the training loop but the model and the method: the data order
/// (seeded shuffle, permutation, cursor), the flat parameters, the previous gradient and
/// update (for the gradient statistics), the curve so far and its open interval, the pending
/// evaluation, the divergence bookkeeping and the counters. The model's state is its
/// parameters, which the run keeps a copy of, so a run can continue on a freshly instantiated
/// workload of the same task after [`load_into`](Run::load_into); the optimizer and controller
/// carry their own state and travel with the run (see [`Checkpoint`]).
///
/// **Horizon.** The controller is told the run lasts [`horizon`](Run::horizon) steps
/// ([`Observation::total_steps`]); periodic evaluations and curve points are spaced over it
/// too. By default it is the run's length ([`RunOptions::steps`] or the task's budget), and
/// [`set_horizon`](Run::set_horizon) changes it: a run can be advanced to fewer steps than its
/// horizon (a schedule defined over a full run, cut short) or be given a longer horizon
/// between steps (what branching a warmup-stable-decay run off its stable phase needs). The
/// end of a run short of its horizon still gets a curve point, built from the open interval
/// when the run is reported, without closing it: a continued run's curve is the uninterrupted
/// one's.
///
/// **Exactness.** Pausing changes nothing: advancing to `k`, reporting, and advancing to `K`
/// gives bit for bit the parameters, losses and curve of advancing to `K` at once (the
/// report's evaluations run at the optimizer's evaluation point and restore the training point
/// exactly, as the periodic ones do). Only wall-clock times differ.
#[derive(Debug, Clone)]
pub struct Run {
    n_train: usize,
    batch_size: usize,
    per_epoch: u64,
    curve_points: u64,
    evals: u64,
    /// Cap of the periodic evaluations.
    periodic_limit: Option<usize>,
    /// Cap of the final evaluation on the training split.
    train_limit: Option<usize>,
    /// Cap of the final validation and test evaluations.
    final_limit: Option<usize>,
    horizon: u64,
    curve_every: u64,
    eval_steps: Vec<u64>,
    /// The step count the run was last asked to reach (a result's `total_steps`).
    target: u64,
    rng: ChaCha8Rng,
    order: Vec<usize>,
    cursor: usize,
    params: Vec<f32>,
    /// The workload's parameter tensor shapes, told to the optimizer before the first step.
    shapes: Vec<Vec<usize>>,
    grad: Vec<f32>,
    prev_grad: Vec<f32>,
    prev_update: Vec<f32>,
    before: Vec<f32>,
    prev_lr: Option<f64>,
    batch: Vec<usize>,
    curve: Vec<CurvePoint>,
    interval_loss: f64,
    interval_steps: u64,
    /// (lr, effective lr, gradient norm) of the last step, for the open interval's point.
    last_step: Option<(f64, f64, f64)>,
    pending_eval: Option<EvalObservation>,
    eval_seconds: f64,
    /// Seconds spent in this run so far (construction and finished advances).
    seconds: f64,
    last_loss: f64,
    first_loss: Option<f64>,
    outcome: Outcome,
    reason: Option<String>,
    steps_done: u64,
    phases: StepPhases,
}

/// Where a run's training steps spent their time, summed over the steps so far (evaluations
/// excluded). The split is what `lrctl bench` reports as lrctl's own per-step machinery.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepPhases {
    /// Drawing the mini-batch's row indices from the shuffle.
    pub batch: f64,
    /// The workload's loss and gradient: batch assembly, forward, backward and the copy of
    /// the gradients into the flat vector (the framework's share).
    pub forward_backward: f64,
    /// Global gradient statistics ([`grad_stats`]).
    pub statistics: f64,
    /// The controller's learning-rate decision.
    pub controller: f64,
    /// The optimizer's update of the flat parameter vector.
    pub optimizer: f64,
    /// The update's difference and finiteness check (kept for the next step's statistics).
    pub bookkeeping: f64,
    /// Writing the flat parameters back into the model.
    pub sync: f64,
    /// Curve recording and the progress callback.
    pub record: f64,
    /// Steps measured.
    pub steps: u64,
}

impl StepPhases {
    /// Total seconds over all phases.
    pub fn total(&self) -> f64 {
        self.batch
            + self.forward_backward
            + self.statistics
            + self.controller
            + self.optimizer
            + self.bookkeeping
            + self.sync
            + self.record
    }

    /// Seconds of lrctl's own machinery around the framework and the update rule: batch
    /// indices, statistics, controller, bookkeeping and recording.
    pub fn machinery(&self) -> f64 {
        self.batch + self.statistics + self.controller + self.bookkeeping + self.record
    }
}

impl Run {
    /// A run of `workload` on `task` at step 0: the workload's current parameters, the shuffle
    /// seeded from [`RunOptions::seed`], and a horizon of [`RunOptions::steps`] or the task's
    /// budget. Only `seed`, `steps` and `eval_limit` of `options` are read here.
    pub fn new(workload: &dyn Workload, task: &TaskSpec, options: &RunOptions<'_>) -> Run {
        let start = Instant::now();
        let n_train = workload.n_train();
        let batch_size = task.batch_size.min(n_train).max(1);
        let per_epoch = steps_per_epoch(n_train, batch_size);
        let total = options
            .steps
            .unwrap_or_else(|| task.budget.steps(n_train, batch_size))
            .max(1);
        let cap = |n: usize| Some(options.eval_limit.map_or(n, |l| l.min(n)));

        let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(options.seed, "shuffle"));
        let mut order: Vec<usize> = (0..n_train).collect();
        order.shuffle(&mut rng);

        let n = workload.n_params();
        let mut params = Vec::with_capacity(n);
        workload.params(&mut params);
        let mut run = Run {
            n_train,
            batch_size,
            per_epoch,
            curve_points: u64::from(task.curve_points.max(1)),
            evals: u64::from(task.evals),
            periodic_limit: cap(task.eval_max_examples),
            train_limit: cap(FINAL_TRAIN_EVAL_ROWS.min(4 * task.eval_max_examples.max(1))),
            final_limit: options.eval_limit,
            horizon: total,
            curve_every: 1,
            eval_steps: Vec::new(),
            target: 0,
            rng,
            order,
            cursor: 0,
            params,
            shapes: workload.param_shapes(),
            grad: Vec::with_capacity(n),
            prev_grad: Vec::new(),
            prev_update: vec![0.0; n],
            before: vec![0.0; n],
            prev_lr: None,
            batch: Vec::with_capacity(batch_size),
            curve: Vec::new(),
            interval_loss: 0.0,
            interval_steps: 0,
            last_step: None,
            pending_eval: None,
            eval_seconds: 0.0,
            seconds: 0.0,
            last_loss: f64::NAN,
            first_loss: None,
            outcome: Outcome::Finished,
            reason: None,
            steps_done: 0,
            phases: StepPhases::default(),
        };
        run.set_horizon(total);
        run.seconds = start.elapsed().as_secs_f64();
        run
    }

    /// Where the training steps so far spent their time.
    pub fn phases(&self) -> &StepPhases {
        &self.phases
    }

    /// The last mini-batch loss (NaN before the first step).
    pub fn last_loss(&self) -> f64 {
        if self.steps_done == 0 {
            f64::NAN
        } else {
            self.last_loss
        }
    }

    /// The curve points closed so far.
    pub fn curve(&self) -> &[CurvePoint] {
        &self.curve
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps_done
    }

    /// The length the controller is told the run has ([`Observation::total_steps`]).
    pub fn horizon(&self) -> u64 {
        self.horizon
    }

    /// How the run stands: [`Outcome::Finished`] while it can go on, [`Outcome::Diverged`]
    /// once it has diverged (advancing it further does nothing).
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Why the run diverged or failed (`None` while it goes on).
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// The evaluation that ran after the last step, which the controller sees with the next
    /// one (`None` when none ran then, or once a step has consumed it).
    pub fn pending_eval(&self) -> Option<EvalObservation> {
        self.pending_eval
    }

    /// Evaluates `split` (at most `limit` examples) at the optimizer's evaluation point and
    /// restores the training point: an evaluation outside the task's own cadence (the Python
    /// environment's per-step validation, its end-of-episode test loss) that leaves the run as
    /// it was. The time is counted as evaluation time.
    pub fn evaluate(
        &mut self,
        workload: &mut dyn Workload,
        optimizer: &mut dyn Optimizer,
        split: Split,
        limit: Option<usize>,
    ) -> Option<lrctl_tasks::Metrics> {
        let t = Instant::now();
        let m = evaluate_at_eval_point(workload, optimizer, &mut self.params, split, limit);
        let dt = t.elapsed().as_secs_f64();
        self.eval_seconds += dt;
        self.seconds += dt;
        m
    }

    /// The training point's parameters (flat, the workload's order).
    pub fn params(&self) -> &[f32] {
        &self.params
    }

    /// Sets the horizon (at least the steps taken, and 1) and respaces the periodic
    /// evaluations and curve points still to come over it; those already recorded stay.
    pub fn set_horizon(&mut self, horizon: u64) {
        let horizon = horizon.max(self.steps_done).max(1);
        self.horizon = horizon;
        self.curve_every = (horizon / self.curve_points).max(1);
        self.eval_steps = (1..=self.evals)
            .map(|k| (k * horizon).div_ceil(self.evals))
            .collect();
    }

    /// Loads the run's parameters into `workload`: needed before advancing on a workload other
    /// than the one the run last advanced on (a freshly instantiated model of the same task).
    pub fn load_into(&self, workload: &mut dyn Workload) {
        workload.set_params(&self.params);
    }

    /// Trains until `until` steps are done (at most the horizon), the run diverges, or
    /// [`RunOptions::cancel`] is set (then `Err(Cancelled)`, at a step boundary: the run is
    /// intact and can still go on). `workload` must hold the run's parameters (see
    /// [`load_into`](Run::load_into)); `optimizer` and `controller` must be the ones the run
    /// was advanced with so far, in their current state. [`RunOptions::progress`] is called
    /// after every step with (steps done, `until`).
    pub fn advance_to(
        &mut self,
        workload: &mut dyn Workload,
        optimizer: &mut dyn Optimizer,
        controller: &mut dyn Controller,
        until: u64,
        options: &RunOptions<'_>,
    ) -> Result<(), Cancelled> {
        let start = Instant::now();
        let until = until.min(self.horizon);
        self.target = self.target.max(until);
        let done = self.steps_loop(workload, optimizer, controller, until, options, start);
        self.seconds += start.elapsed().as_secs_f64();
        done
    }

    fn steps_loop(
        &mut self,
        workload: &mut dyn Workload,
        optimizer: &mut dyn Optimizer,
        controller: &mut dyn Controller,
        until: u64,
        options: &RunOptions<'_>,
        start: Instant,
    ) -> Result<(), Cancelled> {
        let (n_train, batch_size) = (self.n_train, self.batch_size);
        while self.steps_done < until && self.outcome == Outcome::Finished {
            if options.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
                return Err(Cancelled);
            }
            let step = self.steps_done;
            let mut clock = Lap(Instant::now());
            let mut ph = self.phases;
            self.batch.clear();
            while self.batch.len() < batch_size {
                if self.cursor == n_train {
                    // Epoch boundary: a fresh permutation. A partial batch ends the epoch.
                    self.order.shuffle(&mut self.rng);
                    self.cursor = 0;
                    if !self.batch.is_empty() {
                        break;
                    }
                }
                let take = (batch_size - self.batch.len()).min(n_train - self.cursor);
                self.batch
                    .extend_from_slice(&self.order[self.cursor..self.cursor + take]);
                self.cursor += take;
                if self.cursor == n_train {
                    break;
                }
            }

            clock.lap(&mut ph.batch);
            let loss = f64::from(workload.loss_and_grad(&self.batch, &mut self.grad));
            clock.lap(&mut ph.forward_backward);
            self.last_loss = loss;
            let first = *self.first_loss.get_or_insert(loss);
            if loss.is_finite() && first.is_finite() && loss > DIVERGENCE_FACTOR * first.max(1e-2) {
                self.outcome = Outcome::Diverged;
                self.reason = Some(format!(
                    "training loss {loss:.4e} at step {step} exceeds {DIVERGENCE_FACTOR}× the \
                     first loss ({first:.4})"
                ));
                break;
            }
            let history = controller.needs_history();
            let stats = if history {
                GradStats {
                    param_norm: Some(grad_norm(&self.params)),
                    ..grad_stats(&self.grad, &self.prev_grad, &self.prev_update, self.prev_lr)
                }
            } else {
                GradStats {
                    norm: grad_norm(&self.grad),
                    ..GradStats::default()
                }
            };
            clock.lap(&mut ph.statistics);
            if !loss.is_finite() || !stats.norm.is_finite() {
                self.outcome = Outcome::Diverged;
                self.reason = Some(format!(
                    "non-finite {} at step {step}",
                    if loss.is_finite() { "gradient" } else { "loss" }
                ));
                break;
            }
            let obs = Observation {
                step,
                total_steps: self.horizon,
                steps_per_epoch: self.per_epoch,
                epoch: step / self.per_epoch,
                loss,
                grad: stats,
                eval: self.pending_eval.take(),
            };
            let lr = controller.lr(&obs);
            clock.lap(&mut ph.controller);
            if !lr.is_finite() || lr < 0.0 {
                // A controller that could not decide (an external policy that raised) fails
                // the run; one that answered a non-rate made it diverge.
                (self.outcome, self.reason) = match controller.failure() {
                    Some(why) => (Outcome::Failed, Some(why)),
                    None => (
                        Outcome::Diverged,
                        Some(format!(
                            "controller returned learning rate {lr} at step {step}"
                        )),
                    ),
                };
                break;
            }
            if history {
                self.before.copy_from_slice(&self.params);
            }
            if step == 0 {
                optimizer.set_param_shapes(&self.shapes);
            }
            optimizer.observe_loss(loss);
            let info = optimizer.step(&mut self.params, &self.grad, lr);
            clock.lap(&mut ph.optimizer);
            let finite = if history {
                let mut finite = true;
                for ((u, &new), &old) in self
                    .prev_update
                    .iter_mut()
                    .zip(&self.params)
                    .zip(&self.before)
                {
                    *u = new - old;
                    finite &= new.is_finite();
                }
                finite
            } else {
                // A fused update pass may have checked already (AdamW's does).
                match optimizer.finiteness() {
                    Finiteness::Finite => true,
                    Finiteness::NonFinite => false,
                    Finiteness::Unchecked => all_finite(&self.params),
                }
            };
            if !finite {
                self.outcome = Outcome::Diverged;
                self.reason = Some(format!("non-finite parameter after step {step}"));
                break;
            }
            clock.lap(&mut ph.bookkeeping);
            workload.set_params(&self.params);
            clock.lap(&mut ph.sync);
            std::mem::swap(&mut self.prev_grad, &mut self.grad);
            self.prev_lr = Some(lr);
            let steps_done = step + 1;
            self.steps_done = steps_done;
            self.interval_loss += loss;
            self.interval_steps += 1;
            self.last_step = Some((lr, info.effective_lr, stats.norm));

            let eval = if self.eval_steps.binary_search(&steps_done).is_ok() {
                let t = Instant::now();
                clock.lap(&mut ph.record);
                let m = evaluate_at_eval_point(
                    workload,
                    optimizer,
                    &mut self.params,
                    Split::Validation,
                    self.periodic_limit,
                );
                self.eval_seconds += t.elapsed().as_secs_f64();
                clock = Lap(Instant::now());
                // An empty validation split has nothing to show the controller.
                self.pending_eval = m.as_ref().map(|m| EvalObservation {
                    step: steps_done,
                    loss: m.loss,
                    metric: task_metric(m),
                });
                m
            } else {
                None
            };
            if steps_done.is_multiple_of(self.curve_every)
                || steps_done == self.horizon
                || eval.is_some()
            {
                self.curve.push(CurvePoint {
                    step: steps_done,
                    epoch: steps_done as f64 / self.per_epoch as f64,
                    train_loss: self.interval_loss / self.interval_steps.max(1) as f64,
                    lr,
                    effective_lr: info.effective_lr,
                    grad_norm: stats.norm,
                    wall_seconds: self.seconds + start.elapsed().as_secs_f64(),
                    eval,
                });
                self.interval_loss = 0.0;
                self.interval_steps = 0;
            }
            if let Some(p) = options.progress {
                p(steps_done, until);
            }
            clock.lap(&mut ph.record);
            ph.steps += 1;
            self.phases = ph;
        }
        Ok(())
    }

    /// The result of the run as if it ended here: the curve (with a point for the open
    /// interval), and for a run that has not diverged the final evaluations at the optimizer's
    /// evaluation point. The training point is restored afterwards, so the run goes on exactly
    /// as if it had not been reported.
    pub fn result(
        &mut self,
        workload: &mut dyn Workload,
        optimizer: &mut dyn Optimizer,
    ) -> RunResult {
        let curve = self.curve.clone();
        let result = self.report(workload, optimizer, curve);
        if self.outcome == Outcome::Finished {
            optimizer.prepare_train(&mut self.params);
            workload.set_params(&self.params);
        }
        result
    }

    /// The run's result, ending it (what [`train`] returns).
    pub fn finish(
        mut self,
        workload: &mut dyn Workload,
        optimizer: &mut dyn Optimizer,
    ) -> RunResult {
        let curve = std::mem::take(&mut self.curve);
        self.report(workload, optimizer, curve)
    }

    /// The result with `curve` (the recorded points) plus the open interval's point, evaluated
    /// at the evaluation point, which stays in `self.params`.
    fn report(
        &mut self,
        workload: &mut dyn Workload,
        optimizer: &mut dyn Optimizer,
        mut curve: Vec<CurvePoint>,
    ) -> RunResult {
        let start = Instant::now();
        if self.outcome == Outcome::Finished
            && self.interval_steps > 0
            && let Some((lr, effective_lr, grad_norm)) = self.last_step
        {
            // A run short of its horizon: its last steps since the previous point.
            curve.push(CurvePoint {
                step: self.steps_done,
                epoch: self.steps_done as f64 / self.per_epoch as f64,
                train_loss: self.interval_loss / self.interval_steps as f64,
                lr,
                effective_lr,
                grad_norm,
                wall_seconds: self.seconds,
                eval: None,
            });
        }
        let mut result = RunResult {
            outcome: self.outcome,
            reason: self.reason.clone(),
            steps: self.steps_done,
            total_steps: self.target.max(self.steps_done).max(1),
            n_params: self.prev_update.len(),
            last_batch_loss: self.last_loss,
            final_train_loss: curve.last().map(|p| p.train_loss),
            train: None,
            validation: None,
            test: None,
            seconds: 0.0,
            eval_seconds: self.eval_seconds,
            curve,
        };
        if result.outcome == Outcome::Finished {
            optimizer.prepare_eval(&mut self.params);
            workload.set_params(&self.params);
            result.train = workload.evaluate(Split::Train, self.train_limit);
            result.validation = workload.evaluate(Split::Validation, self.final_limit);
            result.test = workload.evaluate(Split::Test, self.final_limit);
            result.eval_seconds += start.elapsed().as_secs_f64();
        }
        result.seconds = self.seconds + start.elapsed().as_secs_f64();
        result
    }
}

/// A paused run together with the method state it continues with: the [`Run`], the optimizer
/// and the controller. Everything but the model, which is rebuilt from the task and seed and
/// loaded with the run's parameters ([`Run::load_into`]), so a checkpoint is [`Send`] and can
/// wait in memory while other runs use the cores.
pub struct Checkpoint {
    /// The loop's state.
    pub run: Run,
    /// The optimizer, in the run's current state.
    pub optimizer: Box<dyn Optimizer>,
    /// The controller, in the run's current state.
    pub controller: Box<dyn Controller>,
}

impl Checkpoint {
    /// A fresh run of `workload` on `task` with a new optimizer and controller (see
    /// [`Run::new`]).
    pub fn new(
        workload: &dyn Workload,
        task: &TaskSpec,
        optimizer: Box<dyn Optimizer>,
        controller: Box<dyn Controller>,
        options: &RunOptions<'_>,
    ) -> Checkpoint {
        Checkpoint {
            run: Run::new(workload, task, options),
            optimizer,
            controller,
        }
    }

    /// [`Run::advance_to`] with this checkpoint's optimizer and controller.
    pub fn advance_to(
        &mut self,
        workload: &mut dyn Workload,
        until: u64,
        options: &RunOptions<'_>,
    ) -> Result<(), Cancelled> {
        self.run.advance_to(
            workload,
            self.optimizer.as_mut(),
            self.controller.as_mut(),
            until,
            options,
        )
    }

    /// [`Run::result`]: the result so far; the run can go on.
    pub fn result(&mut self, workload: &mut dyn Workload) -> RunResult {
        self.run.result(workload, self.optimizer.as_mut())
    }

    /// [`Run::finish`]: the result, ending the run.
    pub fn finish(mut self, workload: &mut dyn Workload) -> RunResult {
        self.run.finish(workload, self.optimizer.as_mut())
    }

    /// An independent copy that continues exactly like this one (to branch a run), or `None`
    /// when the optimizer or controller cannot be copied ([`Optimizer::snapshot`],
    /// [`Controller::snapshot`]).
    pub fn try_clone(&self) -> Option<Checkpoint> {
        Some(Checkpoint {
            run: self.run.clone(),
            optimizer: self.optimizer.snapshot()?,
            controller: self.controller.snapshot()?,
        })
    }
}

/// Evaluates at the optimizer's evaluation point and restores the training point.
fn evaluate_at_eval_point(
    workload: &mut dyn Workload,
    optimizer: &mut dyn Optimizer,
    params: &mut [f32],
    split: Split,
    limit: Option<usize>,
) -> Option<lrctl_tasks::Metrics> {
    optimizer.prepare_eval(params);
    workload.set_params(params);
    let m = workload.evaluate(split, limit);
    optimizer.prepare_train(params);
    workload.set_params(params);
    m
}

/// The task's primary metric value from a set of metrics (accuracy or bits per byte).
pub fn task_metric(m: &lrctl_tasks::Metrics) -> Option<f64> {
    m.accuracy.or(m.bits_per_byte)
}

/// Runs `f` on a private pool of `threads` threads, so that the tensor kernels of one cell use
/// exactly that many cores whatever else runs in the process.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    match rayon::ThreadPoolBuilder::new()
        .num_threads(threads.max(1))
        .build()
    {
        Ok(pool) => pool.install(f),
        Err(_) => f(),
    }
}
