//! Optimizers: the update rule of a method.
//!
//! Every optimizer sees the **whole model** at once: the engine flattens all parameters and all
//! gradients into two `f32` slices of equal length before calling [`Optimizer::step`]. This is
//! what lets D-Adaptation, Prodigy and DoWG form their sums over all parameters before any
//! update, something burn's per-tensor optimizer trait cannot do. Rules that need the
//! model's tensors (layer-wise DoG, a factored second moment) are told their shapes once
//! ([`Optimizer::set_param_shapes`]); rules that read the mini-batch loss (MoMo's Polyak-type
//! step) are told it before every step ([`Optimizer::observe_loss`]).
//!
//! The learning rate passed to [`Optimizer::step`] is the controller's output. For the base
//! optimizers (SGD, Adam, AdamW) it is the step size; for the hyperparameter-free ones it is their
//! `lr` multiplier (1 in the paper's setups), so any schedule composes with any optimizer.
//!
//! # Adding an optimizer
//!
//! Its module (the update rule, its configuration struct implementing [`OptimizerConfig`])
//! and one line in the registration list below, which generates [`OptimizerSpec`] and its
//! dispatch. Nothing else names optimizers: whether a method's `lr` is worth tuning comes from
//! [`OptimizerConfig::sets_own_step_size`].

pub mod adam;
pub mod adamg;
mod averaging;
mod check;
pub mod cocob;
pub mod dadapt;
pub mod dog;
pub mod kate;
pub mod ldog;
pub mod mechanic;
pub mod moments;
pub mod momo;
pub mod multiplied;
pub mod prodigy;
pub mod prodigy_sf;
pub mod reduce;
pub mod schedulefree;
pub mod schedulefree_radam;
pub mod schedulefree_wrapper;
pub mod sgd;
pub mod spec;
mod tensors;
#[cfg(test)]
mod test_support;

pub use spec::OptimizerConfig;

spec::optimizer_spec! {
    /// Every optimizer lrctl knows, tagged by `kind`: one line per optimizer, `Variant(its
    /// configuration) = "its kind tag"` (the tag must be the configuration's
    /// [`OptimizerConfig::KIND`]). Each configuration struct lives next to its update rule and
    /// owns its defaults and validation.
    pub enum OptimizerSpec {
        /// SGD with momentum, Nesterov and weight decay ([`sgd::Sgd`]).
        Sgd(sgd::SgdConfig) = "sgd",
        /// Adam with coupled L2 weight decay ([`adam::Adam`]).
        Adam(adam::AdamConfig) = "adam",
        /// AdamW, decoupled weight decay ([`adam::AdamW`]).
        AdamW(adam::AdamWConfig) = "adamw",
        /// Schedule-Free SGD ([`schedulefree::ScheduleFreeSgd`]).
        ScheduleFreeSgd(schedulefree::ScheduleFreeSgdConfig) = "schedulefree-sgd",
        /// Schedule-Free AdamW ([`schedulefree::ScheduleFreeAdamW`]).
        ScheduleFreeAdamW(schedulefree::ScheduleFreeAdamWConfig) = "schedulefree-adamw",
        /// Mechanic around SGD, Adam or AdamW ([`mechanic::Mechanic`]).
        Mechanic(mechanic::MechanicConfig) = "mechanic",
        /// D-Adaptation Adam ([`dadapt::DAdaptAdam`]).
        DadaptAdam(dadapt::DAdaptAdamConfig) = "dadapt-adam",
        /// D-Adaptation SGD ([`dadapt::DAdaptSgd`]).
        DadaptSgd(dadapt::DAdaptSgdConfig) = "dadapt-sgd",
        /// Prodigy ([`prodigy::Prodigy`]).
        Prodigy(prodigy::ProdigyConfig) = "prodigy",
        /// COCOB-Backprop ([`cocob::Cocob`]).
        Cocob(cocob::CocobConfig) = "cocob",
        /// DoG, global version ([`dog::Dog`]).
        Dog(dog::DogConfig) = "dog",
        /// DoWG, global version ([`dog::Dowg`]).
        Dowg(dog::DowgConfig) = "dowg",
        /// Prodigy + Schedule-Free ([`prodigy_sf::ProdigyScheduleFree`]).
        ProdigyScheduleFree(prodigy_sf::ProdigyScheduleFreeConfig) = "prodigy-sf",
        /// Schedule-Free RAdam ([`schedulefree_radam::ScheduleFreeRAdam`]).
        ScheduleFreeRAdam(schedulefree_radam::ScheduleFreeRAdamConfig) = "schedulefree-radam",
        /// Schedule-Free around any base optimizer ([`schedulefree_wrapper::ScheduleFreeWrapper`]).
        ScheduleFreeWrapper(schedulefree_wrapper::ScheduleFreeWrapperConfig) = "schedulefree-wrapper",
        /// AdamG ([`adamg::AdamG`]).
        AdamG(adamg::AdamGConfig) = "adamg",
        /// KATE ([`kate::Kate`]).
        Kate(kate::KateConfig) = "kate",
        /// MoMo ([`momo::Momo`]).
        Momo(momo::MomoConfig) = "momo",
        /// MoMo-Adam ([`momo::MomoAdam`]).
        MomoAdam(momo::MomoAdamConfig) = "momo-adam",
        /// Layer-wise DoG ([`ldog::LDog`]).
        LDog(ldog::LDogConfig) = "ldog",
    }
}

/// What one optimizer step reports back to the engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepInfo {
    /// The learning rate the update actually used, e.g. `d * lr` for Prodigy and D-Adaptation,
    /// `lr` for Adam. Recorded in every curve so it can be plotted.
    pub effective_lr: f64,
}

/// What an optimizer's update pass found out about the parameters it wrote
/// ([`Optimizer::finiteness`]).
///
/// The engine ends a run whose parameters stop being finite. A rule whose single fused pass
/// writes every parameter checks each new value while it is still in a register, which costs
/// next to nothing; otherwise the engine makes its own pass over the parameters (on the MLP
/// benchmark that pass was 1.8 % of the step, most of lrctl's machinery).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Finiteness {
    /// The last step did not check (the caller must).
    #[default]
    Unchecked,
    /// Every parameter the last step left is finite.
    Finite,
    /// At least one parameter the last step left is NaN or infinite.
    NonFinite,
}

impl Finiteness {
    /// `Finite` or `NonFinite` from a check's result.
    pub fn checked(all_finite: bool) -> Self {
        if all_finite {
            Self::Finite
        } else {
            Self::NonFinite
        }
    }
}

/// An update rule over a flat parameter vector.
pub trait Optimizer: Send {
    /// Registry name, e.g. `"adamw"`.
    fn name(&self) -> &'static str;

    /// Updates `params` in place from `grads` (same length, the same order every step).
    /// `lr` comes from the controller (see the crate docs).
    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) -> StepInfo;

    /// Called before an evaluation. Optimizers whose evaluation point differs from the training
    /// point (Schedule-Free evaluates at the averaged `x`) rewrite `params` here.
    fn prepare_eval(&mut self, _params: &mut [f32]) {}

    /// Called after an evaluation, undoing [`Optimizer::prepare_eval`].
    fn prepare_train(&mut self, _params: &mut [f32]) {}

    /// Told once, before the first step, how the flat vector splits into the model's
    /// parameter tensors: their shapes, in the flat order (tensor `i` covers the next
    /// `shapes[i].iter().product()` coordinates; the lengths add up to the vector's). What
    /// per-tensor rules need that the flat vector hides (LDoG's per-layer distances, a factored
    /// second moment's rows and columns). The default ignores it; an optimizer never told sees
    /// the whole vector as one tensor. Wrappers pass it on to their base.
    fn set_param_shapes(&mut self, _shapes: &[Vec<usize>]) {}

    /// Told the mini-batch loss at the current parameters right before each step (the loss
    /// whose gradient the step receives). What a Polyak-type step (MoMo) needs; the default
    /// ignores it. Wrappers pass it on to their base.
    fn observe_loss(&mut self, _loss: f64) {}

    /// The current distance estimate `d` of an optimizer of the D-Adaptation family (Prodigy,
    /// D-Adaptation), as it stands after the last step (the value its next step uses); `None`
    /// for the others, the default. What the Schedule-Free wrapper reads, as the reference
    /// reads `group['d']`.
    fn d_estimate(&self) -> Option<f64> {
        None
    }

    /// Whether the parameters the last [`Optimizer::step`] left are all finite, for a rule
    /// that checked them in its update pass ([`Finiteness`]); it must describe the whole
    /// vector as `step` returned it. [`Finiteness::Unchecked`], the default, leaves the check
    /// to the caller; so must a wrapper that changes the parameters after its base's step.
    fn finiteness(&self) -> Finiteness {
        Finiteness::Unchecked
    }

    /// An independent copy in the current state, which continues exactly as this one would:
    /// what branching a run off a checkpoint needs (e.g. several warmup-stable-decay cooldowns
    /// from one stable phase). `None` when the optimizer cannot be copied, the default; every
    /// optimizer of this crate can.
    fn snapshot(&self) -> Option<Box<dyn Optimizer>> {
        None
    }
}

/// The two [`Optimizer`] methods every optimizer whose whole state is its (`Clone`) struct
/// writes alike, inside its `impl Optimizer`: `name`, its configuration's `kind` tag, and
/// `snapshot`, a clone.
macro_rules! name_and_snapshot {
    ($config:ty) => {
        fn name(&self) -> &'static str {
            <$config as $crate::OptimizerConfig>::KIND
        }

        fn snapshot(&self) -> Option<Box<dyn $crate::Optimizer>> {
            Some(Box::new(self.clone()))
        }
    };
}
pub(crate) use name_and_snapshot;

/// Bad optimizer configuration.
#[derive(Debug, thiserror::Error)]
pub enum OptimError {
    /// A hyperparameter outside its valid range.
    #[error("optimizer `{optimizer}`: field `{field}` = {value} is invalid: {reason}")]
    InvalidHyperparameter {
        /// Optimizer kind.
        optimizer: &'static str,
        /// Field name as written in the method file.
        field: &'static str,
        /// The rejected value.
        value: f64,
        /// What is allowed.
        reason: &'static str,
    },
    /// A field whose value is not numeric or is invalid only in combination with other
    /// fields (e.g. `nesterov = true` without momentum, a Mechanic `base` it cannot wrap).
    #[error("optimizer `{optimizer}`: field `{field}` is invalid: {reason}")]
    InvalidField {
        /// Optimizer kind.
        optimizer: &'static str,
        /// Field name as written in the method file.
        field: &'static str,
        /// What is wrong and what is allowed.
        reason: String,
    },
    /// The `[optimizer]` table does not parse: an unknown `kind` or field, a missing field or a
    /// wrong type. The message is the deserializer's, which names the offending kind or field.
    #[error("invalid optimizer configuration: {0}")]
    Parse(String),
}
