//! The kernels as a burn backend extension: implemented for Flex (forward only) and for
//! `Autodiff<Flex>` (forward plus a hand-written backward registered in the autodiff graph).

use std::sync::Arc;

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Flex, backend_extension};
use burn::tensor::{Shape, TensorData};

use crate::activation;
use crate::attention::{self, AttentionShape};
use crate::conv::{self, ConvShape};
use crate::linear::{self, LinearShape};
use crate::pool::{self, PoolShape};

/// lrctl's fused operations (f32 only; callers check the dtype and device, see the crate root).
#[backend_extension(Flex, Autodiff)]
pub trait KernelBackend: Backend {
    /// Stride-1 convolution with "same" zero padding: `x` `[n, c_in, h, w]`, `weight`
    /// `[c_out, c_in, k, k]` (k odd), `bias` `[c_out]`.
    fn conv2d_same(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// `max_pool2d(relu(x))` with a 2×2 window and stride 2 on `[n, c, h, w]`.
    fn relu_max_pool2(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Causal self-attention over `heads` heads from the fused projection `qkv`
    /// `[batch, tokens, 3·width]` (queries, keys, values): `[batch, tokens, width]`.
    fn causal_attention(qkv: FloatTensor<Self>, heads: usize) -> FloatTensor<Self>;

    /// The dense layer `x·weight + bias` over the last dimension of `x` (`weight` `[in, out]`).
    fn linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;

    /// The exact (erf) GELU, elementwise.
    fn gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// `relu_max_pool2(conv2d_same(x, weight, bias))` in one pass per image.
    fn conv2d_relu_max_pool2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

type FlexTensor = FloatTensor<Flex>;

/// A contiguous f32 copy-free view when possible.
fn contiguous(t: FlexTensor) -> FlexTensor {
    if t.is_contiguous() && t.as_slice::<f32>().is_some() {
        t
    } else {
        t.to_contiguous()
    }
}

fn values(t: &FlexTensor) -> &[f32] {
    t.as_slice::<f32>()
        .expect("lrctl kernels take contiguous f32 tensors")
}

fn dims(t: &FlexTensor) -> Vec<usize> {
    t.layout().shape().iter().copied().collect()
}

fn tensor(values: Vec<f32>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, Shape::from(shape.to_vec())))
}

fn conv_shape(x: &FlexTensor, weight: &FlexTensor) -> ConvShape {
    let (xd, wd) = (dims(x), dims(weight));
    assert!(
        xd.len() == 4 && wd.len() == 4 && wd[1] == xd[1] && wd[2] == wd[3] && wd[2] % 2 == 1,
        "conv2d_same: input {xd:?} and weight {wd:?} do not fit"
    );
    ConvShape {
        batch: xd[0],
        c_in: xd[1],
        c_out: wd[0],
        height: xd[2],
        width: xd[3],
        kernel: wd[2],
    }
}

fn pool_shape(x: &FlexTensor) -> (PoolShape, [usize; 4]) {
    let d = dims(x);
    assert!(d.len() == 4, "relu_max_pool2: input {d:?} is not 4-D");
    let s = PoolShape {
        planes: d[0] * d[1],
        height: d[2],
        width: d[3],
    };
    let (oh, ow) = s.output();
    (s, [d[0], d[1], oh, ow])
}

/// The forward convolution on contiguous Flex tensors.
fn conv_forward(x: &FlexTensor, weight: &FlexTensor, bias: FlexTensor) -> (FlexTensor, ConvShape) {
    let bias = contiguous(bias);
    let s = conv_shape(x, weight);
    let out = conv::forward(values(x), values(weight), values(&bias), &s);
    (tensor(out, &[s.batch, s.c_out, s.height, s.width]), s)
}

/// The fused convolution, ReLU and pool on contiguous Flex tensors, with the pool's winners.
fn conv_pool_forward(
    x: &FlexTensor,
    weight: &FlexTensor,
    bias: FlexTensor,
) -> (FlexTensor, Vec<u8>, ConvShape) {
    let bias = contiguous(bias);
    let s = conv_shape(x, weight);
    let (out, arg) = conv::forward_pooled(values(x), values(weight), values(&bias), &s);
    let shape = [s.batch, s.c_out, s.height / 2, s.width / 2];
    (tensor(out, &shape), arg, s)
}

fn attention_shape(qkv: &FlexTensor, heads: usize) -> AttentionShape {
    let d = dims(qkv);
    assert!(
        d.len() == 3 && heads > 0 && d[2].is_multiple_of(3 * heads),
        "causal_attention: qkv {d:?} is not [batch, tokens, 3·heads·head_dim] for {heads} heads"
    );
    AttentionShape {
        batch: d[0],
        tokens: d[1],
        heads,
        head_dim: d[2] / (3 * heads),
    }
}

/// The attention output on a contiguous `qkv`, with the probabilities.
fn attention_forward(qkv: &FlexTensor, heads: usize) -> (FlexTensor, Vec<f32>, AttentionShape) {
    let s = attention_shape(qkv, heads);
    let (out, probs) = attention::forward(values(qkv), &s);
    let shape = [s.batch, s.tokens, s.heads * s.head_dim];
    (tensor(out, &shape), probs, s)
}

fn pool_forward(x: FlexTensor) -> (FlexTensor, Vec<u8>, PoolShape) {
    let x = contiguous(x);
    let (s, out_shape) = pool_shape(&x);
    let (out, arg) = pool::forward(values(&x), &s);
    (tensor(out, &out_shape), arg, s)
}

impl KernelBackend for Flex {
    fn conv2d_same(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        conv_forward(&contiguous(x), &contiguous(weight), bias).0
    }

    fn relu_max_pool2(x: FlexTensor) -> FlexTensor {
        pool_forward(x).0
    }

    fn conv2d_relu_max_pool2(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        conv_pool_forward(&contiguous(x), &contiguous(weight), bias).0
    }

    fn causal_attention(qkv: FlexTensor, heads: usize) -> FlexTensor {
        attention_forward(&contiguous(qkv), heads).0
    }

    fn gelu(x: FlexTensor) -> FlexTensor {
        gelu_forward(&contiguous(x))
    }

    fn linear(x: FlexTensor, weight: FlexTensor, bias: FlexTensor) -> FlexTensor {
        linear_forward(&contiguous(x), &contiguous(weight), bias).0
    }
}

fn linear_shape(x: &FlexTensor, weight: &FlexTensor) -> (LinearShape, Vec<usize>) {
    let (xd, wd) = (dims(x), dims(weight));
    assert!(
        !xd.is_empty() && wd.len() == 2 && xd[xd.len() - 1] == wd[0],
        "linear: input {xd:?} does not fit weight {wd:?} ([in, out])"
    );
    let s = LinearShape {
        rows: xd[..xd.len() - 1].iter().product(),
        d_in: wd[0],
        d_out: wd[1],
    };
    (s, xd)
}

/// The dense layer on contiguous Flex tensors.
fn linear_forward(
    x: &FlexTensor,
    w: &FlexTensor,
    b: FlexTensor,
) -> (FlexTensor, LinearShape, Vec<usize>) {
    let b = contiguous(b);
    let (s, mut shape) = linear_shape(x, w);
    let y = linear::forward(values(x), values(w), Some(values(&b)), &s);
    *shape.last_mut().expect("checked non-empty") = s.d_out;
    (tensor(y, &shape), s, dims(x))
}

/// Backward of [`KernelBackend::linear`].
#[derive(Debug)]
struct LinearBackward;

impl Backward<Flex, 3> for LinearBackward {
    /// The input and weight (contiguous), the shape and the input's dimensions.
    type State = (FlexTensor, FlexTensor, LinearShape, Vec<usize>);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let (x, w, s, x_dims) = ops.state;
        let g = linear::backward(values(&grad), values(&x), values(&w), &s, node_x.is_some());
        if let (Some(node), Some(dx)) = (node_x, g.x) {
            grads.register::<Flex>(node.id, tensor(dx, &x_dims));
        }
        if let Some(node) = node_w {
            grads.register::<Flex>(node.id, tensor(g.weight, &[s.d_in, s.d_out]));
        }
        if let Some(node) = node_b {
            grads.register::<Flex>(node.id, tensor(g.bias, &[s.d_out]));
        }
    }
}

fn gelu_forward(x: &FlexTensor) -> FlexTensor {
    tensor(activation::gelu(values(x)), &dims(x))
}

/// Backward of [`KernelBackend::gelu`].
#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    /// The (contiguous) input.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let x = ops.state;
        if let Some(node) = node {
            let dx = activation::gelu_backward(values(&x), values(&grad));
            grads.register::<Flex>(node.id, tensor(dx, &dims(&x)));
        }
    }
}

/// Backward of [`KernelBackend::causal_attention`].
#[derive(Debug)]
struct AttentionBackward;

impl Backward<Flex, 1> for AttentionBackward {
    /// The input, the output, the probabilities and the shape.
    type State = (FlexTensor, FlexTensor, Arc<Vec<f32>>, AttentionShape);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let (qkv, out, probs, s) = ops.state;
        if let Some(node) = node {
            let d = attention::backward(values(&grad), values(&qkv), values(&out), &probs, &s);
            let shape = [s.batch, s.tokens, 3 * s.heads * s.head_dim];
            grads.register::<Flex>(node.id, tensor(d, &shape));
        }
    }
}

/// Backward of [`KernelBackend::conv2d_same`]: two GEMMs per image and a col2im.
#[derive(Debug)]
struct ConvBackward;

impl Backward<Flex, 3> for ConvBackward {
    /// The input, the weight (both contiguous) and the shape.
    type State = (FlexTensor, FlexTensor, ConvShape);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let (x, weight, s) = ops.state;
        let g = conv::backward(
            values(&grad),
            values(&weight),
            values(&x),
            &s,
            node_x.is_some(),
        );
        let ids = [node_x, node_w, node_b].map(|n| n.map(|n| n.id));
        register_conv_grads(grads, ids, g, &s);
    }
}

/// Hands a convolution's gradients to the parents that asked for them.
fn register_conv_grads(
    grads: &mut Gradients,
    [node_x, node_w, node_b]: [Option<NodeId>; 3],
    g: conv::ConvGrads,
    s: &ConvShape,
) {
    if let (Some(id), Some(dx)) = (node_x, g.x) {
        grads.register::<Flex>(id, tensor(dx, &[s.batch, s.c_in, s.height, s.width]));
    }
    if let Some(id) = node_w {
        let shape = [s.c_out, s.c_in, s.kernel, s.kernel];
        grads.register::<Flex>(id, tensor(g.weight, &shape));
    }
    if let Some(id) = node_b {
        grads.register::<Flex>(id, tensor(g.bias, &[s.c_out]));
    }
}

/// Backward of [`KernelBackend::conv2d_relu_max_pool2`]: the pooled gradient goes to the winners
/// one image at a time, then as in [`ConvBackward`].
#[derive(Debug)]
struct ConvPoolBackward;

impl Backward<Flex, 3> for ConvPoolBackward {
    /// The input, the weight (both contiguous), the pool's winners and the shape.
    type State = (FlexTensor, FlexTensor, Arc<Vec<u8>>, ConvShape);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_w, node_b] = ops.parents;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let (x, weight, arg, s) = ops.state;
        let g = conv::backward_pooled(
            values(&grad),
            &arg,
            values(&weight),
            values(&x),
            &s,
            node_x.is_some(),
        );
        let ids = [node_x, node_w, node_b].map(|n| n.map(|n| n.id));
        register_conv_grads(grads, ids, g, &s);
    }
}

/// Backward of [`KernelBackend::relu_max_pool2`]: each window's gradient to its winner.
#[derive(Debug)]
struct PoolBackward;

impl Backward<Flex, 1> for PoolBackward {
    /// The winners and the input shape.
    type State = (Arc<Vec<u8>>, PoolShape, Vec<usize>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x] = ops.parents;
        let grad = contiguous(grads.consume::<Flex>(&ops.node));
        let (arg, s, in_shape) = ops.state;
        if let Some(node) = node_x {
            let dx = pool::backward(values(&grad), &arg, &s);
            grads.register::<Flex>(node.id, tensor(dx, &in_shape));
        }
    }
}

/// The autodiff wiring shared by the `(x, weight, bias)` operations: `forward` returns the
/// output and what the backward `step` keeps (kept only when some input is tracked).
fn weighted_op<C: CheckpointStrategy, B: Backward<Flex, 3>>(
    step: B,
    x: FloatTensor<Autodiff<Flex, C>>,
    weight: FloatTensor<Autodiff<Flex, C>>,
    bias: FloatTensor<Autodiff<Flex, C>>,
    forward: impl FnOnce(FlexTensor, FlexTensor, FlexTensor) -> (FlexTensor, B::State),
) -> FloatTensor<Autodiff<Flex, C>> {
    match step
        .prepare::<C>([x.node(), weight.node(), bias.node()])
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (out, state) = forward(
                x.primitive().clone(),
                weight.primitive().clone(),
                bias.primitive().clone(),
            );
            prep.finish(state, out)
        }
        OpsKind::UnTracked(prep) => prep.finish(
            forward(
                x.into_primitive(),
                weight.into_primitive(),
                bias.into_primitive(),
            )
            .0,
        ),
    }
}

impl<C: CheckpointStrategy> KernelBackend for Autodiff<Flex, C> {
    fn conv2d_same(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        weighted_op::<C, _>(ConvBackward, x, weight, bias, |x, w, b| {
            let (x, w) = (contiguous(x), contiguous(w));
            let (out, s) = conv_forward(&x, &w, b);
            (out, (x, w, s))
        })
    }

    fn conv2d_relu_max_pool2(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        weighted_op::<C, _>(ConvPoolBackward, x, weight, bias, |x, w, b| {
            let (x, w) = (contiguous(x), contiguous(w));
            let (out, arg, s) = conv_pool_forward(&x, &w, b);
            (out, (x, w, Arc::new(arg), s))
        })
    }

    fn causal_attention(qkv: FloatTensor<Self>, heads: usize) -> FloatTensor<Self> {
        match AttentionBackward
            .prepare::<C>([qkv.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let qkv = contiguous(qkv.primitive().clone());
                let (out, probs, s) = attention_forward(&qkv, heads);
                prep.finish((qkv, out.clone(), Arc::new(probs), s), out)
            }
            OpsKind::UnTracked(prep) => {
                prep.finish(attention_forward(&contiguous(qkv.into_primitive()), heads).0)
            }
        }
    }

    fn linear(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        weighted_op::<C, _>(LinearBackward, x, weight, bias, |x, w, b| {
            let (x, w) = (contiguous(x), contiguous(w));
            let (y, s, x_dims) = linear_forward(&x, &w, b);
            (y, (x, w, s, x_dims))
        })
    }

    fn gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match GeluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let input = contiguous(x.primitive().clone());
                let out = gelu_forward(&input);
                prep.finish(input, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(gelu_forward(&contiguous(x.into_primitive()))),
        }
    }

    fn relu_max_pool2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match PoolBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let input = x.primitive().clone();
                let in_shape = dims(&input);
                let (out, arg, s) = pool_forward(input);
                prep.finish((Arc::new(arg), s, in_shape), out)
            }
            OpsKind::UnTracked(prep) => prep.finish(pool_forward(x.into_primitive()).0),
        }
    }
}
