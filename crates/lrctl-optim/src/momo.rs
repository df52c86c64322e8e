//! MoMo and MoMo-Adam: momentum with a Polyak-type step from a model of the loss.

use serde::{Deserialize, Serialize};

use crate::check::{Check, FINITE, NON_NEGATIVE, UNIT_INTERVAL, step_lengths};
use crate::moments::usable_lr;
use crate::tensors::tensor_ranges;
use crate::{OptimError, Optimizer, OptimizerConfig, StepInfo, name_and_snapshot};

/// Python's `max(a, b)`: `a` unless `b > a` (so a NaN `a` stays).
fn py_max(a: f64, b: f64) -> f64 {
    if b > a { b } else { a }
}

/// Python's `min(a, b)`: `a` unless `b < a` (so a NaN `b` is ignored).
fn py_min(a: f64, b: f64) -> f64 {
    if b < a { b } else { a }
}

/// `Σ f(i)` over a tensor's coordinates in `f64`, rounded to `f32` (PyTorch's `f32` sum,
/// whose pairwise accumulation is about as exact).
fn sum32(n: usize, f: impl Fn(usize) -> f64) -> f32 {
    (0..n).map(f).sum::<f64>() as f32
}

/// The state both MoMo variants share: the tensor boundaries, the loss model's averages and
/// the adaptive lower bound.
#[derive(Debug, Clone)]
struct Model {
    /// `(start, len)` of each parameter tensor.
    tensors: Vec<(usize, usize)>,
    /// Steps taken.
    k: u64,
    /// The loss observed for the coming step.
    loss: f32,
    /// `f̄_k`, the average loss (an `f32` tensor in the reference).
    loss_avg: f32,
    /// `⟨g, x⟩` averaged, per tensor (`grad_dot_w`).
    grad_dot_w: Vec<f32>,
    /// The lower bound `f*` (adapted with `use_fstar`).
    lb: f64,
    initial_lb: f64,
}

impl Model {
    fn new(n_params: usize, lb: f64) -> Self {
        Self {
            tensors: vec![(0, n_params)],
            k: 0,
            loss: f32::NAN,
            loss_avg: 0.0,
            grad_dot_w: vec![0.0],
            lb,
            initial_lb: lb,
        }
    }

    fn set_shapes(&mut self, shapes: &[Vec<usize>]) {
        if self.k > 0 {
            return;
        }
        self.tensors = tensor_ranges(shapes);
        self.grad_dot_w = vec![0.0; self.tensors.len()];
    }

    /// Tensor `t`'s terms of the Polyak-type step's sums, once its average gradient `d` is
    /// updated: `⟨g, x⟩` enters the tensor's average (`grad_dot_w`, which starts at the first
    /// value when `first`), and `⟨x, d⟩`, the tensor's average and `norm` (its squared norm of
    /// `d`, preconditioned or not) are added to `sums = [dot, γ, norm]`, each an `f32` sum as
    /// in the reference.
    #[allow(clippy::too_many_arguments)]
    fn add_tensor(
        &mut self,
        sums: &mut [f32; 3],
        t: usize,
        (x, g, d): (&[f32], &[f32], &[f32]),
        first: bool,
        (b, w): (f32, f32),
        norm: f32,
    ) {
        let xg = sum32(x.len(), |i| f64::from(x[i]) * f64::from(g[i]));
        if first {
            self.grad_dot_w[t] = xg;
        }
        self.grad_dot_w[t] = self.grad_dot_w[t] * b + w * xg;
        sums[0] += sum32(x.len(), |i| f64::from(x[i]) * f64::from(d[i]));
        sums[1] += self.grad_dot_w[t];
        sums[2] += norm;
    }

    /// The Polyak-type step `τ` from the sums `⟨x, d⟩`, `γ = Σ grad_dot_w` and the squared
    /// norm of the (preconditioned) average gradient, with `ρ` the bias correction and
    /// `lr`, `λ` the cap and the weight decay; adapts `f*` with `use_fstar`. Every operation
    /// on the reference's `f32` tensors is an `f32` operation here.
    #[allow(clippy::too_many_arguments)]
    fn polyak_step(
        &mut self,
        [dot, gamma, norm]: [f32; 3],
        rho: f64,
        lr: f64,
        lambda: f64,
        use_fstar: bool,
    ) -> f64 {
        let one = 1.0 + lr * lambda;
        let (one32, avg) = (one as f32, self.loss_avg);
        if use_fstar {
            let cap = f64::from(one32 * avg + dot - one32 * gamma);
            if cap < one * rho * self.lb {
                self.lb = py_max(cap / (2.0 * one * rho), self.initial_lb);
            }
        }
        let nom = if lambda > 0.0 {
            one32 * (avg - (rho * self.lb) as f32) + dot - one32 * gamma
        } else {
            avg - (rho * self.lb) as f32 + dot - gamma
        };
        let t1 = f64::from(py_max(f64::from(nom), 0.0) as f32 / norm);
        let tau = py_min(lr / rho, t1);
        if use_fstar {
            let h = f64::from(avg + dot - gamma);
            let lb = f64::from(((h as f32) - (0.5 * tau) as f32 * norm) / rho as f32);
            self.lb = py_max(lb, self.initial_lb);
        }
        tau
    }
}

/// Configuration of [`Momo`] (`kind = "momo"`). Defaults are those of `momo-opt` 0.1.0 `Momo`
/// (whose `lr` default, 1, the cap of the step, is the controller's business in lrctl).
///
/// ```toml
/// [optimizer]
/// kind = "momo"
/// beta = 0.9
/// lb = 0.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MomoConfig {
    /// Momentum `β` in `[0, 1)` of the gradient, loss and `⟨g, x⟩` averages. Default 0.9.
    pub beta: f64,
    /// Weight decay `λ`, applied proximally (`x ← x / (1 + lr λ)`). Must be ≥ 0. Default 0.
    pub weight_decay: f64,
    /// Lower bound `f*` of the loss (0 for cross-entropy). Must be finite. Default 0.
    pub lb: f64,
    /// Averages start at 0 with a bias correction instead of at the first values. Default
    /// false.
    pub bias_correction: bool,
    /// Estimate `f*` online (never below `lb`). Default false.
    pub use_fstar: bool,
}

impl Default for MomoConfig {
    fn default() -> Self {
        Self {
            beta: 0.9,
            weight_decay: 0.0,
            lb: 0.0,
            bias_correction: false,
            use_fstar: false,
        }
    }
}

impl OptimizerConfig for MomoConfig {
    const KIND: &'static str = "momo";
    type Optimizer = Momo;

    /// `lr` caps the Polyak-type step and is worth tuning (as SPS's cap).
    fn sets_own_step_size(&self) -> bool {
        false
    }

    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.field("beta", self.beta, UNIT_INTERVAL)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.field("lb", self.lb, FINITE)
    }

    fn build(&self, n_params: usize) -> Result<Momo, OptimError> {
        self.validate()?;
        Ok(Momo {
            config: self.clone(),
            model: Model::new(n_params, self.lb),
            grad_avg: vec![0.0; n_params],
        })
    }
}

/// MoMo (Schaipp, Ohana, Eickenberg, Defazio, Gower 2024, *MoMo: Momentum Models for Adaptive
/// Learning Rates*, ICML; arXiv:2305.07583, Algorithm 1), matching `momo-opt` 0.1.0 `Momo`
/// with one parameter group. lrctl's SPS controller is its momentum-free neighbour.
///
/// Step `k = 1, 2, …` with mini-batch loss `f_k` and gradient `g_k` at `x_k` (averages start
/// at the first values, or at 0 with `bias_correction`, where `ρ_k = 1 − β^k`, else 1):
///
/// ```text
/// d_k = β d + (1 − β) g_k,   f̄_k = β f̄ + (1 − β) f_k,   γ_k = β γ + (1 − β) ⟨g_k, x_k⟩
/// τ_k = min(lr / ρ_k, max(0, (1 + lr λ)(f̄_k − ρ_k f*) + ⟨d_k, x_k⟩ − (1 + lr λ) γ_k) / ‖d_k‖²)
/// x ← (x − τ_k d_k) / (1 + lr λ)
/// ```
///
/// `lr` caps the step (1 in the paper's setups). With `use_fstar`, `f*` follows the
/// reference's online estimate. The effective learning rate is `τ_k`. The loss comes from
/// [`Optimizer::observe_loss`] (the engine calls it before every step); `⟨g, x⟩` is averaged
/// per tensor as in the reference ([`Optimizer::set_param_shapes`]).
///
/// Deviations: a negative or non-finite `lr` counts as 0. Without an observed loss the model
/// is NaN and the step is the cap `lr/ρ_k` (Python's `min` keeps the cap against a NaN).
#[derive(Debug, Clone)]
pub struct Momo {
    config: MomoConfig,
    model: Model,
    grad_avg: Vec<f32>,
}

impl Optimizer for Momo {
    name_and_snapshot!(MomoConfig);

    fn set_param_shapes(&mut self, shapes: &[Vec<usize>]) {
        self.model.set_shapes(shapes);
    }

    fn observe_loss(&mut self, loss: f64) {
        self.model.loss = loss as f32;
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        step_lengths(params, grads, self.grad_avg.len());
        let cfg = &self.config;
        let lr = usable_lr(lr);
        let m = &mut self.model;
        m.k += 1;
        let beta = cfg.beta;
        let (b, w) = (beta as f32, (1.0 - beta) as f32);
        let first = m.k == 1 && !cfg.bias_correction;
        if first {
            m.loss_avg = m.loss;
        }
        m.loss_avg = b * m.loss_avg + w * m.loss;
        let rho = if cfg.bias_correction {
            1.0 - beta.powf(m.k as f64)
        } else {
            1.0
        };
        let mut sums = [0.0f32; 3];
        for t in 0..m.tensors.len() {
            let (start, len) = m.tensors[t];
            let (x, g) = (&params[start..start + len], &grads[start..start + len]);
            let d = &mut self.grad_avg[start..start + len];
            if first {
                d.copy_from_slice(g);
            }
            for (d, &g) in d.iter_mut().zip(g) {
                *d = *d * b + w * g;
            }
            let norm = sum32(len, |i| f64::from(d[i]) * f64::from(d[i]));
            m.add_tensor(&mut sums, t, (x, g, d), first, (b, w), norm);
        }
        let lambda = cfg.weight_decay;
        let tau = m.polyak_step(sums, rho, lr, lambda, cfg.use_fstar);
        let (neg_tau, one) = (-tau as f32, (1.0 + lr * lambda) as f32);
        for (x, &d) in params.iter_mut().zip(&self.grad_avg) {
            *x += neg_tau * d;
            if lambda > 0.0 {
                *x /= one;
            }
        }
        StepInfo { effective_lr: tau }
    }
}

/// Configuration of [`MomoAdam`] (`kind = "momo-adam"`). Defaults are those of `momo-opt`
/// 0.1.0 `MomoAdam` (whose `lr` default, 0.01, the cap of the step, is the controller's
/// business in lrctl).
///
/// ```toml
/// [optimizer]
/// kind = "momo-adam"
/// betas = [0.9, 0.999]
/// eps = 1e-8
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MomoAdamConfig {
    /// `[β1, β2]`, each in `[0, 1)`: averages of the gradient (and of the loss and `⟨g, x⟩`)
    /// and of its square. Default `[0.9, 0.999]`.
    pub betas: [f64; 2],
    /// Added to the preconditioner `D_k = sqrt(v̂) + eps`. Must be ≥ 0. Default 1e-8.
    pub eps: f64,
    /// Weight decay `λ`. Must be ≥ 0. Default 0.
    pub weight_decay: f64,
    /// Lower bound `f*` of the loss. Must be finite. Default 0.
    pub lb: f64,
    /// Proximal weight decay `x ← x / (1 + lr λ)` (true) or AdamW's `x ← x (1 − lr λ)`
    /// before the step (false). Default true.
    pub divide: bool,
    /// Estimate `f*` online (never below `lb`). Default false.
    pub use_fstar: bool,
}

impl Default for MomoAdamConfig {
    fn default() -> Self {
        Self {
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            lb: 0.0,
            divide: true,
            use_fstar: false,
        }
    }
}

impl OptimizerConfig for MomoAdamConfig {
    const KIND: &'static str = "momo-adam";
    type Optimizer = MomoAdam;

    /// `lr` caps the Polyak-type step and is worth tuning.
    fn sets_own_step_size(&self) -> bool {
        false
    }

    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.betas(&self.betas)?;
        c.field("eps", self.eps, NON_NEGATIVE)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.field("lb", self.lb, FINITE)
    }

    fn build(&self, n_params: usize) -> Result<MomoAdam, OptimError> {
        self.validate()?;
        Ok(MomoAdam {
            config: self.clone(),
            model: Model::new(n_params, self.lb),
            grad_avg: vec![0.0; n_params],
            grad_avg_sq: vec![0.0; n_params],
            denom: vec![0.0; n_params],
        })
    }
}

/// MoMo-Adam (Schaipp et al. 2024, *MoMo: Momentum Models for Adaptive Learning Rates*, ICML;
/// arXiv:2305.07583, Algorithm 2), matching `momo-opt` 0.1.0 `MomoAdam` with one parameter
/// group: MoMo's model of the loss in Adam's geometry.
///
/// Step `k = 1, 2, …` (averages start at 0; `ρ_k = 1 − β1^k`):
///
/// ```text
/// d_k = β1 d + (1 − β1) g_k,   v_k = β2 v + (1 − β2) g_k²,   D_k = sqrt(v_k / (1 − β2^k)) + eps
/// f̄_k = β1 f̄ + (1 − β1) f_k,   γ_k = β1 γ + (1 − β1) ⟨g_k, x_k⟩
/// τ_k = min(lr / ρ_k, max(0, (1 + lr λ)(f̄_k − ρ_k f*) + ⟨d_k, x_k⟩ − (1 + lr λ) γ_k) / ‖d_k‖²_{D_k⁻¹})
/// x ← (x − τ_k d_k / D_k) / (1 + lr λ)        (divide; else x ← x (1 − lr λ) − τ_k d_k / D_k)
/// ```
///
/// The effective learning rate is `τ_k`; the loss comes from [`Optimizer::observe_loss`].
/// Deviations as [`Momo`]'s.
#[derive(Debug, Clone)]
pub struct MomoAdam {
    config: MomoAdamConfig,
    model: Model,
    grad_avg: Vec<f32>,
    grad_avg_sq: Vec<f32>,
    denom: Vec<f32>,
}

impl Optimizer for MomoAdam {
    name_and_snapshot!(MomoAdamConfig);

    fn set_param_shapes(&mut self, shapes: &[Vec<usize>]) {
        self.model.set_shapes(shapes);
    }

    fn observe_loss(&mut self, loss: f64) {
        self.model.loss = loss as f32;
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        step_lengths(params, grads, self.grad_avg.len());
        let cfg = &self.config;
        let lr = usable_lr(lr);
        let m = &mut self.model;
        m.k += 1;
        let [beta1, beta2] = cfg.betas;
        let bc1 = 1.0 - beta1.powf(m.k as f64);
        let bc2 = (1.0 - beta2.powf(m.k as f64)) as f32;
        let (b1, w1) = (beta1 as f32, (1.0 - beta1) as f32);
        let (b2, w2, eps) = (beta2 as f32, (1.0 - beta2) as f32, cfg.eps as f32);
        let mut sums = [0.0f32; 3];
        for t in 0..m.tensors.len() {
            let (start, len) = m.tensors[t];
            let (x, g) = (&params[start..start + len], &grads[start..start + len]);
            let d = &mut self.grad_avg[start..start + len];
            let v = &mut self.grad_avg_sq[start..start + len];
            let dk = &mut self.denom[start..start + len];
            for (((d, v), dk), &g) in d.iter_mut().zip(v.iter_mut()).zip(dk.iter_mut()).zip(g) {
                *d = *d * b1 + w1 * g;
                *v = *v * b2 + (w2 * g) * g;
                *dk = (*v / bc2).sqrt() + eps;
            }
            let norm = sum32(len, |i| f64::from(d[i]) * f64::from(d[i] / dk[i]));
            m.add_tensor(&mut sums, t, (x, g, d), false, (b1, w1), norm);
        }
        m.loss_avg = w1 * m.loss + b1 * m.loss_avg;
        let lambda = cfg.weight_decay;
        let tau = m.polyak_step(sums, bc1, lr, lambda, cfg.use_fstar);
        let neg_tau = -tau as f32;
        let (shrink, divide) = ((1.0 - lambda * lr) as f32, (1.0 + lambda * lr) as f32);
        for ((x, &d), &dk) in params.iter_mut().zip(&self.grad_avg).zip(&self.denom) {
            if lambda > 0.0 && !cfg.divide {
                *x *= shrink;
            }
            *x += (neg_tau * d) / dk;
            if lambda > 0.0 && cfg.divide {
                *x /= divide;
            }
        }
        StepInfo { effective_lr: tau }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_is_the_polyak_step() {
        // Momo without bias correction, f* = 0: d_1 = g, f̄_1 = f, γ_1 = ⟨g, x⟩, so
        // τ = min(lr, f / ‖g‖²), SPS's step.
        let mut opt = MomoConfig::default().build(2).unwrap();
        let mut x = vec![1.0f32, 2.0];
        opt.observe_loss(0.5);
        let info = opt.step(&mut x, &[1.0, 1.0], 10.0);
        assert!(
            (info.effective_lr - 0.25).abs() < 1e-6,
            "{}",
            info.effective_lr
        );
        assert!(
            (x[0] - 0.75).abs() < 1e-6 && (x[1] - 1.75).abs() < 1e-6,
            "{x:?}"
        );
        // Capped by lr.
        let mut capped = MomoConfig::default().build(2).unwrap();
        capped.observe_loss(0.5);
        assert_eq!(capped.step(&mut x, &[1.0, 1.0], 0.1).effective_lr, 0.1);
    }

    #[test]
    fn a_loss_at_its_lower_bound_takes_no_step() {
        let mut opt = MomoAdamConfig {
            lb: 1.0,
            ..Default::default()
        }
        .build(1)
        .unwrap();
        let mut x = vec![0.0f32];
        opt.observe_loss(0.5);
        assert_eq!(opt.step(&mut x, &[1.0], 1.0).effective_lr, 0.0);
        assert_eq!(x, [0.0]);
    }

    #[test]
    fn validation_names_the_field() {
        let err = MomoConfig {
            beta: 1.0,
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("`momo`") && err.contains("`beta`"), "{err}");
        let err = MomoAdamConfig {
            lb: f64::NAN,
            ..Default::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("`lb`"), "{err}");
    }
}
