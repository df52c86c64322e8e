//! Prodigy: D-Adaptation's Adam with a faster-growing, weighted distance estimate.

use serde::{Deserialize, Serialize};

use crate::check::{Check, GROWTH_RATE, NON_NEGATIVE, POSITIVE, UNIT_INTERVAL, step_lengths};
use crate::dadapt::growth_factor;
use crate::moments::{FiniteCheck, const_bool, simd, step_size_correction, usable_lr, with_l2};
use crate::reduce::{BLOCK, LANES, Lanes};
use crate::{Finiteness, OptimError, Optimizer, OptimizerConfig, StepInfo, name_and_snapshot};

/// Configuration of [`Prodigy`] (`kind = "prodigy"`). Defaults are those of `prodigyopt`
/// 1.1.2; lrctl's paper setup sets `betas = [0.9, 0.99]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProdigyConfig {
    /// EMA coefficients of the gradient and its square, each in `[0, 1)`. `betas[0] = 0`
    /// drops the first moment (the update then uses `d · g`). Default `[0.9, 0.999]`.
    pub betas: [f64; 2],
    /// EMA coefficient of the `d` estimate's sums, in `[0, 1)`. Absent: `sqrt(betas[1])` (the
    /// default and the paper setup).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub beta3: Option<f64>,
    /// Added (times `d`) to the square root of the second moment. Must be > 0. Default 1e-8.
    pub eps: f64,
    /// Weight decay strength. Must be ≥ 0. Default 0.
    pub weight_decay: f64,
    /// AdamW-style decoupled weight decay (`x ← x − weight_decay · dlr · x`) instead of an L2
    /// term added to the gradient. Default true (the reference's default).
    pub decouple: bool,
    /// Adam's bias correction, folded into `dlr` as `sqrt(1 − β2^k) / (1 − β1^k)`. Default
    /// false (`use_bias_correction` in the reference).
    pub bias_correction: bool,
    /// Safeguard warm-up: leave `lr` (and the bias correction) out of the `d` estimate's
    /// denominator, which avoids an overestimate while a schedule warms `lr` up. Default false.
    pub safeguard_warmup: bool,
    /// Initial estimate of `d`. Must be > 0. Default 1e-6.
    pub d0: f64,
    /// Multiplies the estimate `d̂` (the preferred way to tune Prodigy). Must be > 0.
    /// Default 1.
    pub d_coef: f64,
    /// Largest factor by which `d` may grow in one step (≥ 1). Absent or `inf`: no limit
    /// (the default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub growth_rate: Option<f64>,
}

impl Default for ProdigyConfig {
    fn default() -> Self {
        Self {
            betas: [0.9, 0.999],
            beta3: None,
            eps: 1e-8,
            weight_decay: 0.0,
            decouple: true,
            bias_correction: false,
            safeguard_warmup: false,
            d0: 1e-6,
            d_coef: 1.0,
            growth_rate: None,
        }
    }
}

impl OptimizerConfig for ProdigyConfig {
    const KIND: &'static str = "prodigy";
    type Optimizer = Prodigy;

    /// The estimate `d` sets the step size; `lr` only multiplies it.
    fn sets_own_step_size(&self) -> bool {
        true
    }

    /// Checks every field's range.
    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.betas(&self.betas)?;
        c.optional("beta3", self.beta3, UNIT_INTERVAL)?;
        c.field("eps", self.eps, POSITIVE)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        c.field("d0", self.d0, POSITIVE)?;
        c.field("d_coef", self.d_coef, POSITIVE)?;
        c.optional("growth_rate", self.growth_rate, GROWTH_RATE)
    }

    /// Validates and builds the optimizer for `n_params` parameters.
    fn build(&self, n_params: usize) -> Result<Prodigy, OptimError> {
        self.validate()?;
        // β1 = 0: no first moment.
        let first_moment = if self.betas[0] > 0.0 { n_params } else { 0 };
        Ok(Prodigy {
            config: self.clone(),
            started: false,
            x0: vec![0.0; n_params],
            s: vec![0.0; n_params],
            exp_avg: vec![0.0; first_moment],
            exp_avg_sq: vec![0.0; n_params],
            d: self.d0,
            d_max: self.d0,
            d_numerator: 0.0,
            k: 0,
            finiteness: Finiteness::Unchecked,
        })
    }
}

/// Prodigy (Mishchenko & Defazio 2023, *Prodigy: An Expeditiously Adaptive Parameter-Free
/// Learner*, ICML 2024; arXiv:2306.06101: the Adam variant as its reference code implements
/// it), matching `prodigyopt` 1.1.2 `prodigyopt.Prodigy` with one parameter group.
///
/// Step `k`, with `g` the gradient (plus `weight_decay · x` unless `decouple`), `x_0` the
/// parameters at the first step and `dlr = d_k · lr · bc_k` (`bc_k` the bias correction or 1):
///
/// * `r ← β3 r + (d/d0) · dlr · ⟨g, x_0 − x⟩`;
/// * `m ← β1 m + d (1 − β1) g`, `v ← β2 v + d² (1 − β2) g²`,
///   `s ← β3 s + (d/d0) · dlr · g` (`(d/d0) · d · g` with the safeguard warm-up);
/// * `d̂ = d_coef · r / ‖s‖₁`; at `d = d0`, `d ← max(d, d̂)`; `d_max ← max(d_max, d̂)`;
///   `d_{k+1} = min(d_max, growth_rate · d)`. So, as in the reference, the first increase
///   from `d0` is not limited by `growth_rate` (`d` jumps straight to `d̂`); every later one
///   is;
/// * decoupled decay `x ← x − weight_decay · dlr · x`, then
///   `x ← x − dlr · m / (sqrt(v) + d_{k+1} · eps)` (`dlr · d_{k+1} · g / (…)` when `β1 = 0`).
///
/// The effective learning rate is `dlr` (`d_k · lr` without bias correction; the estimate
/// formed during the step applies from the next one).
///
/// **Gradient clipping** (konstmish/prodigy issue #13): Prodigy only sees the gradient it is
/// given, so when the engine clips gradients the `d` estimate is built from the clipped ones,
/// and `d` (hence the step size) differs from the unclipped run. In lrctl's stochastic
/// fixture (softmax regression, global-norm clipping at 0.1) the clipped run's `d` settles
/// 52% higher than the unclipped one, in `prodigyopt` and in lrctl alike (the issue reports a
/// `dlr` that kept climbing under norm clipping on a ResNet-50).
/// `tests/free_optimizers.rs` replays both runs against the reference and pins this down.
/// lrctl reproduces the behaviour rather than "fixing" it.
///
/// **Growth over long runs.** `d` never decreases and, unlike D-Adaptation's (whose
/// numerator turns negative, see [`crate::dadapt::DAdaptAdam`]), keeps growing in steps:
/// `lrctl train --task logreg/breast-cancer --method prodigy --steps 20000` takes it from 0.11
/// (step 2,000) to 0.31 (step 20,000), `logreg/iris` from 1.5 to 7.8, with no harm to the
/// validation loss on these convex tasks; Prodigy + Schedule-Free grows far more on the same
/// run (see [`crate::prodigy_sf::ProdigyScheduleFree`]).
///
/// **Two passes per step.** `d_{k+1}` enters this step's update (through `d_{k+1} · eps`), so
/// the sums must be complete before any parameter moves. Pass 1 reads `g`, `x`, `x_0` and `s`,
/// writes `s` and sums `⟨g, x_0 − x⟩` and `‖s‖₁`; pass 2 reads `g`, `x`, `m` and `v`, updates
/// the moments (they do not depend on `d_{k+1}`, so they wait for pass 2 and are touched
/// once) and then the parameters: 12 `f32` loads and stores per coordinate, against 7 for
/// AdamW's single pass. Both passes are vectorised loops (AVX2 where the CPU has it, see
/// [`crate::moments::simd`]); each coordinate goes through exactly the `f32` operations of
/// the separate [`crate::moments`] helpers, and the sums keep [`crate::reduce`]'s 8 lane-wise
/// `f64` partial sums in the same order, so the result is bit for bit the multi-pass form's.
///
/// Deviations: `lr` is the controller's multiplier passed each step, read as the reference
/// reads `group['lr']`; a non-positive or non-finite `lr` takes no step and leaves the
/// statistics untouched (as the reference does for `lr = 0`). `slice_p` (estimating `d` from
/// every p-th coordinate) and `fsdp_in_use` have no counterpart: the sums run over every
/// coordinate of the flat vector. Sums are accumulated in `f64` (the reference's dot products
/// are `f32`); per-coordinate arithmetic is `f32` as in the reference. `growth_rate < 1` is
/// rejected (the reference would let it shrink `d`).
#[derive(Debug, Clone)]
pub struct Prodigy {
    config: ProdigyConfig,
    started: bool,
    x0: Vec<f32>,
    s: Vec<f32>,
    exp_avg: Vec<f32>,
    exp_avg_sq: Vec<f32>,
    d: f64,
    d_max: f64,
    d_numerator: f64,
    k: u64,
    /// What the last step's update pass found.
    finiteness: Finiteness,
}

impl Prodigy {
    /// The current distance estimate `d` (starts at `d0`, never decreases).
    pub fn d(&self) -> f64 {
        self.d
    }
}

impl Optimizer for Prodigy {
    name_and_snapshot!(ProdigyConfig);

    fn d_estimate(&self) -> Option<f64> {
        Some(self.d)
    }

    fn finiteness(&self) -> Finiteness {
        self.finiteness
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        let cfg = &self.config;
        step_lengths(params, grads, self.x0.len());
        if !self.started {
            self.x0.copy_from_slice(params);
            self.started = true;
        }
        let lr = usable_lr(lr);
        self.finiteness = Finiteness::Unchecked;
        if lr == 0.0 {
            return StepInfo { effective_lr: 0.0 };
        }
        let [beta1, beta2] = cfg.betas;
        let beta3 = cfg.beta3.unwrap_or_else(|| beta2.sqrt());
        let bias_correction = step_size_correction(cfg.betas, self.k + 1, cfg.bias_correction);
        let d = self.d;
        let dlr = d * lr * bias_correction;
        let coupled = if cfg.decouple { 0.0 } else { cfg.weight_decay };
        let d_ratio = d / cfg.d0;
        let s_weight = if cfg.safeguard_warmup {
            d_ratio * d
        } else {
            d_ratio * dlr
        };
        let mut kernel = ProdigyKernel {
            l2: coupled as f32,
            beta3: beta3 as f32,
            s_weight: s_weight as f32,
            b1: beta1 as f32,
            w1: (d * (1.0 - beta1)) as f32,
            b2: beta2 as f32,
            w2: (d * d * (1.0 - beta2)) as f32,
            decay: if cfg.decouple {
                (-cfg.weight_decay * dlr) as f32
            } else {
                0.0
            },
            eps: 0.0,
            c: 0.0,
        };
        let first_moment = !self.exp_avg.is_empty();

        // Pass 1: ⟨g, x_0 − x⟩ at the current point, the new `s` and ‖s‖₁.
        let (progress, s_l1) = const_bool!(
            coupled != 0.0,
            L2,
            simd(
                #[inline(always)]
                || kernel.stats::<L2>(grads, params, &self.x0, &mut self.s)
            )
        );
        let (m, v) = (&mut self.exp_avg, &mut self.exp_avg_sq);
        if s_l1 == 0.0 {
            // Only zero gradients so far: nothing to estimate and nothing to move by (the
            // moments still advance, as in the reference).
            let check = const_bool!(
                coupled != 0.0,
                L2,
                const_bool!(
                    first_moment,
                    M,
                    simd(
                        #[inline(always)]
                        || kernel.update::<L2, false, M, false>(params, grads, m, v)
                    )
                )
            );
            self.finiteness = Finiteness::checked(check.all_finite());
            return StepInfo { effective_lr: 0.0 };
        }
        let numerator = beta3 * self.d_numerator + d_ratio * dlr * progress;
        let d_hat = cfg.d_coef * numerator / s_l1;
        let mut new_d = d;
        if new_d == cfg.d0 {
            new_d = new_d.max(d_hat);
        }
        self.d_max = self.d_max.max(d_hat);
        new_d = self.d_max.min(new_d * growth_factor(cfg.growth_rate));
        self.d = new_d;
        self.d_numerator = numerator;

        // Pass 2: the moments, decoupled decay and the step with `d_{k+1} · eps`.
        kernel.eps = (new_d * cfg.eps) as f32;
        kernel.c = if first_moment { -dlr } else { -dlr * new_d } as f32;
        let check = const_bool!(
            coupled != 0.0,
            L2,
            const_bool!(
                kernel.decay != 0.0,
                DECAY,
                const_bool!(
                    first_moment,
                    M,
                    simd(
                        #[inline(always)]
                        || kernel.update::<L2, DECAY, M, true>(params, grads, m, v)
                    )
                )
            )
        );
        self.finiteness = Finiteness::checked(check.all_finite());
        self.k += 1;
        StepInfo { effective_lr: dlr }
    }
}

/// The `f32` constants of one Prodigy step's two passes over the coordinates. Every
/// coordinate goes through exactly the `f32` operations of the [`crate::moments`] helpers the
/// reference's sequence of tensor operations corresponds to (see [`Prodigy`]).
#[derive(Clone, Copy)]
struct ProdigyKernel {
    /// Coupled weight decay: `g ← g + l2 · x` (`l2_gradient`).
    l2: f32,
    /// `s ← s · beta3 + s_weight · g`.
    beta3: f32,
    s_weight: f32,
    /// `m ← m · b1 + w1 · g`.
    b1: f32,
    w1: f32,
    /// `v ← v · b2 + (w2 · g) · g`.
    b2: f32,
    w2: f32,
    /// Decoupled decay `x ← x + decay · x` (`decay = −weight_decay · dlr`), the reference's
    /// form (see `DAdaptKernel`'s `decay`).
    decay: f32,
    /// `d_{k+1} · eps`, added to `sqrt(v)`.
    eps: f32,
    /// `x ← x + (c · m) / (sqrt(v) + eps)` (`c · g` without a first moment).
    c: f32,
}

impl ProdigyKernel {
    /// The gradient with coupled decay, from the parameters before this step's update.
    #[inline(always)]
    fn grad<const L2: bool>(&self, g: f32, x: f32) -> f32 {
        with_l2::<L2>(self.l2, g, x)
    }

    /// Pass 1 (reads `g`, `x`, `x_0`, `s`; writes `s`): `s ← β3 s + s_weight · g` and returns
    /// `(⟨g, x_0 − x⟩, ‖s‖₁)` over the new `s`, summed in `f64` in [`LANES`] lane-wise partial
    /// sums combined as [`crate::reduce`] does (bit for bit `sum3`/`sum1` of the separate
    /// passes). Block by block ([`BLOCK`]): the per-coordinate loop updates the block's `s`
    /// (and, with coupled decay, writes the gradient to a buffer), then each sum runs alone over
    /// the block, still in L1 cache.
    #[inline(always)]
    fn stats<const L2: bool>(
        &self,
        grads: &[f32],
        params: &[f32],
        x0: &[f32],
        s: &mut [f32],
    ) -> (f64, f64) {
        let n = params.len();
        assert!(
            grads.len() == n && x0.len() == n && s.len() == n,
            "lengths differ"
        );
        let (mut progress, mut s_l1) = (Lanes::default(), Lanes::default());
        let (mut progress_tail, mut s_l1_tail) = (0.0f64, 0.0f64);
        let progress_term = |g: f32, x0: f32, x: f32| f64::from(g) * f64::from(x0 - x);
        let abs = |s: f32| f64::from(s.abs());
        let mut g_buf = [0.0f32; BLOCK];
        for (((g, x), x0), s) in grads
            .chunks(BLOCK)
            .zip(params.chunks(BLOCK))
            .zip(x0.chunks(BLOCK))
            .zip(s.chunks_mut(BLOCK))
        {
            let len = g.len();
            let gb = &mut g_buf[..len];
            for (((&g, &x), s), gb) in g.iter().zip(x).zip(s.iter_mut()).zip(gb.iter_mut()) {
                let g = self.grad::<L2>(g, x);
                if L2 {
                    *gb = g;
                }
                *s = *s * self.beta3 + self.s_weight * g;
            }
            // Without weight decay, the gradient's own block (no copy).
            let g: &[f32] = if L2 { gb } else { g };
            // Only the last block has a remainder: summed one by one, as `reduce` does.
            let lanes = len - len % LANES;
            progress.add3(&g[..lanes], &x0[..lanes], &x[..lanes], progress_term);
            s_l1.add1(&s[..lanes], abs);
            for i in lanes..len {
                progress_tail += progress_term(g[i], x0[i], x[i]);
                s_l1_tail += abs(s[i]);
            }
        }
        (
            progress.combined() + progress_tail,
            s_l1.combined() + s_l1_tail,
        )
    }

    /// Pass 2 (reads `g`, `x`, `m`, `v`; writes them but `g`): per coordinate, the gradient
    /// with coupled decay (from `x` before this step), decoupled decay (`DECAY`), the moments
    /// and (`STEP`) the step. `m` is empty without a first moment (`!M`). One plain loop over
    /// the coordinates, which LLVM vectorises (as [`crate::moments::adam_fused`]'s), checking
    /// on the way that every parameter it leaves is finite.
    #[inline(always)]
    fn update<const L2: bool, const DECAY: bool, const M: bool, const STEP: bool>(
        &self,
        params: &mut [f32],
        grads: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) -> FiniteCheck {
        let n = params.len();
        assert!(
            grads.len() == n && v.len() == n && (!M || m.len() == n),
            "lengths differ"
        );
        let mut check = FiniteCheck::default();
        let mut coordinate = |x: &mut f32, g: f32, m: &mut f32, v: &mut f32| {
            let g = self.grad::<L2>(g, *x);
            if DECAY {
                *x += self.decay * *x;
            }
            let num = if M {
                *m = *m * self.b1 + self.w1 * g;
                *m
            } else {
                g
            };
            *v = *v * self.b2 + (self.w2 * g) * g;
            if STEP {
                // `adam_denominator` with bias correction 1 (`sqrt(v) / 1` is `sqrt(v)`
                // exactly).
                let d = v.sqrt() + self.eps;
                *x += (self.c * num) / d;
            }
            check.see(*x);
        };
        if M {
            for (((x, &g), m), v) in params
                .iter_mut()
                .zip(grads)
                .zip(m.iter_mut())
                .zip(v.iter_mut())
            {
                coordinate(x, g, m, v);
            }
        } else {
            for ((x, &g), v) in params.iter_mut().zip(grads).zip(v.iter_mut()) {
                coordinate(x, g, &mut 0.0, v);
            }
        }
        check
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dadapt::decay_decoupled;
    use crate::moments::{adam_denominator, addcdiv, bias_correction, ema, ema_sq, l2_gradient};
    use crate::test_support::{assert_fused_matches_reference, sequential_sum};

    /// Prodigy as one whole-vector operation after another (the `prodigyopt` step's sequence
    /// of tensor operations), with sequential `f64` sums.
    struct Reference {
        cfg: ProdigyConfig,
        x0: Vec<f32>,
        s: Vec<f32>,
        m: Vec<f32>,
        v: Vec<f32>,
        d: f64,
        d_max: f64,
        d_numerator: f64,
        k: u64,
    }

    impl Reference {
        fn new(cfg: &ProdigyConfig, n: usize) -> Self {
            Self {
                cfg: cfg.clone(),
                x0: Vec::new(),
                s: vec![0.0; n],
                m: vec![0.0; n],
                v: vec![0.0; n],
                d: cfg.d0,
                d_max: cfg.d0,
                d_numerator: 0.0,
                k: 0,
            }
        }

        fn step(&mut self, x: &mut [f32], grads: &[f32], lr: f64) -> f64 {
            let cfg = &self.cfg;
            if self.x0.is_empty() {
                self.x0 = x.to_vec();
            }
            let lr = usable_lr(lr);
            if lr == 0.0 {
                return 0.0;
            }
            let [beta1, beta2] = cfg.betas;
            let beta3 = cfg.beta3.unwrap_or_else(|| beta2.sqrt());
            let k = self.k + 1;
            let bc = if cfg.bias_correction {
                bias_correction(beta2, k).sqrt() / bias_correction(beta1, k)
            } else {
                1.0
            };
            let d = self.d;
            let dlr = d * lr * bc;
            let mut g = vec![0.0; x.len()];
            let coupled = if cfg.decouple { 0.0 } else { cfg.weight_decay };
            l2_gradient(&mut g, grads, x, coupled);
            let progress = sequential_sum(
                g.iter()
                    .zip(&self.x0)
                    .zip(x.iter())
                    .map(|((&g, &x0), &x)| f64::from(g) * f64::from(x0 - x)),
            );
            if beta1 > 0.0 {
                ema(&mut self.m, &g, beta1, d * (1.0 - beta1));
            }
            ema_sq(&mut self.v, &g, beta2, d * d * (1.0 - beta2));
            let d_ratio = d / cfg.d0;
            let s_weight = if cfg.safeguard_warmup {
                d_ratio * d
            } else {
                d_ratio * dlr
            };
            ema(&mut self.s, &g, beta3, s_weight);
            let s_l1 = sequential_sum(self.s.iter().map(|&s| f64::from(s.abs())));
            if s_l1 == 0.0 {
                return 0.0;
            }
            let numerator = beta3 * self.d_numerator + d_ratio * dlr * progress;
            let d_hat = cfg.d_coef * numerator / s_l1;
            let mut new_d = d;
            if new_d == cfg.d0 {
                new_d = new_d.max(d_hat);
            }
            self.d_max = self.d_max.max(d_hat);
            new_d = self.d_max.min(new_d * growth_factor(cfg.growth_rate));
            self.d = new_d;
            self.d_numerator = numerator;
            if cfg.decouple {
                decay_decoupled(x, dlr, cfg.weight_decay);
            }
            let mut denom = vec![0.0; x.len()];
            adam_denominator(&mut denom, &self.v, 1.0, new_d * cfg.eps);
            if beta1 > 0.0 {
                addcdiv(x, &self.m, &denom, -dlr);
            } else {
                addcdiv(x, &g, &denom, -dlr * new_d);
            }
            self.k += 1;
            dlr
        }
    }

    #[test]
    fn fused_passes_match_the_operation_by_operation_reference() {
        let configs = [
            ProdigyConfig::default(),
            ProdigyConfig {
                betas: [0.9, 0.99],
                ..ProdigyConfig::default()
            },
            ProdigyConfig {
                betas: [0.0, 0.99],
                weight_decay: 0.1,
                ..ProdigyConfig::default()
            },
            ProdigyConfig {
                weight_decay: 0.05,
                decouple: false,
                bias_correction: true,
                ..ProdigyConfig::default()
            },
            ProdigyConfig {
                weight_decay: 0.05,
                safeguard_warmup: true,
                beta3: Some(0.9),
                d_coef: 2.0,
                growth_rate: Some(1.5),
                ..ProdigyConfig::default()
            },
        ];
        for (c, cfg) in configs.iter().enumerate() {
            for n in [5, 37, 64, 101] {
                let mut fused = cfg.build(n).unwrap();
                let mut reference = Reference::new(cfg, n);
                assert_fused_matches_reference(
                    &format!("prodigy config {c}"),
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
}
