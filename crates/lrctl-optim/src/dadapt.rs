//! D-Adaptation: learning-rate-free Adam and SGD by estimating the distance to the solution.
//!
//! Defazio & Mishchenko 2023, *Learning-Rate-Free Learning by D-Adaptation*, ICML;
//! arXiv:2301.07733. The estimate `d` of `‖x_0 − x_*‖` is a lower bound formed from sums over
//! **all** parameters (the flat vector), so it is global, as in the reference with one
//! parameter group. Both variants report the reference's `dlr` as their effective learning
//! rate.

use serde::{Deserialize, Serialize};

use crate::check::{Check, GROWTH_RATE, NON_NEGATIVE, POSITIVE, UNIT_INTERVAL};
use crate::moments::{
    adam_denominator, add_scaled, addcdiv, bias_correction, ema, ema_sq, l2_gradient, scale,
    usable_lr,
};
use crate::reduce::{sum1, sum2, sum3};
use crate::{OptimError, Optimizer, StepInfo};

/// The growth limit as a factor: `None` (and `inf`) mean no limit.
pub(crate) fn growth_factor(growth_rate: Option<f64>) -> f64 {
    growth_rate.unwrap_or(f64::INFINITY)
}

/// Decoupled weight decay as `dadaptation` and `prodigyopt` apply it:
/// `x ← x + (−weight_decay · dlr) · x` (PyTorch: `p.add_(p, alpha=-decay * dlr)`).
///
/// Not [`crate::moments::decoupled_decay`]'s `x · (1 − dlr · weight_decay)`: that factor is
/// rounded to `f32` next to 1, so a decay amount `dlr · weight_decay` near or below
/// `f32::EPSILON` (as with D-Adaptation's tiny early `d`) would be badly off or lost entirely.
pub(crate) fn decay_decoupled(params: &mut [f32], dlr: f64, weight_decay: f64) {
    let c = (-weight_decay * dlr) as f32;
    if c != 0.0 {
        for x in params {
            *x += c * *x;
        }
    }
}

/// Configuration of [`DAdaptAdam`] (`kind = "dadapt-adam"`). Defaults are those of
/// `dadaptation` 3.2; lrctl's paper setup sets `betas = [0.9, 0.99]` and `decouple = true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DAdaptAdamConfig {
    /// EMA coefficients of the gradient and its square, each in `[0, 1)`. Default
    /// `[0.9, 0.999]`.
    pub betas: [f64; 2],
    /// Added to the square root of the second moment. Must be > 0. Default 1e-8.
    pub eps: f64,
    /// Weight decay strength. Must be ≥ 0. Default 0.
    pub weight_decay: f64,
    /// AdamW-style decoupled weight decay (`x ← x − weight_decay · dlr · x`) instead of an L2
    /// term added to the gradient. Default false (the reference's default).
    pub decouple: bool,
    /// Adam's bias correction, folded into `dlr` as `sqrt(1 − β2^k) / (1 − β1^k)`. Default
    /// false (`use_bias_correction` in the reference).
    pub bias_correction: bool,
    /// Initial estimate of `d`. Must be > 0. Default 1e-6.
    pub d0: f64,
    /// Largest factor by which `d` may grow in one step (≥ 1). Absent or `inf`: no limit
    /// (the default and the paper setup).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growth_rate: Option<f64>,
}

impl Default for DAdaptAdamConfig {
    fn default() -> Self {
        Self {
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            decouple: false,
            bias_correction: false,
            d0: 1e-6,
            growth_rate: None,
        }
    }
}

impl DAdaptAdamConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), OptimError> {
        let c = Check("dadapt-adam");
        c.field("betas[0]", self.betas[0], UNIT_INTERVAL)?;
        c.field("betas[1]", self.betas[1], UNIT_INTERVAL)?;
        c.field("eps", self.eps, POSITIVE)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.field("d0", self.d0, POSITIVE)?;
        if let Some(g) = self.growth_rate {
            c.field("growth_rate", g, GROWTH_RATE)?;
        }
        Ok(())
    }

    /// Validates and builds the optimizer for `n_params` parameters.
    pub fn build(&self, n_params: usize) -> Result<DAdaptAdam, OptimError> {
        self.validate()?;
        Ok(DAdaptAdam {
            config: self.clone(),
            exp_avg: vec![0.0; n_params],
            exp_avg_sq: vec![0.0; n_params],
            s: vec![0.0; n_params],
            work: vec![0.0; n_params],
            d: self.d0,
            numerator_weighted: 0.0,
            k: 0,
        })
    }
}

/// D-Adaptation Adam (Defazio & Mishchenko 2023, arXiv:2301.07733: the paper's Adam variant
/// as its reference code implements it), matching `dadaptation` 3.2 `dadaptation.DAdaptAdam` with one parameter
/// group.
///
/// Step `k`, with `g` the gradient (plus `weight_decay · x` unless `decouple`), `β = sqrt(β2)`
/// and `dlr = d_k · lr · bc_k` (`bc_k` is the bias correction or 1):
///
/// * `r ← β r + (1 − β) · dlr · ⟨g, s / (sqrt(v) + eps)⟩` (old `s`, old `v`);
/// * `m ← β1 m + dlr (1 − β1) g`, `v ← β2 v + (1 − β2) g²`, `s ← β s + dlr (1 − β) g`;
/// * `d_{k+1} = max(d_k, min(r / ((1 − β) ‖s‖₁), growth_rate · d_k))`;
/// * decoupled decay `x ← x − weight_decay · dlr · x`, then `x ← x − m / (sqrt(v) + eps)`.
///
/// The effective learning rate is `dlr`, the step size of this step's update (`d_k · lr`
/// without bias correction; the `d` estimated during the step applies from the next one).
///
/// Deviations: lrctl's `lr` is the controller's multiplier passed each step, read exactly as
/// the reference reads `group['lr']`; a non-positive or non-finite `lr` takes no step and
/// leaves the state untouched (as the reference does for `lr = 0`). `layer_scale`,
/// `log_every` and `fsdp_in_use` have no counterpart (one flat parameter group). Sums are
/// accumulated in `f64` (the reference's dot products are `f32`); per-coordinate arithmetic is
/// `f32` as in the reference. `growth_rate < 1` is rejected (the reference accepts it and then
/// never lets `d` grow).
#[derive(Debug, Clone)]
pub struct DAdaptAdam {
    config: DAdaptAdamConfig,
    exp_avg: Vec<f32>,
    exp_avg_sq: Vec<f32>,
    s: Vec<f32>,
    /// Scratch: the gradient (with coupled decay), then the Adam denominator.
    work: Vec<f32>,
    d: f64,
    numerator_weighted: f64,
    k: u64,
}

impl DAdaptAdam {
    /// The current distance estimate `d` (starts at `d0`, never decreases).
    pub fn d(&self) -> f64 {
        self.d
    }
}

impl Optimizer for DAdaptAdam {
    fn name(&self) -> &'static str {
        "dadapt-adam"
    }

    fn snapshot(&self) -> Option<Box<dyn Optimizer>> {
        Some(Box::new(self.clone()))
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        // Compiled for AVX2 where the CPU has it (no FMA: same rounding everywhere).
        crate::moments::simd(|| self.step_portable(params, grads, lr))
    }
}

impl DAdaptAdam {
    #[inline(always)]
    fn step_portable(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        let cfg = &self.config;
        assert_eq!(
            params.len(),
            self.s.len(),
            "parameter vector length changed"
        );
        let lr = usable_lr(lr);
        if lr == 0.0 {
            return StepInfo { effective_lr: 0.0 };
        }
        let [beta1, beta2] = cfg.betas;
        let k = self.k + 1;
        let bias_correction = if cfg.bias_correction {
            bias_correction(beta2, k).sqrt() / bias_correction(beta1, k)
        } else {
            1.0
        };
        let dlr = self.d * lr * bias_correction;
        let sqrt_beta2 = beta2.sqrt();
        let coupled = if cfg.decouple { 0.0 } else { cfg.weight_decay };
        let grad = &mut self.work;
        l2_gradient(grad, grads, params, coupled);

        // ⟨g, s / (sqrt(v) + eps)⟩ with the previous s and v.
        let eps = cfg.eps as f32;
        let numerator = sum3(grad, &self.s, &self.exp_avg_sq, |g, s, v| {
            f64::from(g) * f64::from(s / (v.sqrt() + eps))
        });
        ema(&mut self.exp_avg, grad, beta1, dlr * (1.0 - beta1));
        ema_sq(&mut self.exp_avg_sq, grad, beta2, 1.0 - beta2);
        ema(&mut self.s, grad, sqrt_beta2, dlr * (1.0 - sqrt_beta2));
        let s_l1 = sum1(&self.s, |s| f64::from(s.abs()));
        let numerator_weighted =
            sqrt_beta2 * self.numerator_weighted + (1.0 - sqrt_beta2) * dlr * numerator;
        if s_l1 == 0.0 {
            // Only zero gradients so far: nothing to estimate and nothing to move by.
            return StepInfo { effective_lr: 0.0 };
        }
        let d_hat = numerator_weighted / ((1.0 - sqrt_beta2) * s_l1);
        self.d = self
            .d
            .max(d_hat.min(self.d * growth_factor(cfg.growth_rate)));
        self.numerator_weighted = numerator_weighted;

        if cfg.decouple {
            decay_decoupled(params, dlr, cfg.weight_decay);
        }
        let denom = &mut self.work;
        adam_denominator(denom, &self.exp_avg_sq, 1.0, cfg.eps);
        addcdiv(params, &self.exp_avg, denom, -1.0);
        self.k += 1;
        StepInfo { effective_lr: dlr }
    }
}

/// Configuration of [`DAdaptSgd`] (`kind = "dadapt-sgd"`). Defaults are those of
/// `dadaptation` 3.2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DAdaptSgdConfig {
    /// Momentum in `[0, 1)` (primal averaging: `x ← momentum · x + (1 − momentum) · z`).
    /// Default 0.
    pub momentum: f64,
    /// Coupled L2 weight decay: `weight_decay · x` is added to the gradient. Must be ≥ 0.
    /// Default 0.
    pub weight_decay: f64,
    /// Initial estimate of `d`. Must be > 0. Default 1e-6.
    pub d0: f64,
    /// Largest factor by which `d` may grow in one step (≥ 1). Absent or `inf`: no limit
    /// (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growth_rate: Option<f64>,
}

impl Default for DAdaptSgdConfig {
    fn default() -> Self {
        Self {
            momentum: 0.0,
            weight_decay: 0.0,
            d0: 1e-6,
            growth_rate: None,
        }
    }
}

impl DAdaptSgdConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), OptimError> {
        let c = Check("dadapt-sgd");
        c.field("momentum", self.momentum, UNIT_INTERVAL)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.field("d0", self.d0, POSITIVE)?;
        if let Some(g) = self.growth_rate {
            c.field("growth_rate", g, GROWTH_RATE)?;
        }
        Ok(())
    }

    /// Validates and builds the optimizer for `n_params` parameters.
    pub fn build(&self, n_params: usize) -> Result<DAdaptSgd, OptimError> {
        self.validate()?;
        Ok(DAdaptSgd {
            config: self.clone(),
            x0: vec![0.0; n_params],
            s: vec![0.0; n_params],
            work: vec![0.0; n_params],
            g0_norm: None,
            d: self.d0,
            numerator_weighted: 0.0,
        })
    }
}

/// D-Adaptation SGD (Defazio & Mishchenko 2023, arXiv:2301.07733: D-Adapted dual averaging
/// with the reference code's momentum), matching `dadaptation` 3.2 `dadaptation.DAdaptSGD` with one
/// parameter group.
///
/// With `g` the gradient plus `weight_decay · x` and `dlr = d · lr / ‖g_0‖` (`g_0` the first
/// raw gradient): `r ← r + dlr ⟨g, s⟩`, `s ← s + dlr g`,
/// `d ← max(d, min(2 r / ‖s‖₂, growth_rate · d))`, `z = x_0 − s`,
/// `x ← momentum · x + (1 − momentum) · z`. The effective learning rate is `dlr` (the step
/// size on the gradient in the dual sum `s`).
///
/// Deviations: `lr` is the controller's multiplier passed each step, read as the reference
/// reads `group['lr']`; a non-positive or non-finite `lr` takes no step (the reference raises
/// `UnboundLocalError` at `lr = 0`). When the first gradient is zero the reference raises
/// `ZeroDivisionError` (`dlr = d·lr/0`); lrctl leaves the parameters unchanged and takes
/// `‖g_0‖` from the first non-zero gradient. Like the reference, `‖g_0‖` excludes the weight
/// decay term (its `grad.add` there is not in place), while every later use includes it.
/// Sums are accumulated in `f64`.
#[derive(Debug, Clone)]
pub struct DAdaptSgd {
    config: DAdaptSgdConfig,
    x0: Vec<f32>,
    s: Vec<f32>,
    /// Scratch: the gradient (with weight decay), then `z`.
    work: Vec<f32>,
    g0_norm: Option<f64>,
    d: f64,
    numerator_weighted: f64,
}

impl DAdaptSgd {
    /// The current distance estimate `d` (starts at `d0`, never decreases).
    pub fn d(&self) -> f64 {
        self.d
    }
}

impl Optimizer for DAdaptSgd {
    fn name(&self) -> &'static str {
        "dadapt-sgd"
    }

    fn snapshot(&self) -> Option<Box<dyn Optimizer>> {
        Some(Box::new(self.clone()))
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        let cfg = &self.config;
        assert_eq!(
            params.len(),
            self.s.len(),
            "parameter vector length changed"
        );
        let lr = usable_lr(lr);
        if lr == 0.0 {
            return StepInfo { effective_lr: 0.0 };
        }
        let g0_norm = match self.g0_norm {
            Some(n) => n,
            None => {
                let n = sum1(grads, |g| f64::from(g) * f64::from(g)).sqrt();
                if n == 0.0 {
                    return StepInfo { effective_lr: 0.0 };
                }
                self.x0.copy_from_slice(params);
                self.g0_norm = Some(n);
                n
            }
        };
        let dlr = self.d * lr / g0_norm;
        l2_gradient(&mut self.work, grads, params, cfg.weight_decay);
        let grad = &self.work;

        let numerator = sum2(grad, &self.s, |g, s| f64::from(g) * f64::from(s));
        add_scaled(&mut self.s, grad, dlr);
        let s_sq = sum1(&self.s, |s| f64::from(s) * f64::from(s));
        if s_sq == 0.0 {
            return StepInfo { effective_lr: 0.0 };
        }
        let numerator_weighted = self.numerator_weighted + dlr * numerator;
        let d_hat = 2.0 * numerator_weighted / s_sq.sqrt();
        self.d = self
            .d
            .max(d_hat.min(self.d * growth_factor(cfg.growth_rate)));
        self.numerator_weighted = numerator_weighted;

        // z = x_0 − s, then x ← (1 − ck)·x + ck·z with ck = 1 − momentum.
        let z = &mut self.work;
        for ((z, &x0), &s) in z.iter_mut().zip(&self.x0).zip(&self.s) {
            *z = x0 - s;
        }
        let ck = 1.0 - cfg.momentum;
        scale(params, 1.0 - ck);
        add_scaled(params, z, ck);
        StepInfo { effective_lr: dlr }
    }
}
