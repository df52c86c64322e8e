//! D-Adaptation: learning-rate-free Adam and SGD by estimating the distance to the solution.
//!
//! Defazio & Mishchenko 2023, *Learning-Rate-Free Learning by D-Adaptation*, ICML;
//! arXiv:2301.07733. The estimate `d` of `‖x_0 − x_*‖` is a lower bound formed from sums over
//! **all** parameters (the flat vector), so it is global, as in the reference with one
//! parameter group. Both variants report the reference's `dlr` as their effective learning
//! rate.

use serde::{Deserialize, Serialize};

use crate::check::{Check, GROWTH_RATE, NON_NEGATIVE, POSITIVE, UNIT_INTERVAL, step_lengths};
use crate::moments::{
    FiniteCheck, add_scaled, const_bool, l2_gradient, scale, simd, step_size_correction, usable_lr,
    with_l2,
};
use crate::reduce::{BLOCK, LANES, Lanes, sum1, sum2};
use crate::{Finiteness, OptimError, Optimizer, OptimizerConfig, StepInfo, name_and_snapshot};

/// The growth limit as a factor: `None` (and `inf`) mean no limit.
pub(crate) fn growth_factor(growth_rate: Option<f64>) -> f64 {
    growth_rate.unwrap_or(f64::INFINITY)
}

/// Decoupled weight decay as `dadaptation` and `prodigyopt` apply it:
/// `x ← x + (−weight_decay · dlr) · x` (PyTorch: `p.add_(p, alpha=-decay * dlr)`), the form
/// the fused kernels of [`DAdaptAdam`] and [`crate::prodigy::Prodigy`] apply per coordinate;
/// kept for the tests' reference implementations.
///
/// Not [`crate::moments::decoupled_decay`]'s `x · (1 − dlr · weight_decay)`: that factor is
/// rounded to `f32` next to 1, so a decay amount `dlr · weight_decay` near or below
/// `f32::EPSILON` (as with D-Adaptation's tiny early `d`) would be badly off or lost entirely.
#[cfg(test)]
pub(crate) fn decay_decoupled(params: &mut [f32], dlr: f64, weight_decay: f64) {
    let c = (-weight_decay * dlr) as f32;
    if c != 0.0 {
        for x in params {
            *x += c * *x;
        }
    }
}

/// Configuration of [`DAdaptAdam`] (`kind = "dadapt-adam"`). Defaults are those of
/// `dadaptation` 3.2; lrctl's paper setup sets `betas = [0.9, 0.99]` and `decouple = true`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DAdaptAdamConfig {
    /// EMA coefficients of the gradient and its square, each in `[0, 1)`. Default
    /// `[0.9, 0.999]`.
    pub betas: [f64; 2],
    /// Added to the square root of the second moment. Must be > 0. Default 1e-8.
    pub eps: f64,
    /// Weight decay strength. Must be ≥ 0. Default 0.
    pub weight_decay: f64,
    /// AdamW-style decoupled weight decay (`x ← x − weight_decay · dlr · x`) instead of an L2
    /// term added to the gradient. Default false (the reference's default).
    pub decouple: bool,
    /// Adam's bias correction, folded into `dlr` as `sqrt(1 − β2^k) / (1 − β1^k)`. Default
    /// false (`use_bias_correction` in the reference).
    pub bias_correction: bool,
    /// Initial estimate of `d`. Must be > 0. Default 1e-6.
    pub d0: f64,
    /// Largest factor by which `d` may grow in one step (≥ 1). Absent or `inf`: no limit
    /// (the default and the paper setup).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growth_rate: Option<f64>,
}

impl Default for DAdaptAdamConfig {
    fn default() -> Self {
        Self {
            betas: [0.9, 0.999],
            eps: 1e-8,
            weight_decay: 0.0,
            decouple: false,
            bias_correction: false,
            d0: 1e-6,
            growth_rate: None,
        }
    }
}

impl OptimizerConfig for DAdaptAdamConfig {
    const KIND: &'static str = "dadapt-adam";
    type Optimizer = DAdaptAdam;

    /// The estimate `d` sets the step size; `lr` only multiplies it.
    fn sets_own_step_size(&self) -> bool {
        true
    }

    /// Checks every field's range.
    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.betas(&self.betas)?;
        c.field("eps", self.eps, POSITIVE)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.field("d0", self.d0, POSITIVE)?;
        c.optional("growth_rate", self.growth_rate, GROWTH_RATE)
    }

    /// Validates and builds the optimizer for `n_params` parameters.
    fn build(&self, n_params: usize) -> Result<DAdaptAdam, OptimError> {
        self.validate()?;
        Ok(DAdaptAdam {
            config: self.clone(),
            exp_avg: vec![0.0; n_params],
            exp_avg_sq: vec![0.0; n_params],
            s: vec![0.0; n_params],
            d: self.d0,
            numerator_weighted: 0.0,
            k: 0,
            finiteness: Finiteness::Unchecked,
        })
    }
}

/// D-Adaptation Adam (Defazio & Mishchenko 2023, arXiv:2301.07733: the paper's Adam variant
/// as its reference code implements it), matching `dadaptation` 3.2 `dadaptation.DAdaptAdam` with one parameter
/// group.
///
/// Step `k`, with `g` the gradient (plus `weight_decay · x` unless `decouple`), `β = sqrt(β2)`
/// and `dlr = d_k · lr · bc_k` (`bc_k` is the bias correction or 1):
///
/// * `r ← β r + (1 − β) · dlr · ⟨g, s / (sqrt(v) + eps)⟩` (old `s`, old `v`);
/// * `m ← β1 m + dlr (1 − β1) g`, `v ← β2 v + (1 − β2) g²`, `s ← β s + dlr (1 − β) g`;
/// * `d_{k+1} = max(d_k, min(r / ((1 − β) ‖s‖₁), growth_rate · d_k))`;
/// * decoupled decay `x ← x − weight_decay · dlr · x`, then `x ← x − m / (sqrt(v) + eps)`.
///
/// The effective learning rate is `dlr`, the step size of this step's update (`d_k · lr`
/// without bias correction; the `d` estimated during the step applies from the next one).
///
/// Deviations: lrctl's `lr` is the controller's multiplier passed each step, read exactly as
/// the reference reads `group['lr']`; a non-positive or non-finite `lr` takes no step and
/// leaves the state untouched (as the reference does for `lr = 0`). `layer_scale`,
/// `log_every` and `fsdp_in_use` have no counterpart (one flat parameter group). Sums are
/// accumulated in `f64` (the reference's dot products are `f32`); per-coordinate arithmetic is
/// `f32` as in the reference. `growth_rate < 1` is rejected (the reference accepts it and then
/// never lets `d` grow).
///
/// **A negative numerator freezes `d`** (facebookresearch/dadaptation issue #42: `d̂ < 0`
/// and falling, `d` never changes again). Reproduced in lrctl with
/// `lrctl train --task logreg/breast-cancer --method dadapt-adam --steps 20000` (28× the
/// task's budget): `d` reaches 0.212 within the first 200 steps and never moves again, `d̂`
/// being negative at 19,904 of the 20,000 steps (`logreg/iris`: frozen at 1.60, 19,682
/// negative; counted with a temporary print of `d̂`). Prodigy, whose numerator weighs recent
/// progress more, keeps growing on the same runs (0.11 → 0.31). lrctl reproduces the
/// behaviour: `d` is the running maximum, as in the paper.
///
/// **One pass per step.** Nothing in this step's update depends on `d_{k+1}` (`m` carries
/// `dlr = d_k · lr · bc_k`, and `eps` is a constant), so the sums, the moments, `s` and the
/// parameters are all updated in a single pass (vectorised, AVX2 where the CPU has it, see
/// [`crate::moments::simd`]): 9 `f32` loads and stores per coordinate, against 7 for
/// AdamW. The one thing the update does wait for, whether `‖s‖₁ ≠ 0` after the step (with
/// `‖s‖₁ = 0`, only zero gradients so far, the step updates the moments but neither decays
/// nor moves the parameters), is decided beforehand by finding a single non-zero
/// coordinate of the new `s` (usually the first one looked at). Each coordinate goes through
/// exactly the `f32` operations of the separate [`crate::moments`] helpers, and the sums keep
/// [`crate::reduce`]'s 8 lane-wise `f64` partial sums in the same order, so the result is bit
/// for bit the multi-pass form's.
#[derive(Debug, Clone)]
pub struct DAdaptAdam {
    config: DAdaptAdamConfig,
    exp_avg: Vec<f32>,
    exp_avg_sq: Vec<f32>,
    s: Vec<f32>,
    d: f64,
    numerator_weighted: f64,
    k: u64,
    /// What the last step's pass found.
    finiteness: Finiteness,
}

impl DAdaptAdam {
    /// The current distance estimate `d` (starts at `d0`, never decreases).
    pub fn d(&self) -> f64 {
        self.d
    }
}

impl Optimizer for DAdaptAdam {
    name_and_snapshot!(DAdaptAdamConfig);

    fn d_estimate(&self) -> Option<f64> {
        Some(self.d)
    }

    fn finiteness(&self) -> Finiteness {
        self.finiteness
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        let cfg = &self.config;
        step_lengths(params, grads, self.s.len());
        let lr = usable_lr(lr);
        self.finiteness = Finiteness::Unchecked;
        if lr == 0.0 {
            return StepInfo { effective_lr: 0.0 };
        }
        let [beta1, beta2] = cfg.betas;
        let bias_correction = step_size_correction(cfg.betas, self.k + 1, cfg.bias_correction);
        let dlr = self.d * lr * bias_correction;
        let sqrt_beta2 = beta2.sqrt();
        let coupled = if cfg.decouple { 0.0 } else { cfg.weight_decay };
        let kernel = DAdaptKernel {
            l2: coupled as f32,
            eps: cfg.eps as f32,
            b1: beta1 as f32,
            w1: (dlr * (1.0 - beta1)) as f32,
            b2: beta2 as f32,
            w2: (1.0 - beta2) as f32,
            b3: sqrt_beta2 as f32,
            w3: (dlr * (1.0 - sqrt_beta2)) as f32,
            decay: if cfg.decouple {
                (-cfg.weight_decay * dlr) as f32
            } else {
                0.0
            },
            c: -1.0,
        };
        let (m, v, s) = (&mut self.exp_avg, &mut self.exp_avg_sq, &mut self.s);
        // Whether ‖s‖₁ of the new `s` is non-zero (else the step must not move), decided
        // before the single pass by finding one non-zero coordinate of it (usually the first).
        let moves = const_bool!(
            coupled != 0.0,
            L2,
            simd(
                #[inline(always)]
                || kernel.any_s_nonzero::<L2>(grads, params, s)
            )
        );
        // ⟨g, s / (sqrt(v) + eps)⟩ with the previous s and v, and ‖s‖₁ with the new s.
        let (numerator, s_l1, check) = if moves {
            const_bool!(
                coupled != 0.0,
                L2,
                const_bool!(
                    kernel.decay != 0.0,
                    DECAY,
                    simd(
                        #[inline(always)]
                        || kernel.run::<L2, DECAY, true>(params, grads, m, v, s)
                    )
                )
            )
        } else {
            const_bool!(
                coupled != 0.0,
                L2,
                simd(
                    #[inline(always)]
                    || kernel.run::<L2, false, false>(params, grads, m, v, s)
                )
            )
        };
        debug_assert_eq!(moves, s_l1 != 0.0);
        self.finiteness = Finiteness::checked(check.all_finite());
        if !moves {
            // Only zero gradients so far: nothing to estimate and nothing to move by.
            return StepInfo { effective_lr: 0.0 };
        }
        let numerator_weighted =
            sqrt_beta2 * self.numerator_weighted + (1.0 - sqrt_beta2) * dlr * numerator;
        let d_hat = numerator_weighted / ((1.0 - sqrt_beta2) * s_l1);
        self.d = self
            .d
            .max(d_hat.min(self.d * growth_factor(cfg.growth_rate)));
        self.numerator_weighted = numerator_weighted;
        self.k += 1;
        StepInfo { effective_lr: dlr }
    }
}

/// The `f32` constants of one [`DAdaptAdam`] step's pass over the coordinates. Every
/// coordinate goes through exactly the `f32` operations of the [`crate::moments`] helpers the
/// reference's sequence of tensor operations corresponds to.
#[derive(Clone, Copy)]
struct DAdaptKernel {
    /// Coupled weight decay: `g ← g + l2 · x` (`l2_gradient`).
    l2: f32,
    /// Added to `sqrt(v)`.
    eps: f32,
    /// `m ← m · b1 + w1 · g`.
    b1: f32,
    w1: f32,
    /// `v ← v · b2 + (w2 · g) · g`.
    b2: f32,
    w2: f32,
    /// `s ← s · b3 + w3 · g`.
    b3: f32,
    w3: f32,
    /// Decoupled decay `x ← x + decay · x` (`decay = −weight_decay · dlr`), as the reference
    /// applies it (`p.add_(p, alpha=-decay * dlr)`), not as `x · (1 − dlr · weight_decay)`:
    /// that factor is rounded to `f32` next to 1, so a decay amount near or below
    /// `f32::EPSILON` (as with the tiny early `d`) would be badly off or lost entirely.
    decay: f32,
    /// `x ← x + (c · m) / (sqrt(v) + eps)` (`c = −1`: `m` carries `dlr`).
    c: f32,
}

impl DAdaptKernel {
    /// The gradient with coupled decay, from the parameters before this step's update.
    #[inline(always)]
    fn grad<const L2: bool>(&self, g: f32, x: f32) -> f32 {
        with_l2::<L2>(self.l2, g, x)
    }

    /// Whether any coordinate of the new `s` (`s · b3 + w3 · g`, computed as [`Self::run`]
    /// computes it; NaN counts) is non-zero, i.e. whether ‖s‖₁ ≠ 0 after the step: the sum
    /// of non-negative `f32` values in `f64` is zero exactly when all of them are. Stops at
    /// the first 8-coordinate chunk with one; writes nothing.
    #[inline(always)]
    fn any_s_nonzero<const L2: bool>(&self, grads: &[f32], params: &[f32], s: &[f32]) -> bool {
        let next = |g: f32, x: f32, s: f32| s * self.b3 + self.w3 * self.grad::<L2>(g, x);
        let mut gc = grads.chunks_exact(LANES);
        let mut xc = params.chunks_exact(LANES);
        let mut sc = s.chunks_exact(LANES);
        for ((g, x), s) in (&mut gc).zip(&mut xc).zip(&mut sc) {
            let g: &[f32; LANES] = g.try_into().unwrap();
            let x: &[f32; LANES] = x.try_into().unwrap();
            let s: &[f32; LANES] = s.try_into().unwrap();
            let mut any = false;
            for l in 0..LANES {
                any |= next(g[l], x[l], s[l]) != 0.0;
            }
            if any {
                return true;
            }
        }
        gc.remainder()
            .iter()
            .zip(xc.remainder())
            .zip(sc.remainder())
            .any(|((&g, &x), &s)| next(g, x, s) != 0.0)
    }

    /// The whole step in one pass (reads `g`, `x`, `m`, `v`, `s`; writes all but `g`), returning
    /// `(⟨g, s / (sqrt(v) + eps)⟩, ‖s‖₁, whether the parameters it leaves are finite)` (old `s`
    /// and `v` in the first, the new `s` in the second), summed in `f64` in [`LANES`] lane-wise partial sums combined as
    /// [`crate::reduce`] does (bit for bit `sum3`/`sum1` of the separate passes). Block by block
    /// ([`BLOCK`]): the per-coordinate loop (`STEP`: with decoupled decay (`DECAY`) and the
    /// step) writes the numerator's `f32` factors to buffers, then each sum runs alone over
    /// them and the block's new `s`, still in L1 cache.
    #[inline(always)]
    fn run<const L2: bool, const DECAY: bool, const STEP: bool>(
        &self,
        params: &mut [f32],
        grads: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        s: &mut [f32],
    ) -> (f64, f64, FiniteCheck) {
        let n = params.len();
        assert!(
            grads.len() == n && m.len() == n && v.len() == n && s.len() == n,
            "lengths differ"
        );
        let (mut numerator, mut s_l1) = (Lanes::default(), Lanes::default());
        let (mut numerator_tail, mut s_l1_tail) = (0.0f64, 0.0f64);
        let abs = |s: f32| f64::from(s.abs());
        let mut g_buf = [0.0f32; BLOCK];
        let mut ratio_buf = [0.0f32; BLOCK];
        let mut check = FiniteCheck::default();
        for ((((x, g), m), v), s) in params
            .chunks_mut(BLOCK)
            .zip(grads.chunks(BLOCK))
            .zip(m.chunks_mut(BLOCK))
            .zip(v.chunks_mut(BLOCK))
            .zip(s.chunks_mut(BLOCK))
        {
            let len = g.len();
            let (gb, rb) = (&mut g_buf[..len], &mut ratio_buf[..len]);
            for ((((((x, &g), m), v), s), gb), rb) in x
                .iter_mut()
                .zip(g)
                .zip(m.iter_mut())
                .zip(v.iter_mut())
                .zip(s.iter_mut())
                .zip(gb.iter_mut())
                .zip(rb.iter_mut())
            {
                let g = self.grad::<L2>(g, *x);
                if L2 {
                    *gb = g;
                }
                *rb = *s / (v.sqrt() + self.eps);
                *m = *m * self.b1 + self.w1 * g;
                *v = *v * self.b2 + (self.w2 * g) * g;
                *s = *s * self.b3 + self.w3 * g;
                if STEP {
                    if DECAY {
                        *x += self.decay * *x;
                    }
                    // `adam_denominator` with bias correction 1 (`sqrt(v) / 1` is `sqrt(v)`
                    // exactly).
                    let d = v.sqrt() + self.eps;
                    *x += (self.c * *m) / d;
                }
                check.see(*x);
            }
            // Without weight decay, the gradient's own block (no copy).
            let gb: &[f32] = if L2 { gb } else { g };
            // Only the last block has a remainder: summed one by one, as `reduce` does.
            let lanes = len - len % LANES;
            numerator.add2(&gb[..lanes], &rb[..lanes], |g, r| {
                f64::from(g) * f64::from(r)
            });
            s_l1.add1(&s[..lanes], abs);
            for i in lanes..len {
                numerator_tail += f64::from(gb[i]) * f64::from(rb[i]);
                s_l1_tail += abs(s[i]);
            }
        }
        (
            numerator.combined() + numerator_tail,
            s_l1.combined() + s_l1_tail,
            check,
        )
    }
}

/// Configuration of [`DAdaptSgd`] (`kind = "dadapt-sgd"`). Defaults are those of
/// `dadaptation` 3.2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DAdaptSgdConfig {
    /// Momentum in `[0, 1)` (primal averaging: `x ← momentum · x + (1 − momentum) · z`).
    /// Default 0.
    pub momentum: f64,
    /// Coupled L2 weight decay: `weight_decay · x` is added to the gradient. Must be ≥ 0.
    /// Default 0.
    pub weight_decay: f64,
    /// Initial estimate of `d`. Must be > 0. Default 1e-6.
    pub d0: f64,
    /// Largest factor by which `d` may grow in one step (≥ 1). Absent or `inf`: no limit
    /// (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growth_rate: Option<f64>,
}

impl Default for DAdaptSgdConfig {
    fn default() -> Self {
        Self {
            momentum: 0.0,
            weight_decay: 0.0,
            d0: 1e-6,
            growth_rate: None,
        }
    }
}

impl OptimizerConfig for DAdaptSgdConfig {
    const KIND: &'static str = "dadapt-sgd";
    type Optimizer = DAdaptSgd;

    /// The estimate `d` sets the step size; `lr` only multiplies it.
    fn sets_own_step_size(&self) -> bool {
        true
    }

    /// Checks every field's range.
    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.field("momentum", self.momentum, UNIT_INTERVAL)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.field("d0", self.d0, POSITIVE)?;
        c.optional("growth_rate", self.growth_rate, GROWTH_RATE)
    }

    /// Validates and builds the optimizer for `n_params` parameters.
    fn build(&self, n_params: usize) -> Result<DAdaptSgd, OptimError> {
        self.validate()?;
        Ok(DAdaptSgd {
            config: self.clone(),
            x0: vec![0.0; n_params],
            s: vec![0.0; n_params],
            work: vec![0.0; n_params],
            g0_norm: None,
            d: self.d0,
            numerator_weighted: 0.0,
        })
    }
}

/// D-Adaptation SGD (Defazio & Mishchenko 2023, arXiv:2301.07733: D-Adapted dual averaging
/// with the reference code's momentum), matching `dadaptation` 3.2 `dadaptation.DAdaptSGD` with one
/// parameter group.
///
/// With `g` the gradient plus `weight_decay · x` and `dlr = d · lr / ‖g_0‖` (`g_0` the first
/// raw gradient): `r ← r + dlr ⟨g, s⟩`, `s ← s + dlr g`,
/// `d ← max(d, min(2 r / ‖s‖₂, growth_rate · d))`, `z = x_0 − s`,
/// `x ← momentum · x + (1 − momentum) · z`. The effective learning rate is `dlr` (the step
/// size on the gradient in the dual sum `s`).
///
/// Deviations: `lr` is the controller's multiplier passed each step, read as the reference
/// reads `group['lr']`; a non-positive or non-finite `lr` takes no step (the reference raises
/// `UnboundLocalError` at `lr = 0`). When the first gradient is zero the reference raises
/// `ZeroDivisionError` (`dlr = d·lr/0`); lrctl leaves the parameters unchanged and takes
/// `‖g_0‖` from the first non-zero gradient. Like the reference, `‖g_0‖` excludes the weight
/// decay term (its `grad.add` there is not in place), while every later use includes it.
/// Sums are accumulated in `f64`.
#[derive(Debug, Clone)]
pub struct DAdaptSgd {
    config: DAdaptSgdConfig,
    x0: Vec<f32>,
    s: Vec<f32>,
    /// Scratch: the gradient (with weight decay), then `z`.
    work: Vec<f32>,
    g0_norm: Option<f64>,
    d: f64,
    numerator_weighted: f64,
}

impl DAdaptSgd {
    /// The current distance estimate `d` (starts at `d0`, never decreases).
    pub fn d(&self) -> f64 {
        self.d
    }
}

impl Optimizer for DAdaptSgd {
    name_and_snapshot!(DAdaptSgdConfig);

    fn d_estimate(&self) -> Option<f64> {
        Some(self.d)
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        let cfg = &self.config;
        step_lengths(params, grads, self.s.len());
        let lr = usable_lr(lr);
        if lr == 0.0 {
            return StepInfo { effective_lr: 0.0 };
        }
        let g0_norm = match self.g0_norm {
            Some(n) => n,
            None => {
                let n = sum1(grads, |g| f64::from(g) * f64::from(g)).sqrt();
                if n == 0.0 {
                    return StepInfo { effective_lr: 0.0 };
                }
                self.x0.copy_from_slice(params);
                self.g0_norm = Some(n);
                n
            }
        };
        let dlr = self.d * lr / g0_norm;
        l2_gradient(&mut self.work, grads, params, cfg.weight_decay);
        let grad = &self.work;

        let numerator = sum2(grad, &self.s, |g, s| f64::from(g) * f64::from(s));
        add_scaled(&mut self.s, grad, dlr);
        let s_sq = sum1(&self.s, |s| f64::from(s) * f64::from(s));
        if s_sq == 0.0 {
            return StepInfo { effective_lr: 0.0 };
        }
        let numerator_weighted = self.numerator_weighted + dlr * numerator;
        let d_hat = 2.0 * numerator_weighted / s_sq.sqrt();
        self.d = self
            .d
            .max(d_hat.min(self.d * growth_factor(cfg.growth_rate)));
        self.numerator_weighted = numerator_weighted;

        // z = x_0 − s, then x ← (1 − ck)·x + ck·z with ck = 1 − momentum.
        let z = &mut self.work;
        for ((z, &x0), &s) in z.iter_mut().zip(&self.x0).zip(&self.s) {
            *z = x0 - s;
        }
        let ck = 1.0 - cfg.momentum;
        scale(params, 1.0 - ck);
        add_scaled(params, z, ck);
        StepInfo { effective_lr: dlr }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::moments::{adam_denominator, addcdiv, bias_correction, ema, ema_sq};
    use crate::test_support::{assert_fused_matches_reference, sequential_sum};

    /// D-Adaptation Adam as one whole-vector operation after another (the `dadaptation` step's
    /// sequence of tensor operations), with sequential `f64` sums.
    struct Reference {
        cfg: DAdaptAdamConfig,
        m: Vec<f32>,
        v: Vec<f32>,
        s: Vec<f32>,
        d: f64,
        numerator_weighted: f64,
        k: u64,
    }

    impl Reference {
        fn new(cfg: &DAdaptAdamConfig, n: usize) -> Self {
            Self {
                cfg: cfg.clone(),
                m: vec![0.0; n],
                v: vec![0.0; n],
                s: vec![0.0; n],
                d: cfg.d0,
                numerator_weighted: 0.0,
                k: 0,
            }
        }

        fn step(&mut self, x: &mut [f32], grads: &[f32], lr: f64) -> f64 {
            let cfg = &self.cfg;
            let lr = usable_lr(lr);
            if lr == 0.0 {
                return 0.0;
            }
            let [beta1, beta2] = cfg.betas;
            let k = self.k + 1;
            let bc = if cfg.bias_correction {
                bias_correction(beta2, k).sqrt() / bias_correction(beta1, k)
            } else {
                1.0
            };
            let dlr = self.d * lr * bc;
            let sqrt_beta2 = beta2.sqrt();
            let mut g = vec![0.0; x.len()];
            let coupled = if cfg.decouple { 0.0 } else { cfg.weight_decay };
            l2_gradient(&mut g, grads, x, coupled);
            let eps = cfg.eps as f32;
            let numerator = sequential_sum(
                g.iter()
                    .zip(&self.s)
                    .zip(&self.v)
                    .map(|((&g, &s), &v)| f64::from(g) * f64::from(s / (v.sqrt() + eps))),
            );
            ema(&mut self.m, &g, beta1, dlr * (1.0 - beta1));
            ema_sq(&mut self.v, &g, beta2, 1.0 - beta2);
            ema(&mut self.s, &g, sqrt_beta2, dlr * (1.0 - sqrt_beta2));
            let s_l1 = sequential_sum(self.s.iter().map(|&s| f64::from(s.abs())));
            let numerator_weighted =
                sqrt_beta2 * self.numerator_weighted + (1.0 - sqrt_beta2) * dlr * numerator;
            if s_l1 == 0.0 {
                return 0.0;
            }
            let d_hat = numerator_weighted / ((1.0 - sqrt_beta2) * s_l1);
            self.d = self
                .d
                .max(d_hat.min(self.d * growth_factor(cfg.growth_rate)));
            self.numerator_weighted = numerator_weighted;
            if cfg.decouple {
                decay_decoupled(x, dlr, cfg.weight_decay);
            }
            let mut denom = vec![0.0; x.len()];
            adam_denominator(&mut denom, &self.v, 1.0, cfg.eps);
            addcdiv(x, &self.m, &denom, -1.0);
            self.k += 1;
            dlr
        }
    }

    #[test]
    fn adam_fused_pass_matches_the_operation_by_operation_reference() {
        let configs = [
            DAdaptAdamConfig::default(),
            DAdaptAdamConfig {
                betas: [0.9, 0.99],
                weight_decay: 0.1,
                decouple: true,
                ..DAdaptAdamConfig::default()
            },
            DAdaptAdamConfig {
                weight_decay: 0.05,
                bias_correction: true,
                growth_rate: Some(2.0),
                ..DAdaptAdamConfig::default()
            },
        ];
        for (c, cfg) in configs.iter().enumerate() {
            for n in [5, 37, 64, 101] {
                let mut fused = cfg.build(n).unwrap();
                let mut reference = Reference::new(cfg, n);
                assert_fused_matches_reference(
                    &format!("dadapt-adam config {c}"),
                    n,
                    40,
                    |x, g, lr| fused.step(x, g, lr).effective_lr,
                    |x, g, lr| reference.step(x, g, lr),
                );
                assert!(
                    (fused.d() - reference.d).abs() <= 1e-9 * reference.d,
                    "config {c}, n {n}: d {} vs {}",
                    fused.d(),
                    reference.d
                );
                assert!(fused.d() > cfg.d0, "config {c}, n {n}: d never grew");
            }
        }
    }

    #[test]
    fn adam_takes_no_step_while_s_is_zero_even_with_decoupled_decay() {
        // The single pass decides beforehand whether ‖s‖₁ will be non-zero; with only zero
        // gradients it must neither decay nor count the step (the bias correction's k).
        let cfg = DAdaptAdamConfig {
            weight_decay: 0.5,
            decouple: true,
            bias_correction: true,
            ..DAdaptAdamConfig::default()
        };
        let mut opt = cfg.build(19).unwrap();
        let start: Vec<f32> = (0..19).map(|i| i as f32 - 9.0).collect();
        let mut x = start.clone();
        for _ in 0..3 {
            assert_eq!(opt.step(&mut x, &[0.0; 19], 1.0).effective_lr, 0.0);
        }
        assert_eq!((x, opt.k), (start, 0));
    }
}
