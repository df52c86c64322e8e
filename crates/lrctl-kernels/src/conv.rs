//! 2-D convolution with stride 1 and "same" zero padding (odd square kernel) as im2col + GEMM, and
//! its backward pass as two more GEMMs (Chellapilla, Puri & Simard 2006, "High performance
//! convolutional neural networks for document processing").
//!
//! Layout NCHW, weights `[c_out, c_in, k, k]` (PyTorch's and burn's). Per image `b`, the patch
//! matrix `col_b` (`c_in·k·k × h·w`) turns the convolution into `out_b = W · col_b + bias`; the
//! backward pass is `dW = Σ_b g_b · col_bᵀ`, `dbias = Σ_b Σ_p g_b`, `dx_b = col2im(Wᵀ · g_b)`.
//! burn's generic backward computes the weight gradient as a convolution whose kernel is the
//! whole image, which is what made lrctl's CNN 3× slower than PyTorch.
//!
//! Images run in parallel on the current rayon pool, one GEMM each on one thread. Sums over the
//! batch are taken in fixed groups of images and added in group order, so results do not depend
//! on the number of threads.

use rayon::prelude::*;

use crate::gemm::{View, matmul};
use crate::pool::{self, PoolShape};

/// Images per group in the batch sums of the backward pass (fixed: results must not depend on
/// the thread count).
const GROUP: usize = 8;

/// The shape of one convolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvShape {
    /// Images in the batch.
    pub batch: usize,
    /// Input channels.
    pub c_in: usize,
    /// Output channels.
    pub c_out: usize,
    /// Image height (input and output).
    pub height: usize,
    /// Image width (input and output).
    pub width: usize,
    /// Kernel side (odd); the padding is `kernel / 2` on every side.
    pub kernel: usize,
}

impl ConvShape {
    fn pixels(&self) -> usize {
        self.height * self.width
    }

    /// Rows of the patch matrix: `c_in · k · k`.
    fn patch(&self) -> usize {
        self.c_in * self.kernel * self.kernel
    }

    /// Elements of the input `[batch, c_in, h, w]`.
    pub fn input_len(&self) -> usize {
        self.batch * self.c_in * self.pixels()
    }

    /// Elements of the output `[batch, c_out, h, w]`.
    pub fn output_len(&self) -> usize {
        self.batch * self.c_out * self.pixels()
    }

    /// Elements of the weight `[c_out, c_in, k, k]`.
    pub fn weight_len(&self) -> usize {
        self.c_out * self.patch()
    }

    fn col_len(&self) -> usize {
        self.patch() * self.pixels()
    }
}

thread_local! {
    /// One patch matrix per thread, kept between calls and steps (rebuilt allocations of a few
    /// hundred KB per image showed up as page faults and `memset`s in profiles).
    static SCRATCH: std::cell::RefCell<Vec<f32>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on this thread's scratch buffer of `n` floats (contents unspecified: `f` must write
/// before it reads).
fn with_scratch<R>(n: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    SCRATCH.with(|cell| {
        let mut buf = cell.borrow_mut();
        if buf.len() < n {
            buf.resize(n, 0.0);
        }
        f(&mut buf[..n])
    })
}

/// For kernel offset `d` (input column = output column + d), the output columns `lo..hi` whose
/// input lies inside the image.
fn valid(d: isize, n: usize) -> (usize, usize) {
    let lo = (-d).max(0) as usize;
    let hi = (n as isize - d).clamp(0, n as isize) as usize;
    (lo.min(hi), hi)
}

/// Writes one image's patch matrix: `col[(ci·k + ky)·k + kx][y·w + x] = x[ci][y+ky−p][x+kx−p]`,
/// zero outside the image.
fn im2col(x: &[f32], s: &ConvShape, col: &mut [f32]) {
    let (h, w, k, p) = (s.height, s.width, s.kernel, (s.kernel / 2) as isize);
    let mut rows = col.chunks_exact_mut(h * w);
    for plane in x.chunks_exact(h * w) {
        for ky in 0..k {
            for kx in 0..k {
                let dst = rows.next().expect("patch matrix has c_in·k·k rows");
                let (dy, dx) = (ky as isize - p, kx as isize - p);
                let (lo, hi) = valid(dx, w);
                for (y, d) in dst.chunks_exact_mut(w).enumerate() {
                    let iy = y as isize + dy;
                    if iy < 0 || iy >= h as isize {
                        d.fill(0.0);
                        continue;
                    }
                    let src = &plane[iy as usize * w..][..w];
                    d[..lo].fill(0.0);
                    d[hi..].fill(0.0);
                    let start = (lo as isize + dx) as usize;
                    d[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
                }
            }
        }
    }
}

/// The adjoint of [`im2col`]: adds every patch entry back onto the pixel it came from.
fn col2im(col: &[f32], s: &ConvShape, x: &mut [f32]) {
    let (h, w, k, p) = (s.height, s.width, s.kernel, (s.kernel / 2) as isize);
    x.fill(0.0);
    let mut rows = col.chunks_exact(h * w);
    for plane in x.chunks_exact_mut(h * w) {
        for ky in 0..k {
            for kx in 0..k {
                let src = rows.next().expect("patch matrix has c_in·k·k rows");
                let (dy, dx) = (ky as isize - p, kx as isize - p);
                let (lo, hi) = valid(dx, w);
                for (y, g) in src.chunks_exact(w).enumerate() {
                    let iy = y as isize + dy;
                    if iy < 0 || iy >= h as isize {
                        continue;
                    }
                    let start = (lo as isize + dx) as usize;
                    let dst = &mut plane[iy as usize * w + start..][..hi - lo];
                    for (d, v) in dst.iter_mut().zip(&g[lo..hi]) {
                        *d += v;
                    }
                }
            }
        }
    }
}

/// The forward pass: the output `[batch, c_out, h, w]`.
pub fn forward(x: &[f32], weight: &[f32], bias: &[f32], s: &ConvShape) -> Vec<f32> {
    forward_impl(x, weight, bias, s, false).0
}

/// The convolution followed by ReLU and 2×2/2 max-pooling ([`crate::pool`]) in one pass per
/// image: the pooled output `[batch, c_out, h/2, w/2]` and the pool's winners. The full-size
/// convolution output never leaves the thread's cache.
pub fn forward_pooled(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    s: &ConvShape,
) -> (Vec<f32>, Vec<u8>) {
    let (out, arg) = forward_impl(x, weight, bias, s, true);
    (out, arg.expect("pooled"))
}

/// The pool applied to one image's `c_out` output planes.
fn pool_shape(s: &ConvShape) -> PoolShape {
    PoolShape {
        planes: s.c_out,
        height: s.height,
        width: s.width,
    }
}

fn forward_impl(
    x: &[f32],
    weight: &[f32],
    bias: &[f32],
    s: &ConvShape,
    pooled: bool,
) -> (Vec<f32>, Option<Vec<u8>>) {
    assert_eq!(x.len(), s.input_len(), "conv input length");
    assert_eq!(weight.len(), s.weight_len(), "conv weight length");
    assert_eq!(bias.len(), s.c_out, "conv bias length");
    assert!(s.kernel % 2 == 1, "same padding needs an odd kernel");
    let (n_in, n_conv, n_col) = (s.c_in * s.pixels(), s.c_out * s.pixels(), s.col_len());
    let ps = pool_shape(s);
    let (oh, ow) = ps.output();
    // Per image: what is written (the convolution, or its pooled form).
    let n_out = if pooled { s.c_out * oh * ow } else { n_conv };
    let mut out = vec![0.0f32; s.batch * n_out];
    let mut arg = vec![0u8; if pooled { out.len() } else { 0 }];
    if s.batch == 0 || n_out == 0 {
        return (out, pooled.then_some(arg));
    }
    let w = View::rows(weight, s.c_out, s.patch());
    let conv = |x_b: &[f32], col: &mut [f32], out_b: &mut [f32]| {
        im2col(x_b, s, col);
        for (row, b) in out_b.chunks_exact_mut(s.pixels()).zip(bias) {
            row.fill(*b);
        }
        matmul(out_b, true, w, View::rows(col, s.patch(), s.pixels()));
    };
    let images = x
        .par_chunks_exact(n_in.max(1))
        .zip(out.par_chunks_exact_mut(n_out));
    if pooled {
        images
            .zip(arg.par_chunks_exact_mut(n_out))
            .for_each(|((x_b, out_b), arg_b)| {
                with_scratch(n_col + n_conv, |buf| {
                    let (col, conv_b) = buf.split_at_mut(n_col);
                    conv(x_b, col, conv_b);
                    pool::pool_planes(conv_b, out_b, arg_b, &ps);
                })
            });
    } else {
        images.for_each(|(x_b, out_b)| with_scratch(n_col, |col| conv(x_b, col, out_b)));
    }
    (out, pooled.then_some(arg))
}

/// Gradients of one convolution.
#[derive(Debug)]
pub struct ConvGrads {
    /// With respect to the input (when asked for).
    pub x: Option<Vec<f32>>,
    /// With respect to the weight.
    pub weight: Vec<f32>,
    /// With respect to the bias.
    pub bias: Vec<f32>,
}

/// The backward pass from the output gradient `grad` (`[batch, c_out, h, w]`) and the forward
/// input `x`. The patch matrices are rebuilt here, one image at a time in a per-thread buffer
/// that stays in cache, rather than kept from the forward pass (a whole batch's worth is tens of
/// MB of fresh memory per step).
pub fn backward(
    grad: &[f32],
    weight: &[f32],
    x: &[f32],
    s: &ConvShape,
    input_grad: bool,
) -> ConvGrads {
    assert_eq!(grad.len(), s.output_len(), "conv output-gradient length");
    backward_impl(grad, None, weight, x, s, input_grad)
}

/// The backward pass of [`forward_pooled`], from the pooled output's gradient and the winners.
pub fn backward_pooled(
    grad: &[f32],
    arg: &[u8],
    weight: &[f32],
    x: &[f32],
    s: &ConvShape,
    input_grad: bool,
) -> ConvGrads {
    let (oh, ow) = pool_shape(s).output();
    assert_eq!(
        grad.len(),
        s.batch * s.c_out * oh * ow,
        "pooled output-gradient length"
    );
    assert_eq!(arg.len(), grad.len(), "pool winner length");
    backward_impl(grad, Some(arg), weight, x, s, input_grad)
}

fn backward_impl(
    grad: &[f32],
    arg: Option<&[u8]>,
    weight: &[f32],
    x: &[f32],
    s: &ConvShape,
    input_grad: bool,
) -> ConvGrads {
    assert_eq!(weight.len(), s.weight_len(), "conv weight length");
    assert_eq!(x.len(), s.input_len(), "conv input length");
    let (p, kk) = (s.pixels(), s.patch());
    let (n_in, n_conv, n_col) = (s.c_in * p, s.c_out * p, s.col_len());
    // Per image: the incoming gradient (the convolution's, or the pooled output's).
    let n_grad = grad.len() / s.batch.max(1);
    let mut dx = input_grad.then(|| vec![0.0f32; s.input_len()]);
    if s.batch == 0 || n_conv == 0 || n_col == 0 {
        return ConvGrads {
            x: dx,
            weight: vec![0.0; s.weight_len()],
            bias: vec![0.0; s.c_out],
        };
    }
    let ps = pool_shape(s);
    let w_t = View::rows(weight, s.c_out, kk).t();
    // One group of images: its partial weight and bias sums, and its images' input gradients.
    let group = |i0: usize, g: &[f32], x: &[f32], dx: Option<&mut [f32]>| {
        let mut dw = vec![0.0f32; s.weight_len()];
        let mut db = vec![0.0f32; s.c_out];
        let mut dx = dx.map(|d| d.chunks_exact_mut(n_in));
        let scratch = n_col + if arg.is_some() { n_conv } else { 0 };
        with_scratch(scratch, |buf| {
            let (col, unpooled) = buf.split_at_mut(n_col);
            let images = g.chunks_exact(n_grad).zip(x.chunks_exact(n_in));
            for (i, (g_b, x_b)) in images.enumerate() {
                // The convolution output's gradient for this image.
                let g_b: &[f32] = match arg {
                    Some(arg) => {
                        unpooled.fill(0.0);
                        let arg_b = &arg[(i0 + i) * n_grad..][..n_grad];
                        pool::unpool_planes(g_b, arg_b, unpooled, &ps);
                        unpooled
                    }
                    None => g_b,
                };
                let g_view = View::rows(g_b, s.c_out, p);
                im2col(x_b, s, col);
                matmul(&mut dw, i > 0, g_view, View::rows(col, kk, p).t());
                for (d, row) in db.iter_mut().zip(g_b.chunks_exact(p)) {
                    *d += row.iter().sum::<f32>();
                }
                if let Some(dx_b) = dx.as_mut().and_then(|it| it.next()) {
                    // The patch buffer is free again: reuse it for Wᵀ · g_b.
                    matmul(col, false, w_t, g_view);
                    col2im(col, s, dx_b);
                }
            }
        });
        (dw, db)
    };
    // Partial sums over fixed groups of images, added in group order.
    let grads = grad
        .par_chunks(GROUP * n_grad)
        .zip(x.par_chunks(GROUP * n_in))
        .enumerate();
    let partials: Vec<(Vec<f32>, Vec<f32>)> = match dx.as_mut() {
        Some(dx) => grads
            .zip(dx.par_chunks_mut(GROUP * n_in))
            .map(|((k, (g, x)), dx)| group(k * GROUP, g, x, Some(dx)))
            .collect(),
        None => grads
            .map(|(k, (g, x))| group(k * GROUP, g, x, None))
            .collect(),
    };
    let mut parts = partials.into_iter();
    let (mut dw, mut db) = parts.next().expect("a non-empty batch has a group");
    for (w, b) in parts {
        dw.iter_mut().zip(&w).for_each(|(a, v)| *a += v);
        db.iter_mut().zip(&b).for_each(|(a, v)| *a += v);
    }
    ConvGrads {
        x: dx,
        weight: dw,
        bias: db,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition, one output at a time.
    fn naive(x: &[f32], w: &[f32], b: &[f32], s: &ConvShape) -> Vec<f32> {
        let (h, wd, k, p) = (s.height, s.width, s.kernel, s.kernel as isize / 2);
        let mut out = vec![0.0; s.output_len()];
        for n in 0..s.batch {
            for co in 0..s.c_out {
                for y in 0..h {
                    for xx in 0..wd {
                        let mut acc = b[co] as f64;
                        for ci in 0..s.c_in {
                            for ky in 0..k {
                                for kx in 0..k {
                                    let iy = y as isize + ky as isize - p;
                                    let ix = xx as isize + kx as isize - p;
                                    if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                        continue;
                                    }
                                    let xi =
                                        ((n * s.c_in + ci) * h + iy as usize) * wd + ix as usize;
                                    let wi = ((co * s.c_in + ci) * k + ky) * k + kx;
                                    acc += (x[xi] * w[wi]) as f64;
                                }
                            }
                        }
                        out[((n * s.c_out + co) * h + y) * wd + xx] = acc as f32;
                    }
                }
            }
        }
        out
    }

    fn data(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| {
                ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) % 1000) as f32 / 500.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn forward_matches_the_definition_and_im2col_is_adjoint_to_col2im() {
        for s in [
            ConvShape {
                batch: 3,
                c_in: 2,
                c_out: 4,
                height: 5,
                width: 7,
                kernel: 3,
            },
            ConvShape {
                batch: 9,
                c_in: 1,
                c_out: 3,
                height: 4,
                width: 4,
                kernel: 1,
            },
            ConvShape {
                batch: 2,
                c_in: 3,
                c_out: 2,
                height: 3,
                width: 6,
                kernel: 5,
            },
        ] {
            let (x, w, b) = (
                data(s.input_len(), 1),
                data(s.weight_len(), 2),
                data(s.c_out, 3),
            );
            let want = naive(&x, &w, &b, &s);
            let got = forward(&x, &w, &b, &s);
            for (g, e) in got.iter().zip(&want) {
                assert!((g - e).abs() < 1e-5, "{s:?}: {g} vs {e}");
            }
            // <im2col(x), c> = <x, col2im(c)> for one image.
            let one = ConvShape { batch: 1, ..s };
            let x1 = &x[..one.input_len()];
            let mut col = vec![0.0; one.col_len()];
            im2col(x1, &one, &mut col);
            let c = data(one.col_len(), 4);
            let mut back = vec![0.0; one.input_len()];
            col2im(&c, &one, &mut back);
            let lhs: f64 = col.iter().zip(&c).map(|(a, b)| (a * b) as f64).sum();
            let rhs: f64 = x1.iter().zip(&back).map(|(a, b)| (a * b) as f64).sum();
            assert!((lhs - rhs).abs() < 1e-3, "{lhs} vs {rhs}");
        }
    }

    #[test]
    fn the_pooled_pass_equals_convolution_then_relu_pool() {
        let s = ConvShape {
            batch: 10,
            c_in: 3,
            c_out: 4,
            height: 7,
            width: 6,
            kernel: 3,
        };
        let (x, w, b) = (
            data(s.input_len(), 9),
            data(s.weight_len(), 10),
            data(s.c_out, 11),
        );
        let conv = forward(&x, &w, &b, &s);
        let ps = PoolShape {
            planes: s.batch * s.c_out,
            height: s.height,
            width: s.width,
        };
        let (want, want_arg) = pool::forward(&conv, &ps);
        let (got, arg) = forward_pooled(&x, &w, &b, &s);
        assert_eq!((&got, &arg), (&want, &want_arg));
        let g = data(got.len(), 12);
        let two_step = backward(&pool::backward(&g, &arg, &ps), &w, &x, &s, true);
        let fused = backward_pooled(&g, &arg, &w, &x, &s, true);
        assert_eq!(fused.x, two_step.x);
        assert_eq!(fused.weight, two_step.weight);
        assert_eq!(fused.bias, two_step.bias);
    }

    #[test]
    fn backward_is_the_adjoint_of_forward() {
        // For a linear map y = conv(x, w) + b and any g: <g, dy> = <dx, δx> + <dw, δw> + <db, δb>.
        let s = ConvShape {
            batch: 11,
            c_in: 3,
            c_out: 5,
            height: 6,
            width: 5,
            kernel: 3,
        };
        let (x, w, b) = (
            data(s.input_len(), 5),
            data(s.weight_len(), 6),
            data(s.c_out, 7),
        );
        let g = data(s.output_len(), 8);
        let grads = backward(&g, &w, &x, &s, true);
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x * y) as f64).sum::<f64>();
        let zeros = |n| vec![0.0f32; n];
        // Each part separately: the forward is linear in x (w, b fixed at 0 elsewhere) etc.
        let y_x = forward(&x, &w, &zeros(s.c_out), &s);
        assert!((dot(&g, &y_x) - dot(grads.x.as_ref().unwrap(), &x)).abs() < 1e-2);
        assert!((dot(&g, &y_x) - dot(&grads.weight, &w)).abs() < 1e-2);
        let y_b = forward(&zeros(s.input_len()), &zeros(s.weight_len()), &b, &s);
        assert!((dot(&g, &y_b) - dot(&grads.bias, &b)).abs() < 1e-3);
        // Without the input gradient, the same weight and bias gradients.
        let again = backward(&g, &w, &x, &s, false);
        assert!(again.x.is_none());
        assert_eq!(again.weight, grads.weight);
        assert_eq!(again.bias, grads.bias);
    }
}
