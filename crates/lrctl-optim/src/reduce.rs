//! Sums over the flat parameter vector in `f64`, fast.
//!
//! A plain `iter().map(..).sum::<f64>()` is one dependency chain: every addition waits for the
//! previous one (about four cycles), and the compiler may not reorder floating-point additions
//! to vectorise it. These helpers keep [`LANES`] independent partial sums, combined pairwise at
//! the end, so the additions pipeline and vectorise; the result is deterministic (it depends
//! only on the length, not on threads or timing) and within a few `f64` roundings of the
//! sequential sum. The global passes of D-Adaptation, Prodigy, DoWG and the engine's gradient
//! statistics all go through them.

/// Independent partial sums.
pub const LANES: usize = 8;

/// The pairwise combination of [`LANES`] partial sums every helper here ends with (the fused
/// passes of D-Adaptation, Prodigy and DoWG keep their own lane accumulators and end the same
/// way, so their sums are bit for bit these helpers').
///
/// Never inlined, on purpose: inlined, LLVM vectorises the partial sums to match this
/// combination tree (lanes 0 and 4 together, …), which costs a shuffle per term in the hot
/// loop (measured: the fused passes ran up to 1.4× slower); passed in memory, the lanes stay in
/// load order.
#[inline(never)]
fn combine(acc: [f64; LANES]) -> f64 {
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

/// Coordinates per block of the fused passes (D-Adaptation, Prodigy, DoWG): each block's
/// per-coordinate work writes the terms of its sums to small `f32` buffers (in L1 cache), and
/// each sum then runs over them on its own ([`Lanes`]). LLVM
/// vectorises a lane-wise `f64` sum reliably only when it is alone in its loop (with two in
/// one loop it falls back to scalar code, measured); a multiple of [`LANES`], so the lanes run
/// on from block to block and the result is bit for bit [`sum1`]'s/[`sum2`]'s.
pub(crate) const BLOCK: usize = 256;

/// [`LANES`] partial sums in `f64`: lane `l` sums the terms of the coordinates `i ≡ l (mod
/// LANES)`, as [`sum1`]/[`sum2`] do; fed block by block ([`Lanes::add1`], [`Lanes::add2`]) and
/// combined as they combine ([`Lanes::combined`]). Kept as two halves of four (one AVX2
/// vector of `f64` each), which LLVM vectorises in load order.
#[derive(Clone, Copy, Default)]
pub(crate) struct Lanes {
    lo: [f64; HALF],
    hi: [f64; HALF],
}

const HALF: usize = LANES / 2;

// Lane by lane on purpose: explicit lane indices are what LLVM vectorises here.
#[allow(clippy::needless_range_loop)]
impl Lanes {
    /// Adds `f(a_i)`; `a` starts at a coordinate `≡ 0 (mod LANES)` and its length is a
    /// multiple of [`LANES`].
    #[inline(always)]
    pub(crate) fn add1(&mut self, a: &[f32], f: impl Fn(f32) -> f64) {
        debug_assert!(a.len().is_multiple_of(LANES));
        for c in a.chunks_exact(LANES) {
            let c: &[f32; LANES] = c.try_into().unwrap();
            for l in 0..HALF {
                self.lo[l] += f(c[l]);
            }
            for l in 0..HALF {
                self.hi[l] += f(c[HALF + l]);
            }
        }
    }

    /// Adds `f(a_i, b_i)`; as [`Lanes::add1`].
    #[inline(always)]
    pub(crate) fn add2(&mut self, a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f64) {
        debug_assert!(a.len() == b.len() && a.len().is_multiple_of(LANES));
        for (x, y) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
            let x: &[f32; LANES] = x.try_into().unwrap();
            let y: &[f32; LANES] = y.try_into().unwrap();
            for l in 0..HALF {
                self.lo[l] += f(x[l], y[l]);
            }
            for l in 0..HALF {
                self.hi[l] += f(x[HALF + l], y[HALF + l]);
            }
        }
    }

    /// Adds `f(a_i, b_i, c_i)`; as [`Lanes::add1`].
    #[inline(always)]
    pub(crate) fn add3(
        &mut self,
        a: &[f32],
        b: &[f32],
        c: &[f32],
        f: impl Fn(f32, f32, f32) -> f64,
    ) {
        debug_assert!(a.len() == b.len() && a.len() == c.len() && a.len().is_multiple_of(LANES));
        for ((x, y), z) in a
            .chunks_exact(LANES)
            .zip(b.chunks_exact(LANES))
            .zip(c.chunks_exact(LANES))
        {
            let x: &[f32; LANES] = x.try_into().unwrap();
            let y: &[f32; LANES] = y.try_into().unwrap();
            let z: &[f32; LANES] = z.try_into().unwrap();
            for l in 0..HALF {
                self.lo[l] += f(x[l], y[l], z[l]);
            }
            for l in 0..HALF {
                self.hi[l] += f(x[HALF + l], y[HALF + l], z[HALF + l]);
            }
        }
    }

    /// The lanes combined as [`sum1`]'s are (not inlined: see [`combine`]).
    #[inline(never)]
    pub(crate) fn combined(self) -> f64 {
        let [a, b, c, d] = self.lo;
        let [e, f, g, h] = self.hi;
        combine([a, b, c, d, e, f, g, h])
    }
}

/// `Σ f(a_i)`.
#[inline]
pub fn sum1(a: &[f32], f: impl Fn(f32) -> f64) -> f64 {
    let mut acc = [0.0f64; LANES];
    let chunks = a.chunks_exact(LANES);
    let tail: f64 = chunks.remainder().iter().map(|&x| f(x)).sum();
    for c in chunks {
        for l in 0..LANES {
            acc[l] += f(c[l]);
        }
    }
    combine(acc) + tail
}

/// `Σ f(a_i, b_i)`.
///
/// # Panics
/// If the slices differ in length.
#[inline]
pub fn sum2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f64) -> f64 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    let mut acc = [0.0f64; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&x, &y)| f(x, y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for l in 0..LANES {
            acc[l] += f(x[l], y[l]);
        }
    }
    combine(acc) + tail
}

/// `Σ f(a_i, b_i, c_i)`.
///
/// # Panics
/// If the slices differ in length.
#[inline]
pub fn sum3(a: &[f32], b: &[f32], c: &[f32], f: impl Fn(f32, f32, f32) -> f64) -> f64 {
    assert!(a.len() == b.len() && a.len() == c.len(), "lengths differ");
    let mut acc = [0.0f64; LANES];
    let (ca, cb, cc) = (
        a.chunks_exact(LANES),
        b.chunks_exact(LANES),
        c.chunks_exact(LANES),
    );
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .zip(cc.remainder())
        .map(|((&x, &y), &z)| f(x, y, z))
        .sum();
    for ((x, y), z) in ca.zip(cb).zip(cc) {
        for l in 0..LANES {
            acc[l] += f(x[l], y[l], z[l]);
        }
    }
    combine(acc) + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_match_the_sequential_sum() {
        for n in [0usize, 1, 7, 8, 9, 63, 1000] {
            let a: Vec<f32> = (0..n).map(|i| (i as f32 * 0.37).sin()).collect();
            let b: Vec<f32> = (0..n).map(|i| (i as f32 * 0.11).cos()).collect();
            let c: Vec<f32> = (0..n).map(|i| i as f32 * 1e-3).collect();
            let seq1: f64 = a.iter().map(|&x| f64::from(x).abs()).sum();
            let seq2: f64 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| f64::from(x) * f64::from(y))
                .sum();
            let seq3: f64 = a
                .iter()
                .zip(&b)
                .zip(&c)
                .map(|((&x, &y), &z)| f64::from(x) * f64::from(y - z))
                .sum();
            let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * y.abs().max(1.0);
            assert!(close(sum1(&a, |x| f64::from(x).abs()), seq1), "n {n}");
            assert!(close(
                sum2(&a, &b, |x, y| f64::from(x) * f64::from(y)),
                seq2
            ));
            assert!(close(
                sum3(&a, &b, &c, |x, y, z| f64::from(x) * f64::from(y - z)),
                seq3
            ));
        }
    }
}
