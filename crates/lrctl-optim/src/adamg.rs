//! AdamG: Adam with a "golden step size" numerator, parameter-free by construction.

use serde::{Deserialize, Serialize};

use crate::check::{Check, NON_NEGATIVE, POSITIVE, step_lengths};
use crate::moments::{WeightDecay, bias_correction, lerp, usable_lr};
use crate::{OptimError, Optimizer, OptimizerConfig, StepInfo, name_and_snapshot};

/// Configuration of [`AdamG`] (`kind = "adamg"`). Defaults are those of `pytorch-optimizer`
/// 4.1.0 `AdamG` (whose `lr` default, 1, is the controller's business in lrctl).
///
/// ```toml
/// [optimizer]
/// kind = "adamg"
/// betas = [0.95, 0.999, 0.95]
/// p = 0.2
/// q = 0.24
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamGConfig {
    /// `[β1, β2, β3]`, each in `[0, 1)`: EMA coefficients of the scaled gradient, of the
    /// squared gradient and of the numerator `s(v)`. Default `[0.95, 0.999, 0.95]`.
    pub betas: [f64; 3],
    /// Scale `p` of the numerator function `s(v) = p · v^q`. Must be > 0. Default 0.2.
    pub p: f64,
    /// Exponent `q` of the numerator function. Must be > 0. Default 0.24.
    pub q: f64,
    /// Weight decay strength. Must be ≥ 0. Default 0.
    pub weight_decay: f64,
    /// Decoupled weight decay (`x ← x · (1 − weight_decay · lr)`) instead of an L2 term added
    /// to the gradient. Default false.
    pub weight_decouple: bool,
    /// With `weight_decouple`, do not scale the decay by `lr`. Default false.
    pub fixed_decay: bool,
    /// Added to the bias-corrected `sqrt(v)`. Must be ≥ 0. Default 1e-8.
    pub eps: f64,
}

impl Default for AdamGConfig {
    fn default() -> Self {
        Self {
            betas: [0.95, 0.999, 0.95],
            p: 0.2,
            q: 0.24,
            weight_decay: 0.0,
            weight_decouple: false,
            fixed_decay: false,
            eps: 1e-8,
        }
    }
}

impl OptimizerConfig for AdamGConfig {
    const KIND: &'static str = "adamg";
    type Optimizer = AdamG;

    /// The golden step size and `1/sqrt(k)` set the step; `lr` only caps it (1 in the paper).
    fn sets_own_step_size(&self) -> bool {
        true
    }

    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.betas(&self.betas)?;
        c.field("p", self.p, POSITIVE)?;
        c.field("q", self.q, POSITIVE)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.field("eps", self.eps, NON_NEGATIVE)
    }

    fn build(&self, n_params: usize) -> Result<AdamG, OptimError> {
        self.validate()?;
        Ok(AdamG {
            config: self.clone(),
            k: 0,
            m: vec![0.0; n_params],
            v: vec![0.0; n_params],
            r: vec![0.0; n_params],
        })
    }
}

/// AdamG (Pang, Yu, Hoang, Zhou 2024, *Towards Stability of Parameter-free Optimization*,
/// arXiv:2405.04376; an AlgoPerf self-tuning submission), matching `pytorch-optimizer` 4.1.0
/// `AdamG` (its per-tensor path, `foreach = False`).
///
/// Step `k = 1, 2, …`, with `g` the gradient (plus `weight_decay · x` unless decoupled):
///
/// ```text
/// v ← β2 v + (1 − β2) g²
/// r ← lerp(r, p · v^q, 1 − β3)                (the "golden step size" numerator)
/// m ← β1 m + (1 − β1) r ⊙ g
/// η_k = min(lr, 1/sqrt(k))
/// x ← x − (η_k / (1 − β1^k)) · m / (sqrt(v / (1 − β2^k)) + eps)
/// ```
///
/// with decoupled decay `x ← x · (1 − weight_decay · lr)` (`· 1` with `fixed_decay`) first.
/// The effective learning rate is `η_k`.
///
/// Deviations: a negative or non-finite `lr` counts as 0 (no step, the moments still advance;
/// the reference rejects a negative `lr`). `maximize` and complex parameters have no
/// counterpart.
#[derive(Debug, Clone)]
pub struct AdamG {
    config: AdamGConfig,
    k: u64,
    m: Vec<f32>,
    v: Vec<f32>,
    r: Vec<f32>,
}

impl Optimizer for AdamG {
    name_and_snapshot!(AdamGConfig);

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        step_lengths(params, grads, self.m.len());
        let cfg = &self.config;
        let lr = usable_lr(lr);
        self.k += 1;
        let [beta1, beta2, beta3] = cfg.betas;
        let bc1 = bias_correction(beta1, self.k);
        let bc2 = bias_correction(beta2, self.k) as f32;
        let step_size = lr.min(1.0 / (self.k as f64).sqrt());
        let decay = WeightDecay::new(cfg.weight_decay, cfg.weight_decouple, cfg.fixed_decay, lr);
        let (b1, w1) = (beta1 as f32, (1.0 - beta1) as f32);
        let (b2, w2) = (beta2 as f32, (1.0 - beta2) as f32);
        let (w3, p, q) = ((1.0 - beta3) as f32, cfg.p as f32, cfg.q as f32);
        let (eps, c) = (cfg.eps as f32, (-step_size / bc1) as f32);
        for ((((x, &g), m), v), r) in params
            .iter_mut()
            .zip(grads)
            .zip(self.m.iter_mut())
            .zip(self.v.iter_mut())
            .zip(self.r.iter_mut())
        {
            let g = decay.apply(x, g);
            *v = *v * b2 + (w2 * g) * g;
            *r = lerp(*r, v.powf(q) * p, w3);
            *m = *m * b1 + (w1 * *r) * g;
            let denom = (*v / bc2).sqrt() + eps;
            *x += (c * *m) / denom;
        }
        StepInfo {
            effective_lr: step_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_size_is_capped_by_inverse_sqrt_k() {
        let mut opt = AdamGConfig::default().build(1).unwrap();
        let mut x = vec![1.0f32];
        let sizes: Vec<f64> = (0..4)
            .map(|_| opt.step(&mut x, &[0.5], 1.0).effective_lr)
            .collect();
        let expected: Vec<f64> = (1..=4).map(|k| 1.0 / f64::from(k).sqrt()).collect();
        assert_eq!(sizes, expected);
        assert!(x[0] < 1.0);
        let mut small = AdamGConfig::default().build(1).unwrap();
        assert_eq!(small.step(&mut x, &[0.5], 0.1).effective_lr, 0.1);
    }

    #[test]
    fn validation_names_the_field() {
        let err = |c: AdamGConfig| c.validate().unwrap_err().to_string();
        let d = AdamGConfig::default();
        assert!(
            err(AdamGConfig {
                betas: [0.9, 0.999, 1.0],
                ..d.clone()
            })
            .contains("`betas[2]`")
        );
        assert!(
            err(AdamGConfig {
                q: 0.0,
                ..d.clone()
            })
            .contains("`q`")
        );
        assert!(err(AdamGConfig { p: -1.0, ..d }).contains("`p`"));
    }
}
