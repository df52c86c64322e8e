use burn::module::Module;
use burn::nn::{Embedding, EmbeddingConfig, LayerNorm, LayerNormConfig, Linear, LinearConfig};
use burn::prelude::*;

/// Byte-level decoder-only transformer (GPT-style, pre-LayerNorm, learned positions, no
/// dropout so a seed fully determines the run).
#[derive(Module, Debug)]
pub struct ByteLm {
    tokens: Embedding,
    positions: Embedding,
    blocks: Vec<Block>,
    norm: LayerNorm,
    head: Linear,
}

/// One pre-LayerNorm block: `x + attn(ln(x))`, then `x + mlp(ln(x))`.
#[derive(Module, Debug)]
pub struct Block {
    norm1: LayerNorm,
    qkv: Linear,
    proj: Linear,
    norm2: LayerNorm,
    fc: Linear,
    out: Linear,
    heads: usize,
}

impl ByteLm {
    /// `layers` blocks of width `d_model` with `heads` heads over a `context`-byte window.
    pub fn new(
        d_model: usize,
        layers: usize,
        heads: usize,
        context: usize,
        device: &Device,
    ) -> Self {
        let blocks = (0..layers)
            .map(|_| Block {
                norm1: LayerNormConfig::new(d_model).init(device),
                qkv: LinearConfig::new(d_model, 3 * d_model).init(device),
                proj: LinearConfig::new(d_model, d_model).init(device),
                norm2: LayerNormConfig::new(d_model).init(device),
                fc: LinearConfig::new(d_model, 4 * d_model).init(device),
                out: LinearConfig::new(4 * d_model, d_model).init(device),
                heads,
            })
            .collect();
        ByteLm {
            tokens: EmbeddingConfig::new(256, d_model).init(device),
            positions: EmbeddingConfig::new(context, d_model).init(device),
            blocks,
            norm: LayerNormConfig::new(d_model).init(device),
            head: LinearConfig::new(d_model, 256).init(device),
        }
    }

    /// `[batch, t]` byte ids → `[batch, t, 256]` logits for the next byte at every position.
    pub fn logits(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let [b, t] = tokens.dims();
        let device = tokens.device();
        let pos = Tensor::<1, Int>::arange(0..t as i64, &device)
            .reshape([1, t])
            .expand([b, t]);
        let mut x = self.tokens.forward(tokens) + self.positions.forward(pos);
        for block in &self.blocks {
            x = block.forward(x);
        }
        lrctl_kernels::linear(&self.head, self.norm.forward(x))
    }
}

impl Block {
    fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        // lrctl's kernels on the CPU backend (dense layers, fused causal attention, GELU),
        // burn's operations elsewhere.
        let qkv = lrctl_kernels::linear(&self.qkv, self.norm1.forward(x.clone()));
        let ctx = lrctl_kernels::causal_self_attention(qkv, self.heads);
        let x = x + lrctl_kernels::linear(&self.proj, ctx);
        let h = lrctl_kernels::gelu(lrctl_kernels::linear(
            &self.fc,
            self.norm2.forward(x.clone()),
        ));
        let m = lrctl_kernels::linear(&self.out, h);
        x + m
    }
}
