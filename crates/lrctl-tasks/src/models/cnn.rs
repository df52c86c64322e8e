//! A small convolutional network: two conv(3×3, same padding) + ReLU + max-pool(2×2) blocks,
//! then a ReLU dense layer and the output layer.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;
use serde::{Deserialize, Serialize};

use super::{Axes, Classifier, FieldError, Input, ModelFamily, Scale};
use crate::size::{add, dense, mul, u};
use lrctl_data::catalog::Shape;

/// The `cnn` family: conv–pool, conv–pool, dense, output; the width multiplies every layer
/// (it has no depth axis).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CnnSpec {
    /// Output channels of the two conv blocks (multiplied by `width`).
    pub channels: [usize; 2],
    /// Width of the hidden dense layer (multiplied by `width`).
    pub hidden: usize,
}

/// The CNN's layer sizes for an image shape, after the width multiplier.
struct CnnDims {
    c_in: u64,
    h: u64,
    w: u64,
    c1: u64,
    c2: u64,
    hidden: u64,
    /// Inputs of the dense layer: `c2 · ⌊h/4⌋ · ⌊w/4⌋` (two 2×2 poolings).
    flat: u64,
}

impl CnnSpec {
    fn dims(&self, scale: Scale, shape: &Shape) -> CnnDims {
        let [c, h, w] = image(shape);
        let (c1, c2) = (scale.wide(self.channels[0]), scale.wide(self.channels[1]));
        CnnDims {
            c_in: u(c),
            h: u(h),
            w: u(w),
            c1,
            c2,
            hidden: scale.wide(self.hidden),
            flat: mul(c2, mul(u(h / 4), u(w / 4))),
        }
    }
}

/// The image shape of the rows. Without one the rows are taken as one-pixel-high images (the
/// task check refuses such a CNN; the arithmetic stays total).
fn image(shape: &Shape) -> [usize; 3] {
    shape.image.unwrap_or([1, 1, shape.features])
}

impl ModelFamily for CnnSpec {
    const KIND: &'static str = "cnn";
    const AXES: Axes = Axes::WIDTH;
    const COMPLEXITY: u32 = 2;
    const MACS_PER_SECOND: f64 = 10e9;
    const BENCH_STEPS: u64 = 40;
    type Network = Cnn;

    fn input(&self) -> Input {
        // Two 2×2 poolings leave nothing of a smaller image.
        Input::Images { min_side: 4 }
    }

    fn validate(&self) -> Result<(), FieldError> {
        if let Some(i) = self.channels.iter().position(|&c| c == 0) {
            return Err(FieldError::zero_units(format!("model.channels[{i}]")));
        }
        if self.hidden == 0 {
            return Err(FieldError::zero_units("model.hidden"));
        }
        Ok(())
    }

    fn n_params(&self, scale: Scale, shape: &Shape) -> u64 {
        let d = self.dims(scale, shape);
        let conv1 = dense(mul(d.c_in, 9), d.c1);
        let conv2 = dense(mul(d.c1, 9), d.c2);
        [
            conv1,
            conv2,
            dense(d.flat, d.hidden),
            dense(d.hidden, u(shape.classes)),
        ]
        .into_iter()
        .fold(0, add)
    }

    /// Convolutions count their 3×3 kernels at every output pixel.
    fn forward_macs(&self, scale: Scale, shape: &Shape) -> u64 {
        let d = self.dims(scale, shape);
        let conv1 = mul(mul(d.h, d.w), mul(mul(d.c_in, d.c1), 9));
        let conv2 = mul(mul(d.h / 2, d.w / 2), mul(mul(d.c1, d.c2), 9));
        [
            conv1,
            conv2,
            mul(d.flat, d.hidden),
            mul(d.hidden, u(shape.classes)),
        ]
        .into_iter()
        .fold(0, add)
    }

    fn activations(&self, scale: Scale, shape: &Shape) -> u64 {
        let d = self.dims(scale, shape);
        let (hw, hw4, hw16) = (mul(d.h, d.w), mul(d.h / 2, d.w / 2), mul(d.h / 4, d.w / 4));
        // im2col buffers (9 · c_in · h · w and 9 · c1 · h/2 · w/2), conv outputs before and
        // after pooling, the dense layers.
        [
            mul(mul(9, d.c_in), hw),
            mul(mul(9, d.c1), hw4),
            mul(2, mul(d.c1, hw)),
            mul(2, mul(d.c2, hw4)),
            mul(d.c2, hw16),
            mul(2, d.hidden),
            u(shape.classes),
        ]
        .into_iter()
        .fold(0, add)
    }

    fn network(&self, scale: Scale, shape: &Shape, device: &Device) -> Cnn {
        let w = scale.width as usize;
        Cnn::new(
            image(shape),
            [self.channels[0] * w, self.channels[1] * w],
            self.hidden * w,
            shape.classes,
            device,
        )
    }

    fn reference(&self, scale: Scale, shape: &Shape) -> serde_json::Map<String, serde_json::Value> {
        let w = scale.width as usize;
        let mut meta = serde_json::Map::new();
        meta.insert(
            "channels".into(),
            vec![self.channels[0] * w, self.channels[1] * w].into(),
        );
        meta.insert("hidden".into(), (self.hidden * w).into());
        meta.insert("image".into(), image(shape).to_vec().into());
        meta
    }

    fn tiny() -> Self {
        CnnSpec {
            channels: [2, 2],
            hidden: 4,
        }
    }
}

/// Two conv(3×3, same padding) + ReLU + max-pool(2×2) blocks, then a ReLU dense layer and the
/// output layer.
///
/// Each block is one of lrctl's own kernels on the CPU backend
/// (`lrctl_kernels::conv2d_relu_max_pool2`: im2col + GEMM convolution, ReLU and pooling one image
/// at a time, with a hand-written backward pass) and burn's generic operations elsewhere; the
/// parameters are burn's `Conv2d` modules either way.
#[derive(Module, Debug)]
pub struct Cnn {
    conv1: Conv2d,
    conv2: Conv2d,
    fc: Linear,
    output: Linear,
    image: [usize; 3],
}

impl Cnn {
    /// A CNN for `[channels, height, width]` images.
    pub fn new(
        image: [usize; 3],
        channels: [usize; 2],
        hidden: usize,
        classes: usize,
        device: &Device,
    ) -> Self {
        let conv = |c_in, c_out| {
            Conv2dConfig::new([c_in, c_out], [3, 3])
                .with_padding(PaddingConfig2d::Same)
                .init(device)
        };
        let [c, h, w] = image;
        let flat = channels[1] * (h / 4) * (w / 4);
        Cnn {
            conv1: conv(c, channels[0]),
            conv2: conv(channels[0], channels[1]),
            fc: LinearConfig::new(flat, hidden).init(device),
            output: LinearConfig::new(hidden, classes).init(device),
            image,
        }
    }
}

impl Classifier for Cnn {
    fn logits(&self, x: Tensor<2>) -> Tensor<2> {
        let [b, _] = x.dims();
        let [c, h, w] = self.image;
        let x = x.reshape([b, c, h, w]);
        let x = block(&self.conv1, x);
        let x = block(&self.conv2, x);
        let x = x.flatten::<2>(1, 3);
        lrctl_kernels::linear(&self.output, relu(lrctl_kernels::linear(&self.fc, x)))
    }
}

/// conv(3×3, same) + ReLU + max-pool(2×2).
fn block(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let bias = conv
        .bias
        .as_ref()
        .expect("the CNN's convolutions have biases");
    lrctl_kernels::conv2d_relu_max_pool2(x, conv.weight.val(), bias.val())
}
