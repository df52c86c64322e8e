//! Adam (coupled L2 weight decay) and AdamW (decoupled weight decay), with PyTorch's
//! semantics, sharing one update.

use serde::{Deserialize, Serialize};

use crate::check::{Check, NON_NEGATIVE, POSITIVE};
use crate::moments::{
    adam_denominator, adam_fused, addcdiv, bias_correction, decoupled_decay, ema, ema_sq,
    l2_gradient, running_max, usable_lr,
};
use crate::{Finiteness, OptimError, Optimizer, OptimizerConfig, StepInfo, name_and_snapshot};

/// Configuration of [`Adam`] (`kind = "adam"`). Defaults are those of `torch.optim.Adam`
/// (PyTorch 1.13).
///
/// ```toml
/// [optimizer]
/// kind = "adam"
/// betas = [0.9, 0.999]
/// eps = 1e-8
/// weight_decay = 0.0
/// amsgrad = false
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamConfig {
    /// EMA coefficients `[β1, β2]` of the gradient and of its square, each in `[0, 1)`.
    /// Default `[0.9, 0.999]`.
    pub betas: [f64; 2],
    /// Added to the bias-corrected `sqrt(v)`. Must be > 0. Default 1e-8.
    pub eps: f64,
    /// Coupled (L2) weight decay: `weight_decay · x` is added to the gradient before the
    /// moments. Must be ≥ 0. Default 0.
    pub weight_decay: f64,
    /// AMSGrad (Reddi et al. 2018): normalise by the running maximum of `v`. Default false.
    pub amsgrad: bool,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: false,
        }
    }
}

/// Configuration of [`AdamW`] (`kind = "adamw"`). Defaults are those of `torch.optim.AdamW`
/// (PyTorch 1.13; note its `weight_decay` default of 0.01). lrctl's paper methods set
/// `betas = [0.9, 0.99]`, `eps = 1e-8`, `weight_decay = 0`.
///
/// ```toml
/// [optimizer]
/// kind = "adamw"
/// betas = [0.9, 0.99]
/// eps = 1e-8
/// weight_decay = 0.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdamWConfig {
    /// EMA coefficients `[β1, β2]` of the gradient and of its square, each in `[0, 1)`.
    /// Default `[0.9, 0.999]`.
    pub betas: [f64; 2],
    /// Added to the bias-corrected `sqrt(v)`. Must be > 0. Default 1e-8.
    pub eps: f64,
    /// Decoupled weight decay: `x ← x · (1 − lr · weight_decay)` before the Adam step. Must be
    /// ≥ 0. Default 0.01.
    pub weight_decay: f64,
    /// AMSGrad (Reddi et al. 2018): normalise by the running maximum of `v`. Default false.
    pub amsgrad: bool,
}

impl Default for AdamWConfig {
    fn default() -> Self {
        Self {
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.01,
            amsgrad: false,
        }
    }
}

/// Range checks shared by both configurations.
fn validate_adam(
    kind: &'static str,
    betas: [f64; 2],
    eps: f64,
    weight_decay: f64,
) -> Result<(), OptimError> {
    let c = Check(kind);
    c.betas(&betas)?;
    c.field("eps", eps, POSITIVE)?;
    c.field("weight_decay", weight_decay, NON_NEGATIVE)
}

impl OptimizerConfig for AdamConfig {
    const KIND: &'static str = "adam";
    type Optimizer = Adam;

    /// `lr` is the step size.
    fn sets_own_step_size(&self) -> bool {
        false
    }

    /// Checks every field's range.
    fn validate(&self) -> Result<(), OptimError> {
        validate_adam(Self::KIND, self.betas, self.eps, self.weight_decay)
    }

    /// Validates and builds the optimizer for `n_params` parameters.
    fn build(&self, n_params: usize) -> Result<Adam, OptimError> {
        self.validate()?;
        Ok(Adam {
            core: AdamCore::new(
                n_params,
                self.betas,
                self.eps,
                self.weight_decay,
                false,
                self.amsgrad,
            ),
        })
    }
}

impl OptimizerConfig for AdamWConfig {
    const KIND: &'static str = "adamw";
    type Optimizer = AdamW;

    /// `lr` is the step size.
    fn sets_own_step_size(&self) -> bool {
        false
    }

    /// Checks every field's range.
    fn validate(&self) -> Result<(), OptimError> {
        validate_adam(Self::KIND, self.betas, self.eps, self.weight_decay)
    }

    /// Validates and builds the optimizer for `n_params` parameters.
    fn build(&self, n_params: usize) -> Result<AdamW, OptimError> {
        self.validate()?;
        Ok(AdamW {
            core: AdamCore::new(
                n_params,
                self.betas,
                self.eps,
                self.weight_decay,
                true,
                self.amsgrad,
            ),
        })
    }
}

/// The Adam update shared by [`Adam`] and [`AdamW`]; they differ only in where the weight
/// decay goes.
#[derive(Debug, Clone)]
struct AdamCore {
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
    amsgrad: bool,
    /// Steps taken (`k`, 1-based after the first step).
    k: u64,
    /// First moment `m`.
    exp_avg: Vec<f32>,
    /// Second moment `v`.
    exp_avg_sq: Vec<f32>,
    /// AMSGrad's running maximum of `v` (empty without AMSGrad).
    max_exp_avg_sq: Vec<f32>,
    /// Scratch: the coupled-decay gradient, then the denominator.
    scratch: Vec<f32>,
    /// What the last step's update pass found (the fused pass checks, AMSGrad's does not).
    finiteness: Finiteness,
}

impl AdamCore {
    fn new(
        n_params: usize,
        betas: [f64; 2],
        eps: f64,
        weight_decay: f64,
        decoupled: bool,
        amsgrad: bool,
    ) -> Self {
        Self {
            beta1: betas[0],
            beta2: betas[1],
            eps,
            weight_decay,
            decoupled,
            amsgrad,
            k: 0,
            exp_avg: vec![0.0; n_params],
            exp_avg_sq: vec![0.0; n_params],
            max_exp_avg_sq: if amsgrad {
                vec![0.0; n_params]
            } else {
                Vec::new()
            },
            scratch: vec![0.0; n_params],
            finiteness: Finiteness::Unchecked,
        }
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        assert_eq!(
            grads.len(),
            params.len(),
            "gradient length != parameter length"
        );
        assert_eq!(
            self.exp_avg.len(),
            params.len(),
            "parameter vector length changed"
        );
        let lr = usable_lr(lr);
        self.k += 1;
        if !self.amsgrad {
            let (decay, l2) = if self.decoupled {
                (1.0 - lr * self.weight_decay, 0.0)
            } else {
                (1.0, self.weight_decay)
            };
            let step = if lr > 0.0 {
                -(lr / bias_correction(self.beta1, self.k))
            } else {
                0.0
            };
            let finite = adam_fused(
                params,
                grads,
                &mut self.exp_avg,
                &mut self.exp_avg_sq,
                decay,
                l2,
                [self.beta1, self.beta2],
                bias_correction(self.beta2, self.k),
                self.eps,
                step,
            );
            self.finiteness = Finiteness::checked(finite);
            return StepInfo { effective_lr: lr };
        }
        // AMSGrad: the multi-pass form (its running maximum sits between the moments and the
        // denominator).
        let grad: &[f32] = if self.decoupled {
            decoupled_decay(params, lr, self.weight_decay);
            grads
        } else if self.weight_decay != 0.0 {
            l2_gradient(&mut self.scratch, grads, params, self.weight_decay);
            &self.scratch
        } else {
            grads
        };
        ema(&mut self.exp_avg, grad, self.beta1, 1.0 - self.beta1);
        ema_sq(&mut self.exp_avg_sq, grad, self.beta2, 1.0 - self.beta2);
        let bias_correction2 = bias_correction(self.beta2, self.k);
        let step_size = lr / bias_correction(self.beta1, self.k);
        let v = if self.amsgrad {
            running_max(&mut self.max_exp_avg_sq, &self.exp_avg_sq);
            &self.max_exp_avg_sq
        } else {
            &self.exp_avg_sq
        };
        adam_denominator(&mut self.scratch, v, bias_correction2, self.eps);
        if lr > 0.0 {
            addcdiv(params, &self.exp_avg, &self.scratch, -step_size);
        }
        self.finiteness = Finiteness::Unchecked;
        StepInfo { effective_lr: lr }
    }
}

/// Adam (Kingma & Ba 2015, *Adam: A Method for Stochastic Optimization*, ICLR;
/// arXiv:1412.6980), with optional AMSGrad (Reddi, Kale, Kumar 2018, *On the Convergence of
/// Adam and Beyond*, ICLR) and coupled L2 weight decay, exactly as `torch.optim.Adam`
/// (PyTorch 1.13, single-tensor path) defines it. At step `k = 1, 2, …`:
///
/// ```text
/// g ← ∇f(x) + weight_decay · x
/// m ← β1·m + (1 − β1)·g          v ← β2·v + (1 − β2)·g²      (v̂ ← max(v̂, v) with AMSGrad)
/// x ← x − lr/(1 − β1^k) · m / (sqrt(v)/sqrt(1 − β2^k) + eps)
/// ```
///
/// The effective learning rate is the `lr` of the step (the bias corrections are per step
/// constants of Adam, not a change of the learning rate). Float operation order: see
/// [`crate::moments`]; checked against `torch.optim.Adam` to 1e-5 relative by
/// `tests/base_optimizers.rs` (fixture `tests/fixtures/base_adam.json`).
///
/// Deviations from PyTorch: a negative or non-finite `lr` takes no step (the moments still
/// advance); `eps = 0` is rejected (PyTorch accepts it and then divides 0 by 0 on a coordinate
/// that has only seen zero gradients).
#[derive(Debug, Clone)]
pub struct Adam {
    core: AdamCore,
}

impl Optimizer for Adam {
    name_and_snapshot!(AdamConfig);

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        self.core.step(params, grads, lr)
    }

    fn finiteness(&self) -> Finiteness {
        self.core.finiteness
    }
}

/// AdamW (Loshchilov & Hutter 2019, *Decoupled Weight Decay Regularization*, ICLR;
/// arXiv:1711.05101), exactly as `torch.optim.AdamW` (PyTorch 1.13, single-tensor path)
/// defines it: `x ← x · (1 − lr · weight_decay)`, then the [`Adam`] step on the raw gradient.
/// Note that the decay is multiplied by the scheduled `lr` (PyTorch's choice; the paper
/// multiplies it by the schedule multiplier only).
///
/// The effective learning rate is the `lr` of the step. Checked against `torch.optim.AdamW`
/// to 1e-5 relative by `tests/base_optimizers.rs` (fixture `tests/fixtures/base_adamw.json`).
///
/// Deviations from PyTorch: as for [`Adam`] (no step, and no decay, for a negative or
/// non-finite `lr`; `eps = 0` rejected).
#[derive(Debug, Clone)]
pub struct AdamW {
    core: AdamCore,
}

impl Optimizer for AdamW {
    name_and_snapshot!(AdamWConfig);

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        self.core.step(params, grads, lr)
    }

    fn finiteness(&self) -> Finiteness {
        self.core.finiteness
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f64, tol: f64) -> bool {
        (f64::from(a) - b).abs() <= tol * b.abs().max(1e-12)
    }

    /// f(x) = ½ (2x₁² + ½x₂²): gradient (2x₁, ½x₂).
    fn quad_grad(x: &[f32]) -> Vec<f32> {
        vec![2.0 * x[0], 0.5 * x[1]]
    }

    /// Adam by hand in f64, two steps on the quadratic.
    fn adam_by_hand(lr: f64, [b1, b2]: [f64; 2], eps: f64, wd: f64, decoupled: bool) -> [f64; 2] {
        let mut x = [1.0f64, -2.0];
        let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
        for k in 1..=2 {
            let grad = [2.0 * x[0], 0.5 * x[1]];
            for i in 0..2 {
                let g = if decoupled {
                    x[i] *= 1.0 - lr * wd;
                    grad[i]
                } else {
                    grad[i] + wd * x[i]
                };
                m[i] = b1 * m[i] + (1.0 - b1) * g;
                v[i] = b2 * v[i] + (1.0 - b2) * g * g;
                let m_hat = m[i] / (1.0 - b1.powi(k));
                let v_hat = v[i] / (1.0 - b2.powi(k));
                x[i] -= lr * m_hat / (v_hat.sqrt() + eps);
            }
        }
        x
    }

    #[test]
    fn first_adam_step_moves_by_lr_times_the_sign() {
        // After one step m̂ = g and v̂ = g², so the step is lr · g/(|g| + eps).
        let mut opt = AdamConfig::default().build(2).unwrap();
        let mut x = vec![1.0f32, -2.0];
        let g = quad_grad(&x);
        let info = opt.step(&mut x, &g, 0.1);
        assert_eq!(info.effective_lr, 0.1);
        assert!(close(x[0], 0.9, 1e-6) && close(x[1], -1.9, 1e-6), "{x:?}");
    }

    #[test]
    fn adam_two_steps_by_hand() {
        for (wd, amsgrad) in [(0.0, false), (0.1, false), (0.1, true)] {
            let cfg = AdamConfig {
                betas: [0.5, 0.75],
                eps: 1e-3,
                weight_decay: wd,
                amsgrad,
            };
            let mut opt = cfg.build(2).unwrap();
            let mut x = vec![1.0f32, -2.0];
            for _ in 0..2 {
                let g = quad_grad(&x);
                opt.step(&mut x, &g, 0.1);
            }
            // v only grows here (|g| barely shrinks), so AMSGrad changes nothing.
            let want = adam_by_hand(0.1, [0.5, 0.75], 1e-3, wd, false);
            for i in 0..2 {
                assert!(close(x[i], want[i], 1e-6), "wd {wd}: {x:?} vs {want:?}");
            }
        }
    }

    #[test]
    fn adamw_two_steps_by_hand() {
        let cfg = AdamWConfig {
            betas: [0.5, 0.75],
            eps: 1e-3,
            weight_decay: 0.5,
            amsgrad: false,
        };
        let mut opt = cfg.build(2).unwrap();
        let mut x = vec![1.0f32, -2.0];
        for _ in 0..2 {
            let g = quad_grad(&x);
            opt.step(&mut x, &g, 0.1);
        }
        let want = adam_by_hand(0.1, [0.5, 0.75], 1e-3, 0.5, true);
        for i in 0..2 {
            assert!(close(x[i], want[i], 1e-6), "{x:?} vs {want:?}");
        }
        // Decoupled decay differs from coupled decay.
        let coupled = adam_by_hand(0.1, [0.5, 0.75], 1e-3, 0.5, false);
        assert!((coupled[0] - want[0]).abs() > 1e-3);
    }

    #[test]
    fn amsgrad_uses_the_running_maximum() {
        // A large gradient then a small one: v shrinks, v̂ keeps the maximum.
        let cfg = AdamConfig {
            betas: [0.0, 0.5],
            eps: 1e-8,
            weight_decay: 0.0,
            amsgrad: true,
        };
        let mut ams = cfg.build(1).unwrap();
        let mut plain = AdamConfig {
            amsgrad: false,
            ..cfg
        }
        .build(1)
        .unwrap();
        let (mut xa, mut xp) = (vec![0.0f32], vec![0.0f32]);
        for g in [10.0f32, 0.1] {
            ams.step(&mut xa, &[g], 1.0);
            plain.step(&mut xp, &[g], 1.0);
        }
        // Step 1: m = 10, v = 50, bias-corrected sqrt(v/0.5) = 10: x = -1 (both).
        // Step 2: m = 0.1, v = 0.5·50 + 0.5·0.01 = 25.005 < v̂ = 50; bc2 = 0.75.
        let plain_step2 = 0.1 / (25.005f64 / 0.75).sqrt();
        let ams_step2 = 0.1 / (50.0f64 / 0.75).sqrt();
        assert!(close(xp[0], -1.0 - plain_step2, 1e-5), "{xp:?}");
        assert!(close(xa[0], -1.0 - ams_step2, 1e-5), "{xa:?}");
    }

    #[test]
    fn validation_names_the_field() {
        let err = |c: AdamConfig| c.validate().unwrap_err().to_string();
        let base = AdamConfig::default();
        assert!(
            err(AdamConfig {
                betas: [1.0, 0.9],
                ..base.clone()
            })
            .contains("`betas[0]`")
        );
        assert!(
            err(AdamConfig {
                betas: [0.9, -0.1],
                ..base.clone()
            })
            .contains("`betas[1]`")
        );
        assert!(
            err(AdamConfig {
                eps: 0.0,
                ..base.clone()
            })
            .contains("`eps`")
        );
        assert!(
            err(AdamConfig {
                eps: -1e-8,
                ..base.clone()
            })
            .contains("`eps`")
        );
        let w = AdamWConfig {
            weight_decay: -0.1,
            ..AdamWConfig::default()
        };
        let msg = w.validate().unwrap_err().to_string();
        assert!(
            msg.contains("`weight_decay`") && msg.contains("`adamw`"),
            "{msg}"
        );
    }
}
