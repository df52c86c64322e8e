//! The training engine: one loop for every task.
//!
//! Each step: draw the next mini-batch of a seeded per-epoch shuffle, forward and backward,
//! compute cheap global gradient statistics, ask the controller for the learning rate, let the
//! optimizer update the whole flat parameter vector, and record. Evaluation runs at the task's
//! cadence at the optimizer's evaluation point (Schedule-Free's averaged iterate), then training
//! resumes from the training point. A non-finite loss, gradient or parameter ends the run as
//! [`Outcome::Diverged`], keeping the curve so far: divergence is data, not a crash.

mod curve;
mod stats;

pub use curve::{CurvePoint, Outcome, RunResult};
pub use stats::grad_stats;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use lrctl_control::{Controller, EvalObservation, Observation};
use lrctl_optim::Optimizer;
use lrctl_tasks::{Split, TaskSpec, Workload, steps_per_epoch};
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
/// Returns `None` only when cancelled through [`RunOptions::cancel`].
pub fn train(
    workload: &mut dyn Workload,
    task: &TaskSpec,
    optimizer: &mut dyn Optimizer,
    controller: &mut dyn Controller,
    options: &RunOptions<'_>,
) -> Option<RunResult> {
    let start = Instant::now();
    let n_train = workload.n_train();
    let batch_size = task.batch_size.min(n_train).max(1);
    let per_epoch = steps_per_epoch(n_train, batch_size);
    let total = options
        .steps
        .unwrap_or_else(|| task.budget.steps(n_train, batch_size))
        .max(1);
    let curve_every = (total / u64::from(task.curve_points.max(1))).max(1);
    let eval_steps: Vec<u64> = (1..=u64::from(task.evals))
        .map(|k| (k * total).div_ceil(u64::from(task.evals)))
        .collect();
    let cap = |n: usize| Some(options.eval_limit.map_or(n, |l| l.min(n)));
    let eval_limit = cap(task.eval_max_examples);

    let mut rng = ChaCha8Rng::seed_from_u64(derive_seed(options.seed, "shuffle"));
    let mut order: Vec<usize> = (0..n_train).collect();
    order.shuffle(&mut rng);
    let mut cursor = 0usize;

    let n = workload.n_params();
    let mut params = Vec::with_capacity(n);
    workload.params(&mut params);
    let mut grad = Vec::with_capacity(n);
    let mut prev_grad: Vec<f32> = Vec::new();
    let mut prev_update: Vec<f32> = vec![0.0; n];
    let mut before: Vec<f32> = vec![0.0; n];
    let mut prev_lr: Option<f64> = None;

    let mut curve = Vec::new();
    let (mut interval_loss, mut interval_steps) = (0.0f64, 0u64);
    let mut pending_eval: Option<EvalObservation> = None;
    let mut eval_seconds = 0.0;
    let mut last_loss = f64::NAN;
    let mut first_loss: Option<f64> = None;
    let mut outcome = Outcome::Finished;
    let mut reason = None;
    let mut steps_done = 0u64;
    let mut batch = Vec::with_capacity(batch_size);

    for step in 0..total {
        if options.cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            return None;
        }
        batch.clear();
        while batch.len() < batch_size {
            if cursor == n_train {
                // Epoch boundary: a fresh permutation. A partial batch ends the epoch.
                order.shuffle(&mut rng);
                cursor = 0;
                if !batch.is_empty() {
                    break;
                }
            }
            let take = (batch_size - batch.len()).min(n_train - cursor);
            batch.extend_from_slice(&order[cursor..cursor + take]);
            cursor += take;
            if cursor == n_train {
                break;
            }
        }

        let loss = f64::from(workload.loss_and_grad(&batch, &mut grad));
        last_loss = loss;
        let first = *first_loss.get_or_insert(loss);
        if loss.is_finite() && first.is_finite() && loss > DIVERGENCE_FACTOR * first.max(1e-2) {
            outcome = Outcome::Diverged;
            reason = Some(format!(
                "training loss {loss:.4e} at step {step} exceeds {DIVERGENCE_FACTOR}× the first \
                 loss ({first:.4})"
            ));
            break;
        }
        let stats = grad_stats(&grad, &prev_grad, &prev_update, prev_lr);
        if !loss.is_finite() || !stats.norm.is_finite() {
            outcome = Outcome::Diverged;
            reason = Some(format!(
                "non-finite {} at step {step}",
                if loss.is_finite() { "gradient" } else { "loss" }
            ));
            break;
        }
        let obs = Observation {
            step,
            total_steps: total,
            steps_per_epoch: per_epoch,
            epoch: step / per_epoch,
            loss,
            grad: stats,
            eval: pending_eval.take(),
        };
        let lr = controller.lr(&obs);
        if !lr.is_finite() || lr < 0.0 {
            outcome = Outcome::Diverged;
            reason = Some(format!(
                "controller returned learning rate {lr} at step {step}"
            ));
            break;
        }
        before.copy_from_slice(&params);
        let info = optimizer.step(&mut params, &grad, lr);
        let mut finite = true;
        for ((u, &new), &old) in prev_update.iter_mut().zip(&params).zip(&before) {
            *u = new - old;
            finite &= new.is_finite();
        }
        if !finite {
            outcome = Outcome::Diverged;
            reason = Some(format!("non-finite parameter after step {step}"));
            break;
        }
        workload.set_params(&params);
        std::mem::swap(&mut prev_grad, &mut grad);
        prev_lr = Some(lr);
        steps_done = step + 1;
        interval_loss += loss;
        interval_steps += 1;

        let eval = if eval_steps.binary_search(&steps_done).is_ok() {
            let t = Instant::now();
            let m = evaluate_at_eval_point(
                workload,
                optimizer,
                &mut params,
                Split::Validation,
                eval_limit,
            );
            eval_seconds += t.elapsed().as_secs_f64();
            pending_eval = Some(EvalObservation {
                step: steps_done,
                loss: m.loss,
                metric: task_metric(&m),
            });
            Some(m)
        } else {
            None
        };
        if steps_done.is_multiple_of(curve_every) || steps_done == total || eval.is_some() {
            curve.push(CurvePoint {
                step: steps_done,
                epoch: steps_done as f64 / per_epoch as f64,
                train_loss: interval_loss / interval_steps.max(1) as f64,
                lr,
                effective_lr: info.effective_lr,
                grad_norm: stats.norm,
                wall_seconds: start.elapsed().as_secs_f64(),
                eval,
            });
            interval_loss = 0.0;
            interval_steps = 0;
        }
        if let Some(p) = options.progress {
            p(steps_done, total);
        }
    }

    let mut result = RunResult {
        outcome,
        reason,
        steps: steps_done,
        total_steps: total,
        n_params: n,
        last_batch_loss: last_loss,
        final_train_loss: curve.last().map(|p| p.train_loss),
        train: None,
        validation: None,
        test: None,
        seconds: 0.0,
        eval_seconds,
        curve,
    };
    if result.outcome == Outcome::Finished {
        let t = Instant::now();
        optimizer.prepare_eval(&mut params);
        workload.set_params(&params);
        result.train = Some(workload.evaluate(
            Split::Train,
            cap(FINAL_TRAIN_EVAL_ROWS.min(4 * task.eval_max_examples.max(1))),
        ));
        result.validation = Some(workload.evaluate(Split::Validation, options.eval_limit));
        result.test = Some(workload.evaluate(Split::Test, options.eval_limit));
        result.eval_seconds += t.elapsed().as_secs_f64();
    }
    result.seconds = start.elapsed().as_secs_f64();
    Some(result)
}

/// Evaluates at the optimizer's evaluation point and restores the training point.
fn evaluate_at_eval_point(
    workload: &mut dyn Workload,
    optimizer: &mut dyn Optimizer,
    params: &mut [f32],
    split: Split,
    limit: Option<usize>,
) -> lrctl_tasks::Metrics {
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
