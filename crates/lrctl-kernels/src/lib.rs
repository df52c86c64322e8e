//! lrctl's own tensor kernels for burn's CPU backend (Flex), with hand-written backward passes.
//!
//! burn-flex's generic operations made lrctl's CNN about 3× and its transformer about 2.5×
//! slower per step than PyTorch: the convolution's backward computes the weight gradient as a
//! convolution whose kernel is the whole image, pooling goes through a general N-d path with
//! index tensors, every matmul output is allocated zeroed and then copied for alignment, and
//! attention and GELU are chains of batch-sized temporaries. This crate replaces them through
//! burn's backend-extension mechanism ([`KernelBackend`]):
//! - [`linear`](fn@linear): dense layers `x·W + b` as row-block GEMMs ([`linear`](mod@linear));
//! - [`conv2d_relu_max_pool2`]: convolution, ReLU and 2×2 pooling one image at a time
//!   ([`conv`], [`pool`]), and [`conv2d_same`] and [`relu_max_pool2`] on their own;
//! - [`causal_self_attention`]: multi-head causal attention from the `qkv` projection
//!   ([`attention`](mod@attention));
//! - [`gelu`]: the exact GELU in one pass ([`activation`]).
//!
//! Each function takes and returns ordinary `Tensor`s and falls back to burn's generic operations
//! on any other backend (CUDA) or dtype, so models written with them run everywhere. The tests
//! check values and gradients against the generic operations.

pub mod activation;
pub mod attention;
pub mod conv;
mod gemm;
pub mod linear;
mod ops;
pub mod pool;

use burn::backend::{Dispatch, DispatchDevice};
use burn::tensor::activation::relu;
use burn::tensor::module::{attention, conv2d, max_pool2d};
use burn::tensor::ops::{AttentionModuleOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{DType, Tensor};

pub use ops::KernelBackend;

/// A vector of `n` floats built chunk by chunk on the rayon pool: each chunk (`chunk` floats, the
/// last may be shorter) is zeroed and handed to `fill(index, chunk)`. Zeroing next to the writes,
/// on every thread, replaces a single-threaded `memset` of the whole buffer.
pub(crate) fn par_zeroed(
    n: usize,
    chunk: usize,
    fill: impl Fn(usize, &mut [f32]) + Sync + Send,
) -> Vec<f32> {
    use rayon::prelude::*;
    use std::mem::MaybeUninit;
    let mut v: Vec<f32> = Vec::with_capacity(n);
    v.spare_capacity_mut()[..n]
        .par_chunks_mut(chunk.max(1))
        .enumerate()
        .for_each(|(i, c)| {
            for x in c.iter_mut() {
                x.write(0.0);
            }
            // SAFETY: every element of `c` was initialised just above.
            let c = unsafe { &mut *(c as *mut [MaybeUninit<f32>] as *mut [f32]) };
            fill(i, c);
        });
    // SAFETY: the chunks cover `0..n` and each was initialised.
    unsafe { v.set_len(n) };
    v
}

/// Set `LRCTL_GENERIC_KERNELS=1` to run burn's generic operations instead of these kernels
/// everywhere (to compare results or speed).
pub const GENERIC_ENV: &str = "LRCTL_GENERIC_KERNELS";

fn generic_forced() -> bool {
    static FORCED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FORCED.get_or_init(|| std::env::var(GENERIC_ENV).is_ok_and(|v| !v.is_empty() && v != "0"))
}

/// Whether `x` lives on Flex (with or without autodiff) as f32, where the kernels apply.
fn on_flex_f32<const D: usize>(x: &Tensor<D>) -> bool {
    !generic_forced()
        && x.dtype() == DType::F32
        && matches!(
            x.device().as_dispatch().clone().inner(),
            DispatchDevice::Flex(_)
        )
}

/// Checks that `weight` is an odd square kernel over `x`'s channels; its side.
fn check_conv(x: &Tensor<4>, weight: &Tensor<4>) -> usize {
    let [_, c_in, _, _] = x.dims();
    let [_, w_in, kh, kw] = weight.dims();
    assert!(
        w_in == c_in && kh == kw && kh % 2 == 1,
        "conv2d_same: weight {:?} does not fit input {:?} (odd square kernel)",
        weight.dims(),
        x.dims()
    );
    kh
}

/// Stride-1 2-D convolution with "same" zero padding (`kernel / 2` on every side; odd square
/// kernel): `x` `[n, c_in, h, w]`, `weight` `[c_out, c_in, k, k]`, `bias` `[c_out]` →
/// `[n, c_out, h, w]`. The same function as `burn::tensor::module::conv2d` with those options.
///
/// # Panics
/// When the shapes do not fit (as burn's convolution does).
pub fn conv2d_same(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    let kh = check_conv(&x, &weight);
    if on_flex_f32(&x) && weight.dtype() == DType::F32 && bias.dtype() == DType::F32 {
        Tensor::from_dispatch(<Dispatch as KernelBackend>::conv2d_same(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
        ))
    } else {
        let p = kh / 2;
        conv2d(
            x,
            weight,
            Some(bias),
            ConvOptions::new([1, 1], [p, p], [1, 1], 1),
        )
    }
}

/// `relu_max_pool2(conv2d_same(x, weight, bias))`, one image at a time so the full-size
/// convolution output stays in cache (on Flex; the separate operations elsewhere).
///
/// # Panics
/// When the shapes do not fit (see [`conv2d_same`]).
pub fn conv2d_relu_max_pool2(x: Tensor<4>, weight: Tensor<4>, bias: Tensor<1>) -> Tensor<4> {
    check_conv(&x, &weight);
    if on_flex_f32(&x) && weight.dtype() == DType::F32 && bias.dtype() == DType::F32 {
        Tensor::from_dispatch(<Dispatch as KernelBackend>::conv2d_relu_max_pool2(
            x.into_dispatch(),
            weight.into_dispatch(),
            bias.into_dispatch(),
        ))
    } else {
        relu_max_pool2(conv2d_same(x, weight, bias))
    }
}

/// Causal multi-head self-attention from the fused projection `qkv` `[batch, tokens, 3·width]`
/// (queries, then keys, then values; head `h` in columns `h·head_dim..` of each) with scale
/// `1/√head_dim`: `[batch, tokens, width]`, heads side by side. The same function as burn's
/// `attention` with `is_causal` on the split, per-head tensors.
///
/// # Panics
/// When `heads` is zero or does not divide the width.
pub fn causal_self_attention(qkv: Tensor<3>, heads: usize) -> Tensor<3> {
    let [_, _, three_d] = qkv.dims();
    assert!(
        heads > 0 && three_d % (3 * heads) == 0,
        "causal_self_attention: width {three_d} is not 3 × {heads} heads × head width"
    );
    if on_flex_f32(&qkv) {
        Tensor::from_dispatch(<Dispatch as KernelBackend>::causal_attention(
            qkv.into_dispatch(),
            heads,
        ))
    } else {
        generic_causal_attention(qkv, heads)
    }
}

/// [`causal_self_attention`] with burn's operations: split the heads, burn's causal `attention`,
/// heads side by side again.
fn generic_causal_attention(qkv: Tensor<3>, heads: usize) -> Tensor<3> {
    let [b, t, three_d] = qkv.dims();
    let d = three_d / 3;
    // [b, t, 3, h, d/h] → three [b, h, t, d/h]
    let qkv = qkv
        .reshape([b, t, 3, heads, d / heads])
        .permute([2, 0, 3, 1, 4]);
    let q = qkv.clone().narrow(0, 0, 1).squeeze_dim::<4>(0);
    let k = qkv.clone().narrow(0, 1, 1).squeeze_dim::<4>(0);
    let v = qkv.narrow(0, 2, 1).squeeze_dim::<4>(0);
    let options = AttentionModuleOptions {
        scale: None,
        softcap: None,
        is_causal: true,
    };
    attention(q, k, v, None, None, options)
        .swap_dims(1, 2)
        .reshape([b, t, d])
}

/// burn's `Linear` on lrctl's dense-layer kernel ([`linear`](mod@linear)) on the CPU backend, its own
/// `forward` elsewhere (and without a bias): `x·W + b` over the last dimension.
pub fn linear<const D: usize>(layer: &burn::nn::Linear, x: Tensor<D>) -> Tensor<D> {
    match &layer.bias {
        Some(bias) if on_flex_f32(&x) => {
            Tensor::from_dispatch(<Dispatch as KernelBackend>::linear(
                x.into_dispatch(),
                layer.weight.val().into_dispatch(),
                bias.val().into_dispatch(),
            ))
        }
        _ => layer.forward(x),
    }
}

/// The exact (erf) GELU, `x·Φ(x)`, elementwise (see [`activation`] for its accuracy; burn's
/// `gelu` off the CPU backend).
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if on_flex_f32(&x) {
        Tensor::from_dispatch(<Dispatch as KernelBackend>::gelu(x.into_dispatch()))
    } else {
        burn::tensor::activation::gelu(x)
    }
}

/// `max_pool2d(relu(x))` with a 2×2 window and stride 2 (floor): `[n, c, h, w]` →
/// `[n, c, h/2, w/2]`.
pub fn relu_max_pool2(x: Tensor<4>) -> Tensor<4> {
    if on_flex_f32(&x) {
        Tensor::from_dispatch(<Dispatch as KernelBackend>::relu_max_pool2(
            x.into_dispatch(),
        ))
    } else {
        max_pool2d(relu(x), MaxPoolOptions::new([2, 2]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::{Device, Distribution, Tensor, Tolerance};

    fn random<const D: usize>(shape: [usize; D], device: &Device) -> Tensor<D> {
        Tensor::random(shape, Distribution::Normal(0.0, 1.0), device)
    }

    /// Values and all three gradients of `loss = Σ (conv → relu-pool) · r` against burn's generic
    /// convolution, ReLU and max-pool, for a few shapes (odd sizes, 1×1 and 5×5 kernels, one
    /// input channel as in the first layer of the CNN).
    #[test]
    fn conv_and_pool_match_burns_generic_operations_with_gradients() {
        let device = Device::flex().autodiff();
        burn::tensor::Device::seed(&device, 7);
        assert!(
            on_flex_f32(&random([1, 1, 1, 1], &device)),
            "the kernels must be under test"
        );
        for (n, c_in, c_out, h, w, k) in [
            (4, 3, 5, 8, 6, 3),
            (9, 1, 4, 7, 9, 3),
            (2, 2, 3, 6, 6, 1),
            (3, 4, 2, 5, 8, 5),
        ] {
            let x0 = random([n, c_in, h, w], &device);
            let w0 = random([c_out, c_in, k, k], &device);
            let b0 = random([c_out], &device);
            let r = random([n, c_out, h / 2, w / 2], &device);
            // 0: burn's generic operations; 1: the two kernels; 2: the fused kernel.
            let run = |which: u8| {
                let (x, w, b) = (
                    x0.clone().detach().require_grad(),
                    w0.clone().detach().require_grad(),
                    b0.clone().detach().require_grad(),
                );
                let y = if which == 2 {
                    conv2d_relu_max_pool2(x.clone(), w.clone(), b.clone())
                } else if which == 1 {
                    relu_max_pool2(conv2d_same(x.clone(), w.clone(), b.clone()))
                } else {
                    let p = k / 2;
                    let c = conv2d(
                        x.clone(),
                        w.clone(),
                        Some(b.clone()),
                        ConvOptions::new([1, 1], [p, p], [1, 1], 1),
                    );
                    max_pool2d(relu(c), MaxPoolOptions::new([2, 2]))
                };
                let grads = (y.clone() * r.clone()).sum().backward();
                (
                    y.into_data(),
                    x.grad(&grads).unwrap().into_data(),
                    w.grad(&grads).unwrap().into_data(),
                    b.grad(&grads).unwrap().into_data(),
                )
            };
            let (fast, generic) = (run(1), run(0));
            let fused = run(2);
            let tol = Tolerance::<f32>::absolute(1e-4);
            fast.0.assert_approx_eq::<f32>(&generic.0, tol);
            fast.1.assert_approx_eq::<f32>(&generic.1, tol);
            fast.2
                .assert_approx_eq::<f32>(&generic.2, Tolerance::absolute(1e-3));
            fast.3
                .assert_approx_eq::<f32>(&generic.3, Tolerance::absolute(1e-3));
            // The fused kernel computes exactly what the two kernels do.
            assert_eq!(
                (&fused.0, &fused.1, &fused.2, &fused.3),
                (&fast.0, &fast.1, &fast.2, &fast.3)
            );
        }
    }

    /// Values and the `qkv` gradient of the fused attention against burn's generic attention.
    #[test]
    fn attention_matches_burns_generic_attention_with_gradients() {
        let device = Device::flex().autodiff();
        for (b, t, heads, dh) in [(3, 9, 2, 4), (2, 16, 4, 8), (1, 5, 1, 3)] {
            let qkv0 = random([b, t, 3 * heads * dh], &device);
            let r = random([b, t, heads * dh], &device);
            let run = |fast: bool| {
                let qkv = qkv0.clone().detach().require_grad();
                let y = if fast {
                    causal_self_attention(qkv.clone(), heads)
                } else {
                    // The fallback path, as on a non-Flex device.
                    generic_causal_attention(qkv.clone(), heads)
                };
                let grads = (y.clone() * r.clone()).sum().backward();
                (y.into_data(), qkv.grad(&grads).unwrap().into_data())
            };
            let (fast, generic) = (run(true), run(false));
            fast.0
                .assert_approx_eq::<f32>(&generic.0, Tolerance::absolute(1e-5));
            fast.1
                .assert_approx_eq::<f32>(&generic.1, Tolerance::absolute(1e-4));
        }
    }

    #[test]
    fn linear_matches_burns_linear_with_gradients() {
        let device = Device::flex().autodiff();
        let layer = burn::nn::LinearConfig::new(12, 7).init(&device);
        let x0 = random([3, 300, 12], &device);
        let r = random([3, 300, 7], &device);
        let run = |fast: bool| {
            let x = x0.clone().detach().require_grad();
            let y = if fast {
                linear(&layer, x.clone())
            } else {
                layer.forward(x.clone())
            };
            let grads = (y.clone() * r.clone()).sum().backward();
            let bias = layer.bias.as_ref().unwrap();
            (
                y.into_data(),
                x.grad(&grads).unwrap().into_data(),
                layer.weight.val().grad(&grads).unwrap().into_data(),
                bias.val().grad(&grads).unwrap().into_data(),
            )
        };
        let (fast, generic) = (run(true), run(false));
        let tol = Tolerance::<f32>::absolute(1e-4);
        fast.0.assert_approx_eq::<f32>(&generic.0, tol);
        fast.1.assert_approx_eq::<f32>(&generic.1, tol);
        fast.2
            .assert_approx_eq::<f32>(&generic.2, Tolerance::absolute(1e-3));
        fast.3
            .assert_approx_eq::<f32>(&generic.3, Tolerance::absolute(1e-3));
    }

    #[test]
    fn gelu_matches_burns_exact_gelu_with_gradients() {
        let device = Device::flex().autodiff();
        let x0 = random([7, 33, 5], &device) * 3.0;
        let r = random([7, 33, 5], &device);
        let run = |fast: bool| {
            let x = x0.clone().detach().require_grad();
            let y = if fast {
                gelu(x.clone())
            } else {
                burn::tensor::activation::gelu(x.clone())
            };
            let grads = (y.clone() * r.clone()).sum().backward();
            (y.into_data(), x.grad(&grads).unwrap().into_data())
        };
        let (fast, generic) = (run(true), run(false));
        fast.0
            .assert_approx_eq::<f32>(&generic.0, Tolerance::absolute(2e-6));
        fast.1
            .assert_approx_eq::<f32>(&generic.1, Tolerance::absolute(2e-6));
    }

    /// Without autodiff (evaluation) the kernels give the same values, and the input gradient is
    /// skipped when the input does not require one (the first layer) without changing the others.
    #[test]
    fn inference_path_and_untracked_input_agree() {
        let device = Device::flex();
        let x = random([5, 2, 6, 4], &device);
        let w = random([3, 2, 3, 3], &device);
        let b = random([3], &device);
        let fast = relu_max_pool2(conv2d_same(x.clone(), w.clone(), b.clone()));
        let generic = max_pool2d(
            relu(conv2d(
                x,
                w,
                Some(b),
                ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
            )),
            MaxPoolOptions::new([2, 2]),
        );
        fast.into_data()
            .assert_approx_eq::<f32>(&generic.into_data(), Tolerance::absolute(1e-4));

        let device = Device::flex().autodiff();
        let x = random([5, 2, 6, 4], &device);
        let w = random([3, 2, 3, 3], &device).require_grad();
        let b = random([3], &device).require_grad();
        let grads = conv2d_same(x.clone(), w.clone(), b.clone())
            .sum()
            .backward();
        let generic = conv2d(
            x,
            w.clone(),
            Some(b.clone()),
            ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
        );
        let g2 = generic.sum().backward();
        w.grad(&grads)
            .unwrap()
            .into_data()
            .assert_approx_eq::<f32>(&w.grad(&g2).unwrap().into_data(), Tolerance::absolute(1e-3));
    }
}
