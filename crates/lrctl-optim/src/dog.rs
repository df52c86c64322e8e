//! DoG and DoWG: "distance over gradients" step sizes, global versions.
//!
//! Both set a scalar step size from the largest distance travelled from the initial point,
//! `r̄_t = max(r̄_{t-1}, ‖x_t − x_0‖)`, and the gradients seen so far, with all sums over the
//! **whole** flat parameter vector (the global variants, not the per-layer LDoG or the
//! per-coordinate CDoWG):
//!
//! * **DoG** (Ivgi, Hinder, Carmon 2023, *DoG is SGD's Best Friend: A Parameter-Free Dynamic
//!   Step Size Schedule*, ICML): `η_t = lr · r̄_t / sqrt(Σ_{i≤t} ‖g_i‖² + eps)`.
//! * **DoWG** (Khaled, Mishchenko, Jin 2023, *DoWG Unleashed: An Efficient Universal
//!   Parameter-Free Gradient Descent Method*, NeurIPS): `v_t = v_{t-1} + r̄_t² ‖g_t‖²`,
//!   `η_t = lr · r̄_t² / (sqrt(v_t) + eps)`.
//!
//! and then take `x_{t+1} = x_t − η_t g_t`. Each step reports `η_t` as its effective learning
//! rate. The two share their bookkeeping (the anchor `x_0`, the distance from it, coupled
//! weight decay, the descent step).
//!
//! Each step is two passes over the coordinates, both vectorised (AVX2 where the CPU has it,
//! see [`crate::moments::simd`]): one reading `g`, `x` and `x_0` for both sums (in
//! [`crate::reduce`]'s lane-wise `f64` partial sums, so bit for bit its `sum1`/`sum2`), and
//! the descent step, reading `g` and `x` and writing `x`, with the weight decay term formed
//! again from the same `x` instead of being stored: 6 `f32` loads and stores per coordinate,
//! against 7 for AdamW's single pass.

use serde::{Deserialize, Serialize};

use crate::check::{Check, NON_NEGATIVE, POSITIVE, step_lengths};
use crate::moments::{const_bool, simd, usable_lr, with_l2};
use crate::reduce::{BLOCK, LANES, Lanes, sum1};
use crate::{OptimError, Optimizer, OptimizerConfig, StepInfo, name_and_snapshot};

/// State shared by DoG and DoWG: the initial point and the weight decay.
#[derive(Debug, Clone)]
struct DistanceOverGradients {
    /// `x_0`, captured at the first step.
    x0: Vec<f32>,
    /// Whether a step has run (and `x0` holds the initial point).
    started: bool,
    /// The number of parameters.
    n_params: usize,
    weight_decay: f64,
}

impl DistanceOverGradients {
    fn new(n_params: usize, weight_decay: f64) -> Self {
        Self {
            x0: Vec::with_capacity(n_params),
            started: false,
            n_params,
            weight_decay,
        }
    }

    /// Captures `x_0` on the first call and returns `‖g‖²` and `‖x − x_0‖²` of the gradient
    /// with weight decay `g + weight_decay · x` (coupled L2 weight decay, as the DoG reference
    /// does), both summed in `f64`, in one pass (reads `g`, `x`, `x_0`; [`LANES`] lane-wise
    /// partial sums combined as [`crate::reduce`] does, so bit for bit its `sum1`/`sum2`).
    fn observe(&mut self, params: &[f32], grads: &[f32]) -> (f64, f64) {
        step_lengths(params, grads, self.n_params);
        if !self.started {
            self.x0.extend_from_slice(params);
            self.started = true;
        }
        let l2 = self.weight_decay as f32;
        let x0 = &self.x0;
        const_bool!(
            self.weight_decay != 0.0,
            L2,
            simd(
                #[inline(always)]
                || observe_kernel::<L2>(l2, params, grads, x0)
            )
        )
    }

    /// `x ← x − eta · g` for the gradient with weight decay (formed again from the same `x`),
    /// each coordinate of it first clamped to `[-clip, clip]` when set. One pass (reads `g`
    /// and `x`, writes `x`).
    fn descend(&self, params: &mut [f32], grads: &[f32], eta: f64, clip: Option<f64>) {
        let l2 = self.weight_decay as f32;
        let c = (-eta) as f32;
        let clip = clip.map_or(f32::INFINITY, |c| c as f32);
        const_bool!(
            self.weight_decay != 0.0,
            L2,
            const_bool!(
                clip != f32::INFINITY,
                CLIP,
                simd(
                    #[inline(always)]
                    || descend_kernel::<L2, CLIP>(l2, clip, c, params, grads)
                )
            )
        )
    }
}

/// `(‖g + l2 · x‖², ‖x − x_0‖²)`, see [`DistanceOverGradients::observe`]. Block by block
/// ([`BLOCK`]), each sum alone in its loop (with weight decay, the gradient's terms come from a
/// buffer the block's per-coordinate loop fills).
#[inline(always)]
fn observe_kernel<const L2: bool>(
    l2: f32,
    params: &[f32],
    grads: &[f32],
    x0: &[f32],
) -> (f64, f64) {
    assert!(
        grads.len() == params.len() && x0.len() == params.len(),
        "lengths differ"
    );
    let (mut grad_sq, mut dist_sq) = (Lanes::default(), Lanes::default());
    let (mut grad_sq_tail, mut dist_sq_tail) = (0.0f64, 0.0f64);
    let square = |g: f32| f64::from(g) * f64::from(g);
    let square_diff = |x: f32, x0: f32| (f64::from(x) - f64::from(x0)).powi(2);
    let mut g_buf = [0.0f32; BLOCK];
    for ((g, x), x0) in grads
        .chunks(BLOCK)
        .zip(params.chunks(BLOCK))
        .zip(x0.chunks(BLOCK))
    {
        let len = g.len();
        let g = if L2 {
            let gb = &mut g_buf[..len];
            for ((gb, &g), &x) in gb.iter_mut().zip(g).zip(x) {
                *gb = with_l2::<L2>(l2, g, x);
            }
            &*gb
        } else {
            g
        };
        // Only the last block has a remainder: summed one by one, as `reduce` does.
        let lanes = len - len % LANES;
        grad_sq.add1(&g[..lanes], square);
        dist_sq.add2(&x[..lanes], &x0[..lanes], square_diff);
        for i in lanes..len {
            grad_sq_tail += square(g[i]);
            dist_sq_tail += square_diff(x[i], x0[i]);
        }
    }
    (
        grad_sq.combined() + grad_sq_tail,
        dist_sq.combined() + dist_sq_tail,
    )
}

/// `x ← x + c · clamp(g + l2 · x, −clip, clip)`, see [`DistanceOverGradients::descend`]. One
/// plain loop over the coordinates, which LLVM vectorises.
#[inline(always)]
fn descend_kernel<const L2: bool, const CLIP: bool>(
    l2: f32,
    clip: f32,
    c: f32,
    params: &mut [f32],
    grads: &[f32],
) {
    assert_eq!(grads.len(), params.len(), "lengths differ");
    for (x, &g) in params.iter_mut().zip(grads) {
        let g = with_l2::<L2>(l2, g, *x);
        let g = if CLIP { g.clamp(-clip, clip) } else { g };
        *x += c * g;
    }
}

/// Configuration of [`Dog`] (`kind = "dog"`). Defaults are those of `dog-optimizer` 1.0.3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DogConfig {
    /// Relative initial distance (`reps_rel` in the reference, `r_ε` in the paper): the first
    /// distance estimate is `r_eps · (1 + ‖x_0‖)`. Must be > 0. Default 1e-6. Ignored when
    /// `init_eta` is set.
    pub r_eps: f64,
    /// Added once to the sum of squared gradient norms. Must be ≥ 0. Default 1e-8.
    pub eps: f64,
    /// Coupled L2 weight decay: `weight_decay · x` is added to the gradient. Must be ≥ 0.
    /// Default 0.
    pub weight_decay: f64,
    /// Explicit first step size: `η_0 = lr · init_eta`, and the distance estimate starts from
    /// 0 instead of `r_eps · (1 + ‖x_0‖)` (as in the reference, where `init_eta` sets
    /// `reps_rel = 0`). Must be > 0 when set. Default unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_eta: Option<f64>,
}

impl Default for DogConfig {
    fn default() -> Self {
        Self {
            r_eps: 1e-6,
            eps: 1e-8,
            weight_decay: 0.0,
            init_eta: None,
        }
    }
}

impl OptimizerConfig for DogConfig {
    const KIND: &'static str = "dog";
    type Optimizer = Dog;

    /// `η_t` comes from distances and gradients; `lr` only multiplies it.
    fn sets_own_step_size(&self) -> bool {
        true
    }

    /// Checks every field's range.
    fn validate(&self) -> Result<(), OptimError> {
        self.check_as(Self::KIND)
    }

    /// Validates and builds the optimizer for `n_params` parameters.
    fn build(&self, n_params: usize) -> Result<Dog, OptimError> {
        self.validate()?;
        Ok(Dog {
            config: self.clone(),
            shared: DistanceOverGradients::new(n_params, self.weight_decay),
            step_size: DogStepSize::default(),
        })
    }
}

impl DogConfig {
    /// Checks every field's range, naming the optimizer `kind` in errors: DoG's fields are
    /// also layer-wise DoG's ([`crate::ldog::LDogConfig`]).
    pub(crate) fn check_as(&self, kind: &'static str) -> Result<(), OptimError> {
        let c = Check(kind);
        c.field("r_eps", self.r_eps, POSITIVE)?;
        c.field("eps", self.eps, NON_NEGATIVE)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.optional("init_eta", self.init_eta, POSITIVE)
    }
}

/// DoG's step size over one set of coordinates (the whole vector for [`Dog`], one tensor for
/// [`crate::ldog::LDog`]): the largest distance `r̄` from `x_0` and the sum `G` of squared
/// gradient norms, the rule both share (Ivgi, Hinder, Carmon 2023, Algorithm 1).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DogStepSize {
    rbar: f64,
    grad_sq_sum: f64,
}

impl DogStepSize {
    /// This step's `η_t` from `‖g_t‖²` (with weight decay), updating `r̄` and `G`. `first`:
    /// the first step, where `r̄_0 = r_eps · (1 + ‖x_0‖)` (0 with `init_eta`, whose `η_0 =
    /// lr · init_eta` then applies) and `x0_norm` gives `‖x_0‖`; every later step asks
    /// `distance` for `‖x_t − x_0‖`. Each is computed only when needed. `lr` is usable
    /// ([`usable_lr`]); `η = 0` while `G = 0`.
    pub(crate) fn eta(
        &mut self,
        cfg: &DogConfig,
        first: bool,
        lr: f64,
        grad_sq: f64,
        x0_norm: impl FnOnce() -> f64,
        distance: impl FnOnce() -> f64,
    ) -> f64 {
        if first {
            self.rbar = match cfg.init_eta {
                Some(_) => 0.0,
                None => cfg.r_eps * (1.0 + x0_norm()),
            };
            self.grad_sq_sum = grad_sq + cfg.eps;
        } else {
            self.rbar = self.rbar.max(distance());
            self.grad_sq_sum += grad_sq;
        }
        let mut eta = if self.grad_sq_sum > 0.0 {
            lr * self.rbar / self.grad_sq_sum.sqrt()
        } else {
            0.0
        };
        if first && let Some(init_eta) = cfg.init_eta {
            eta = lr * init_eta;
        }
        eta
    }
}

/// DoG, global version (Ivgi, Hinder, Carmon 2023, *DoG is SGD's Best Friend*, ICML;
/// arXiv:2302.12022), matching `dog-optimizer` 1.0.3 `dog.DoG` with one parameter group.
///
/// Step `t` (0-based), with `g_t` the gradient plus `weight_decay · x_t`:
///
/// * `t = 0`: `r̄_0 = r_eps · (1 + ‖x_0‖)` (0 with `init_eta`), `G_0 = ‖g_0‖² + eps`;
/// * `t > 0`: `r̄_t = max(r̄_{t-1}, ‖x_t − x_0‖)`, `G_t = G_{t-1} + ‖g_t‖²`;
/// * `η_t = lr · r̄_t / sqrt(G_t)` (`η_0 = lr · init_eta` with `init_eta`),
///   `x_{t+1} = x_t − η_t g_t`.
///
/// The effective learning rate is `η_t`.
///
/// Deviations from the reference:
/// * `lr` is the controller's multiplier, passed each step (the reference reads
///   `group['lr']` each step too, so this is the same as a PyTorch scheduler driving it).
///   With `init_eta` the reference sets `η_0 = init_eta` regardless of `lr`; lrctl multiplies
///   it by `lr` like every other step (identical at `lr = 1`).
/// * The reference asserts `G > 0` and crashes otherwise (possible only with `eps = 0` and a
///   zero first gradient); lrctl skips the update (`η = 0`) while `G = 0`.
/// * A non-positive or non-finite `lr` takes no step (the statistics still advance).
/// * Sums and step sizes are computed in `f64` (the reference uses `f32` tensors); per
///   coordinate arithmetic is `f32` as in the reference.
/// * The reference recommends iterate averaging (`PolynomialDecayAverager`), which is not part
///   of the optimizer and is not implemented here.
#[derive(Debug, Clone)]
pub struct Dog {
    config: DogConfig,
    shared: DistanceOverGradients,
    step_size: DogStepSize,
}

impl Optimizer for Dog {
    name_and_snapshot!(DogConfig);

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        let first = !self.shared.started;
        let (grad_sq, dist_sq) = self.shared.observe(params, grads);
        let eta = self.step_size.eta(
            &self.config,
            first,
            usable_lr(lr),
            grad_sq,
            || sum1(params, |x| f64::from(x) * f64::from(x)).sqrt(),
            || dist_sq.sqrt(),
        );
        if eta > 0.0 {
            self.shared.descend(params, grads, eta, None);
        }
        StepInfo { effective_lr: eta }
    }
}

/// Configuration of [`Dowg`] (`kind = "dowg"`). Defaults are the paper's algorithm with
/// lrctl's paper setup `r_eps = 1e-8` (the `dowg` package's own defaults are listed under
/// [`Dowg`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DowgConfig {
    /// Initial distance estimate `r_ε` (the paper's `r̄_{-1}`), absolute. Must be > 0.
    /// Default 1e-8.
    pub r_eps: f64,
    /// Added to `sqrt(v_t)` in the step-size denominator. Must be ≥ 0. Default 0 (the paper).
    pub eps: f64,
    /// Coupled L2 weight decay: `weight_decay · x` is added to the gradient. Must be ≥ 0.
    /// Default 0.
    pub weight_decay: f64,
    /// When set, each coordinate of the gradient is clamped to `[-clip, clip]` in the update
    /// (not in `v_t`), as `dowg.ScalarDoWG` does with its default 0.5. Must be > 0. Default
    /// unset (no clamping, the paper).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip: Option<f64>,
}

impl Default for DowgConfig {
    fn default() -> Self {
        Self {
            r_eps: 1e-8,
            eps: 0.0,
            weight_decay: 0.0,
            clip: None,
        }
    }
}

impl OptimizerConfig for DowgConfig {
    const KIND: &'static str = "dowg";
    type Optimizer = Dowg;

    /// `η_t` comes from distances and gradients; `lr` only multiplies it.
    fn sets_own_step_size(&self) -> bool {
        true
    }

    /// Checks every field's range.
    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.field("r_eps", self.r_eps, POSITIVE)?;
        c.field("eps", self.eps, NON_NEGATIVE)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        if let Some(clip) = self.clip {
            c.field("clip", clip, POSITIVE)?;
        }
        Ok(())
    }

    /// Validates and builds the optimizer for `n_params` parameters.
    fn build(&self, n_params: usize) -> Result<Dowg, OptimError> {
        self.validate()?;
        Ok(Dowg {
            config: self.clone(),
            shared: DistanceOverGradients::new(n_params, self.weight_decay),
            rbar_sq: self.r_eps * self.r_eps,
            v: 0.0,
        })
    }
}

/// DoWG, global ("scalar") version (Khaled, Mishchenko, Jin 2023, *DoWG Unleashed*, NeurIPS;
/// arXiv:2305.16284), checked against `dowg` 0.3.1 `dowg.ScalarDoWG`.
///
/// Step `t` (0-based), with `g_t` the gradient plus `weight_decay · x_t`:
/// `r̄_t² = max(r̄_{t-1}², ‖x_t − x_0‖²)` (`r̄_{-1} = r_eps`), `v_t = v_{t-1} + r̄_t² ‖g_t‖²`,
/// `η_t = lr · r̄_t² / (sqrt(v_t) + eps)`, `x_{t+1} = x_t − η_t · clip(g_t)`. The effective
/// learning rate is `η_t`.
///
/// `dowg.ScalarDoWG(eps=E, clip=C)` is this optimizer with `r_eps = sqrt(1 − E)`,
/// `eps = 1 − E`, `clip = C` and `lr = 1`: the package reuses one constant `1 − E` as the
/// initial *squared* distance and as the denominator's epsilon, so its defaults (`E = 1e-4`,
/// `C = 0.5`) start from `r̄ ≈ 1` and add ≈ 1 to `sqrt(v_t)`, far from the paper's
/// algorithm. lrctl exposes the two constants separately and defaults to the paper
/// (`eps = 0`, no clamping); the fixtures cover both the paper setup and the package defaults.
///
/// Deviations from the reference (besides the separate constants above):
/// * The reference does nothing at all when `step()` is called without a closure (its whole
///   body sits under `if closure is not None`); lrctl always steps.
/// * The reference has no weight decay and ignores `lr`; lrctl adds coupled L2 weight decay
///   and multiplies `η_t` by the controller's `lr` (a non-positive or non-finite `lr` takes no
///   step; the statistics still advance).
/// * While `v_t = 0` (only zero gradients so far) lrctl takes no step and reports `η = 0`; the
///   reference reports `r̄²/eps` (and divides by zero when `eps = 0`).
/// * Sums and step sizes are computed in `f64` (the reference uses `f32` tensors).
#[derive(Debug, Clone)]
pub struct Dowg {
    config: DowgConfig,
    shared: DistanceOverGradients,
    rbar_sq: f64,
    v: f64,
}

impl Optimizer for Dowg {
    name_and_snapshot!(DowgConfig);

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        let (grad_sq, dist_sq) = self.shared.observe(params, grads);
        self.rbar_sq = self.rbar_sq.max(dist_sq);
        self.v += self.rbar_sq * grad_sq;
        let lr = usable_lr(lr);
        let eta = if self.v > 0.0 {
            lr * self.rbar_sq / (self.v.sqrt() + self.config.eps)
        } else {
            0.0
        };
        if eta > 0.0 {
            self.shared.descend(params, grads, eta, self.config.clip);
        }
        StepInfo { effective_lr: eta }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moments::{add_scaled, l2_gradient};
    use crate::test_support::{assert_fused_matches_reference, sequential_sum};

    /// The shared bookkeeping as whole-vector operations with sequential `f64` sums:
    /// `(‖g‖², ‖x − x_0‖²)` and the gradient with weight decay.
    fn observe(x0: &mut Vec<f32>, x: &[f32], grads: &[f32], wd: f64) -> (f64, f64, Vec<f32>) {
        if x0.is_empty() {
            *x0 = x.to_vec();
        }
        let mut g = vec![0.0; x.len()];
        l2_gradient(&mut g, grads, x, wd);
        let grad_sq = sequential_sum(g.iter().map(|&g| f64::from(g) * f64::from(g)));
        let dist_sq = sequential_sum(
            x.iter()
                .zip(x0.iter())
                .map(|(&x, &x0)| (f64::from(x) - f64::from(x0)).powi(2)),
        );
        (grad_sq, dist_sq, g)
    }

    fn descend(x: &mut [f32], mut g: Vec<f32>, eta: f64, clip: Option<f64>) {
        if let Some(c) = clip {
            let c = c as f32;
            for g in &mut g {
                *g = g.clamp(-c, c);
            }
        }
        add_scaled(x, &g, -eta);
    }

    #[test]
    fn dowg_fused_passes_match_the_reference() {
        let configs = [
            // r_eps larger than the paper's 1e-8, so that the parameters move in 40 steps.
            DowgConfig {
                r_eps: 1e-3,
                ..DowgConfig::default()
            },
            DowgConfig {
                r_eps: 1e-3,
                weight_decay: 0.05,
                eps: 1e-3,
                clip: Some(0.05),
            },
        ];
        for (c, cfg) in configs.iter().enumerate() {
            for n in [5, 37, 64, 101] {
                let mut fused = cfg.build(n).unwrap();
                let (mut x0, mut rbar_sq, mut v) = (Vec::new(), cfg.r_eps * cfg.r_eps, 0.0);
                assert_fused_matches_reference(
                    &format!("dowg config {c}"),
                    n,
                    40,
                    |x, g, lr| fused.step(x, g, lr).effective_lr,
                    |x, grads, lr| {
                        let (grad_sq, dist_sq, g) = observe(&mut x0, x, grads, cfg.weight_decay);
                        rbar_sq = f64::max(rbar_sq, dist_sq);
                        v += rbar_sq * grad_sq;
                        let lr = usable_lr(lr);
                        let eta = if v > 0.0 {
                            lr * rbar_sq / (v.sqrt() + cfg.eps)
                        } else {
                            0.0
                        };
                        if eta > 0.0 {
                            descend(x, g, eta, cfg.clip);
                        }
                        eta
                    },
                );
            }
        }
    }

    #[test]
    fn dog_fused_passes_match_the_reference() {
        let configs = [
            DogConfig::default(),
            DogConfig {
                weight_decay: 0.05,
                init_eta: Some(1e-3),
                ..DogConfig::default()
            },
        ];
        for (c, cfg) in configs.iter().enumerate() {
            for n in [5, 37, 64, 101] {
                let mut fused = cfg.build(n).unwrap();
                let (mut x0, mut rbar, mut sum) = (Vec::<f32>::new(), 0.0, 0.0);
                assert_fused_matches_reference(
                    &format!("dog config {c}"),
                    n,
                    40,
                    |x, g, lr| fused.step(x, g, lr).effective_lr,
                    |x, grads, lr| {
                        let first = x0.is_empty();
                        if first {
                            rbar = match cfg.init_eta {
                                Some(_) => 0.0,
                                None => {
                                    let x_sq = sequential_sum(
                                        x.iter().map(|&x| f64::from(x) * f64::from(x)),
                                    );
                                    cfg.r_eps * (1.0 + x_sq.sqrt())
                                }
                            };
                        }
                        let (grad_sq, dist_sq, g) = observe(&mut x0, x, grads, cfg.weight_decay);
                        if first {
                            sum = grad_sq + cfg.eps;
                        } else {
                            rbar = f64::max(rbar, dist_sq.sqrt());
                            sum += grad_sq;
                        }
                        let lr = usable_lr(lr);
                        let mut eta = if sum > 0.0 {
                            lr * rbar / sum.sqrt()
                        } else {
                            0.0
                        };
                        if first && let Some(init_eta) = cfg.init_eta {
                            eta = lr * init_eta;
                        }
                        if eta > 0.0 {
                            descend(x, g, eta, None);
                        }
                        eta
                    },
                );
            }
        }
    }
}
