//! Prodigy: D-Adaptation's Adam with a faster-growing, weighted distance estimate.

use serde::{Deserialize, Serialize};

use crate::check::{Check, GROWTH_RATE, NON_NEGATIVE, POSITIVE, UNIT_INTERVAL};
use crate::dadapt::{decay_decoupled, growth_factor};
use crate::moments::{
    adam_denominator, addcdiv, bias_correction, ema, ema_sq, l2_gradient, usable_lr,
};
use crate::reduce::{sum1, sum3};
use crate::{OptimError, Optimizer, StepInfo};

/// Configuration of [`Prodigy`] (`kind = "prodigy"`). Defaults are those of `prodigyopt`
/// 1.1.2; lrctl's paper setup sets `betas = [0.9, 0.99]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProdigyConfig {
    /// EMA coefficients of the gradient and its square, each in `[0, 1)`. `betas[0] = 0`
    /// drops the first moment (the update then uses `d · g`). Default `[0.9, 0.999]`.
    pub betas: [f64; 2],
    /// EMA coefficient of the `d` estimate's sums, in `[0, 1)`. Absent: `sqrt(betas[1])` (the
    /// default and the paper setup).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beta3: Option<f64>,
    /// Added (times `d`) to the square root of the second moment. Must be > 0. Default 1e-8.
    pub eps: f64,
    /// Weight decay strength. Must be ≥ 0. Default 0.
    pub weight_decay: f64,
    /// AdamW-style decoupled weight decay (`x ← x − weight_decay · dlr · x`) instead of an L2
    /// term added to the gradient. Default true (the reference's default).
    pub decouple: bool,
    /// Adam's bias correction, folded into `dlr` as `sqrt(1 − β2^k) / (1 − β1^k)`. Default
    /// false (`use_bias_correction` in the reference).
    pub bias_correction: bool,
    /// Safeguard warm-up: leave `lr` (and the bias correction) out of the `d` estimate's
    /// denominator, which avoids an overestimate while a schedule warms `lr` up. Default false.
    pub safeguard_warmup: bool,
    /// Initial estimate of `d`. Must be > 0. Default 1e-6.
    pub d0: f64,
    /// Multiplies the estimate `d̂` (the preferred way to tune Prodigy). Must be > 0.
    /// Default 1.
    pub d_coef: f64,
    /// Largest factor by which `d` may grow in one step (≥ 1). Absent or `inf`: no limit
    /// (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growth_rate: Option<f64>,
}

impl Default for ProdigyConfig {
    fn default() -> Self {
        Self {
            betas: [0.9, 0.999],
            beta3: None,
            eps: 1e-8,
            weight_decay: 0.0,
            decouple: true,
            bias_correction: false,
            safeguard_warmup: false,
            d0: 1e-6,
            d_coef: 1.0,
            growth_rate: None,
        }
    }
}

impl ProdigyConfig {
    /// Checks every field's range.
    pub fn validate(&self) -> Result<(), OptimError> {
        let c = Check("prodigy");
        c.field("betas[0]", self.betas[0], UNIT_INTERVAL)?;
        c.field("betas[1]", self.betas[1], UNIT_INTERVAL)?;
        if let Some(b3) = self.beta3 {
            c.field("beta3", b3, UNIT_INTERVAL)?;
        }
        c.field("eps", self.eps, POSITIVE)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.field("d0", self.d0, POSITIVE)?;
        c.field("d_coef", self.d_coef, POSITIVE)?;
        if let Some(g) = self.growth_rate {
            c.field("growth_rate", g, GROWTH_RATE)?;
        }
        Ok(())
    }

    /// Validates and builds the optimizer for `n_params` parameters.
    pub fn build(&self, n_params: usize) -> Result<Prodigy, OptimError> {
        self.validate()?;
        // β1 = 0: no first moment, and the gradient must outlive the denominator.
        let (first_moment, denom) = if self.betas[0] > 0.0 {
            (n_params, 0)
        } else {
            (0, n_params)
        };
        Ok(Prodigy {
            config: self.clone(),
            started: false,
            x0: vec![0.0; n_params],
            s: vec![0.0; n_params],
            exp_avg: vec![0.0; first_moment],
            exp_avg_sq: vec![0.0; n_params],
            grad: vec![0.0; n_params],
            denom: vec![0.0; denom],
            d: self.d0,
            d_max: self.d0,
            d_numerator: 0.0,
            k: 0,
        })
    }
}

/// Prodigy (Mishchenko & Defazio 2023, *Prodigy: An Expeditiously Adaptive Parameter-Free
/// Learner*, ICML 2024; arXiv:2306.06101: the Adam variant as its reference code implements
/// it), matching `prodigyopt` 1.1.2 `prodigyopt.Prodigy` with one parameter group.
///
/// Step `k`, with `g` the gradient (plus `weight_decay · x` unless `decouple`), `x_0` the
/// parameters at the first step and `dlr = d_k · lr · bc_k` (`bc_k` the bias correction or 1):
///
/// * `r ← β3 r + (d/d0) · dlr · ⟨g, x_0 − x⟩`;
/// * `m ← β1 m + d (1 − β1) g`, `v ← β2 v + d² (1 − β2) g²`,
///   `s ← β3 s + (d/d0) · dlr · g` (`(d/d0) · d · g` with the safeguard warm-up);
/// * `d̂ = d_coef · r / ‖s‖₁`; at `d = d0`, `d ← max(d, d̂)`; `d_max ← max(d_max, d̂)`;
///   `d_{k+1} = min(d_max, growth_rate · d)`. So, as in the reference, the first increase
///   from `d0` is not limited by `growth_rate` (`d` jumps straight to `d̂`); every later one
///   is;
/// * decoupled decay `x ← x − weight_decay · dlr · x`, then
///   `x ← x − dlr · m / (sqrt(v) + d_{k+1} · eps)` (`dlr · d_{k+1} · g / (…)` when `β1 = 0`).
///
/// The effective learning rate is `dlr` (`d_k · lr` without bias correction; the estimate
/// formed during the step applies from the next one).
///
/// **Gradient clipping** (konstmish/prodigy issue #13): Prodigy only sees the gradient it is
/// given, so when the engine clips gradients the `d` estimate is built from the clipped ones,
/// and `d` (hence the step size) differs from the unclipped run. In lrctl's stochastic
/// fixture (softmax regression, global-norm clipping at 0.1) the clipped run's `d` settles
/// 52% higher than the unclipped one, in `prodigyopt` and in lrctl alike (the issue reports a
/// `dlr` that kept climbing under norm clipping on a ResNet-50).
/// `tests/free_optimizers.rs` replays both runs against the reference and pins this down.
/// lrctl reproduces the behaviour rather than "fixing" it.
///
/// Deviations: `lr` is the controller's multiplier passed each step, read as the reference
/// reads `group['lr']`; a non-positive or non-finite `lr` takes no step and leaves the
/// statistics untouched (as the reference does for `lr = 0`). `slice_p` (estimating `d` from
/// every p-th coordinate) and `fsdp_in_use` have no counterpart: the sums run over every
/// coordinate of the flat vector. Sums are accumulated in `f64` (the reference's dot products
/// are `f32`); per-coordinate arithmetic is `f32` as in the reference. `growth_rate < 1` is
/// rejected (the reference would let it shrink `d`).
#[derive(Debug, Clone)]
pub struct Prodigy {
    config: ProdigyConfig,
    started: bool,
    x0: Vec<f32>,
    s: Vec<f32>,
    exp_avg: Vec<f32>,
    exp_avg_sq: Vec<f32>,
    /// The gradient with coupled decay; with a first moment, then the Adam denominator.
    grad: Vec<f32>,
    /// The Adam denominator when there is no first moment (`β1 = 0`; empty otherwise).
    denom: Vec<f32>,
    d: f64,
    d_max: f64,
    d_numerator: f64,
    k: u64,
}

impl Prodigy {
    /// The current distance estimate `d` (starts at `d0`, never decreases).
    pub fn d(&self) -> f64 {
        self.d
    }
}

impl Optimizer for Prodigy {
    fn name(&self) -> &'static str {
        "prodigy"
    }

    fn snapshot(&self) -> Option<Box<dyn Optimizer>> {
        Some(Box::new(self.clone()))
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        // Compiled for AVX2 where the CPU has it (no FMA: same rounding everywhere).
        crate::moments::simd(|| self.step_portable(params, grads, lr))
    }
}

impl Prodigy {
    #[inline(always)]
    fn step_portable(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        let cfg = &self.config;
        assert_eq!(
            params.len(),
            self.x0.len(),
            "parameter vector length changed"
        );
        if !self.started {
            self.x0.copy_from_slice(params);
            self.started = true;
        }
        let lr = usable_lr(lr);
        if lr == 0.0 {
            return StepInfo { effective_lr: 0.0 };
        }
        let [beta1, beta2] = cfg.betas;
        let beta3 = cfg.beta3.unwrap_or_else(|| beta2.sqrt());
        let k = self.k + 1;
        let bias_correction = if cfg.bias_correction {
            bias_correction(beta2, k).sqrt() / bias_correction(beta1, k)
        } else {
            1.0
        };
        let d = self.d;
        let dlr = d * lr * bias_correction;
        let coupled = if cfg.decouple { 0.0 } else { cfg.weight_decay };
        l2_gradient(&mut self.grad, grads, params, coupled);
        let grad = &self.grad;

        // ⟨g, x_0 − x⟩ at the current point.
        let progress = sum3(grad, &self.x0, params, |g, x0, x| {
            f64::from(g) * f64::from(x0 - x)
        });
        let d_ratio = d / cfg.d0;
        if !self.exp_avg.is_empty() {
            ema(&mut self.exp_avg, grad, beta1, d * (1.0 - beta1));
        }
        ema_sq(&mut self.exp_avg_sq, grad, beta2, d * d * (1.0 - beta2));
        let s_weight = if cfg.safeguard_warmup {
            d_ratio * d
        } else {
            d_ratio * dlr
        };
        ema(&mut self.s, grad, beta3, s_weight);
        let s_l1 = sum1(&self.s, |s| f64::from(s.abs()));
        if s_l1 == 0.0 {
            // Only zero gradients so far: nothing to estimate and nothing to move by.
            return StepInfo { effective_lr: 0.0 };
        }
        let numerator = beta3 * self.d_numerator + d_ratio * dlr * progress;
        let d_hat = cfg.d_coef * numerator / s_l1;
        let mut new_d = d;
        if new_d == cfg.d0 {
            new_d = new_d.max(d_hat);
        }
        self.d_max = self.d_max.max(d_hat);
        new_d = self.d_max.min(new_d * growth_factor(cfg.growth_rate));
        self.d = new_d;
        self.d_numerator = numerator;

        if cfg.decouple {
            decay_decoupled(params, dlr, cfg.weight_decay);
        }
        let eps = new_d * cfg.eps;
        if self.exp_avg.is_empty() {
            adam_denominator(&mut self.denom, &self.exp_avg_sq, 1.0, eps);
            addcdiv(params, &self.grad, &self.denom, -dlr * new_d);
        } else {
            // The gradient is no longer needed: its buffer takes the denominator.
            adam_denominator(&mut self.grad, &self.exp_avg_sq, 1.0, eps);
            addcdiv(params, &self.exp_avg, &self.grad, -dlr);
        }
        self.k += 1;
        StepInfo { effective_lr: dlr }
    }
}
