//! Fixed schedules: pure functions of the step counter and the budget.
//!
//! A [`Schedule`] maps a [`Clock`] (step about to be taken, budget, epoch) to a learning rate
//! and keeps no state, so it can be plotted, composed and evaluated out of order. Schedules
//! compose: [`Sequential`] runs phases one after another (each phase sees its own clock,
//! starting at 0, with the phase length as its budget), [`Product`] multiplies factors (e.g.
//! a warm-up times a cosine). [`ScheduleController`] turns any schedule into a
//! [`Controller`].
//!
//! Step counting follows PyTorch's schedulers stepped once per optimizer step: the learning
//! rate of step `t` (0-based) is the scheduler's value after `t` calls of `scheduler.step()`,
//! i.e. its closed form at `last_epoch = t`. Where PyTorch has an epoch-wise usage, `unit =
//! "epoch"` evaluates the schedule at the epoch counter instead (the value after `epoch`
//! per-epoch `scheduler.step()` calls) with the budget in epochs, `⌈total / steps_per_epoch⌉`.

mod anneal;
mod basic;
mod compose;
mod one_cycle;
mod restarts;
mod wsd;

pub use anneal::{
    Anneal, CosineConfig, InverseSqrt, InverseSqrtConfig, LinearWarmupConfig, PolynomialConfig,
};
pub use basic::{
    Constant, ConstantConfig, ExponentialConfig, Geometric, MultiStepConfig, StepConfig,
};
pub use compose::{Product, ProductConfig, Sequential, SequentialConfig};
pub use one_cycle::{OneCycle, OneCycleConfig};
pub use restarts::{CosineWarmRestarts, CosineWarmRestartsConfig};
pub use wsd::{WarmupStableDecay, WarmupStableDecayConfig};

pub(crate) use anneal::warmup_ramp;

/// The fixed schedules of [`crate::ControllerSpec`], in its order: one line per schedule,
/// `Variant(its configuration) = "its kind tag"` (the tag must be the configuration's
/// [`crate::ControllerConfig::KIND`]; aliases go on the line as `#[serde(alias = …)]`). Adding a
/// schedule is its module and one line here. `then!(…)` continues the chain that builds the
/// enum (see `crate::spec`).
macro_rules! fixed_schedules {
    ($then:ident ! ($($next:tt)*) $($done:tt)*) => {
        $then! { $($next)* $($done)*
            schedules {
                /// A constant rate.
                Constant($crate::schedules::ConstantConfig) = "constant",
                /// Multiply by `gamma` every `step_size` steps (PyTorch `StepLR`).
                Step($crate::schedules::StepConfig) = "step",
                /// Multiply by `gamma` at milestones (PyTorch `MultiStepLR`).
                MultiStep($crate::schedules::MultiStepConfig) = "multi-step",
                /// Multiply by `gamma` every step (PyTorch `ExponentialLR`).
                Exponential($crate::schedules::ExponentialConfig) = "exponential",
                /// Polynomial decay (PyTorch `PolynomialLR`).
                Polynomial($crate::schedules::PolynomialConfig) = "polynomial",
                /// Linear warm-up, then ∝ 1/√step (Vaswani et al. 2017).
                InverseSqrt($crate::schedules::InverseSqrtConfig) = "inverse-sqrt",
                /// Linear ramp between two factors of `lr` (PyTorch `LinearLR`).
                LinearWarmup($crate::schedules::LinearWarmupConfig) = "linear-warmup",
                /// Cosine annealing (PyTorch `CosineAnnealingLR`).
                Cosine($crate::schedules::CosineConfig) = "cosine",
                /// Cosine annealing with warm restarts, SGDR (PyTorch
                /// `CosineAnnealingWarmRestarts`).
                CosineWarmRestarts($crate::schedules::CosineWarmRestartsConfig)
                    = "cosine-warm-restarts",
                /// The one-cycle policy (PyTorch `OneCycleLR`).
                OneCycle($crate::schedules::OneCycleConfig) = "one-cycle",
                /// Warmup-stable-decay (MiniCPM).
                #[serde(alias = "wsd")]
                WarmupStableDecay($crate::schedules::WarmupStableDecayConfig)
                    = "warmup-stable-decay",
                /// Phases one after another (PyTorch `SequentialLR`).
                Sequential($crate::schedules::SequentialConfig) = "sequential",
                /// Schedules multiplied together (e.g. warm-up × cosine).
                #[serde(alias = "multiplicative")]
                Product($crate::schedules::ProductConfig) = "product",
            }
        }
    };
}
pub(crate) use fixed_schedules;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Controller, Observation};

/// Where a step sits in the run (or, inside a composition, in its phase).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    /// Zero-based index of the step about to be taken.
    pub step: u64,
    /// Steps in the run (its budget) or in the current phase.
    pub total: u64,
    /// Optimizer steps per epoch (at least 1).
    pub steps_per_epoch: u64,
    /// Zero-based epoch of `step`.
    pub epoch: u64,
}

impl Clock {
    /// Step `step` of a run of `total` steps that is one epoch long (the clock of
    /// [`Observation::at_step`]).
    pub fn new(step: u64, total: u64) -> Self {
        Clock::with_epochs(step, total, total.max(1))
    }

    /// Step `step` of a run of `total` steps with `steps_per_epoch` steps per epoch.
    pub fn with_epochs(step: u64, total: u64, steps_per_epoch: u64) -> Self {
        let steps_per_epoch = steps_per_epoch.max(1);
        Clock {
            step,
            total,
            steps_per_epoch,
            epoch: step / steps_per_epoch,
        }
    }

    /// The clock of an engine observation (its step, budget, steps per epoch and epoch).
    pub fn of(obs: &Observation) -> Self {
        Clock {
            step: obs.step,
            total: obs.total_steps,
            steps_per_epoch: obs.steps_per_epoch.max(1),
            epoch: obs.epoch,
        }
    }

    /// `(position, length)` in `unit`: `(step, total)` or `(epoch, ⌈total / steps_per_epoch⌉)`.
    pub fn position(&self, unit: Unit) -> (u64, u64) {
        match unit {
            Unit::Step => (self.step, self.total),
            Unit::Epoch => (self.epoch, self.total.div_ceil(self.steps_per_epoch.max(1))),
        }
    }

    /// The clock of a phase that starts at step `start` (`<= self.step`) and ends before step
    /// `end` (the end of the run when `None`): step and epoch count from the phase start and
    /// the phase length is its budget.
    pub fn phase(&self, start: u64, end: Option<u64>) -> Clock {
        let step = self.step.saturating_sub(start);
        Clock {
            step,
            total: end.unwrap_or(self.total).saturating_sub(start),
            steps_per_epoch: self.steps_per_epoch,
            epoch: step / self.steps_per_epoch.max(1),
        }
    }
}

/// The counter a schedule is evaluated at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// Optimizer steps (the schedule changes every step).
    #[default]
    Step,
    /// Epochs: the value is held for a whole epoch, like a PyTorch scheduler stepped once per
    /// epoch; lengths (`step_size`, `total`, `t0`, `warmup`, …) count epochs.
    Epoch,
}

impl Unit {
    /// Plural noun for descriptions.
    pub(crate) fn plural(self) -> &'static str {
        match self {
            Unit::Step => "steps",
            Unit::Epoch => "epochs",
        }
    }
}

/// The length a schedule anneals over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Horizon {
    /// The run's budget (or the phase length inside a [`Sequential`]), in the schedule's unit.
    Budget,
    /// A fixed number of steps (or epochs).
    Fixed(u64),
}

impl Horizon {
    /// `Fixed(n)` when given, else `Budget`.
    pub fn from_option(n: Option<u64>) -> Self {
        n.map_or(Horizon::Budget, Horizon::Fixed)
    }

    /// The length, given the budget.
    pub fn resolve(self, budget: u64) -> u64 {
        match self {
            Horizon::Budget => budget,
            Horizon::Fixed(n) => n,
        }
    }

    /// "over the budget" / "over 200 steps", for descriptions.
    pub(crate) fn describe(n: Option<u64>, unit: Unit) -> String {
        match n {
            None => "over the budget".to_string(),
            Some(n) => format!("over {n} {}", unit.plural()),
        }
    }
}

/// A fixed schedule: the learning rate as a pure function of the clock.
pub trait Schedule: Send + Sync + std::fmt::Debug {
    /// The learning rate of step `clock.step`.
    fn lr(&self, clock: Clock) -> f64;
}

/// A [`Schedule`] used as a [`Controller`]: ignores everything in the observation but the
/// step counters.
///
/// The schedule is shared, not owned: a schedule keeps no state, so a
/// [`snapshot`](Controller::snapshot) of the controller is another handle on it.
#[derive(Debug, Clone)]
pub struct ScheduleController {
    schedule: Arc<dyn Schedule>,
}

impl ScheduleController {
    /// Wraps `schedule`.
    pub fn new(schedule: Box<dyn Schedule>) -> Self {
        ScheduleController {
            schedule: Arc::from(schedule),
        }
    }

    /// The wrapped schedule.
    pub fn schedule(&self) -> &dyn Schedule {
        self.schedule.as_ref()
    }
}

impl Controller for ScheduleController {
    fn needs_history(&self) -> bool {
        false
    }

    fn lr(&mut self, obs: &Observation) -> f64 {
        self.schedule.lr(Clock::of(obs))
    }

    fn snapshot(&self) -> Option<Box<dyn Controller>> {
        Some(Box::new(self.clone()))
    }
}

/// "lr 0.1" or "the enclosing lr", for descriptions.
pub(crate) fn lr_text(lr: Option<f64>) -> String {
    match lr {
        Some(lr) => format!("lr {lr}"),
        None => "the enclosing lr".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_positions_in_steps_and_epochs() {
        let c = Clock::with_epochs(25, 100, 12);
        assert_eq!(c.epoch, 2);
        assert_eq!(c.position(Unit::Step), (25, 100));
        assert_eq!(c.position(Unit::Epoch), (2, 9)); // ⌈100 / 12⌉
        let c = Clock::new(7, 10);
        assert_eq!((c.steps_per_epoch, c.epoch), (10, 0));
        let c = Clock::new(0, 0);
        assert_eq!(c.steps_per_epoch, 1);
    }

    #[test]
    fn phase_clock_counts_from_the_phase_start() {
        let c = Clock::with_epochs(30, 100, 4);
        let p = c.phase(20, Some(50));
        assert_eq!((p.step, p.total, p.epoch), (10, 30, 2));
        let p = c.phase(20, None);
        assert_eq!((p.step, p.total), (10, 80));
        // A milestone beyond a short budget leaves an empty last phase, never an underflow.
        let p = Clock::new(5, 10).phase(20, None);
        assert_eq!((p.step, p.total), (0, 0));
    }

    #[test]
    fn the_controller_reads_the_observation_clock() {
        #[derive(Debug)]
        struct Echo;
        impl Schedule for Echo {
            fn lr(&self, c: Clock) -> f64 {
                (c.step * 1000 + c.total * 10 + c.epoch) as f64
            }
        }
        let mut ctl = ScheduleController::new(Box::new(Echo));
        let mut obs = Observation::at_step(3, 50);
        obs.epoch = 7;
        assert_eq!(ctl.lr(&obs), 3507.0);
    }
}
