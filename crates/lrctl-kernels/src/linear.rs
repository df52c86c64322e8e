//! The dense layer `y = x·W + b` (burn's layout: `W` is `[in, out]`) and its backward pass as
//! GEMMs over blocks of rows.
//!
//! Against burn-flex's matmul plus a broadcast add: the bias is the GEMM's starting value (no
//! second pass), and outputs are written into fresh vectors handed to the tensor as they are.
//! burn-flex allocates matmul outputs as zeroed byte vectors that its byte container then
//! copies into an aligned buffer (a `calloc` and a full copy per output: 11 % of the LM's step in
//! profiles).
//!
//! Rows are split into fixed blocks on the rayon pool; the weight and bias gradients are summed
//! per block and the blocks added in order, so results do not depend on the thread count.

use rayon::prelude::*;

use crate::gemm::{View, matmul};

/// Rows per block (fixed: the reduction order must not depend on the thread count).
const ROWS: usize = 256;

/// The shape of one dense layer applied to `rows` inputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearShape {
    /// Inputs (all leading dimensions flattened).
    pub rows: usize,
    /// Input features.
    pub d_in: usize,
    /// Output features.
    pub d_out: usize,
}

/// `y = x·W + b`: `x` `[rows, d_in]`, `w` `[d_in, d_out]`, `b` `[d_out]` → `[rows, d_out]`.
pub fn forward(x: &[f32], w: &[f32], b: Option<&[f32]>, s: &LinearShape) -> Vec<f32> {
    assert_eq!(x.len(), s.rows * s.d_in, "linear input length");
    assert_eq!(w.len(), s.d_in * s.d_out, "linear weight length");
    if let Some(b) = b {
        assert_eq!(b.len(), s.d_out, "linear bias length");
    }
    let (d_in, d_out) = (s.d_in, s.d_out);
    crate::par_zeroed(s.rows * d_out, ROWS * d_out, |i, y| {
        let rows = y.len() / d_out.max(1);
        if let Some(b) = b {
            for row in y.chunks_exact_mut(d_out) {
                row.copy_from_slice(b);
            }
        }
        let x = View::rows(&x[i * ROWS * d_in..][..rows * d_in], rows, d_in);
        matmul(y, b.is_some(), x, View::rows(w, d_in, d_out));
    })
}

/// Gradients of one dense layer.
#[derive(Debug)]
pub struct LinearGrads {
    /// With respect to the input (when asked for).
    pub x: Option<Vec<f32>>,
    /// With respect to the weight.
    pub weight: Vec<f32>,
    /// With respect to the bias.
    pub bias: Vec<f32>,
}

/// The backward pass from the output gradient `g` `[rows, d_out]`: `dx = g·Wᵀ`, `dW = xᵀ·g`,
/// `db = Σ_rows g`.
pub fn backward(g: &[f32], x: &[f32], w: &[f32], s: &LinearShape, input_grad: bool) -> LinearGrads {
    assert_eq!(g.len(), s.rows * s.d_out, "linear output-gradient length");
    assert_eq!(x.len(), s.rows * s.d_in, "linear input length");
    assert_eq!(w.len(), s.d_in * s.d_out, "linear weight length");
    let (d_in, d_out) = (s.d_in, s.d_out);
    let dx = input_grad.then(|| {
        let w_t = View::rows(w, d_in, d_out).t();
        crate::par_zeroed(s.rows * d_in, ROWS * d_in, |i, dx| {
            let rows = dx.len() / d_in.max(1);
            let g = View::rows(&g[i * ROWS * d_out..][..rows * d_out], rows, d_out);
            matmul(dx, false, g, w_t);
        })
    });
    let partials: Vec<(Vec<f32>, Vec<f32>)> = g
        .par_chunks(ROWS * d_out.max(1))
        .zip(x.par_chunks(ROWS * d_in.max(1)))
        .map(|(g, x)| {
            let rows = g.len() / d_out.max(1);
            let mut dw = vec![0.0f32; d_in * d_out];
            matmul(
                &mut dw,
                false,
                View::rows(x, rows, d_in).t(),
                View::rows(g, rows, d_out),
            );
            let mut db = vec![0.0f32; d_out];
            for row in g.chunks_exact(d_out) {
                db.iter_mut().zip(row).for_each(|(d, v)| *d += v);
            }
            (dw, db)
        })
        .collect();
    let mut parts = partials.into_iter();
    let (mut dw, mut db) = parts
        .next()
        .unwrap_or_else(|| (vec![0.0; d_in * d_out], vec![0.0; d_out]));
    for (w, b) in parts {
        dw.iter_mut().zip(&w).for_each(|(a, v)| *a += v);
        db.iter_mut().zip(&b).for_each(|(a, v)| *a += v);
    }
    LinearGrads {
        x: dx,
        weight: dw,
        bias: db,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32)
                    .wrapping_mul(2654435761)
                    .wrapping_add(seed * 7919)
                    % 1000) as f32
                    / 500.0
                    - 1.0
            })
            .collect()
    }

    #[test]
    fn forward_and_backward_match_the_definitions() {
        // 600 rows: two full blocks and a partial one.
        let s = LinearShape {
            rows: 600,
            d_in: 7,
            d_out: 5,
        };
        let (x, w, b) = (
            data(s.rows * s.d_in, 1),
            data(s.d_in * s.d_out, 2),
            data(s.d_out, 3),
        );
        let g = data(s.rows * s.d_out, 4);
        let y = forward(&x, &w, Some(&b), &s);
        let y0 = forward(&x, &w, None, &s);
        for r in 0..s.rows {
            for o in 0..s.d_out {
                let dot: f64 = (0..s.d_in)
                    .map(|i| (x[r * s.d_in + i] * w[i * s.d_out + o]) as f64)
                    .sum();
                assert!((y[r * s.d_out + o] as f64 - dot - b[o] as f64).abs() < 1e-5);
                assert!((y0[r * s.d_out + o] as f64 - dot).abs() < 1e-5);
            }
        }
        let grads = backward(&g, &x, &w, &s, true);
        let dx = grads.x.unwrap();
        for r in 0..s.rows {
            for i in 0..s.d_in {
                let want: f64 = (0..s.d_out)
                    .map(|o| (g[r * s.d_out + o] * w[i * s.d_out + o]) as f64)
                    .sum();
                assert!((dx[r * s.d_in + i] as f64 - want).abs() < 1e-5);
            }
        }
        for i in 0..s.d_in {
            for o in 0..s.d_out {
                let want: f64 = (0..s.rows)
                    .map(|r| (x[r * s.d_in + i] * g[r * s.d_out + o]) as f64)
                    .sum();
                assert!((grads.weight[i * s.d_out + o] as f64 - want).abs() < 1e-3);
            }
        }
        for o in 0..s.d_out {
            let want: f64 = (0..s.rows).map(|r| g[r * s.d_out + o] as f64).sum();
            assert!((grads.bias[o] as f64 - want).abs() < 1e-3);
        }
        assert!(backward(&g, &x, &w, &s, false).x.is_none());
    }
}
