//! Layer-wise DoG: DoG's "distance over gradients" step size for each parameter tensor.

use serde::{Deserialize, Serialize};

use crate::check::step_lengths;
use crate::dog::{DogConfig, DogStepSize};
use crate::moments::usable_lr;
use crate::tensors::tensor_ranges;
use crate::{OptimError, Optimizer, OptimizerConfig, StepInfo, name_and_snapshot};

/// Configuration of [`LDog`] (`kind = "ldog"`). Defaults are those of `dog-optimizer` 1.0.3
/// (its `lr` default, 1, is the controller's business in lrctl).
///
/// ```toml
/// [optimizer]
/// kind = "ldog"
/// r_eps = 1e-6
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LDogConfig {
    /// Relative initial distance (`reps_rel`): tensor `i` starts from
    /// `r_eps · (1 + ‖x_{0,i}‖)`. Must be > 0. Default 1e-6. Ignored when `init_eta` is set.
    pub r_eps: f64,
    /// Added once to each tensor's sum of squared gradient norms. Must be ≥ 0. Default 1e-8.
    pub eps: f64,
    /// Coupled L2 weight decay: `weight_decay · x` is added to the gradient. Must be ≥ 0.
    /// Default 0.
    pub weight_decay: f64,
    /// Explicit first step size of every tensor, `η_0 = lr · init_eta` (the distances then
    /// start from 0). Must be > 0 when set. Default unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_eta: Option<f64>,
}

impl Default for LDogConfig {
    fn default() -> Self {
        Self {
            r_eps: 1e-6,
            eps: 1e-8,
            weight_decay: 0.0,
            init_eta: None,
        }
    }
}

impl OptimizerConfig for LDogConfig {
    const KIND: &'static str = "ldog";
    type Optimizer = LDog;

    /// Each tensor's `η` comes from its distance and gradients; `lr` only multiplies it.
    fn sets_own_step_size(&self) -> bool {
        true
    }

    /// DoG's ranges ([`DogConfig`]'s checks, errors naming `ldog`).
    fn validate(&self) -> Result<(), OptimError> {
        self.as_dog().check_as(Self::KIND)
    }

    fn build(&self, n_params: usize) -> Result<LDog, OptimError> {
        self.validate()?;
        Ok(LDog {
            config: self.as_dog(),
            tensors: vec![(0, n_params)],
            x0: Vec::new(),
            step_sizes: Vec::new(),
        })
    }
}

impl LDogConfig {
    /// The same fields as DoG's configuration: each tensor follows [`crate::dog::Dog`]'s rule.
    fn as_dog(&self) -> DogConfig {
        DogConfig {
            r_eps: self.r_eps,
            eps: self.eps,
            weight_decay: self.weight_decay,
            init_eta: self.init_eta,
        }
    }
}

/// Layer-wise DoG, L-DoG (Ivgi, Hinder, Carmon 2023, *DoG is SGD's Best Friend: A
/// Parameter-Free Dynamic Step Size Schedule*, ICML; arXiv:2302.12022, Section 3.2), matching
/// `dog-optimizer` 1.0.3 `dog.LDoG`: [`crate::dog::Dog`]'s rule applied to each parameter
/// tensor `i` separately.
///
/// Step `t` (0-based), with `g_{t,i}` tensor `i`'s gradient plus `weight_decay · x_{t,i}`:
///
/// * `t = 0`: `r̄_{0,i} = r_eps · (1 + ‖x_{0,i}‖)` (0 with `init_eta`),
///   `G_{0,i} = ‖g_{0,i}‖² + eps`;
/// * `t > 0`: `r̄_{t,i} = max(r̄_{t−1,i}, ‖x_{t,i} − x_{0,i}‖)`, `G_{t,i} = G_{t−1,i} + ‖g_{t,i}‖²`;
/// * `η_{t,i} = lr · r̄_{t,i} / sqrt(G_{t,i})` (`lr · init_eta` at `t = 0` with `init_eta`),
///   `x_{t+1,i} = x_{t,i} − η_{t,i} g_{t,i}`.
///
/// The tensors are the model's, told by the engine before the first step
/// ([`Optimizer::set_param_shapes`]); without them the whole vector is one tensor and LDoG is
/// DoG. The effective learning rate is the tensors' `η` averaged by parameter count.
///
/// Deviations from the reference, as [`crate::dog::Dog`]'s: `init_eta` is multiplied by `lr`
/// (identical at `lr = 1`); a tensor with `G = 0` (possible only with `eps = 0`) is not moved
/// where the reference asserts; a non-positive or non-finite `lr` takes no step; sums and step
/// sizes are `f64` (the reference's are `f32` tensors).
#[derive(Debug, Clone)]
pub struct LDog {
    config: DogConfig,
    /// `(start, len)` of each tensor.
    tensors: Vec<(usize, usize)>,
    /// `x_0`, captured at the first step.
    x0: Vec<f32>,
    /// Each tensor's DoG step size.
    step_sizes: Vec<DogStepSize>,
}

impl Optimizer for LDog {
    name_and_snapshot!(LDogConfig);

    fn set_param_shapes(&mut self, shapes: &[Vec<usize>]) {
        if !self.x0.is_empty() {
            return;
        }
        let n: usize = self.tensors.iter().map(|t| t.1).sum();
        let tensors = tensor_ranges(shapes);
        let covered: usize = tensors.iter().map(|t| t.1).sum();
        assert_eq!(covered, n, "parameter shapes do not cover the vector");
        self.tensors = tensors;
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        let cfg = &self.config;
        let first = self.x0.is_empty();
        if first {
            self.x0 = params.to_vec();
            self.step_sizes = vec![DogStepSize::default(); self.tensors.len()];
        }
        step_lengths(params, grads, self.x0.len());
        let lr = usable_lr(lr);
        let l2 = cfg.weight_decay as f32;
        let grad = |g: f32, x: f32| if l2 != 0.0 { g + l2 * x } else { g };
        let mut weighted_eta = 0.0;
        for (i, &(start, len)) in self.tensors.iter().enumerate() {
            let (x, g) = (&mut params[start..start + len], &grads[start..start + len]);
            let x0 = &self.x0[start..start + len];
            let grad_sq: f64 = x
                .iter()
                .zip(g)
                .map(|(&x, &g)| f64::from(grad(g, x)).powi(2))
                .sum();
            let eta = self.step_sizes[i].eta(
                cfg,
                first,
                lr,
                grad_sq,
                || x.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt(),
                || {
                    x.iter()
                        .zip(x0)
                        .map(|(&x, &x0)| (f64::from(x) - f64::from(x0)).powi(2))
                        .sum::<f64>()
                        .sqrt()
                },
            );
            if eta > 0.0 {
                let c = (-eta) as f32;
                for (x, &g) in x.iter_mut().zip(g) {
                    *x += c * grad(g, *x);
                }
            }
            weighted_eta += eta * len as f64;
        }
        StepInfo {
            effective_lr: weighted_eta / params.len().max(1) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dog::DogConfig;

    #[test]
    fn one_tensor_is_dog() {
        let mut ldog = LDogConfig::default().build(3).unwrap();
        let mut dog = DogConfig::default().build(3).unwrap();
        let (mut a, mut b) = (vec![1.0f32, -0.5, 2.0], vec![1.0f32, -0.5, 2.0]);
        for t in 0..10 {
            let ga: Vec<f32> = a.iter().map(|&x| x - 0.1 * t as f32).collect();
            let gb: Vec<f32> = b.iter().map(|&x| x - 0.1 * t as f32).collect();
            let (ea, eb) = (
                ldog.step(&mut a, &ga, 1.0).effective_lr,
                dog.step(&mut b, &gb, 1.0).effective_lr,
            );
            assert!((ea - eb).abs() <= 1e-12 * eb, "{ea} vs {eb}");
            assert_eq!(a, b);
        }
    }

    #[test]
    fn each_tensor_gets_its_own_step_size() {
        // Two tensors whose gradients differ in scale by 100: DoG's first step sizes are
        // r_eps (1 + ‖x_0‖) / ‖g_0‖ each, so the small-gradient tensor steps 100× further.
        let mut opt = LDogConfig::default().build(2).unwrap();
        opt.set_param_shapes(&[vec![1], vec![1]]);
        let mut x = vec![0.0f32, 0.0];
        let info = opt.step(&mut x, &[1.0, 0.01], 1.0);
        let g1 = f64::from(0.01f32);
        let (e0, e1) = (
            1e-6 / (1.0f64 + 1e-8).sqrt(),
            1e-6 / (g1 * g1 + 1e-8).sqrt(),
        );
        assert!((info.effective_lr - (e0 + e1) / 2.0).abs() < 1e-12);
        assert!((f64::from(x[0]) + e0).abs() < 1e-12 && (f64::from(x[1]) + e1 * g1).abs() < 1e-12);
    }
}
