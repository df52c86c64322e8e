//! COCOB-Backprop: learning-rate-free training by coin betting.

use serde::{Deserialize, Serialize};

use crate::check::{Check, NON_NEGATIVE, POSITIVE, Rule};
use crate::moments::{l2_gradient, usable_lr};
use crate::{OptimError, Optimizer, OptimizerConfig, StepInfo, name_and_snapshot};

/// Finite and > 0 even after rounding to `f32` (`L` is stored in `f32`).
const F32_POSITIVE: Rule = (
    |x| x.is_finite() && (x as f32) > 0.0,
    "must be finite and > 0 in f32 (at least 1e-45)",
);

/// Configuration of [`Cocob`] (`kind = "cocob"`). Defaults are those of `parameterfree` 0.0.1
/// and of the paper.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CocobConfig {
    /// Warm-up strength: the bet's denominator is at least `alpha · L²`, which keeps the first
    /// (roughly `alpha`) rounds' bets small. Must be > 0. Default 100 (the paper setup).
    pub alpha: f64,
    /// Initial value of each coordinate's gradient range `L` (its initial "money"). Must be
    /// > 0. Default 1e-8.
    pub eps: f64,
    /// Coupled L2 weight decay: `weight_decay · x` is added to the gradient. Must be ≥ 0.
    /// Default 0.
    pub weight_decay: f64,
}

impl Default for CocobConfig {
    fn default() -> Self {
        Self {
            alpha: 100.0,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

impl OptimizerConfig for CocobConfig {
    const KIND: &'static str = "cocob";
    type Optimizer = Cocob;

    /// The bets set each coordinate's step; `lr` only multiplies it.
    fn sets_own_step_size(&self) -> bool {
        true
    }

    /// Checks every field's range.
    fn validate(&self) -> Result<(), OptimError> {
        let c = Check(Self::KIND);
        c.field("alpha", self.alpha, POSITIVE)?;
        c.field("eps", self.eps, F32_POSITIVE)?;
        c.field("weight_decay", self.weight_decay, NON_NEGATIVE)?;
        Ok(())
    }

    /// Validates and builds the optimizer for `n_params` parameters.
    fn build(&self, n_params: usize) -> Result<Cocob, OptimError> {
        self.validate()?;
        Ok(Cocob {
            config: self.clone(),
            started: false,
            x0: vec![0.0; n_params],
            neg_grad_sum: vec![0.0; n_params],
            abs_grad_sum: vec![0.0; n_params],
            range: vec![self.eps as f32; n_params],
            reward: vec![0.0; n_params],
            grad: vec![0.0; n_params],
        })
    }
}

/// COCOB-Backprop (Orabona & Tommasi 2017, *Training Deep Networks without Learning Rates
/// Through Coin Betting*, NeurIPS; arXiv:1705.07795), matching `parameterfree`
/// 0.0.1 `parameterfree.COCOB` (by the paper's first author; the same update as the authors'
/// TensorFlow code, github.com/bremen79/cocob).
///
/// Per coordinate `i`, with `g` the gradient plus `weight_decay · x` and `x_1` the initial
/// point: `L_i ← max(L_i, |g_i|)`, `θ_i ← θ_i − g_i`, `G_i ← G_i + |g_i|`,
/// `Reward_i ← max(Reward_i − g_i (x_i − x_{1,i}), 0)`, and the bet
/// `x̃_i = x_{1,i} + θ_i (L_i + Reward_i) / (L_i · max(G_i + L_i, alpha · L_i))`.
///
/// The learning rate is per coordinate; the **effective learning rate** reported is the scalar
/// `‖x_{t+1} − x_t‖₂ / ‖g_t‖₂` (0 for a zero gradient): the step size a plain SGD step along
/// the same (weight-decayed) gradient would need to move the parameters as far.
///
/// Deviations:
/// * `L` starts at `eps` (1e-8), not 0, as in both of the authors' implementations (this is the
///   reference's behaviour, kept); it keeps the bet defined for coordinates that have only seen
///   zero gradients. `eps = 0` is rejected (the reference accepts it and then divides 0 by 0 on
///   a zero gradient), and so is `alpha = 0`.
/// * Coupled weight decay is the reference's addition; the paper has none.
/// * lrctl's `lr` multiplier (the reference has no learning rate): the parameters move
///   `x_{t+1} = x_t + lr · (x̃_{t+1} − x_t)`, so `lr = 1` is the reference exactly, `lr = 0`
///   freezes the parameters (the betting statistics still advance, with the wealth measured at
///   the parameters actually used) and a schedule scales every move. A negative or non-finite
///   `lr` is treated as 0.
/// * The bet's division is done in `f64` (no underflow of `L · max(…)` for tiny `eps`); state
///   and the other per-coordinate arithmetic are `f32` as in the reference.
#[derive(Debug, Clone)]
pub struct Cocob {
    config: CocobConfig,
    started: bool,
    x0: Vec<f32>,
    neg_grad_sum: Vec<f32>,
    abs_grad_sum: Vec<f32>,
    range: Vec<f32>,
    reward: Vec<f32>,
    /// The gradient plus `weight_decay · x`.
    grad: Vec<f32>,
}

impl Optimizer for Cocob {
    name_and_snapshot!(CocobConfig);

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        assert_eq!(
            params.len(),
            self.x0.len(),
            "parameter vector length changed"
        );
        if !self.started {
            self.x0.copy_from_slice(params);
            self.started = true;
        }
        let lr = usable_lr(lr);
        let alpha = self.config.alpha;
        l2_gradient(&mut self.grad, grads, params, self.config.weight_decay);
        let mut grad_sq = 0.0f64;
        let mut move_sq = 0.0f64;
        let state = self
            .range
            .iter_mut()
            .zip(&mut self.neg_grad_sum)
            .zip(&mut self.abs_grad_sum)
            .zip(&mut self.reward)
            .zip(&self.x0);
        for ((x, &g), ((((range, theta), abs_sum), reward), &x0)) in
            params.iter_mut().zip(&self.grad).zip(state)
        {
            let old = *x;
            *range = range.max(g.abs());
            *theta -= g;
            *abs_sum += g.abs();
            *reward = (*reward - g * (old - x0)).max(0.0);
            let l = f64::from(*range);
            let den = l * (f64::from(*abs_sum) + l).max(alpha * l);
            let bet = (f64::from(*reward) + l) * f64::from(*theta) / den + f64::from(x0);
            *x = if lr == 1.0 {
                bet
            } else {
                f64::from(old) + lr * (bet - f64::from(old))
            } as f32;
            grad_sq += f64::from(g) * f64::from(g);
            move_sq += (f64::from(*x) - f64::from(old)).powi(2);
        }
        let effective_lr = if grad_sq > 0.0 {
            (move_sq / grad_sq).sqrt()
        } else {
            0.0
        };
        StepInfo { effective_lr }
    }
}
