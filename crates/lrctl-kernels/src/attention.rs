//! Causal multi-head self-attention, `softmax(q·kᵀ/√d_h + causal mask)·v` per head (Vaswani et
//! al. 2017, "Attention is all you need"), straight from the fused `qkv` projection, with a
//! hand-written backward pass.
//!
//! The masked entries are left out of the softmax (an exact −∞ mask) instead of being filled and
//! exponentiated; the exponential is the branch-free one of [`crate::activation`] (≈ 1 ulp). burn's generic attention builds the scores, mask, maximum, shifted scores,
//! exponentials, sums and probabilities as separate batch-sized tensors (and as many more in the
//! backward pass); here each (image, head) pair is two small GEMMs and one softmax in cache.
//! Heads are read from and written to their column blocks of `qkv`/the output through strides,
//! so there are no permutes or copies either.
//!
//! Backward, with `P` the probabilities, `dO` the output gradient and `Dᵢ = Σⱼ dOᵢⱼ·Oᵢⱼ`:
//! `dV = Pᵀ·dO`, `dP = dO·Vᵀ`, `dS = P ⊙ (dP − D)`, `dQ = dS·K/√d_h`, `dK = dSᵀ·Q/√d_h`.
//!
//! Images run in parallel on the current rayon pool; nothing is summed across images, so the
//! results do not depend on the thread count.

use rayon::prelude::*;

use crate::activation::exp_neg;
use crate::gemm::{View, matmul, matmul_strided};

/// The shape of one attention call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttentionShape {
    /// Sequences in the batch.
    pub batch: usize,
    /// Tokens per sequence.
    pub tokens: usize,
    /// Attention heads.
    pub heads: usize,
    /// Width of one head (the model width is `heads · head_dim`).
    pub head_dim: usize,
}

impl AttentionShape {
    fn width(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Elements of `qkv` (`[batch, tokens, 3 · width]`: queries, keys, values).
    pub fn qkv_len(&self) -> usize {
        self.batch * self.tokens * 3 * self.width()
    }

    /// Elements of the output (`[batch, tokens, width]`, heads side by side).
    pub fn output_len(&self) -> usize {
        self.batch * self.tokens * self.width()
    }

    /// Elements of the saved probabilities (`[batch, heads, tokens, tokens]`).
    pub fn probs_len(&self) -> usize {
        self.batch * self.heads * self.tokens * self.tokens
    }

    fn scale(&self) -> f32 {
        1.0 / (self.head_dim as f32).sqrt()
    }
}

/// Head `h`'s block of `which` (0 queries, 1 keys, 2 values) in one sequence's `qkv`.
fn head<'a>(qkv_b: &'a [f32], s: &AttentionShape, which: usize, h: usize) -> View<'a> {
    let d = s.width();
    View {
        data: &qkv_b[which * d + h * s.head_dim..],
        rows: s.tokens,
        cols: s.head_dim,
        row: 3 * d,
        col: 1,
    }
}

/// The output and the probabilities (row `i` of each `tokens × tokens` block holds the weights
/// of keys `0..=i`, zeros after).
pub fn forward(qkv: &[f32], s: &AttentionShape) -> (Vec<f32>, Vec<f32>) {
    assert_eq!(qkv.len(), s.qkv_len(), "attention qkv length");
    let (t, d) = (s.tokens, s.width());
    let mut out = vec![0.0f32; s.output_len()];
    let mut probs = vec![0.0f32; s.probs_len()];
    if s.batch == 0 || t == 0 || d == 0 {
        return (out, probs);
    }
    let scale = s.scale();
    qkv.par_chunks_exact(t * 3 * d)
        .zip(out.par_chunks_exact_mut(t * d))
        .zip(probs.par_chunks_exact_mut(s.heads * t * t))
        .for_each(|((qkv_b, out_b), probs_b)| {
            for (h, p) in probs_b.chunks_exact_mut(t * t).enumerate() {
                let (q, k, v) = (
                    head(qkv_b, s, 0, h),
                    head(qkv_b, s, 1, h),
                    head(qkv_b, s, 2, h),
                );
                matmul(p, false, q, k.t());
                for (i, row) in p.chunks_exact_mut(t).enumerate() {
                    softmax_causal(&mut row[..=i], scale);
                    row[i + 1..].fill(0.0);
                }
                let dst = &mut out_b[h * s.head_dim..];
                matmul_strided(dst, d, false, View::rows(p, t, t), v);
            }
        });
    (out, probs)
}

/// `row ← softmax(scale · row)` over the keys a query may see.
fn softmax_causal(row: &mut [f32], scale: f32) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) * scale;
    let mut sum = 0.0f32;
    for v in row.iter_mut() {
        *v = exp_neg(*v * scale - max);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// The gradient with respect to `qkv` from the output gradient `grad`, the forward input, its
/// output and the probabilities kept by [`forward`].
pub fn backward(
    grad: &[f32],
    qkv: &[f32],
    out: &[f32],
    probs: &[f32],
    s: &AttentionShape,
) -> Vec<f32> {
    assert_eq!(
        grad.len(),
        s.output_len(),
        "attention output-gradient length"
    );
    assert_eq!(qkv.len(), s.qkv_len(), "attention qkv length");
    assert_eq!(out.len(), s.output_len(), "attention output length");
    assert_eq!(probs.len(), s.probs_len(), "attention probabilities length");
    let (t, d, dh) = (s.tokens, s.width(), s.head_dim);
    let mut dqkv = vec![0.0f32; s.qkv_len()];
    if s.batch == 0 || t == 0 || d == 0 {
        return dqkv;
    }
    let scale = s.scale();
    dqkv.par_chunks_exact_mut(t * 3 * d)
        .zip(qkv.par_chunks_exact(t * 3 * d))
        .zip(grad.par_chunks_exact(t * d))
        .zip(out.par_chunks_exact(t * d))
        .zip(probs.par_chunks_exact(s.heads * t * t))
        .for_each(|((((dqkv_b, qkv_b), g_b), o_b), probs_b)| {
            let mut ds = vec![0.0f32; t * t];
            let mut rows_d = vec![0.0f32; t];
            for (h, p) in probs_b.chunks_exact(t * t).enumerate() {
                let (q, k, v) = (
                    head(qkv_b, s, 0, h),
                    head(qkv_b, s, 1, h),
                    head(qkv_b, s, 2, h),
                );
                let g = View {
                    data: &g_b[h * dh..],
                    rows: t,
                    cols: dh,
                    row: d,
                    col: 1,
                };
                // Dᵢ = Σⱼ dOᵢⱼ·Oᵢⱼ over this head's columns.
                for (i, di) in rows_d.iter_mut().enumerate() {
                    let (gi, oi) = (&g_b[i * d + h * dh..][..dh], &o_b[i * d + h * dh..][..dh]);
                    *di = gi.iter().zip(oi).map(|(a, b)| a * b).sum();
                }
                let p_view = View::rows(p, t, t);
                // dV = Pᵀ·dO
                matmul_strided(&mut dqkv_b[2 * d + h * dh..], 3 * d, false, p_view.t(), g);
                // dS = P ⊙ (dO·Vᵀ − D) / √d_h, zero above the diagonal (P is).
                matmul(&mut ds, false, g, v.t());
                for (i, (row, prow)) in ds.chunks_exact_mut(t).zip(p.chunks_exact(t)).enumerate() {
                    for (x, pv) in row[..=i].iter_mut().zip(&prow[..=i]) {
                        *x = pv * (*x - rows_d[i]) * scale;
                    }
                    row[i + 1..].fill(0.0);
                }
                let ds_view = View::rows(&ds, t, t);
                // dQ = dS·K, dK = dSᵀ·Q (the scale is in dS).
                matmul_strided(&mut dqkv_b[h * dh..], 3 * d, false, ds_view, k);
                matmul_strided(&mut dqkv_b[d + h * dh..], 3 * d, false, ds_view.t(), q);
            }
        });
    dqkv
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                let x = (i as u32)
                    .wrapping_mul(2654435761)
                    .wrapping_add(seed.wrapping_mul(97));
                (x % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    /// The definition in f64, one query at a time.
    fn naive(qkv: &[f32], s: &AttentionShape) -> Vec<f64> {
        let (t, d, dh) = (s.tokens, s.width(), s.head_dim);
        let at = |b: usize, i: usize, which: usize, h: usize, c: usize| {
            qkv[(b * t + i) * 3 * d + which * d + h * dh + c] as f64
        };
        let mut out = vec![0.0; s.output_len()];
        for b in 0..s.batch {
            for h in 0..s.heads {
                for i in 0..t {
                    let scores: Vec<f64> = (0..=i)
                        .map(|j| {
                            (0..dh)
                                .map(|c| at(b, i, 0, h, c) * at(b, j, 1, h, c))
                                .sum::<f64>()
                                / (dh as f64).sqrt()
                        })
                        .collect();
                    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                    let e: Vec<f64> = scores.iter().map(|x| (x - max).exp()).collect();
                    let z: f64 = e.iter().sum();
                    for c in 0..dh {
                        out[(b * t + i) * d + h * dh + c] =
                            (0..=i).map(|j| e[j] / z * at(b, j, 2, h, c)).sum();
                    }
                }
            }
        }
        out
    }

    #[test]
    fn forward_matches_the_definition() {
        for s in [
            AttentionShape {
                batch: 3,
                tokens: 7,
                heads: 2,
                head_dim: 4,
            },
            AttentionShape {
                batch: 1,
                tokens: 1,
                heads: 1,
                head_dim: 3,
            },
            AttentionShape {
                batch: 2,
                tokens: 13,
                heads: 3,
                head_dim: 5,
            },
        ] {
            let qkv = data(s.qkv_len(), 1);
            let (out, probs) = forward(&qkv, &s);
            for (a, b) in out.iter().zip(naive(&qkv, &s)) {
                assert!((*a as f64 - b).abs() < 1e-5, "{s:?}: {a} vs {b}");
            }
            // Each row of probabilities sums to one over the visible keys, zero beyond.
            for (i, row) in probs.chunks_exact(s.tokens).enumerate() {
                let i = i % s.tokens;
                assert!((row[..=i].iter().sum::<f32>() - 1.0).abs() < 1e-5);
                assert!(row[i + 1..].iter().all(|&p| p == 0.0));
            }
        }
    }

    #[test]
    fn backward_matches_finite_differences() {
        let s = AttentionShape {
            batch: 2,
            tokens: 6,
            heads: 2,
            head_dim: 3,
        };
        let qkv = data(s.qkv_len(), 2);
        let g = data(s.output_len(), 3);
        let (out, probs) = forward(&qkv, &s);
        let dqkv = backward(&g, &qkv, &out, &probs, &s);
        let loss = |x: &[f64]| -> f64 {
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            naive(&x32, &s)
                .iter()
                .zip(&g)
                .map(|(o, g)| o * *g as f64)
                .sum()
        };
        let base: Vec<f64> = qkv.iter().map(|&v| v as f64).collect();
        for idx in (0..s.qkv_len()).step_by(5) {
            let h = 1e-2;
            let (mut up, mut down) = (base.clone(), base.clone());
            up[idx] += h;
            down[idx] -= h;
            let numeric = (loss(&up) - loss(&down)) / (2.0 * h);
            assert!(
                (numeric - dqkv[idx] as f64).abs() < 2e-3,
                "qkv[{idx}]: numeric {numeric} vs {}",
                dqkv[idx]
            );
        }
    }
}
