//! Schedule-Free RAdam: Schedule-Free averaging on RAdam's rectified step, which needs no
//! warm-up.

use serde::{Deserialize, Serialize};

use crate::averaging::{AveragingWeights, EvalSwitch, Rectification, average_from_y};
use crate::check::step_lengths;
use crate::check::{Check, NON_NEGATIVE, OPEN_UNIT_INTERVAL, POSITIVE, UNIT_INTERVAL};
use crate::moments::{lerp, usable_lr};
use crate::{OptimError, Optimizer, OptimizerConfig, StepInfo, name_and_snapshot};

/// Configuration of [`ScheduleFreeRAdam`] (`kind = "schedulefree-radam"`). Defaults are those
/// of `schedulefree` 1.4.1 `RAdamScheduleFree` (whose `lr` default, 0.0025, is the
/// controller's business in lrctl).
///
/// ```toml
/// [optimizer]
/// kind = "schedulefree-radam"
/// betas = [0.9, 0.999]
/// eps = 1e-8
/// weight_decay = 0.0
/// silent_sgd_phase = true
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScheduleFreeRAdamConfig {
    /// `[β1, β2]`: `β1` in `(0, 1)` interpolates between the average `x` and `z`, `β2` in
    /// `[0, 1)` is the EMA coefficient of the squared gradient. Default `[0.9, 0.999]`.
    pub betas: [f64; 2],
    /// Added to the bias-corrected `sqrt(v)`. Must be > 0. Default 1e-8.
    pub eps: f64,
    /// Weight decay computed at `y`, added to the normalised gradient. Must be ≥ 0. Default 0.
    pub weight_decay: f64,
    /// Polynomial averaging power: step `k`'s weight carries the factor `k^r`. Must be ≥ 0.
    /// Default 0.
    pub r: f64,
    /// Step `k`'s weight carries the factor `lr_max^weight_lr_power` (`lr_max` the largest
    /// rectified lr so far). Must be ≥ 0. Default 2.
    pub weight_lr_power: f64,
    /// While RAdam's variance is intractable (`ρ_k ≤ 4`, the first 5 steps at `β2 = 0.999`),
    /// take no step and only accumulate the second moment (true), or take plain SGD steps
    /// (false). Default true.
    pub silent_sgd_phase: bool,
}

impl Default for ScheduleFreeRAdamConfig {
    fn default() -> Self {
        Self {
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            r: 0.0,
            weight_lr_power: 2.0,
            silent_sgd_phase: true,
        }
    }
}

impl OptimizerConfig for ScheduleFreeRAdamConfig {
    const KIND: &'static str = "schedulefree-radam";
    type Optimizer = ScheduleFreeRAdam;

    /// `lr` is the step size (rectified).
    fn sets_own_step_size(&self) -> bool {
        false
    }

    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.field("betas[0]", self.betas[0], OPEN_UNIT_INTERVAL)?;
        c.field("betas[1]", self.betas[1], UNIT_INTERVAL)?;
        c.field("eps", self.eps, POSITIVE)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.averaging(self.r, self.weight_lr_power)
    }

    fn build(&self, _n_params: usize) -> Result<ScheduleFreeRAdam, OptimError> {
        self.validate()?;
        Ok(ScheduleFreeRAdam {
            config: self.clone(),
            k: 0,
            weights: AveragingWeights::new(self.r, self.weight_lr_power, -1.0),
            z: Vec::new(),
            exp_avg_sq: Vec::new(),
            eval: EvalSwitch::default(),
        })
    }
}

/// Schedule-Free RAdam (Defazio et al. 2024, *The Road Less Scheduled*, arXiv:2405.15682,
/// with RAdam's rectification, Liu et al. 2020, *On the Variance of the Adaptive Learning Rate
/// and Beyond*, ICLR; arXiv:1908.03265), matching `schedulefree` 1.4.1 `RAdamScheduleFree`
/// (its per-tensor path, `foreach = False`) with one parameter group. No warm-up is needed:
/// the rectification is one.
///
/// Step `k = 1, 2, …`, parameters holding `y`, `g = ∇f(y)`:
///
/// ```text
/// ρ_∞ = 2/(1 − β2) − 1,   ρ_k = ρ_∞ − 2k β2^k / (1 − β2^k)
/// γ_k = lr · sqrt((ρ_k − 4)(ρ_k − 2) ρ_∞ / ((ρ_∞ − 4)(ρ_∞ − 2) ρ_k))   if ρ_k > 4
///       0 (silent_sgd_phase) or lr                                       otherwise
/// γ_max = max(γ_max, γ_k);   w_k = k^r · γ_max^weight_lr_power;   c_k = w_k / Σ_{i ≤ k} w_i
/// v ← β2 v + (1 − β2) g²
/// ĝ = g / (sqrt(v / (1 − β2^k)) + eps)    (g while ρ_k ≤ 4),   ĝ ← ĝ + weight_decay · y
/// y ← lerp(y, z, c_k) + γ_k (β1 (1 − c_k) − 1) · ĝ,   z ← z − γ_k ĝ
/// ```
///
/// The average `x` is implicit (`y = β1 x + (1 − β1) z`): [`Optimizer::prepare_eval`] puts
/// `x = lerp(y, z, 1 − 1/β1)` into the parameters, [`Optimizer::prepare_train`] puts `y`
/// back. The effective learning rate is `γ_k` (the reference's `scheduled_lr`).
///
/// Deviations from the reference: it recomputes `y` from `x` in `train()`, drifting by a
/// rounding at every evaluation; lrctl restores `y` exactly. It raises if `step` is called in
/// evaluation mode (lrctl switches back first) and starts in evaluation mode (lrctl starts in
/// training mode). A negative or non-finite `lr` counts as 0. `c_k = 0` while every weight
/// is 0 (the reference catches that division by zero the same way).
#[derive(Debug, Clone)]
pub struct ScheduleFreeRAdam {
    config: ScheduleFreeRAdamConfig,
    /// Steps taken.
    k: u64,
    weights: AveragingWeights,
    z: Vec<f32>,
    exp_avg_sq: Vec<f32>,
    /// The training point `y` while the parameters hold `x`.
    eval: EvalSwitch,
}

impl Optimizer for ScheduleFreeRAdam {
    name_and_snapshot!(ScheduleFreeRAdamConfig);

    fn prepare_eval(&mut self, params: &mut [f32]) {
        if self.z.is_empty() {
            return;
        }
        let (z, beta1) = (&self.z, self.config.betas[0]);
        self.eval
            .enter_eval(params, |y| average_from_y(y, z, beta1));
    }

    fn prepare_train(&mut self, params: &mut [f32]) {
        self.eval.enter_train(params);
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        self.prepare_train(params);
        if self.z.is_empty() {
            self.z = params.to_vec();
            self.exp_avg_sq = vec![0.0; params.len()];
        }
        step_lengths(params, grads, self.z.len());
        let cfg = &self.config;
        let [beta1, beta2] = cfg.betas;
        let step = self.k + 1;
        let rectification = Rectification::new(beta2, step);
        let bias_correction2 = rectification.bias_correction2;
        let adam = rectification.rho_t > 4.0;
        let rect = if adam {
            rectification.rect
        } else if cfg.silent_sgd_phase {
            0.0
        } else {
            1.0
        };
        let lr = usable_lr(lr) * rect;
        let ckp1 = self.weights.next(step, lr);
        let adaptive_y_lr = (lr * (beta1 * (1.0 - ckp1) - 1.0)) as f32;
        let (b2, w2) = (beta2 as f32, (1.0 - beta2) as f32);
        let (bc2, eps, wd) = (
            bias_correction2 as f32,
            cfg.eps as f32,
            cfg.weight_decay as f32,
        );
        let (c, neg_lr) = (ckp1 as f32, -lr as f32);
        for (((y, z), v), &g) in params
            .iter_mut()
            .zip(self.z.iter_mut())
            .zip(self.exp_avg_sq.iter_mut())
            .zip(grads)
        {
            *v = *v * b2 + (w2 * g) * g;
            let mut g = if adam {
                g / ((*v / bc2).sqrt() + eps)
            } else {
                g
            };
            if wd != 0.0 {
                g += wd * *y;
            }
            *y = lerp(*y, *z, c);
            *y += adaptive_y_lr * g;
            *z += neg_lr * g;
        }
        self.k += 1;
        StepInfo { effective_lr: lr }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silent_phase_only_accumulates_the_second_moment() {
        // β2 = 0.999: ρ_k ≤ 4 for k ≤ 4, so the first four steps neither move y nor z.
        let mut opt = ScheduleFreeRAdamConfig::default().build(2).unwrap();
        let mut y = vec![1.0f32, -1.0];
        for _ in 0..4 {
            let info = opt.step(&mut y, &[0.5, -0.25], 0.1);
            assert_eq!(
                (info.effective_lr, y.as_slice()),
                (0.0, [1.0f32, -1.0].as_slice())
            );
        }
        let info = opt.step(&mut y, &[0.5, -0.25], 0.1);
        assert!(info.effective_lr > 0.0 && info.effective_lr < 0.1);
        assert!(y[0] < 1.0 && y[1] > -1.0, "{y:?}");
    }

    #[test]
    fn evaluation_point_is_the_average_and_round_trips() {
        let cfg = ScheduleFreeRAdamConfig {
            silent_sgd_phase: false,
            ..Default::default()
        };
        let mut opt = cfg.build(1).unwrap();
        let mut y = vec![2.0f32];
        for _ in 0..8 {
            let g = [y[0]];
            opt.step(&mut y, &g, 0.1);
        }
        let train = y.clone();
        opt.prepare_eval(&mut y);
        // y = β1 x + (1 − β1) z, so x = (y − 0.1 z) / 0.9.
        let x = (train[0] - 0.1 * opt.z[0]) / 0.9;
        assert!((y[0] - x).abs() < 1e-6, "{} vs {x}", y[0]);
        opt.prepare_train(&mut y);
        assert_eq!(y, train);
    }

    #[test]
    fn validation_names_the_field() {
        let err = |c: ScheduleFreeRAdamConfig| c.validate().unwrap_err().to_string();
        let d = ScheduleFreeRAdamConfig::default();
        assert!(
            err(ScheduleFreeRAdamConfig {
                betas: [0.0, 0.999],
                ..d.clone()
            })
            .contains("`betas[0]`")
        );
        assert!(
            err(ScheduleFreeRAdamConfig {
                eps: 0.0,
                ..d.clone()
            })
            .contains("`eps`")
        );
        assert!(err(ScheduleFreeRAdamConfig { r: -1.0, ..d }).contains("`r`"));
    }
}
