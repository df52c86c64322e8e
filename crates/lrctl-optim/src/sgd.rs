//! Stochastic gradient descent with momentum, dampening, Nesterov momentum and coupled weight
//! decay, with PyTorch's semantics.

use serde::{Deserialize, Serialize};

use crate::check::{Check, NON_NEGATIVE, Rule, UNIT_INTERVAL};
use crate::moments::{add_scaled, ema, l2_gradient, usable_lr};
use crate::{OptimError, Optimizer, OptimizerConfig, StepInfo, name_and_snapshot};

/// In `[0, 1]`.
const CLOSED_UNIT_INTERVAL: Rule = (|x| (0.0..=1.0).contains(&x), "must be in [0, 1]");

/// Configuration of [`Sgd`] (`kind = "sgd"`). Defaults are those of `torch.optim.SGD`
/// (PyTorch 1.13): plain SGD.
///
/// ```toml
/// [optimizer]
/// kind = "sgd"
/// momentum = 0.9
/// dampening = 0.0
/// nesterov = true
/// weight_decay = 5e-4
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SgdConfig {
    /// Momentum factor `μ` in `[0, 1)`. Default 0 (no momentum buffer).
    pub momentum: f64,
    /// Dampening `τ` in `[0, 1]`: the buffer adds `(1 − τ)·g`. Default 0.
    pub dampening: f64,
    /// Nesterov momentum; needs `momentum > 0` and `dampening = 0`. Default false.
    pub nesterov: bool,
    /// Coupled (L2) weight decay: `weight_decay · x` is added to the gradient. Must be ≥ 0.
    /// Default 0.
    pub weight_decay: f64,
}

impl Default for SgdConfig {
    fn default() -> Self {
        Self {
            momentum: 0.0,
            dampening: 0.0,
            nesterov: false,
            weight_decay: 0.0,
        }
    }
}

impl OptimizerConfig for SgdConfig {
    const KIND: &'static str = "sgd";
    type Optimizer = Sgd;

    /// `lr` is the step size.
    fn sets_own_step_size(&self) -> bool {
        false
    }

    /// Checks every field's range and the Nesterov preconditions.
    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.field("momentum", self.momentum, UNIT_INTERVAL)?;
        c.field("dampening", self.dampening, CLOSED_UNIT_INTERVAL)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(OptimError::InvalidField {
                optimizer: "sgd",
                field: "nesterov",
                reason: format!(
                    "Nesterov momentum requires momentum > 0 and dampening = 0 \
                     (got momentum = {}, dampening = {})",
                    self.momentum, self.dampening
                ),
            });
        }
        Ok(())
    }

    /// Validates and builds the optimizer for `n_params` parameters.
    fn build(&self, n_params: usize) -> Result<Sgd, OptimError> {
        self.validate()?;
        let needs_grad_buffer = self.weight_decay != 0.0 || self.nesterov;
        Ok(Sgd {
            config: self.clone(),
            grad: if needs_grad_buffer {
                vec![0.0; n_params]
            } else {
                Vec::new()
            },
            momentum_buffer: Vec::new(),
        })
    }
}

/// Stochastic gradient descent (Robbins & Monro 1951) with heavy-ball momentum (Polyak 1964)
/// or Nesterov momentum in the form of Sutskever et al. 2013 (*On the importance of
/// initialization and momentum in deep learning*, ICML), exactly as `torch.optim.SGD`
/// (PyTorch 1.13) defines it:
///
/// ```text
/// g ← ∇f(x) + weight_decay · x
/// b ← g                          at the first step (no dampening on it)
/// b ← μ·b + (1 − τ)·g            afterwards
/// d ← g + μ·b  (Nesterov)  or  d ← b  (momentum)  or  d ← g  (μ = 0)
/// x ← x − lr · d
/// ```
///
/// The effective learning rate is the `lr` of the step. Float operation order: see
/// [`crate::moments`]; checked against `torch.optim.SGD` to 1e-5 relative by
/// `tests/base_optimizers.rs` (fixture `tests/fixtures/base_sgd.json`).
///
/// Deviations from PyTorch: a negative or non-finite `lr` takes no step (the momentum buffer
/// still advances); PyTorch would step with it. `momentum ≥ 1` and `dampening ∉ [0, 1]` are
/// rejected (PyTorch accepts them).
#[derive(Debug, Clone)]
pub struct Sgd {
    config: SgdConfig,
    /// Scratch for the weight-decayed / Nesterov direction.
    grad: Vec<f32>,
    /// Momentum buffer `b`, allocated at the first step (empty before).
    momentum_buffer: Vec<f32>,
}

impl Optimizer for Sgd {
    name_and_snapshot!(SgdConfig);

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        assert_eq!(
            grads.len(),
            params.len(),
            "gradient length != parameter length"
        );
        let lr = usable_lr(lr);
        let (momentum, nesterov) = (self.config.momentum, self.config.nesterov);
        // The scratch buffer holds `g + weight_decay · x`, then Nesterov's `g + μ·b`.
        let use_scratch = self.config.weight_decay != 0.0 || nesterov;
        if use_scratch {
            self.grad.resize(params.len(), 0.0);
            l2_gradient(&mut self.grad, grads, params, self.config.weight_decay);
        }
        if momentum != 0.0 {
            let g: &[f32] = if use_scratch { &self.grad } else { grads };
            if self.momentum_buffer.is_empty() {
                self.momentum_buffer.extend_from_slice(g);
            } else {
                ema(
                    &mut self.momentum_buffer,
                    g,
                    momentum,
                    1.0 - self.config.dampening,
                );
            }
            if nesterov {
                add_scaled(&mut self.grad, &self.momentum_buffer, momentum);
            }
        }
        let direction: &[f32] = if momentum != 0.0 && !nesterov {
            &self.momentum_buffer
        } else if use_scratch {
            &self.grad
        } else {
            grads
        };
        if lr > 0.0 {
            add_scaled(params, direction, -lr);
        }
        StepInfo { effective_lr: lr }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sgd(momentum: f64, dampening: f64, nesterov: bool, weight_decay: f64) -> Sgd {
        SgdConfig {
            momentum,
            dampening,
            nesterov,
            weight_decay,
        }
        .build(2)
        .unwrap()
    }

    /// f(x) = ½ (a₁x₁² + a₂x₂²): gradient (a₁x₁, a₂x₂).
    fn quad_grad(x: &[f32]) -> Vec<f32> {
        vec![2.0 * x[0], 0.5 * x[1]]
    }

    #[test]
    fn plain_sgd_on_a_quadratic_by_hand() {
        let mut opt = sgd(0.0, 0.0, false, 0.0);
        let mut x = vec![1.0f32, -2.0];
        let g = quad_grad(&x);
        let info = opt.step(&mut x, &g, 0.25);
        assert_eq!(info.effective_lr, 0.25);
        // x − 0.25·(2, −1) = (0.5, −1.75)
        assert_eq!(x, [0.5, -1.75]);
        let g = quad_grad(&x);
        opt.step(&mut x, &g, 0.5);
        // (0.5 − 0.5·1, −1.75 + 0.5·0.875) = (0, −1.3125)
        assert_eq!(x, [0.0, -1.3125]);
    }

    #[test]
    fn momentum_dampening_and_weight_decay_by_hand() {
        let mut opt = sgd(0.5, 0.5, false, 0.25);
        let mut x = vec![1.0f32, -2.0];
        // g = (2, −1) + 0.25·(1, −2) = (2.25, −1.5); b = g; x = (1, −2) − 0.1·b
        let g = quad_grad(&x);
        opt.step(&mut x, &g, 0.1);
        let x1 = [1.0f32 - 0.1 * 2.25, -2.0 + 0.1 * 1.5];
        assert_eq!(x, x1);
        // g = (2·0.775, 0.5·−1.85) + 0.25·x1 = (1.74375, −1.3875)
        // b = 0.5·(2.25, −1.5) + 0.5·g = (1.996875, −1.44375)
        let g = quad_grad(&x);
        opt.step(&mut x, &g, 0.1);
        let want = [0.775 - 0.1996875, -1.85 + 0.144375];
        for (a, b) in x.iter().zip(want) {
            assert!((f64::from(*a) - b).abs() < 1e-6, "{x:?} vs {want:?}");
        }
    }

    #[test]
    fn nesterov_by_hand() {
        let mut opt = sgd(0.9, 0.0, true, 0.0);
        let mut x = vec![1.0f32, -2.0];
        // g = (2, −1); b = g; d = g + 0.9·b = 1.9·g; x = x − 0.1·d
        let g = quad_grad(&x);
        opt.step(&mut x, &g, 0.1);
        let x1 = [1.0 - 0.1 * 3.8, -2.0 + 0.1 * 1.9];
        for (a, b) in x.iter().zip(x1) {
            assert!((f64::from(*a) - b).abs() < 1e-6);
        }
        // g = (1.24, −0.905); b = 0.9·(2, −1) + g = (3.04, −1.805); d = g + 0.9·b
        let g = quad_grad(&x);
        opt.step(&mut x, &g, 0.1);
        let d = [1.24 + 0.9 * 3.04, -0.905 + 0.9 * -1.805];
        for i in 0..2 {
            assert!(
                (f64::from(x[i]) - (x1[i] - 0.1 * d[i])).abs() < 1e-6,
                "{x:?}"
            );
        }
    }

    #[test]
    fn bad_lr_takes_no_step_but_advances_momentum() {
        let mut opt = sgd(0.9, 0.0, false, 0.0);
        let mut x = vec![1.0f32, 1.0];
        for lr in [-1.0, f64::NAN, f64::INFINITY, 0.0] {
            let info = opt.step(&mut x, &[1.0, 1.0], lr);
            assert_eq!(info.effective_lr, 0.0);
            assert_eq!(x, [1.0, 1.0]);
        }
        // b = 1, then 0.9·b + 1 three times = 3.439
        opt.step(&mut x, &[0.0, 0.0], 1.0);
        assert!((x[0] - (1.0 - 0.9 * 3.439)).abs() < 1e-6, "{x:?}");
    }

    #[test]
    fn validation_names_the_field() {
        let err = |c: SgdConfig| c.validate().unwrap_err().to_string();
        let base = SgdConfig::default();
        assert!(
            err(SgdConfig {
                momentum: 1.0,
                ..base.clone()
            })
            .contains("`momentum`")
        );
        assert!(
            err(SgdConfig {
                momentum: -0.1,
                ..base.clone()
            })
            .contains("`momentum`")
        );
        assert!(
            err(SgdConfig {
                dampening: 1.5,
                ..base.clone()
            })
            .contains("`dampening`")
        );
        assert!(
            err(SgdConfig {
                weight_decay: -1.0,
                ..base.clone()
            })
            .contains("`weight_decay`")
        );
        assert!(
            err(SgdConfig {
                nesterov: true,
                ..base.clone()
            })
            .contains("`nesterov`")
        );
        let nesterov_damp = SgdConfig {
            nesterov: true,
            momentum: 0.9,
            dampening: 0.1,
            ..base.clone()
        };
        assert!(err(nesterov_damp).contains("`nesterov`"));
        assert!(
            SgdConfig {
                nesterov: true,
                momentum: 0.9,
                ..base
            }
            .validate()
            .is_ok()
        );
    }
}
