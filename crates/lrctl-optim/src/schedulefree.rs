//! Schedule-Free SGD and AdamW: iterate averaging in place of a learning-rate schedule.
//!
//! Defazio, Yang, Mehta, Mishchenko, Khaled, Cutkosky 2024, *The Road Less Scheduled*,
//! NeurIPS; arXiv:2405.15682. Three sequences share one step: `z` takes the base optimizer's
//! step, `x` is a weighted running average of the `z`s (the point to evaluate), and the
//! gradient is taken at their interpolation `y = (1 − β)·z + β·x`, which is what the model's
//! parameters hold during training. Evaluating must happen at `x`: the engine calls
//! [`Optimizer::prepare_eval`] (parameters become `x`) and [`Optimizer::prepare_train`]
//! (parameters become `y` again, bit for bit) around every evaluation.
//!
//! Checked against the authors' package `schedulefree` 1.4.1 (`SGDScheduleFreeReference`,
//! `AdamWScheduleFreeReference`, the simple reference classes: the fast classes need
//! `torch._foreach_lerp_`, absent from PyTorch 1.13) to 1e-4 relative in parameters, averaged
//! point and effective learning rate by `tests/schedulefree.rs`.

use serde::{Deserialize, Serialize};

use crate::averaging::AveragingWeights;
use crate::check::{Check, NON_NEGATIVE, OPEN_UNIT_INTERVAL, POSITIVE, step_lengths};
use crate::moments::{add_scaled, ema_sq, scale, usable_lr};
use crate::{OptimError, Optimizer, OptimizerConfig, StepInfo, name_and_snapshot};

/// The averaging and warm-up state both variants share, and the train/eval switch.
#[derive(Debug, Clone)]
struct Averaging {
    warmup_steps: u64,
    /// Steps taken so far (`k` of the reference, 0-based at the first step).
    k: u64,
    /// The averaging weights (`lr_max` of the warmed-up learning rates, starting at −1 as in
    /// the reference).
    weights: AveragingWeights,
    /// The base sequence `z` (empty before the first step).
    z: Vec<f32>,
    /// The averaged sequence `x` while training; `y` (the training point) while evaluating.
    x: Vec<f32>,
    /// Whether `params` currently hold `x` (between `prepare_eval` and `prepare_train`).
    eval_mode: bool,
}

impl Averaging {
    fn new(warmup_steps: u64, r: f64, weight_lr_power: f64) -> Self {
        Self {
            warmup_steps,
            k: 0,
            weights: AveragingWeights::new(r, weight_lr_power, -1.0),
            z: Vec::new(),
            x: Vec::new(),
            eval_mode: false,
        }
    }

    /// Starts a step: switches back to `y` if needed, initialises `z = x = y` at the first
    /// step, and returns the warmed-up learning rate and the averaging coefficient `c_{k+1}`.
    fn begin(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> (f64, f64) {
        self.switch_to_train(params);
        if self.z.is_empty() {
            self.z.extend_from_slice(params);
            self.x.extend_from_slice(params);
        }
        step_lengths(params, grads, self.z.len());
        let k = self.k;
        let warmup = if k < self.warmup_steps {
            (k + 1) as f64 / self.warmup_steps as f64
        } else {
            1.0
        };
        let lr = usable_lr(lr) * warmup;
        (lr, self.weights.next(k + 1, lr))
    }

    /// Ends a step: `x ← (1 − c)·x + c·z`, then `y ← β·x + (1 − β)·z` written into `params`.
    fn finish(&mut self, params: &mut [f32], ckp1: f64, beta: f64) {
        scale(&mut self.x, 1.0 - ckp1);
        add_scaled(&mut self.x, &self.z, ckp1);
        let (beta, one_minus_beta) = (beta as f32, (1.0 - beta) as f32);
        for ((y, &x), &z) in params.iter_mut().zip(&self.x).zip(&self.z) {
            *y = x * beta + one_minus_beta * z;
        }
        self.k += 1;
    }

    fn switch_to_eval(&mut self, params: &mut [f32]) {
        if !self.eval_mode && !self.x.is_empty() {
            params.swap_with_slice(&mut self.x);
            self.eval_mode = true;
        }
    }

    fn switch_to_train(&mut self, params: &mut [f32]) {
        if self.eval_mode {
            params.swap_with_slice(&mut self.x);
            self.eval_mode = false;
        }
    }
}

/// Configuration of [`ScheduleFreeSgd`] (`kind = "schedulefree-sgd"`). Defaults are those of
/// `schedulefree` 1.4.1 `SGDScheduleFreeReference` (whose `lr` default, 1.0, is the
/// controller's business in lrctl).
///
/// ```toml
/// [optimizer]
/// kind = "schedulefree-sgd"
/// momentum = 0.9
/// weight_decay = 0.0
/// warmup_steps = 0
/// r = 0.0
/// weight_lr_power = 2.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleFreeSgdConfig {
    /// Interpolation `β` between the average `x` and the base sequence `z`: the gradient is
    /// taken at `β·x + (1 − β)·z`. In `(0, 1)`. Default 0.9.
    pub momentum: f64,
    /// Coupled (L2) weight decay: `weight_decay · y` is added to the gradient. Must be ≥ 0.
    /// Default 0.
    pub weight_decay: f64,
    /// Linear warm-up: step `k` (0-based) uses `lr · min(1, (k + 1)/warmup_steps)`. Default 0.
    pub warmup_steps: u64,
    /// Polynomial averaging power: step `k`'s weight carries the factor `(k + 1)^r`. Must be
    /// ≥ 0. Default 0.
    pub r: f64,
    /// Step `k`'s weight carries the factor `lr_max^weight_lr_power` (`lr_max` the largest
    /// warmed-up lr so far), which down-weights the warm-up. Must be ≥ 0. Default 2.
    pub weight_lr_power: f64,
}

impl Default for ScheduleFreeSgdConfig {
    fn default() -> Self {
        Self {
            momentum: 0.9,
            weight_decay: 0.0,
            warmup_steps: 0,
            r: 0.0,
            weight_lr_power: 2.0,
        }
    }
}

impl OptimizerConfig for ScheduleFreeSgdConfig {
    const KIND: &'static str = "schedulefree-sgd";
    type Optimizer = ScheduleFreeSgd;

    /// `lr` is the step size.
    fn sets_own_step_size(&self) -> bool {
        false
    }

    /// Checks every field's range.
    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.field("momentum", self.momentum, OPEN_UNIT_INTERVAL)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.averaging(self.r, self.weight_lr_power)
    }

    /// Validates and builds the optimizer (state is allocated at the first step).
    fn build(&self, _n_params: usize) -> Result<ScheduleFreeSgd, OptimError> {
        self.validate()?;
        Ok(ScheduleFreeSgd {
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            avg: Averaging::new(self.warmup_steps, self.r, self.weight_lr_power),
        })
    }
}

/// Schedule-Free SGD (Defazio et al. 2024, *The Road Less Scheduled*, arXiv:2405.15682,
/// Algorithm 1 with SGD as the base step), matching `schedulefree` 1.4.1
/// `SGDScheduleFreeReference` with one parameter group. Step `k = 0, 1, …`, parameters
/// holding `y_k`:
///
/// ```text
/// γ_k   = lr · min(1, (k + 1)/warmup_steps)           (the effective learning rate)
/// γ_max = max(γ_max, γ_k);  w_k = (k + 1)^r · γ_max^weight_lr_power
/// c_k   = w_k / Σ_{i ≤ k} w_i                        (0 while the sum is 0)
/// z ← z − γ_k · (∇f(y_k) + weight_decay · y_k)
/// x ← (1 − c_k)·x + c_k·z
/// y ← momentum·x + (1 − momentum)·z                  (the new parameters)
/// ```
///
/// [`Optimizer::prepare_eval`] puts `x` into the parameters and [`Optimizer::prepare_train`]
/// puts `y` back (the two vectors are swapped, so training resumes bit for bit as if no
/// evaluation had happened).
///
/// Deviations from the reference:
/// * The reference raises if `step` is called in evaluation mode; lrctl switches back to
///   training mode (`y`) first.
/// * A negative or non-finite `lr` counts as 0 (the reference rejects a negative `lr` at
///   construction and would propagate a NaN).
/// * The reference keeps `y` as a third state vector besides the parameters; lrctl keeps
///   only `z` and `x` (the parameters are `y` while training), which changes nothing.
#[derive(Debug, Clone)]
pub struct ScheduleFreeSgd {
    momentum: f64,
    weight_decay: f64,
    avg: Averaging,
}

impl Optimizer for ScheduleFreeSgd {
    name_and_snapshot!(ScheduleFreeSgdConfig);

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        let (lr, ckp1) = self.avg.begin(params, grads, lr);
        let (neg_lr, wd) = (-lr as f32, self.weight_decay as f32);
        for ((z, &g), &y) in self.avg.z.iter_mut().zip(grads).zip(params.iter()) {
            let g = if wd != 0.0 { g + wd * y } else { g };
            *z += neg_lr * g;
        }
        self.avg.finish(params, ckp1, self.momentum);
        StepInfo { effective_lr: lr }
    }

    fn prepare_eval(&mut self, params: &mut [f32]) {
        self.avg.switch_to_eval(params);
    }

    fn prepare_train(&mut self, params: &mut [f32]) {
        self.avg.switch_to_train(params);
    }
}

/// Configuration of [`ScheduleFreeAdamW`] (`kind = "schedulefree-adamw"`). Defaults are those
/// of `schedulefree` 1.4.1 `AdamWScheduleFreeReference` (whose `lr` default, 0.0025, is the
/// controller's business in lrctl).
///
/// ```toml
/// [optimizer]
/// kind = "schedulefree-adamw"
/// betas = [0.9, 0.999]
/// eps = 1e-8
/// weight_decay = 0.0
/// warmup_steps = 0
/// r = 0.0
/// weight_lr_power = 2.0
/// decay_at_z = false
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleFreeAdamWConfig {
    /// `[β1, β2]`, each in `[0, 1)`: `β1` interpolates between `x` and `z` (the gradient is
    /// taken at `β1·x + (1 − β1)·z`), `β2` is the EMA coefficient of the squared gradient.
    /// Default `[0.9, 0.999]`.
    pub betas: [f64; 2],
    /// Added to the bias-corrected `sqrt(v)`. Must be > 0. Default 1e-8.
    pub eps: f64,
    /// Decoupled weight decay: `z ← z − γ_k · weight_decay · y` (or `· z`, see `decay_at_z`).
    /// Must be ≥ 0. Default 0.
    pub weight_decay: f64,
    /// Linear warm-up: step `k` (0-based) uses `lr · min(1, (k + 1)/warmup_steps)`. Default 0.
    pub warmup_steps: u64,
    /// Polynomial averaging power: step `k`'s weight carries the factor `(k + 1)^r`. Must be
    /// ≥ 0. Default 0.
    pub r: f64,
    /// Step `k`'s weight carries the factor `lr_max^weight_lr_power`. Must be ≥ 0. Default 2.
    pub weight_lr_power: f64,
    /// Apply the weight decay at `z` instead of at `y`. Default false.
    pub decay_at_z: bool,
}

impl Default for ScheduleFreeAdamWConfig {
    fn default() -> Self {
        Self {
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            warmup_steps: 0,
            r: 0.0,
            weight_lr_power: 2.0,
            decay_at_z: false,
        }
    }
}

impl OptimizerConfig for ScheduleFreeAdamWConfig {
    const KIND: &'static str = "schedulefree-adamw";
    type Optimizer = ScheduleFreeAdamW;

    /// `lr` is the step size.
    fn sets_own_step_size(&self) -> bool {
        false
    }

    /// Checks every field's range.
    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.betas(&self.betas)?;
        c.field("eps", self.eps, POSITIVE)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.averaging(self.r, self.weight_lr_power)
    }

    /// Validates and builds the optimizer (state is allocated at the first step).
    fn build(&self, _n_params: usize) -> Result<ScheduleFreeAdamW, OptimError> {
        self.validate()?;
        Ok(ScheduleFreeAdamW {
            config: self.clone(),
            avg: Averaging::new(self.warmup_steps, self.r, self.weight_lr_power),
            exp_avg_sq: Vec::new(),
        })
    }
}

/// Schedule-Free AdamW (Defazio et al. 2024, *The Road Less Scheduled*, arXiv:2405.15682,
/// Algorithm 1 with Adam's normalisation as the base step), matching `schedulefree` 1.4.1
/// `AdamWScheduleFreeReference` with one parameter group. Step `k = 0, 1, …`, parameters
/// holding `y_k`, `g = ∇f(y_k)`, and `γ_k`, `c_k` as in [`ScheduleFreeSgd`]:
///
/// ```text
/// z ← z − γ_k · weight_decay · y_k         (· z_k with decay_at_z)
/// v ← β2·v + (1 − β2)·g²
/// z ← z − γ_k · g / (sqrt(v / (1 − β2^{k+1})) + eps)
/// x ← (1 − c_k)·x + c_k·z
/// y ← β1·x + (1 − β1)·z                    (the new parameters)
/// ```
///
/// There is no first moment: `β1` only sets the interpolation. The effective learning rate
/// is `γ_k`. Evaluation at `x` works as in [`ScheduleFreeSgd`].
///
/// Deviations from the reference:
/// * The reference raises if `step` is called in evaluation mode (and starts in evaluation
///   mode, so a `train()` call is needed before the first step); lrctl starts in training
///   mode and switches back to it before a step.
/// * A negative or non-finite `lr` counts as 0; `eps = 0` is rejected.
/// * The reference prints a line at every mode switch; lrctl does not.
/// * lrctl keeps `z`, `x` and `v` (the parameters are `y` while training), the reference
///   also a copy of `y`.
#[derive(Debug, Clone)]
pub struct ScheduleFreeAdamW {
    config: ScheduleFreeAdamWConfig,
    avg: Averaging,
    exp_avg_sq: Vec<f32>,
}

impl Optimizer for ScheduleFreeAdamW {
    name_and_snapshot!(ScheduleFreeAdamWConfig);

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        let (lr, ckp1) = self.avg.begin(params, grads, lr);
        let cfg = &self.config;
        let [beta1, beta2] = cfg.betas;
        self.exp_avg_sq.resize(params.len(), 0.0);
        let z = &mut self.avg.z;
        if cfg.weight_decay != 0.0 {
            let decay = -(lr * cfg.weight_decay) as f32;
            if cfg.decay_at_z {
                for z in z.iter_mut() {
                    *z += decay * *z;
                }
            } else {
                add_scaled(z, params, -(lr * cfg.weight_decay));
            }
        }
        ema_sq(&mut self.exp_avg_sq, grads, beta2, 1.0 - beta2);
        let bias_correction2 = (1.0 - beta2.powf((self.avg.k + 1) as f64)) as f32;
        let (eps, neg_lr) = (cfg.eps as f32, -lr as f32);
        for ((z, &g), &v) in z.iter_mut().zip(grads).zip(&self.exp_avg_sq) {
            let denom = (v / bias_correction2).sqrt() + eps;
            *z += (neg_lr * g) / denom;
        }
        self.avg.finish(params, ckp1, beta1);
        StepInfo { effective_lr: lr }
    }

    fn prepare_eval(&mut self, params: &mut [f32]) {
        self.avg.switch_to_eval(params);
    }

    fn prepare_train(&mut self, params: &mut [f32]) {
        self.avg.switch_to_train(params);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_steps_by_hand() {
        // One coordinate, f(y) = ½y², momentum 0.5, lr 0.5, no warm-up, weight_lr_power 2.
        let cfg = ScheduleFreeSgdConfig {
            momentum: 0.5,
            ..Default::default()
        };
        let mut opt = cfg.build(1).unwrap();
        let mut y = vec![2.0f32];
        // k = 0: z = 2 − 0.5·2 = 1; c = 1: x = z = 1; y = 0.5·1 + 0.5·1 = 1.
        let g = [y[0]];
        let info = opt.step(&mut y, &g, 0.5);
        assert_eq!((y[0], info.effective_lr), (1.0, 0.5));
        // k = 1: z = 1 − 0.5·1 = 0.5; c = 1/2: x = 0.75; y = 0.625.
        let g = [y[0]];
        opt.step(&mut y, &g, 0.5);
        assert_eq!(y[0], 0.625);
        opt.prepare_eval(&mut y);
        assert_eq!(y[0], 0.75);
        opt.prepare_eval(&mut y); // idempotent
        assert_eq!(y[0], 0.75);
        opt.prepare_train(&mut y);
        assert_eq!(y[0], 0.625);
        opt.prepare_train(&mut y); // idempotent
        assert_eq!(y[0], 0.625);
    }

    #[test]
    fn warmup_and_weights_by_hand() {
        // warm-up 2, r = 1, weight_lr_power 1, lr 1: γ = 0.5, 1; w = 1·0.5, 2·1; c = 1, 2/2.5.
        let cfg = ScheduleFreeSgdConfig {
            momentum: 0.5,
            warmup_steps: 2,
            r: 1.0,
            weight_lr_power: 1.0,
            ..Default::default()
        };
        let mut opt = cfg.build(1).unwrap();
        let mut y = vec![1.0f32];
        let info = opt.step(&mut y, &[1.0], 1.0);
        // z = 0.5, x = 0.5, y = 0.5
        assert_eq!((info.effective_lr, y[0]), (0.5, 0.5));
        let info = opt.step(&mut y, &[1.0], 1.0);
        // z = −0.5, x = 0.2·0.5 + 0.8·(−0.5) = −0.3, y = 0.5·(−0.3) + 0.5·(−0.5) = −0.4
        assert_eq!(info.effective_lr, 1.0);
        assert!((y[0] + 0.4).abs() < 1e-6, "{y:?}");
        opt.prepare_eval(&mut y);
        assert!((y[0] + 0.3).abs() < 1e-6, "{y:?}");
    }

    #[test]
    fn adamw_first_step_by_hand() {
        // k = 0: v = (1 − β2)·g², bias-corrected sqrt = |g|: z = y − lr·sign(g)(1 − ε-ish);
        // c = 1 so x = z and y = z.
        let mut opt = ScheduleFreeAdamWConfig::default().build(2).unwrap();
        let mut y = vec![1.0f32, -1.0];
        opt.step(&mut y, &[4.0, -0.5], 0.1);
        assert!(
            (y[0] - 0.9).abs() < 1e-6 && (y[1] + 0.9).abs() < 1e-6,
            "{y:?}"
        );
    }

    #[test]
    fn zero_lr_steps_keep_the_average_defined() {
        // lr 0 at the first step: weight 0/0 → c = 0 (the reference's ZeroDivisionError path).
        let mut opt = ScheduleFreeSgdConfig::default().build(1).unwrap();
        let mut y = vec![1.0f32];
        let info = opt.step(&mut y, &[1.0], 0.0);
        assert_eq!((info.effective_lr, y[0]), (0.0, 1.0));
        opt.step(&mut y, &[1.0], 0.1);
        assert!(y[0].is_finite() && y[0] < 1.0);
    }

    #[test]
    fn step_in_eval_mode_switches_back_first() {
        let run = |evaluate: bool| {
            let mut opt = ScheduleFreeSgdConfig::default().build(1).unwrap();
            let mut y = vec![1.0f32];
            for t in 0..5 {
                // A gradient that does not depend on where the parameters are.
                opt.step(&mut y, &[1.0 / (t as f32 + 1.0)], 0.3);
                if evaluate {
                    opt.prepare_eval(&mut y); // never switched back by the caller
                }
            }
            opt.prepare_train(&mut y);
            y[0]
        };
        assert_eq!(run(true).to_bits(), run(false).to_bits());
    }

    #[test]
    fn validation_names_the_field() {
        let sgd = |c: ScheduleFreeSgdConfig| c.validate().unwrap_err().to_string();
        let d = ScheduleFreeSgdConfig::default();
        assert!(
            sgd(ScheduleFreeSgdConfig {
                momentum: 0.0,
                ..d.clone()
            })
            .contains("`momentum`")
        );
        assert!(
            sgd(ScheduleFreeSgdConfig {
                momentum: 1.0,
                ..d.clone()
            })
            .contains("`momentum`")
        );
        assert!(
            sgd(ScheduleFreeSgdConfig {
                r: -1.0,
                ..d.clone()
            })
            .contains("`r`")
        );
        assert!(
            sgd(ScheduleFreeSgdConfig {
                weight_lr_power: f64::NAN,
                ..d.clone()
            })
            .contains("`weight_lr_power`")
        );
        let adamw = |c: ScheduleFreeAdamWConfig| c.validate().unwrap_err().to_string();
        let d = ScheduleFreeAdamWConfig::default();
        assert!(
            adamw(ScheduleFreeAdamWConfig {
                betas: [0.9, 1.0],
                ..d.clone()
            })
            .contains("`betas[1]`")
        );
        assert!(
            adamw(ScheduleFreeAdamWConfig {
                eps: -1.0,
                ..d.clone()
            })
            .contains("`eps`")
        );
        assert!(
            adamw(ScheduleFreeAdamWConfig {
                weight_decay: -1.0,
                ..d
            })
            .contains("`weight_decay`")
        );
    }
}
