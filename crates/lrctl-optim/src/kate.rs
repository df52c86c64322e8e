//! KATE: a scale-invariant AdaGrad without the square root.

use serde::{Deserialize, Serialize};

use crate::check::{Check, NON_NEGATIVE, UNIT_INTERVAL, step_lengths};
use crate::moments::{WeightDecay, usable_lr};
use crate::{OptimError, Optimizer, OptimizerConfig, StepInfo, name_and_snapshot};

/// Configuration of [`Kate`] (`kind = "kate"`). Defaults are those of `pytorch-optimizer`
/// 4.1.0 `Kate` (whose `lr` default, 0.001, is the controller's business in lrctl).
///
/// ```toml
/// [optimizer]
/// kind = "kate"
/// delta = 0.0
/// eps = 1e-8
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KateConfig {
    /// `δ` in `[0, 1)`: weight of `g²` in the numerator's accumulator (the paper's `η_0`-like
    /// term; 0 or 1e-8 in practice). Default 0.
    pub delta: f64,
    /// Weight decay strength. Must be ≥ 0. Default 0.
    pub weight_decay: f64,
    /// Decoupled weight decay (`x ← x · (1 − weight_decay · lr)`) instead of an L2 term added
    /// to the gradient. Default true.
    pub weight_decouple: bool,
    /// With `weight_decouple`, do not scale the decay by `lr`. Default false.
    pub fixed_decay: bool,
    /// Added to the squared denominator `b²` at every step. Must be ≥ 0. Default 1e-8.
    pub eps: f64,
}

impl Default for KateConfig {
    fn default() -> Self {
        Self {
            delta: 0.0,
            weight_decay: 0.0,
            weight_decouple: true,
            fixed_decay: false,
            eps: 1e-8,
        }
    }
}

impl OptimizerConfig for KateConfig {
    const KIND: &'static str = "kate";
    type Optimizer = Kate;

    /// `lr` is the step size (KATE removes the sensitivity to the gradients' scale, not the
    /// learning rate).
    fn sets_own_step_size(&self) -> bool {
        false
    }

    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.field("delta", self.delta, UNIT_INTERVAL)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.field("eps", self.eps, NON_NEGATIVE)
    }

    fn build(&self, n_params: usize) -> Result<Kate, OptimError> {
        self.validate()?;
        Ok(Kate {
            config: self.clone(),
            m: vec![0.0; n_params],
            b: vec![0.0; n_params],
        })
    }
}

/// KATE (Choudhury et al. 2024, *Remove that Square Root:
/// A New Efficient Scale-Invariant Version of AdaGrad*, NeurIPS; arXiv:2403.02648), matching
/// `pytorch-optimizer` 4.1.0 `Kate` (its per-tensor path, `foreach = False`).
///
/// Per coordinate, with `g` the gradient (plus `weight_decay · x` unless decoupled):
///
/// ```text
/// b² ← b² + g² + eps
/// m² ← m² + δ g² + g² / b²
/// x ← x − lr · m g / b²
/// ```
///
/// (`b` and `m` are stored as their square roots, as in the reference.) Without the square
/// root of AdaGrad's denominator the update is invariant to rescaling the gradients of a
/// generalised linear model. Decoupled decay `x ← x · (1 − weight_decay · lr)` (`· 1` with
/// `fixed_decay`) comes first. The effective learning rate is `lr`.
///
/// **Steps inversely proportional to the gradient.** The first step is `lr · g / (g² + eps)`
/// per coordinate, about `lr / |g|` and at most `lr / (2 sqrt(eps))` (5,000 `lr` at the
/// default `eps`), so `lr` still has to suit the task. With the package's default
/// `lr = 1e-3`, `lrctl train --task mlp/digits --method kate.toml` (a copy of the built-in
/// method with that `lr`) diverges at step 1 (training loss 6.1e3 against 2.3 at the start);
/// `lr = 1e-4` reaches 92% validation accuracy there but still diverges at step 1 on
/// `mlp/fashion-mnist-10k` and `cnn/mnist`; `lr = 1e-5` (lrctl's `kate` method) trains
/// everywhere but slowly (`cnn/mnist`: 32% after 200 steps); `logreg/breast-cancer` wants
/// `lr = 1e-2` (validation loss 0.03 against 0.46 at 1e-4). KATE removes the sensitivity to
/// the gradients' scale, not to `lr`.
///
/// Deviations: a negative or non-finite `lr` counts as 0 (no step; the accumulators still
/// advance). `maximize` and complex parameters have no counterpart.
#[derive(Debug, Clone)]
pub struct Kate {
    config: KateConfig,
    m: Vec<f32>,
    b: Vec<f32>,
}

impl Optimizer for Kate {
    name_and_snapshot!(KateConfig);

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        step_lengths(params, grads, self.m.len());
        let cfg = &self.config;
        let lr = usable_lr(lr);
        let decay = WeightDecay::new(cfg.weight_decay, cfg.weight_decouple, cfg.fixed_decay, lr);
        let (delta, eps, neg_lr) = (cfg.delta as f32, cfg.eps as f32, -lr as f32);
        for (((x, &g), m), b) in params
            .iter_mut()
            .zip(grads)
            .zip(self.m.iter_mut())
            .zip(self.b.iter_mut())
        {
            let g = decay.apply(x, g);
            let g2 = g * g;
            let b2 = *b * *b + g2 + eps;
            *m = (*m * *m + delta * g2 + g2 / b2).sqrt();
            *x += neg_lr * ((*m * g) / b2);
            *b = b2.sqrt();
        }
        StepInfo { effective_lr: lr }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_by_hand() {
        // b² = g² + eps, m = sqrt(g²/b²) ≈ 1: the first step is lr · g / b² ≈ lr / g.
        let mut opt = KateConfig::default().build(2).unwrap();
        let mut x = vec![0.0f32, 0.0];
        let info = opt.step(&mut x, &[0.5, -2.0], 0.1);
        assert_eq!(info.effective_lr, 0.1);
        assert!(
            (x[0] + 0.2).abs() < 1e-6 && (x[1] - 0.05).abs() < 1e-6,
            "{x:?}"
        );
    }

    #[test]
    fn scale_invariant_for_a_rescaled_gradient_history() {
        // Multiplying every gradient by c divides the steps by c (eps aside): KATE's point.
        let run = |c: f32| {
            let mut opt = KateConfig {
                eps: 0.0,
                ..Default::default()
            }
            .build(1)
            .unwrap();
            let mut x = vec![0.0f32];
            for g in [1.0f32, -0.5, 2.0, 0.25] {
                opt.step(&mut x, &[c * g], 0.1);
            }
            x[0]
        };
        assert!(
            (run(1.0) - 4.0 * run(4.0)).abs() < 1e-5,
            "{} {}",
            run(1.0),
            run(4.0)
        );
    }

    #[test]
    fn validation_names_the_field() {
        let err = |c: KateConfig| c.validate().unwrap_err().to_string();
        let d = KateConfig::default();
        assert!(
            err(KateConfig {
                delta: 1.0,
                ..d.clone()
            })
            .contains("`delta`")
        );
        assert!(err(KateConfig { eps: -1.0, ..d }).contains("`eps`"));
    }
}
