//! Replays reference-implementation fixtures through lrctl's optimizers.
//!
//! A fixture (`tests/fixtures/*.json`, written by a generator under `scripts/fixtures/`) holds
//! one small differentiable problem with its data and initial parameters, and one or more
//! cases: an optimizer configuration (the JSON form of [`OptimizerSpec`]), the lr multiplier
//! and mini-batch of every step, optional global-norm gradient clipping, and what the
//! reference did at every step (parameters after the step and effective learning rate).
//! [`replay`] runs the same steps here, computing gradients in plain Rust, and
//! [`Agreement::check`] compares the two trajectories.
//!
//! Shared by every fixture test of this crate (`mod fixture_replay;`).

#![allow(dead_code)]

use std::path::PathBuf;

use lrctl_optim::{Optimizer, OptimizerSpec};
use serde::Deserialize;

/// A whole fixture file.
#[derive(Debug, Deserialize)]
pub struct Fixture {
    /// The script that wrote it.
    pub generator: String,
    /// What produced the expected values.
    pub reference: Reference,
    /// The problem every case optimizes.
    pub problem: Problem,
    /// One run each.
    pub cases: Vec<Case>,
}

/// The reference implementation that produced a fixture.
#[derive(Debug, Deserialize)]
pub struct Reference {
    /// PyPI package name.
    pub package: String,
    /// Its exact version.
    pub version: String,
    /// The class that ran.
    pub class: String,
    /// PyTorch version.
    pub torch: String,
}

/// A fixed problem: data, loss and initial parameters.
#[derive(Debug, Deserialize)]
pub struct Problem {
    /// Only `"softmax-regression"`: mean softmax cross-entropy of `x Wᵀ + b`.
    pub kind: String,
    /// Features per sample.
    pub n_features: usize,
    /// Number of classes.
    pub n_classes: usize,
    /// Human-readable flat layout of the parameters.
    pub param_layout: String,
    /// Samples × features, row-major.
    pub features: Vec<f32>,
    /// Class of each sample.
    pub labels: Vec<usize>,
    /// `W` (classes × features, row-major) then `b`.
    pub initial_params: Vec<f32>,
}

/// One reference run.
#[derive(Debug, Deserialize)]
pub struct Case {
    /// Short name, unique in its fixture.
    pub name: String,
    /// What the case exercises.
    pub note: String,
    /// The optimizer configuration, as lrctl reads it (`OptimizerSpec` in JSON).
    pub config: serde_json::Value,
    /// The keyword arguments the reference was constructed with (documentation only).
    pub reference_kwargs: serde_json::Value,
    /// The lr multiplier given to every step.
    pub lr: Vec<f64>,
    /// The sample indices of every step's mini-batch.
    pub batches: Vec<Vec<usize>>,
    /// Global L2-norm clipping applied to the gradient before every step, if any.
    pub grad_clip_norm: Option<f64>,
    /// What the reference did at every step.
    pub steps: Vec<Step>,
}

/// The reference's record of one step.
#[derive(Debug, Deserialize)]
pub struct Step {
    /// Mini-batch loss before the step.
    pub loss: f64,
    /// Effective learning rate of the step.
    pub effective_lr: f64,
    /// Parameters after the step.
    pub params: Vec<f32>,
}

/// lrctl's record of one replayed step.
#[derive(Debug, Clone)]
pub struct Replayed {
    /// Mini-batch loss before the step.
    pub loss: f64,
    /// Effective learning rate the optimizer reported.
    pub effective_lr: f64,
    /// Parameters after the step.
    pub params: Vec<f32>,
}

/// Loads `tests/fixtures/<name>`.
pub fn load(name: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("bad fixture {}: {e}", path.display()))
}

impl Fixture {
    /// The case called `name`.
    pub fn case(&self, name: &str) -> &Case {
        self.cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no case `{name}` in the fixture"))
    }
}

impl Case {
    /// The case's configuration parsed as lrctl parses a method file's `[optimizer]` table.
    pub fn spec(&self) -> OptimizerSpec {
        serde_json::from_value(self.config.clone())
            .unwrap_or_else(|e| panic!("case `{}`: config does not parse: {e}", self.name))
    }
}

impl Problem {
    /// Number of parameters.
    pub fn n_params(&self) -> usize {
        assert_eq!(self.kind, "softmax-regression", "unknown problem kind");
        self.n_classes * self.n_features + self.n_classes
    }

    /// The parameter tensors' shapes in the flat order, as the engine tells an optimizer:
    /// `W` (classes × features) and `b` (classes).
    pub fn shapes(&self) -> Vec<Vec<usize>> {
        assert_eq!(self.kind, "softmax-regression", "unknown problem kind");
        vec![vec![self.n_classes, self.n_features], vec![self.n_classes]]
    }

    /// Mean cross-entropy over `batch` and its gradient (computed in `f64`, returned as `f32`).
    pub fn loss_and_grad(&self, params: &[f32], batch: &[usize]) -> (f64, Vec<f32>) {
        let (c, f) = (self.n_classes, self.n_features);
        assert_eq!(params.len(), self.n_params());
        let (w, b) = params.split_at(c * f);
        let mut grad = vec![0.0f64; params.len()];
        let mut loss = 0.0;
        let scale = 1.0 / batch.len() as f64;
        let mut logits = vec![0.0f64; c];
        for &i in batch {
            let x = &self.features[i * f..(i + 1) * f];
            for (k, logit) in logits.iter_mut().enumerate() {
                *logit = f64::from(b[k])
                    + (0..f)
                        .map(|j| f64::from(w[k * f + j]) * f64::from(x[j]))
                        .sum::<f64>();
            }
            let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let z: f64 = logits.iter().map(|l| (l - max).exp()).sum();
            let log_z = max + z.ln();
            let label = self.labels[i];
            loss += (log_z - logits[label]) * scale;
            for k in 0..c {
                let p = (logits[k] - log_z).exp();
                let dl = (p - if k == label { 1.0 } else { 0.0 }) * scale;
                for j in 0..f {
                    grad[k * f + j] += dl * f64::from(x[j]);
                }
                grad[c * f + k] += dl;
            }
        }
        (loss, grad.into_iter().map(|g| g as f32).collect())
    }
}

/// Scales `grad` as `torch.nn.utils.clip_grad_norm_(params, max_norm)` does (torch 1.13):
/// by `min(1, max_norm / (‖grad‖ + 1e-6))`.
pub fn clip_grad_norm(grad: &mut [f32], max_norm: f64) {
    let norm = grad
        .iter()
        .map(|&g| f64::from(g).powi(2))
        .sum::<f64>()
        .sqrt();
    let coef = (max_norm / (norm + 1e-6)).min(1.0) as f32;
    for g in grad {
        *g *= coef;
    }
}

/// Runs `case` through `optimizer` from the fixture's initial parameters.
pub fn replay(problem: &Problem, case: &Case, optimizer: &mut dyn Optimizer) -> Vec<Replayed> {
    assert_eq!(
        case.lr.len(),
        case.steps.len(),
        "case `{}`: lr per step",
        case.name
    );
    assert_eq!(
        case.batches.len(),
        case.steps.len(),
        "case `{}`: batch per step",
        case.name
    );
    let mut params = problem.initial_params.clone();
    let mut out = Vec::with_capacity(case.steps.len());
    // What lrctl's engine tells every optimizer: the tensors before the first step, the
    // mini-batch loss before each step.
    optimizer.set_param_shapes(&problem.shapes());
    for (batch, &lr) in case.batches.iter().zip(&case.lr) {
        let (loss, mut grad) = problem.loss_and_grad(&params, batch);
        if let Some(max_norm) = case.grad_clip_norm {
            clip_grad_norm(&mut grad, max_norm);
        }
        optimizer.observe_loss(loss);
        let info = optimizer.step(&mut params, &grad, lr);
        out.push(Replayed {
            loss,
            effective_lr: info.effective_lr,
            params: params.clone(),
        });
    }
    out
}

/// Builds the case's optimizer from its JSON config and replays it.
pub fn replay_spec(problem: &Problem, case: &Case) -> Vec<Replayed> {
    let mut optimizer = case
        .spec()
        .build(problem.n_params())
        .unwrap_or_else(|e| panic!("case `{}`: {e}", case.name));
    replay(problem, case, optimizer.as_mut())
}

/// The agreement criterion between a replay and its reference trajectory.
///
/// At every step `t`, with `r` the reference's parameters after the step, `x` lrctl's, `x_0`
/// the common initial parameters and `Δ_i = |r_i − x_{0,i}|` the distance the reference moved
/// coordinate `i` so far:
///
/// * **parameters**, every coordinate:
///   `|x_i − r_i| ≤ ulps · sqrt(t + 1) · ε_f32 · |r_i| + rtol · max(Δ_i, floor · max_j Δ_j)`.
///   The error is measured relative to the distance travelled rather than to the parameter
///   itself (stricter whenever parameters move less than their size, e.g. a run whose step
///   size is still tiny), with coordinates that barely moved measured against a `floor`
///   fraction of the largest move. The first term allows for `f32` storage: each step rounds
///   every parameter once, in an operation order that may differ from PyTorch's by a rounding,
///   so `ulps` units of `f32` rounding growing like a random walk over the `t + 1` steps;
/// * **effective learning rate**: `|η − η_ref| ≤ rtol · |η_ref|`, purely relative.
#[derive(Debug, Clone, Copy)]
pub struct Agreement {
    /// Relative tolerance.
    pub rtol: f64,
    /// Fraction of the largest coordinate's travel used as the floor of every coordinate's.
    pub floor: f64,
    /// Slack for `f32` storage, in units of `sqrt(t + 1) · f32::EPSILON · |r_i|`.
    pub ulps: f64,
}

/// The largest errors of one replay, each as a fraction of its allowed tolerance's relative
/// part (so `< rtol` passes) and the step where it occurred.
#[derive(Debug, Clone, Copy, Default)]
pub struct Worst {
    /// Largest parameter error (after the `f32` slack) over its travel-based denominator.
    pub params: (f64, usize),
    /// Largest relative effective-LR error.
    pub effective_lr: (f64, usize),
}

impl Agreement {
    /// Measures the replay against the reference; `Err` describes the first violation.
    pub fn check(
        &self,
        initial: &[f32],
        case: &Case,
        replayed: &[Replayed],
    ) -> Result<Worst, String> {
        assert_eq!(replayed.len(), case.steps.len());
        let mut worst = Worst::default();
        for (t, (ours, theirs)) in replayed.iter().zip(&case.steps).enumerate() {
            assert_eq!(ours.params.len(), theirs.params.len());
            let travel = |i: usize| (f64::from(theirs.params[i]) - f64::from(initial[i])).abs();
            let max_travel = (0..initial.len()).map(travel).fold(0.0, f64::max);
            for (i, (&x, &r)) in ours.params.iter().zip(&theirs.params).enumerate() {
                let (x, r) = (f64::from(x), f64::from(r));
                let slack = self.ulps * ((t + 1) as f64).sqrt() * f64::from(f32::EPSILON) * r.abs();
                let denom = travel(i).max(self.floor * max_travel);
                let excess = ((x - r).abs() - slack).max(0.0);
                let err = if excess == 0.0 { 0.0 } else { excess / denom };
                if err.is_nan() || err > self.rtol {
                    return Err(format!(
                        "case `{}` step {t} param {i}: lrctl {x:e}, reference {r:e}, moved {:e} \
                         (error {:e} > {:e} of the travel)",
                        case.name,
                        travel(i),
                        err,
                        self.rtol
                    ));
                }
                if err > worst.params.0 {
                    worst.params = (err, t);
                }
            }
            let (e, r) = (ours.effective_lr, theirs.effective_lr);
            let err = if r == 0.0 {
                e.abs()
            } else {
                (e - r).abs() / r.abs()
            };
            if err.is_nan() || err > self.rtol {
                return Err(format!(
                    "case `{}` step {t} effective lr: lrctl {e:e}, reference {r:e} \
                     (relative error {err:e} > {:e})",
                    case.name, self.rtol
                ));
            }
            if err > worst.effective_lr.0 {
                worst.effective_lr = (err, t);
            }
        }
        Ok(worst)
    }
}
