//! The Schedule-Free wrapper: Schedule-Free averaging around any of lrctl's optimizers.

use serde::{Deserialize, Serialize};

use crate::averaging::{AveragingWeights, EvalSwitch};
use crate::check::step_lengths;
use crate::check::{Check, NON_NEGATIVE, UNIT_INTERVAL};
use crate::moments::{lerp, usable_lr};
use crate::{OptimError, Optimizer, OptimizerConfig, OptimizerSpec, StepInfo};

fn default_momentum() -> f64 {
    0.9
}

fn default_weight_lr_power() -> f64 {
    2.0
}

/// Configuration of [`ScheduleFreeWrapper`] (`kind = "schedulefree-wrapper"`). Defaults are
/// those of `schedulefree` 1.4.1 `ScheduleFreeWrapperReference`; `base` has no default.
///
/// ```toml
/// [optimizer]
/// kind = "schedulefree-wrapper"
/// momentum = 0.9
/// weight_decay_at_y = 0.0
///
/// [optimizer.base]
/// kind = "adamw"
/// betas = [0.9, 0.999]
/// weight_decay = 0.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFreeWrapperConfig {
    /// The optimizer that steps the base sequence `z`: any of lrctl's, with its own fields. It
    /// receives the controller's `lr` unchanged. Its own weight decay acts at `z`.
    pub base: Box<OptimizerSpec>,
    /// Interpolation `β` in `[0, 1)`: the gradient is taken at `y = (1 − β) z + β x`.
    /// Default 0.9.
    #[serde(default = "default_momentum")]
    pub momentum: f64,
    /// Weight decay computed at `y`, applied to `z` before the base step:
    /// `z ← z − lr · weight_decay_at_y · y`. Must be ≥ 0. Default 0.
    #[serde(default)]
    pub weight_decay_at_y: f64,
    /// Polynomial averaging power: step `k`'s weight carries the factor `(k + 1)^r`. Must be
    /// ≥ 0. Default 0.
    #[serde(default)]
    pub r: f64,
    /// Step `k`'s weight carries the factor `lr_max^weight_lr_power`. Must be ≥ 0. Default 2.
    #[serde(default = "default_weight_lr_power")]
    pub weight_lr_power: f64,
}

impl ScheduleFreeWrapperConfig {
    /// A wrapper with the reference defaults around `base`.
    pub fn new(base: OptimizerSpec) -> Self {
        Self {
            base: Box::new(base),
            momentum: default_momentum(),
            weight_decay_at_y: 0.0,
            r: 0.0,
            weight_lr_power: default_weight_lr_power(),
        }
    }
}

impl OptimizerConfig for ScheduleFreeWrapperConfig {
    const KIND: &'static str = "schedulefree-wrapper";
    type Optimizer = ScheduleFreeWrapper;

    /// As its base: the averaging does not change who sets the step size.
    fn sets_own_step_size(&self) -> bool {
        self.base.sets_own_step_size()
    }

    fn validate(&self) -> Result<(), OptimError> {
        self.base.validate()?;
        let c = Check(Self::KIND);
        c.field("momentum", self.momentum, UNIT_INTERVAL)?;
        c.field("weight_decay_at_y", self.weight_decay_at_y, NON_NEGATIVE)?;
        c.averaging(self.r, self.weight_lr_power)
    }

    fn build(&self, n_params: usize) -> Result<ScheduleFreeWrapper, OptimError> {
        self.validate()?;
        Ok(ScheduleFreeWrapper {
            base: self.base.build(n_params)?,
            momentum: self.momentum,
            weight_decay_at_y: self.weight_decay_at_y,
            k: 0,
            weights: AveragingWeights::new(self.r, self.weight_lr_power, 0.0),
            z: Vec::new(),
            x: Vec::new(),
            eval: EvalSwitch::default(),
        })
    }
}

/// The Schedule-Free wrapper (Defazio et al. 2024, *The Road Less Scheduled*, NeurIPS;
/// arXiv:2405.15682, Algorithm 1 with any base step), matching `schedulefree` 1.4.1
/// `ScheduleFreeWrapperReference` with one parameter group: the base optimizer steps `z`, the
/// wrapper keeps the average `x` and trains at their interpolation `y`.
///
/// Step `k = 0, 1, …`, parameters holding `y`, `g = ∇f(y)`:
///
/// ```text
/// z ← z − lr · weight_decay_at_y · y
/// z ← base step from z with gradient g and the controller's lr
/// γ = lr · d   (d: the base's distance estimate after its step, Prodigy / D-Adaptation; else 1)
/// γ_max = max(γ_max, γ);   w_k = (k + 1)^r · γ_max^weight_lr_power;   c_k = w_k / Σ_{i ≤ k} w_i
/// x ← lerp(x, z, c_k),   y ← lerp(x, z, 1 − momentum)
/// ```
///
/// Like Mechanic's `base`, the base is any lrctl optimizer; it keeps its own state (moments,
/// distance estimates, its `x_0` = the first `z`) and never sees `y`. The effective learning
/// rate is the base's (the step size of `z`). [`Optimizer::prepare_eval`] puts `x` into the
/// parameters and [`Optimizer::prepare_train`] `y` back, exactly (the base is not asked to
/// prepare anything: the wrapper evaluates at its own average). The tensor shapes and the
/// loss are passed on to the base (for a Polyak-type base, the loss at `y` with the step
/// taken from `z`, as the reference would give it).
///
/// Deviations from the reference: it raises on `step` in evaluation mode (lrctl switches
/// back first) and divides by zero while every weight is 0 (an `lr` of 0 so far; lrctl uses
/// `c_k = 0`). A negative or non-finite `lr` counts as 0 (for the weights and the base).
pub struct ScheduleFreeWrapper {
    base: Box<dyn Optimizer>,
    momentum: f64,
    weight_decay_at_y: f64,
    k: u64,
    weights: AveragingWeights,
    z: Vec<f32>,
    x: Vec<f32>,
    /// The training point `y` while the parameters hold `x`.
    eval: EvalSwitch,
}

impl std::fmt::Debug for ScheduleFreeWrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScheduleFreeWrapper")
            .field("base", &self.base.name())
            .field("momentum", &self.momentum)
            .field("k", &self.k)
            .finish_non_exhaustive()
    }
}

impl Optimizer for ScheduleFreeWrapper {
    fn name(&self) -> &'static str {
        ScheduleFreeWrapperConfig::KIND
    }

    fn snapshot(&self) -> Option<Box<dyn Optimizer>> {
        Some(Box::new(ScheduleFreeWrapper {
            base: self.base.snapshot()?,
            momentum: self.momentum,
            weight_decay_at_y: self.weight_decay_at_y,
            k: self.k,
            weights: self.weights.clone(),
            z: self.z.clone(),
            x: self.x.clone(),
            eval: self.eval.clone(),
        }))
    }

    fn set_param_shapes(&mut self, shapes: &[Vec<usize>]) {
        self.base.set_param_shapes(shapes);
    }

    fn observe_loss(&mut self, loss: f64) {
        self.base.observe_loss(loss);
    }

    fn prepare_eval(&mut self, params: &mut [f32]) {
        if self.x.is_empty() {
            return;
        }
        let x = &self.x;
        self.eval.enter_eval(params, |y| y.copy_from_slice(x));
    }

    fn prepare_train(&mut self, params: &mut [f32]) {
        self.eval.enter_train(params);
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo {
        self.prepare_train(params);
        if self.z.is_empty() {
            self.z = params.to_vec();
            self.x = params.to_vec();
        }
        step_lengths(params, grads, self.z.len());
        let lr = usable_lr(lr);
        if self.weight_decay_at_y != 0.0 {
            let c = (lr * self.weight_decay_at_y) as f32;
            for (z, &y) in self.z.iter_mut().zip(params.iter()) {
                *z -= c * y;
            }
        }
        let base = self.base.step(&mut self.z, grads, lr);
        let lr_d = lr * self.base.d_estimate().unwrap_or(1.0);
        let ckp1 = self.weights.next(self.k + 1, lr_d);
        let (c, to_z) = (ckp1 as f32, (1.0 - self.momentum) as f32);
        for ((y, x), &z) in params.iter_mut().zip(self.x.iter_mut()).zip(&self.z) {
            *x = lerp(*x, z, c);
            *y = lerp(*x, z, to_z);
        }
        self.k += 1;
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sgd::SgdConfig;

    #[test]
    fn around_sgd_it_is_schedule_free_sgd() {
        // Plain SGD as the base, no decay, no warm-up: the same recursion as
        // `schedulefree-sgd` (lr_max starts at 0 here, at −1 there; both give the same weights).
        let mut wrapped = ScheduleFreeWrapperConfig::new(OptimizerSpec::Sgd(SgdConfig::default()))
            .build(1)
            .unwrap();
        let mut direct = crate::schedulefree::ScheduleFreeSgdConfig::default()
            .build(1)
            .unwrap();
        let (mut a, mut b) = (vec![2.0f32], vec![2.0f32]);
        for t in 0..20 {
            let lr = if t < 5 { 0.05 * (t + 1) as f64 } else { 0.25 };
            let (ga, gb) = ([a[0] - 0.5], [b[0] - 0.5]);
            wrapped.step(&mut a, &ga, lr);
            direct.step(&mut b, &gb, lr);
            assert!((a[0] - b[0]).abs() < 1e-5, "step {t}: {a:?} vs {b:?}");
        }
        wrapped.prepare_eval(&mut a);
        direct.prepare_eval(&mut b);
        assert!((a[0] - b[0]).abs() < 1e-5);
    }

    #[test]
    fn follows_the_base_and_its_step_size_policy() {
        let prodigy = ScheduleFreeWrapperConfig::new(
            serde_json::from_value(serde_json::json!({"kind": "prodigy"})).unwrap(),
        );
        assert!(prodigy.sets_own_step_size());
        let sgd = ScheduleFreeWrapperConfig::new(OptimizerSpec::Sgd(SgdConfig::default()));
        assert!(!sgd.sets_own_step_size());
        let bad = ScheduleFreeWrapperConfig::new(OptimizerSpec::Sgd(SgdConfig {
            momentum: 2.0,
            ..SgdConfig::default()
        }));
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("`momentum`")
        );
        let bad = ScheduleFreeWrapperConfig {
            momentum: 1.0,
            ..sgd
        };
        let msg = bad.validate().unwrap_err().to_string();
        assert!(
            msg.contains("schedulefree-wrapper") && msg.contains("`momentum`"),
            "{msg}"
        );
    }
}
