//! Schedule-Free's pieces shared by its variants (Defazio et al. 2024, *The Road Less
//! Scheduled*, arXiv:2405.15682): the averaging weights, the switch between the training point
//! `y` and the evaluation point, and RAdam's rectification (Liu et al. 2020, arXiv:1908.03265)
//! that Schedule-Free RAdam and Prodigy + Schedule-Free's bias correction apply.

use crate::moments::lerp;

/// The averaging coefficient `c_{k+1} = w_k / Σ_{i ≤ k} w_i`; 0 while every weight is 0 (the
/// references catch that division by zero, an `lr` of 0 so far, the same way).
pub(crate) fn averaging_coefficient(weight: f64, weight_sum: f64) -> f64 {
    if weight_sum == 0.0 {
        0.0
    } else {
        weight / weight_sum
    }
}

/// The weights of `schedulefree`'s averaging: step `k`'s weight is
/// `(k + 1)^r · lr_max^weight_lr_power`, `lr_max` the largest learning rate so far.
#[derive(Debug, Clone)]
pub(crate) struct AveragingWeights {
    r: f64,
    weight_lr_power: f64,
    lr_max: f64,
    weight_sum: f64,
}

impl AveragingWeights {
    /// No step yet; `lr_max` starts at `lr_max0` (−1 or 0, as each reference starts it).
    pub(crate) fn new(r: f64, weight_lr_power: f64, lr_max0: f64) -> Self {
        Self {
            r,
            weight_lr_power,
            lr_max: lr_max0,
            weight_sum: 0.0,
        }
    }

    /// Step `k + 1 = step` (1-based) at learning rate `lr`: its averaging coefficient
    /// `c_{k+1}` ([`averaging_coefficient`]).
    pub(crate) fn next(&mut self, step: u64, lr: f64) -> f64 {
        self.lr_max = self.lr_max.max(lr);
        let weight = (step as f64).powf(self.r) * self.lr_max.powf(self.weight_lr_power);
        self.weight_sum += weight;
        averaging_coefficient(weight, self.weight_sum)
    }
}

/// The training point `y`, kept aside exactly while the parameters hold the evaluation point
/// (the references recompute `y` from `x` instead, drifting by a rounding at every switch).
#[derive(Debug, Clone, Default)]
pub(crate) struct EvalSwitch {
    saved_y: Vec<f32>,
    eval_mode: bool,
}

impl EvalSwitch {
    /// Saves `y` and writes the evaluation point into `params` with `to_eval`, unless already
    /// evaluating.
    pub(crate) fn enter_eval(&mut self, params: &mut [f32], to_eval: impl FnOnce(&mut [f32])) {
        if self.eval_mode {
            return;
        }
        self.saved_y.clear();
        self.saved_y.extend_from_slice(params);
        to_eval(params);
        self.eval_mode = true;
    }

    /// Puts `y` back when evaluating.
    pub(crate) fn enter_train(&mut self, params: &mut [f32]) {
        if self.eval_mode {
            params.copy_from_slice(&self.saved_y);
            self.eval_mode = false;
        }
    }
}

/// The average `x = lerp(y, z, 1 − 1/β1)` written over `y` (`y = β1 x + (1 − β1) z`), the
/// evaluation point of the variants that store `y` and `z` only.
pub(crate) fn average_from_y(params: &mut [f32], z: &[f32], beta1: f64) {
    let w = (1.0 - 1.0 / beta1) as f32;
    for (x, &z) in params.iter_mut().zip(z) {
        *x = lerp(*x, z, w);
    }
}

/// RAdam's rectification at step `k` (1-based).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rectification {
    /// The factor on the learning rate while the variance is tractable (`ρ_k > 4`), else 0.
    pub(crate) rect: f64,
    /// `1 − β2^k`.
    pub(crate) bias_correction2: f64,
    /// `ρ_k = ρ_∞ − 2k β2^k / (1 − β2^k)`, `ρ_∞ = 2/(1 − β2) − 1`.
    pub(crate) rho_t: f64,
}

impl Rectification {
    /// As `schedulefree`'s `RAdamScheduleFree` and the reference's `get_bias_correction`
    /// compute it.
    pub(crate) fn new(beta2: f64, k: u64) -> Self {
        let beta2_t = beta2.powf(k as f64);
        let bias_correction2 = 1.0 - beta2_t;
        let rho_inf = 2.0 / (1.0 - beta2) - 1.0;
        let rho_t = rho_inf - 2.0 * k as f64 * beta2_t / bias_correction2;
        let rect = if rho_t > 4.0 {
            ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
                .sqrt()
        } else {
            0.0
        };
        Self {
            rect,
            bias_correction2,
            rho_t,
        }
    }
}
