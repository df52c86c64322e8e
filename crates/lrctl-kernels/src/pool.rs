//! ReLU followed by 2×2 max-pooling with stride 2, in one pass.
//!
//! `maxpool(relu(x)) = relu(maxpool(x))` (ReLU is monotone), so the pass takes the maximum of each
//! 2×2 window and clamps it at zero, reading the convolution's output once and writing a quarter of
//! it; the backward pass sends each window's gradient to its maximum when that maximum was
//! positive, which is what `relu` then `max_pool2d` give (ReLU's derivative is 0 at 0). Ties go to
//! the first maximum in row-major order and NaN propagates, as in PyTorch. Odd heights and widths
//! drop the last row/column (floor, as `max_pool2d` without padding does).

use rayon::prelude::*;

/// The winner code of a window whose maximum was not positive (the gradient stops there).
pub const CLAMPED: u8 = 4;

/// Planes per parallel task.
const PLANES: usize = 16;

/// The shape of a pooled tensor: `planes` (batch × channels) images of `height × width`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolShape {
    /// Batch size times channels.
    pub planes: usize,
    /// Input height.
    pub height: usize,
    /// Input width.
    pub width: usize,
}

impl PoolShape {
    /// Output height and width.
    pub fn output(&self) -> (usize, usize) {
        (self.height / 2, self.width / 2)
    }

    fn input_plane(&self) -> usize {
        self.height * self.width
    }

    fn output_plane(&self) -> usize {
        let (h, w) = self.output();
        h * w
    }
}

/// The pooled output and, per output, which of the four window entries won (`0..4`, row-major) or
/// [`CLAMPED`].
pub fn forward(x: &[f32], s: &PoolShape) -> (Vec<f32>, Vec<u8>) {
    assert_eq!(x.len(), s.planes * s.input_plane(), "pool input length");
    let n_out = s.output_plane();
    let mut out = vec![0.0f32; s.planes * n_out];
    let mut arg = vec![0u8; s.planes * n_out];
    if n_out == 0 {
        return (out, arg);
    }
    x.par_chunks(PLANES * s.input_plane())
        .zip(out.par_chunks_mut(PLANES * n_out))
        .zip(arg.par_chunks_mut(PLANES * n_out))
        .for_each(|((x, out), arg)| pool_planes(x, out, arg, s));
    (out, arg)
}

/// Pools whole planes of `x` (`s.height × s.width` each) into `out` and `arg` (see [`forward`]).
pub(crate) fn pool_planes(x: &[f32], out: &mut [f32], arg: &mut [u8], s: &PoolShape) {
    let (oh, ow) = s.output();
    let (w, n_out) = (s.width, s.output_plane());
    let (mut rows, mut which) = (vec![0.0f32; w], vec![0u8; w]);
    let planes = x.chunks_exact(s.input_plane());
    for ((plane, out), arg) in planes
        .zip(out.chunks_exact_mut(n_out))
        .zip(arg.chunks_exact_mut(n_out))
    {
        for y in 0..oh {
            let top = &plane[2 * y * w..][..w];
            let bottom = &plane[(2 * y + 1) * w..][..w];
            // Down the columns first (contiguous, vectorises), then across pairs.
            let pairs = top.iter().zip(bottom);
            for ((r, c), (t, b)) in rows.iter_mut().zip(which.iter_mut()).zip(pairs) {
                let take = wins(*b, *t);
                *r = if take { *b } else { *t };
                *c = if take { 2 } else { 0 };
            }
            let out = &mut out[y * ow..][..ow];
            let arg = &mut arg[y * ow..][..ow];
            for (xo, (o, a)) in out.iter_mut().zip(arg.iter_mut()).enumerate() {
                let (l, r) = (rows[2 * xo], rows[2 * xo + 1]);
                let (kl, kr) = (which[2 * xo], which[2 * xo + 1] + 1);
                // Equal maxima: the first in row-major order, as a plain scan.
                let take = wins(r, l) || (r == l && kr < kl);
                let (m, k) = if take { (r, kr) } else { (l, kl) };
                let keep = m > 0.0 || m.is_nan();
                *o = if keep { m } else { 0.0 };
                *a = if keep { k } else { CLAMPED };
            }
        }
    }
}

/// Whether `v`, coming later in the window, replaces the running maximum `best` (PyTorch's rule:
/// larger, or NaN).
#[inline]
fn wins(v: f32, best: f32) -> bool {
    v > best || v.is_nan()
}

/// The input gradient from the output gradient and the winners recorded by [`forward`].
pub fn backward(grad: &[f32], arg: &[u8], s: &PoolShape) -> Vec<f32> {
    let n_out = s.output_plane();
    assert_eq!(grad.len(), s.planes * n_out, "pool output-gradient length");
    assert_eq!(arg.len(), grad.len(), "pool winner length");
    let chunk = PLANES * n_out;
    crate::par_zeroed(
        s.planes * s.input_plane(),
        PLANES * s.input_plane(),
        |i, dx| {
            let at = (i * chunk).min(grad.len());
            unpool_planes(&grad[at..], &arg[at..], dx, s);
        },
    )
}

/// Routes the pooled gradient of whole planes back onto their winners in `dx` (zero on entry;
/// the planes of `dx` set how many are done).
pub(crate) fn unpool_planes(grad: &[f32], arg: &[u8], dx: &mut [f32], s: &PoolShape) {
    let (oh, ow) = s.output();
    let (w, n_out) = (s.width, s.output_plane());
    if n_out == 0 {
        return;
    }
    for ((plane, g), a) in dx
        .chunks_exact_mut(s.input_plane())
        .zip(grad.chunks_exact(n_out))
        .zip(arg.chunks_exact(n_out))
    {
        for y in 0..oh {
            for xo in 0..ow {
                let o = y * ow + xo;
                if a[o] < CLAMPED {
                    let (dy, dxx) = ((a[o] / 2) as usize, (a[o] % 2) as usize);
                    plane[(2 * y + dy) * w + 2 * xo + dxx] = g[o];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_and_backward_follow_relu_then_max_pool() {
        // One 3×5 plane (odd sizes: the last row and column are dropped).
        #[rustfmt::skip]
        let x = [
            -1.0, 2.0,  3.0, 3.0,  9.0,
            0.5, -4.0, -1.0, -2.0, 9.0,
            7.0,  7.0,  7.0, 7.0,  9.0,
        ];
        let s = PoolShape {
            planes: 1,
            height: 3,
            width: 5,
        };
        let (out, arg) = forward(&x, &s);
        assert_eq!(out, vec![2.0, 3.0]);
        assert_eq!(arg, vec![1, 0]); // the first of two equal maxima
        let dx = backward(&[10.0, 20.0], &arg, &s);
        let mut want = vec![0.0; 15];
        want[1] = 10.0;
        want[2] = 20.0;
        assert_eq!(dx, want);

        // Equal maxima in different columns and rows: the first in row-major order.
        let s2 = PoolShape {
            planes: 1,
            height: 2,
            width: 2,
        };
        assert_eq!(forward(&[1.0, 5.0, 5.0, 0.0], &s2).1, vec![1]);
        assert_eq!(forward(&[5.0, 1.0, 0.0, 5.0], &s2).1, vec![0]);

        let neg = [-1.0, -2.0, -3.0, 0.0];
        let s = PoolShape {
            planes: 1,
            height: 2,
            width: 2,
        };
        let (out, arg) = forward(&neg, &s);
        assert_eq!((out, arg.clone()), (vec![0.0], vec![CLAMPED]));
        assert_eq!(backward(&[5.0], &arg, &s), vec![0.0; 4]);

        let nan = [1.0, f32::NAN, 3.0, 0.0];
        let (out, arg) = forward(&nan, &s);
        assert!(out[0].is_nan());
        assert_eq!(arg, vec![1]);
    }
}
