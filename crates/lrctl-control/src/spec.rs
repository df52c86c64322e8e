//! Controller configuration as data: the `[controller]` table of a method file.

use serde::{Deserialize, Serialize};

use crate::check::Ctx;
use crate::online::{HypergradientConfig, PlateauConfig, PolicyConfig, SpsConfig};
use crate::schedules::{
    ConstantConfig, CosineConfig, CosineWarmRestartsConfig, ExponentialConfig, InverseSqrtConfig,
    LinearWarmupConfig, MultiStepConfig, OneCycleConfig, PolynomialConfig, ProductConfig, Schedule,
    ScheduleController, SequentialConfig, StepConfig, WarmupStableDecayConfig,
};
use crate::{ControlError, Controller};

/// Every controller lrctl knows, tagged by `kind` (kebab-case). Field names are snake_case, as
/// in the `[optimizer]` table; each variant's struct rejects unknown fields and documents its
/// defaults.
///
/// `lr` is the base (or peak, or initial) learning rate of every variant; for
/// hyperparameter-free optimizers it is their multiplier, usually 1. Fixed schedules nested in
/// a `sequential` or `product` may omit it and inherit the enclosing one.
///
/// ```toml
/// [controller]
/// kind = "constant"
/// lr = 0.001
/// ```
///
/// ```toml
/// [controller]
/// kind = "cosine-warm-restarts"
/// lr = 0.005
/// t0 = 10
/// t_mult = 2
/// eta_min = 0.0
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ControllerSpec {
    /// A constant rate.
    Constant(ConstantConfig),
    /// Multiply by `gamma` every `step_size` steps (PyTorch `StepLR`).
    Step(StepConfig),
    /// Multiply by `gamma` at milestones (PyTorch `MultiStepLR`).
    MultiStep(MultiStepConfig),
    /// Multiply by `gamma` every step (PyTorch `ExponentialLR`).
    Exponential(ExponentialConfig),
    /// Polynomial decay (PyTorch `PolynomialLR`).
    Polynomial(PolynomialConfig),
    /// Linear warm-up, then ∝ 1/√step (Vaswani et al. 2017).
    InverseSqrt(InverseSqrtConfig),
    /// Linear ramp between two factors of `lr` (PyTorch `LinearLR`).
    LinearWarmup(LinearWarmupConfig),
    /// Cosine annealing (PyTorch `CosineAnnealingLR`).
    Cosine(CosineConfig),
    /// Cosine annealing with warm restarts, SGDR (PyTorch `CosineAnnealingWarmRestarts`).
    CosineWarmRestarts(CosineWarmRestartsConfig),
    /// The one-cycle policy (PyTorch `OneCycleLR`).
    OneCycle(OneCycleConfig),
    /// Warmup-stable-decay (MiniCPM).
    #[serde(alias = "wsd")]
    WarmupStableDecay(WarmupStableDecayConfig),
    /// Phases one after another (PyTorch `SequentialLR`).
    Sequential(SequentialConfig),
    /// Schedules multiplied together (e.g. warm-up × cosine).
    #[serde(alias = "multiplicative")]
    Product(ProductConfig),
    /// Reduce the rate when a monitored quantity stops improving.
    ReduceOnPlateau(PlateauConfig),
    /// Hypergradient descent (Baydin et al. 2018).
    Hypergradient(HypergradientConfig),
    /// Stochastic Polyak step size, SPS_max (Loizou et al. 2021).
    Sps(SpsConfig),
    /// A Python policy choosing the rate from the observation vector (run in a policy host).
    Policy(PolicyConfig),
}

impl ControllerSpec {
    /// Validates the configuration and builds a fresh controller.
    pub fn build(&self) -> Result<Box<dyn Controller>, ControlError> {
        let ctx = Ctx::root();
        Ok(match self {
            Self::ReduceOnPlateau(c) => Box::new(c.build(&ctx)?),
            Self::Hypergradient(c) => Box::new(c.build(&ctx)?),
            Self::Sps(c) => Box::new(c.build(&ctx)?),
            Self::Policy(c) => Box::new(c.build(&ctx)?),
            _ => Box::new(ScheduleController::new(self.nested_schedule(&ctx, None)?)),
        })
    }

    /// Checks every field's range without keeping the result.
    pub fn validate(&self) -> Result<(), ControlError> {
        self.build().map(|_| ())
    }

    /// The fixed schedule, validated, for plotting or evaluating out of order; `None` for an
    /// online controller, whose rates depend on the run.
    pub fn schedule(&self) -> Result<Option<Box<dyn Schedule>>, ControlError> {
        if self.is_schedule() {
            self.nested_schedule(&Ctx::root(), None).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Whether this is a fixed schedule (a pure function of the step counter) rather than an
    /// online controller.
    pub fn is_schedule(&self) -> bool {
        !matches!(
            self,
            Self::ReduceOnPlateau(_) | Self::Hypergradient(_) | Self::Sps(_) | Self::Policy(_)
        )
    }

    /// For a warmup-stable-decay controller, the step at which a run of `budget` steps leaves
    /// its stable phase ([`WarmupStableDecayConfig::branch_step`]): runs of any budget share
    /// the steps before it. `None` for every other kind.
    pub fn branch_step(&self, budget: u64) -> Option<u64> {
        match self {
            Self::WarmupStableDecay(c) => Some(c.branch_step(budget)),
            _ => None,
        }
    }

    /// The configured base learning rate, if the table sets one.
    pub fn lr(&self) -> Option<f64> {
        match self {
            Self::Constant(c) => c.lr,
            Self::Step(c) => c.lr,
            Self::MultiStep(c) => c.lr,
            Self::Exponential(c) => c.lr,
            Self::Polynomial(c) => c.lr,
            Self::InverseSqrt(c) => c.lr,
            Self::LinearWarmup(c) => c.lr,
            Self::Cosine(c) => c.lr,
            Self::CosineWarmRestarts(c) => c.lr,
            Self::OneCycle(c) => c.lr,
            Self::WarmupStableDecay(c) => c.lr,
            Self::Sequential(c) => c.lr,
            Self::Product(c) => c.lr,
            Self::ReduceOnPlateau(c) => Some(c.lr),
            Self::Hypergradient(c) => Some(c.lr),
            Self::Sps(c) => Some(c.lr),
            Self::Policy(c) => c.base.as_ref().and_then(|b| b.lr()),
        }
    }

    /// The `kind` tag as written in a method file, e.g. `"cosine-warm-restarts"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Constant(_) => "constant",
            Self::Step(_) => "step",
            Self::MultiStep(_) => "multi-step",
            Self::Exponential(_) => "exponential",
            Self::Polynomial(_) => "polynomial",
            Self::InverseSqrt(_) => "inverse-sqrt",
            Self::LinearWarmup(_) => "linear-warmup",
            Self::Cosine(_) => "cosine",
            Self::CosineWarmRestarts(_) => "cosine-warm-restarts",
            Self::OneCycle(_) => "one-cycle",
            Self::WarmupStableDecay(_) => "warmup-stable-decay",
            Self::Sequential(_) => "sequential",
            Self::Product(_) => "product",
            Self::ReduceOnPlateau(_) => "reduce-on-plateau",
            Self::Hypergradient(_) => "hypergradient",
            Self::Sps(_) => "sps",
            Self::Policy(_) => "policy",
        }
    }

    /// One line describing the controller and its main hyperparameters, for `lrctl methods`.
    pub fn describe(&self) -> String {
        match self {
            Self::Constant(c) => c.describe(),
            Self::Step(c) => c.describe(),
            Self::MultiStep(c) => c.describe(),
            Self::Exponential(c) => c.describe(),
            Self::Polynomial(c) => c.describe(),
            Self::InverseSqrt(c) => c.describe(),
            Self::LinearWarmup(c) => c.describe(),
            Self::Cosine(c) => c.describe(),
            Self::CosineWarmRestarts(c) => c.describe(),
            Self::OneCycle(c) => c.describe(),
            Self::WarmupStableDecay(c) => c.describe(),
            Self::Sequential(c) => c.describe(),
            Self::Product(c) => c.describe(),
            Self::ReduceOnPlateau(c) => c.describe(),
            Self::Hypergradient(c) => c.describe(),
            Self::Sps(c) => c.describe(),
            Self::Policy(c) => c.describe(),
        }
    }

    /// Reads a `[controller]` table from any serde deserializer (a `toml::Value`, a
    /// `serde_json::Value`, …) and validates it. An unknown `kind` or field, a missing field or
    /// a wrong type gives [`ControlError::Parse`] with the deserializer's message (which names
    /// it); a value out of range gives the error of [`ControllerSpec::validate`].
    pub fn from_deserializer<'de, D>(deserializer: D) -> Result<Self, ControlError>
    where
        D: serde::Deserializer<'de>,
        D::Error: std::fmt::Display,
    {
        let spec =
            Self::deserialize(deserializer).map_err(|e| ControlError::Parse(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// The schedule of a fixed-schedule variant at `ctx`, with `inherited` as the base rate
    /// when the table has no `lr`. Online controllers are rejected: they cannot be phases or
    /// factors of a composition.
    pub(crate) fn nested_schedule(
        &self,
        ctx: &Ctx,
        inherited: Option<f64>,
    ) -> Result<Box<dyn Schedule>, ControlError> {
        match self {
            Self::Constant(c) => c.build(ctx, inherited),
            Self::Step(c) => c.build(ctx, inherited),
            Self::MultiStep(c) => c.build(ctx, inherited),
            Self::Exponential(c) => c.build(ctx, inherited),
            Self::Polynomial(c) => c.build(ctx, inherited),
            Self::InverseSqrt(c) => c.build(ctx, inherited),
            Self::LinearWarmup(c) => c.build(ctx, inherited),
            Self::Cosine(c) => c.build(ctx, inherited),
            Self::CosineWarmRestarts(c) => c.build(ctx, inherited),
            Self::OneCycle(c) => c.build(ctx, inherited),
            Self::WarmupStableDecay(c) => c.build(ctx, inherited),
            Self::Sequential(c) => c.build(ctx, inherited),
            Self::Product(c) => c.build(ctx, inherited),
            Self::ReduceOnPlateau(_) | Self::Hypergradient(_) | Self::Sps(_) | Self::Policy(_) => {
                Err(ctx.invalid(
                    "kind",
                    format!(
                        "`{}` is an online controller; only fixed schedules can be phases or \
                     factors of a composition",
                        self.kind()
                    ),
                ))
            }
        }
    }
}
