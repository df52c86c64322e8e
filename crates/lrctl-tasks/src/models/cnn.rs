use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{Linear, LinearConfig, PaddingConfig2d};
use burn::prelude::*;
use burn::tensor::activation::relu;

use super::Classifier;

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
