//! Moment estimates and weight decay shared by every Adam-like and momentum rule.
//!
//! Everything here works in place over flat `f32` slices (the whole model's parameters, see
//! the crate docs) and reproduces the floating-point operation order of PyTorch 1.13's
//! single-tensor CPU kernels, so that lrctl's optimizers agree with `torch.optim` to about one
//! rounding per operation rather than merely "mathematically".
//!
//! # Float operation order (and why)
//!
//! PyTorch passes Python scalars (`beta`, `1 - beta`, `lr`, `weight_decay`) to `f32` kernels
//! after computing them in `f64` and rounding once to `f32`; the per-coordinate arithmetic is
//! then `f32`. The helpers here do the same: **scalars are formed in `f64` and cast to `f32`
//! once; each coordinate is computed in `f32`** in exactly this order:
//!
//! | helper | PyTorch 1.13 | lrctl, per coordinate (`f32`) |
//! |---|---|---|
//! | [`ema`] | `m.mul_(β).add_(x, alpha=w)` | `m = m·β;  m = m + w·x` |
//! | [`ema_sq`] | `v.mul_(β).addcmul_(x, x, value=w)` | `v = v·β;  v = v + (w·x)·x` |
//! | [`add_scaled`] | `a.add_(x, alpha=c)` / `g.add(p, alpha=wd)` | `a = a + c·x` |
//! | [`scale`] | `p.mul_(c)` (decoupled decay: `c = 1 − lr·wd` in `f64`) | `p = p·c` |
//! | [`addcdiv`] | `p.addcdiv_(m, d, value=c)` | `p = p + (c·m) / d` |
//! | [`adam_denominator`] | `(v.sqrt() / sqrt(bc2)).add_(eps)` | `sqrt(v) / f32(sqrt(bc2)) + eps` |
//!
//! Bias corrections ([`bias_correction`]) are `f64`: `1 − β^k` with `β^k` from `powf`, the C
//! `pow` Python's `float ** int` calls.
//!
//! PyTorch's vectorised CPU kernels may fuse `a + c·x` into one fused multiply-add (AVX2
//! `fmadd`); lrctl does not (a software `fma` call per coordinate would be slow on targets
//! without the `fma` feature). The difference is at most one rounding (≈ 6e-8 relative) per
//! operation; over the 60–100-step `torch.optim` fixtures of this crate (`tests/fixtures/
//! base_*.json`) the parameters stay within 1.5e-6 of the distance each one travelled.

/// `1 − β^k`: Adam's bias correction after `k ≥ 1` steps (`f64`, as PyTorch computes it).
pub fn bias_correction(beta: f64, k: u64) -> f64 {
    1.0 - beta.powf(k as f64)
}

/// Exponential moving average in place: `m ← β·m + w·x` (`w = 1 − β` for a plain EMA).
///
/// Order: `m = m·β`, then `m = m + w·x`, in `f32` with `β` and `w` rounded once to `f32`
/// (PyTorch: `m.mul_(β).add_(x, alpha=w)`).
///
/// # Panics
/// If the slices differ in length.
pub fn ema(m: &mut [f32], x: &[f32], beta: f64, w: f64) {
    assert_eq!(m.len(), x.len(), "moment and input lengths differ");
    let (beta, w) = (beta as f32, w as f32);
    for (m, &x) in m.iter_mut().zip(x) {
        *m = *m * beta + w * x;
    }
}

/// Exponential moving average of the square in place: `v ← β·v + w·x²` (`w = 1 − β` for a
/// plain EMA).
///
/// Order: `v = v·β`, then `v = v + (w·x)·x`, in `f32` with `β` and `w` rounded once to `f32`
/// (PyTorch: `v.mul_(β).addcmul_(x, x, value=w)`, whose kernel multiplies the scalar into the
/// first factor).
///
/// # Panics
/// If the slices differ in length.
pub fn ema_sq(v: &mut [f32], x: &[f32], beta: f64, w: f64) {
    assert_eq!(v.len(), x.len(), "moment and input lengths differ");
    let (beta, w) = (beta as f32, w as f32);
    for (v, &x) in v.iter_mut().zip(x) {
        *v = *v * beta + (w * x) * x;
    }
}

/// `a ← a + c·x` in place (PyTorch: `a.add_(x, alpha=c)`). With `a` a copy of the gradient
/// and `x` the parameters this is coupled (L2) weight decay; see [`l2_gradient`].
///
/// # Panics
/// If the slices differ in length.
pub fn add_scaled(a: &mut [f32], x: &[f32], c: f64) {
    assert_eq!(a.len(), x.len(), "lengths differ");
    let c = c as f32;
    for (a, &x) in a.iter_mut().zip(x) {
        *a += c * x;
    }
}

/// Writes `grads + weight_decay · params` into `out`: the gradient with coupled (L2) weight
/// decay, as `torch.optim.SGD`/`Adam` form it (`grad.add(param, alpha=weight_decay)`). With
/// `weight_decay = 0` this is a plain copy.
///
/// # Panics
/// If the slices differ in length.
pub fn l2_gradient(out: &mut [f32], grads: &[f32], params: &[f32], weight_decay: f64) {
    assert_eq!(
        grads.len(),
        params.len(),
        "gradient length != parameter length"
    );
    out.copy_from_slice(grads);
    if weight_decay != 0.0 {
        add_scaled(out, params, weight_decay);
    }
}

/// `x ← c·x` in place, `c` rounded once to `f32` (PyTorch: `x.mul_(c)`).
pub fn scale(x: &mut [f32], c: f64) {
    let c = c as f32;
    for x in x {
        *x *= c;
    }
}

/// Decoupled (AdamW-style) weight decay: `params ← params · (1 − lr · weight_decay)`, the
/// factor formed in `f64` (PyTorch: `param.mul_(1 - lr * weight_decay)`). Nothing happens when
/// the factor is exactly 1.
pub fn decoupled_decay(params: &mut [f32], lr: f64, weight_decay: f64) {
    let factor = 1.0 - lr * weight_decay;
    if factor != 1.0 {
        scale(params, factor);
    }
}

/// `p ← p + (c·m) / d` in place (PyTorch: `p.addcdiv_(m, d, value=c)`).
///
/// # Panics
/// If the slices differ in length.
pub fn addcdiv(p: &mut [f32], m: &[f32], d: &[f32], c: f64) {
    assert!(p.len() == m.len() && p.len() == d.len(), "lengths differ");
    let c = c as f32;
    for ((p, &m), &d) in p.iter_mut().zip(m).zip(d) {
        *p += (c * m) / d;
    }
}

/// Adam's denominator into `out`: `sqrt(v) / sqrt(bc2) + eps` with `bc2 = 1 − β2^k`
/// ([`bias_correction`]); `sqrt(bc2)` is taken in `f64` and rounded to `f32`, the rest is
/// `f32` (PyTorch 1.13: `(exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)`).
///
/// # Panics
/// If the slices differ in length.
pub fn adam_denominator(out: &mut [f32], v: &[f32], bias_correction2: f64, eps: f64) {
    assert_eq!(out.len(), v.len(), "lengths differ");
    let (bc2_sqrt, eps) = (bias_correction2.sqrt() as f32, eps as f32);
    for (o, &v) in out.iter_mut().zip(v) {
        *o = v.sqrt() / bc2_sqrt + eps;
    }
}

/// One Adam(W) step in a single pass over the coordinates (no AMSGrad): per coordinate, in
/// order, [`decoupled_decay`]'s `x = x·decay` (when `decay != 1`), [`l2_gradient`]'s
/// `g = g + l2·x` (when `l2 != 0`), [`ema`] and [`ema_sq`] of `g`, [`adam_denominator`]
/// and [`addcdiv`] with `step = −lr / bc1` (skipped when `step == 0`).
///
/// Every coordinate goes through exactly the operations of the separate helpers, so the
/// result is bit for bit theirs; one pass instead of five keeps the parameters and moments in
/// cache (the multi-pass form streams the whole state through memory for each helper).
///
/// Returns whether every updated parameter is finite: the engine's divergence check, folded
/// into this pass (each new value is still in a register) instead of a second pass over the
/// parameters ([`crate::Finiteness`]).
///
/// # Panics
/// If the slices differ in length.
#[allow(clippy::too_many_arguments)]
pub fn adam_fused(
    params: &mut [f32],
    grads: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    decay: f64,
    l2: f64,
    betas: [f64; 2],
    bias_correction2: f64,
    eps: f64,
    step: f64,
) -> bool {
    let n = params.len();
    assert!(
        grads.len() == n && m.len() == n && v.len() == n,
        "lengths differ"
    );
    let k = AdamKernel {
        decay: decay as f32,
        l2: l2 as f32,
        b1: betas[0] as f32,
        w1: (1.0 - betas[0]) as f32,
        b2: betas[1] as f32,
        w2: (1.0 - betas[1]) as f32,
        bc2_sqrt: bias_correction2.sqrt() as f32,
        eps: eps as f32,
        c: step as f32,
    };
    // One loop per combination of the optional parts, so that each is branch-free and
    // vectorises.
    match (decay != 1.0, l2 != 0.0, step != 0.0) {
        (false, false, false) => simd(|| k.run::<false, false, false>(params, grads, m, v)),
        (false, false, true) => simd(|| k.run::<false, false, true>(params, grads, m, v)),
        (false, true, false) => simd(|| k.run::<false, true, false>(params, grads, m, v)),
        (false, true, true) => simd(|| k.run::<false, true, true>(params, grads, m, v)),
        (true, false, false) => simd(|| k.run::<true, false, false>(params, grads, m, v)),
        (true, false, true) => simd(|| k.run::<true, false, true>(params, grads, m, v)),
        (true, true, false) => simd(|| k.run::<true, true, false>(params, grads, m, v)),
        (true, true, true) => simd(|| k.run::<true, true, true>(params, grads, m, v)),
    }
}

/// Whether every value seen is finite, checked on the way through a fused update pass (the
/// engine's divergence check, see [`crate::Finiteness`]): the largest magnitude's bits, an
/// integer maximum, which LLVM vectorises alongside the update; they are at or above
/// infinity's exactly when some value was NaN or infinite.
#[derive(Clone, Copy, Default)]
pub(crate) struct FiniteCheck(u32);

impl FiniteCheck {
    /// Takes `x` into the check.
    #[inline(always)]
    pub(crate) fn see(&mut self, x: f32) {
        self.0 = self.0.max(x.to_bits() & !(1 << 31));
    }

    /// Whether every value seen was finite.
    #[inline(always)]
    pub(crate) fn all_finite(self) -> bool {
        self.0 < f32::INFINITY.to_bits()
    }
}

/// The `f32` constants of one [`adam_fused`] step.
#[derive(Clone, Copy)]
struct AdamKernel {
    decay: f32,
    l2: f32,
    b1: f32,
    w1: f32,
    b2: f32,
    w2: f32,
    bc2_sqrt: f32,
    eps: f32,
    c: f32,
}

impl AdamKernel {
    #[inline(always)]
    fn run<const DECAY: bool, const L2: bool, const STEP: bool>(
        &self,
        params: &mut [f32],
        grads: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) -> bool {
        let mut check = FiniteCheck::default();
        for (((x, &g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(m.iter_mut())
            .zip(v.iter_mut())
        {
            if DECAY {
                *x *= self.decay;
            }
            let g = if L2 { g + self.l2 * *x } else { g };
            *m = *m * self.b1 + self.w1 * g;
            *v = *v * self.b2 + (self.w2 * g) * g;
            let d = v.sqrt() / self.bc2_sqrt + self.eps;
            if STEP {
                *x += (self.c * *m) / d;
            }
            check.see(*x);
        }
        check.all_finite()
    }
}

/// Runs `f` compiled for AVX2 when the CPU has it (checked at run time), else as built.
///
/// Only wider vectors, never fused multiply-adds: every operation rounds exactly as the
/// portable code does, so results are bit for bit the same on every x86-64 machine.
#[inline(always)]
pub fn simd<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// Expands `$body` once with `const $name: bool = true` and once with `false`, choosing by
/// `$cond` at run time: the optional parts of a fused kernel become const generic parameters
/// (each combination compiles to its own branch-free, vectorised loop) without writing out
/// every combination by hand. Nest it for several flags.
macro_rules! const_bool {
    ($cond:expr, $name:ident, $body:expr) => {
        if $cond {
            const $name: bool = true;
            $body
        } else {
            const $name: bool = false;
            $body
        }
    };
}
pub(crate) use const_bool;

/// Adam's bias correction folded into the step size, as D-Adaptation and Prodigy apply it:
/// `sqrt(1 − β2^k) / (1 − β1^k)` after `k ≥ 1` steps ([`bias_correction`]), or 1 when
/// `enabled` is false (their `use_bias_correction = False`, the default).
pub(crate) fn step_size_correction(betas: [f64; 2], k: u64, enabled: bool) -> f64 {
    let [beta1, beta2] = betas;
    if enabled {
        bias_correction(beta2, k).sqrt() / bias_correction(beta1, k)
    } else {
        1.0
    }
}

/// The gradient with coupled (L2) weight decay for one coordinate, `g + l2·x` when `L2`
/// (the per-coordinate form of [`l2_gradient`]), else `g` untouched: what the fused kernels
/// of D-Adaptation, Prodigy and DoG form from the parameters before the step's update.
#[inline(always)]
pub(crate) fn with_l2<const L2: bool>(l2: f32, g: f32, x: f32) -> f32 {
    if L2 { g + l2 * x } else { g }
}

/// Weight decay as `pytorch-optimizer`'s rules apply it (`weight_decay`, `weight_decouple`,
/// `fixed_decay`; AdamG and KATE): either decoupled, `x ← x · scale` with
/// `scale = 1 − weight_decay · lr` (`lr` taken as 1 with `fixed_decay`), or coupled,
/// `g ← g + l2 · x`; both factors rounded once to `f32`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WeightDecay {
    l2: f32,
    scale: f32,
}

impl WeightDecay {
    /// The factors of one step at learning rate `lr`.
    pub(crate) fn new(weight_decay: f64, decouple: bool, fixed_decay: bool, lr: f64) -> Self {
        let (l2, scale) = match (weight_decay != 0.0, decouple) {
            (true, true) => (
                0.0,
                (1.0 - weight_decay * if fixed_decay { 1.0 } else { lr }) as f32,
            ),
            (true, false) => (weight_decay as f32, 1.0),
            (false, _) => (0.0, 1.0),
        };
        Self { l2, scale }
    }

    /// One coordinate: decays `x` (decoupled) and returns the gradient `g` (with the coupled
    /// term, formed from the decayed `x`, which is `x` itself then).
    #[inline(always)]
    pub(crate) fn apply(self, x: &mut f32, g: f32) -> f32 {
        if self.scale != 1.0 {
            *x *= self.scale;
        }
        if self.l2 != 0.0 { g + self.l2 * *x } else { g }
    }
}

/// `m ← max(m, v)` coordinate-wise (AMSGrad's running maximum of the second moment).
///
/// # Panics
/// If the slices differ in length.
pub fn running_max(m: &mut [f32], v: &[f32]) {
    assert_eq!(m.len(), v.len(), "lengths differ");
    for (m, &v) in m.iter_mut().zip(v) {
        // NaN propagates, as torch.maximum does.
        *m = if v.is_nan() || v > *m { v } else { *m };
    }
}

/// The step size the controller asked for, as lrctl's optimizers use it: a negative or
/// non-finite `lr` takes no step (`0`). Negative step sizes would turn descent into ascent
/// and are never what a learning-rate controller means.
pub fn usable_lr(lr: f64) -> f64 {
    if lr.is_finite() && lr > 0.0 { lr } else { 0.0 }
}

/// `torch.lerp(a, b, w)` for one `f32` coordinate, in PyTorch's form: `a + w·(b − a)` while
/// `|w| < 0.5`, else `b − (b − a)·(1 − w)` (exact at both ends, `w = 0` and `w = 1`).
pub fn lerp(a: f32, b: f32, w: f32) -> f32 {
    if w.abs() < 0.5 {
        a + w * (b - a)
    } else {
        b - (b - a) * (1.0 - w)
    }
}

/// `f32` rounded to the nearest `bfloat16` (ties to even), as PyTorch's `.to(torch.bfloat16)`
/// does, and widened back (exactly) to `f32`. NaN stays NaN.
pub fn bf16(x: f32) -> f32 {
    if x.is_nan() {
        return x;
    }
    let bits = x.to_bits();
    let rounding = 0x7fff + ((bits >> 16) & 1);
    f32::from_bits(bits.wrapping_add(rounding) & 0xffff_0000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lerp_and_bf16_match_torch() {
        assert_eq!(lerp(1.0, 3.0, 0.25), 1.5);
        assert_eq!(lerp(1.0, 3.0, 1.0), 3.0);
        assert_eq!(lerp(1.0, 3.0, -1.0), -1.0);
        // torch.tensor([1.0, 1.00390625, 1.01171875, 3.14159265]).bfloat16().float()
        assert_eq!(bf16(1.0), 1.0);
        assert_eq!(bf16(1.0 + 2f32.powi(-8)), 1.0); // a tie, to even
        assert_eq!(bf16(1.0 + 3.0 * 2f32.powi(-8)), 1.015_625); // a tie, to even (up)
        assert_eq!(bf16(std::f32::consts::PI), 3.140_625);
        assert_eq!(bf16(-std::f32::consts::PI), -3.140_625);
        assert!(bf16(f32::NAN).is_nan());
    }

    #[test]
    fn ema_is_the_weighted_average() {
        let mut m = vec![1.0f32, -2.0, 0.0];
        ema(&mut m, &[3.0, 2.0, 1.0], 0.9, 0.1);
        // m·β + (1 − β)·x, exactly as f32 does it.
        let want = [1.0f32 * 0.9 + 0.1 * 3.0, -2.0f32 * 0.9 + 0.1 * 2.0, 0.1f32];
        assert_eq!(m, want);
        assert!((m[0] - 1.2).abs() < 1e-6 && (m[1] + 1.6).abs() < 1e-6);
    }

    #[test]
    fn ema_sq_squares_and_scales_the_first_factor() {
        let mut v = vec![4.0f32, 0.0];
        ema_sq(&mut v, &[2.0, -3.0], 0.99, 0.01);
        assert!((v[0] - (4.0 * 0.99 + 0.04)).abs() < 1e-6, "{v:?}");
        assert!((v[1] - 0.09).abs() < 1e-7, "{v:?}");
        // The order is (w·x)·x, not w·(x·x): pick a value where the two round differently.
        let x = 1.1f32;
        let w = 0.3f64;
        let mut v = vec![0.0f32];
        ema_sq(&mut v, &[x], 0.0, w);
        assert_eq!(v[0], (w as f32 * x) * x);
    }

    #[test]
    fn bias_correction_matches_the_closed_form() {
        assert!((bias_correction(0.9, 1) - 0.1).abs() < 1e-15);
        assert!((bias_correction(0.9, 2) - 0.19).abs() < 1e-15);
        assert!((bias_correction(0.999, 1000) - (1.0 - 0.999f64.powi(1000))).abs() < 1e-15);
    }

    #[test]
    fn weight_decay_helpers() {
        let mut g = vec![0.0f32; 2];
        l2_gradient(&mut g, &[1.0, -1.0], &[10.0, 20.0], 0.1);
        assert_eq!(g, [1.0 + 0.1f32 * 10.0, -1.0 + 0.1f32 * 20.0]);
        l2_gradient(&mut g, &[1.0, -1.0], &[10.0, 20.0], 0.0);
        assert_eq!(g, [1.0, -1.0]);
        let mut p = vec![2.0f32, -4.0];
        decoupled_decay(&mut p, 0.1, 0.5);
        assert_eq!(p, [2.0 * 0.95f32, -4.0 * 0.95f32]);
    }

    #[test]
    fn adam_denominator_and_addcdiv() {
        let mut d = vec![0.0f32; 2];
        adam_denominator(&mut d, &[4.0, 0.0], 0.25, 1e-3);
        // sqrt(4)/sqrt(0.25) + 1e-3
        assert_eq!(d, [4.001, 1e-3]);
        let mut p = vec![1.0f32, 1.0];
        addcdiv(&mut p, &[2.0, 0.0], &d, -0.5);
        assert_eq!(p, [1.0 + (-0.5f32 * 2.0) / 4.001, 1.0]);
    }

    #[test]
    fn fused_adam_is_the_helpers_bit_for_bit() {
        let n = 37;
        let x0: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).sin()).collect();
        let g: Vec<f32> = (0..n).map(|i| (i as f32 * 1.3).cos() * 1e-2).collect();
        for (decay, l2, step) in [(0.99, 0.0, -1e-3), (1.0, 0.01, -0.1), (1.0, 0.0, 0.0)] {
            let (mut x, mut m, mut v) = (x0.clone(), vec![0.1f32; n], vec![0.01f32; n]);
            let (mut xf, mut mf, mut vf) = (x.clone(), m.clone(), v.clone());
            let mut gg = vec![0.0f32; n];
            let mut d = vec![0.0f32; n];
            for _ in 0..3 {
                if decay != 1.0 {
                    scale(&mut x, decay);
                }
                l2_gradient(&mut gg, &g, &x, l2);
                ema(&mut m, &gg, 0.9, 0.1);
                ema_sq(&mut v, &gg, 0.999, 1.0 - 0.999);
                adam_denominator(&mut d, &v, 0.3, 1e-8);
                if step != 0.0 {
                    addcdiv(&mut x, &m, &d, step);
                }
                adam_fused(
                    &mut xf,
                    &g,
                    &mut mf,
                    &mut vf,
                    decay,
                    l2,
                    [0.9, 0.999],
                    0.3,
                    1e-8,
                    step,
                );
            }
            assert_eq!((x, m, v), (xf, mf, vf));
        }
    }

    #[test]
    fn running_max_and_usable_lr() {
        let mut m = vec![1.0f32, 5.0];
        running_max(&mut m, &[2.0, 3.0]);
        assert_eq!(m, [2.0, 5.0]);
        running_max(&mut m, &[f32::NAN, 0.0]);
        assert!(m[0].is_nan());
        assert_eq!(usable_lr(0.1), 0.1);
        for bad in [-0.1, f64::NAN, f64::INFINITY] {
            assert_eq!(usable_lr(bad), 0.0);
        }
    }
}
