//! Constant and geometric (step, multi-step, exponential) schedules.

use serde::{Deserialize, Serialize};

use super::{Clock, Schedule, Unit, lr_text};
use crate::ControlError;
use crate::check::Ctx;
use crate::spec::{ControllerConfig, ScheduleConfig};

/// A constant learning rate.
#[derive(Debug, Clone, PartialEq)]
pub struct Constant {
    lr: f64,
}

impl Schedule for Constant {
    fn lr(&self, _clock: Clock) -> f64 {
        self.lr
    }
}

/// Geometric decay `lr · γ^k(t)`, where `k(t)` counts the decays so far: every `step_size`
/// steps (PyTorch `StepLR`), at milestones (`MultiStepLR`) or every step (`ExponentialLR`).
/// Equal to those schedulers' closed forms, `base_lr · γ^k`.
#[derive(Debug, Clone, PartialEq)]
pub struct Geometric {
    lr: f64,
    gamma: f64,
    unit: Unit,
    decays: Decays,
}

#[derive(Debug, Clone, PartialEq)]
enum Decays {
    Every(u64),
    AtMilestones(Vec<u64>),
    EveryStep,
}

impl Schedule for Geometric {
    fn lr(&self, clock: Clock) -> f64 {
        let (t, _) = clock.position(self.unit);
        let k = match &self.decays {
            Decays::Every(n) => t / n,
            // Repeated milestones decay repeatedly, as in PyTorch (a Counter of milestones).
            Decays::AtMilestones(m) => m.partition_point(|&x| x <= t) as u64,
            Decays::EveryStep => t,
        };
        self.lr * self.gamma.powf(k as f64)
    }
}

/// `kind = "constant"`: the same learning rate every step.
///
/// ```toml
/// [controller]
/// kind = "constant"
/// lr = 0.001
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConstantConfig {
    /// The learning rate (required at the top level; inside a composition it defaults to the
    /// enclosing `lr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
}

impl ControllerConfig for ConstantConfig {
    const KIND: &'static str = "constant";

    fn lr(&self) -> Option<f64> {
        self.lr
    }

    fn describe(&self) -> String {
        format!("constant {}", lr_text(self.lr))
    }
}

impl ScheduleConfig for ConstantConfig {
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError> {
        Ok(Box::new(Constant {
            lr: ctx.lr(self.lr, inherited)?,
        }))
    }
}

fn default_gamma() -> f64 {
    0.1
}

/// `kind = "step"`: multiply by `gamma` every `step_size` steps (PyTorch `StepLR`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// Initial learning rate (inherited inside a composition when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Steps (or epochs) between decays, at least 1.
    pub step_size: u64,
    /// Decay factor, > 0 (default 0.1, as PyTorch).
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// Counter the schedule runs on (default `step`).
    #[serde(default)]
    pub unit: Unit,
}

impl ControllerConfig for StepConfig {
    const KIND: &'static str = "step";

    fn lr(&self) -> Option<f64> {
        self.lr
    }

    fn describe(&self) -> String {
        format!(
            "step decay: {} × {} every {} {}",
            lr_text(self.lr),
            self.gamma,
            self.step_size,
            self.unit.plural()
        )
    }
}

impl ScheduleConfig for StepConfig {
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError> {
        Ok(Box::new(Geometric {
            lr: ctx.lr(self.lr, inherited)?,
            gamma: ctx.positive("gamma", self.gamma)?,
            unit: self.unit,
            decays: Decays::Every(ctx.at_least_one("step_size", self.step_size)?),
        }))
    }
}

/// `kind = "multi-step"`: multiply by `gamma` at each milestone (PyTorch `MultiStepLR`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultiStepConfig {
    /// Initial learning rate (inherited inside a composition when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Steps (or epochs) at which the rate is multiplied by `gamma`; not empty. A milestone
    /// listed twice decays twice, as in PyTorch.
    pub milestones: Vec<u64>,
    /// Decay factor, > 0 (default 0.1, as PyTorch).
    #[serde(default = "default_gamma")]
    pub gamma: f64,
    /// Counter the schedule runs on (default `step`).
    #[serde(default)]
    pub unit: Unit,
}

impl ControllerConfig for MultiStepConfig {
    const KIND: &'static str = "multi-step";

    fn lr(&self) -> Option<f64> {
        self.lr
    }

    fn describe(&self) -> String {
        format!(
            "multi-step decay: {} × {} at {} {:?}",
            lr_text(self.lr),
            self.gamma,
            self.unit.plural(),
            self.milestones
        )
    }
}

impl ScheduleConfig for MultiStepConfig {
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError> {
        if self.milestones.is_empty() {
            return Err(ctx.invalid("milestones", "must list at least one step"));
        }
        let mut milestones = self.milestones.clone();
        milestones.sort_unstable();
        Ok(Box::new(Geometric {
            lr: ctx.lr(self.lr, inherited)?,
            gamma: ctx.positive("gamma", self.gamma)?,
            unit: self.unit,
            decays: Decays::AtMilestones(milestones),
        }))
    }
}

/// `kind = "exponential"`: multiply by `gamma` every step (PyTorch `ExponentialLR`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExponentialConfig {
    /// Initial learning rate (inherited inside a composition when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Decay factor per step (or epoch), > 0.
    pub gamma: f64,
    /// Counter the schedule runs on (default `step`).
    #[serde(default)]
    pub unit: Unit,
}

impl ControllerConfig for ExponentialConfig {
    const KIND: &'static str = "exponential";

    fn lr(&self) -> Option<f64> {
        self.lr
    }

    fn describe(&self) -> String {
        let unit = match self.unit {
            Unit::Step => "step",
            Unit::Epoch => "epoch",
        };
        format!(
            "exponential decay: {} × {} per {unit}",
            lr_text(self.lr),
            self.gamma
        )
    }
}

impl ScheduleConfig for ExponentialConfig {
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError> {
        Ok(Box::new(Geometric {
            lr: ctx.lr(self.lr, inherited)?,
            gamma: ctx.positive("gamma", self.gamma)?,
            unit: self.unit,
            decays: Decays::EveryStep,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &dyn Schedule, step: u64) -> f64 {
        s.lr(Clock::new(step, 1000))
    }

    #[test]
    fn constant_ignores_the_clock() {
        let s = ConstantConfig { lr: Some(0.25) }
            .build(&Ctx::root(), None)
            .unwrap();
        assert_eq!(at(s.as_ref(), 0), 0.25);
        assert_eq!(s.lr(Clock::new(5_000, 10)), 0.25); // beyond the budget
    }

    #[test]
    fn step_decay_by_hand() {
        let c = StepConfig {
            lr: Some(1.0),
            step_size: 3,
            gamma: 0.5,
            unit: Unit::Step,
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        let got: Vec<f64> = (0..8).map(|t| at(s.as_ref(), t)).collect();
        assert_eq!(got, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]);
    }

    #[test]
    fn step_decay_in_epochs_holds_for_a_whole_epoch() {
        let c = StepConfig {
            lr: Some(1.0),
            step_size: 2,
            gamma: 0.1,
            unit: Unit::Epoch,
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        // 5 steps per epoch: epochs 0-1 at 1, epochs 2-3 at 0.1.
        assert_eq!(s.lr(Clock::with_epochs(9, 100, 5)), 1.0);
        assert_eq!(s.lr(Clock::with_epochs(10, 100, 5)), 0.1);
        assert_eq!(s.lr(Clock::with_epochs(19, 100, 5)), 0.1);
        assert!((s.lr(Clock::with_epochs(20, 100, 5)) - 0.01).abs() < 1e-17);
    }

    #[test]
    fn multi_step_counts_milestones_passed_including_repeats() {
        let c = MultiStepConfig {
            lr: Some(8.0),
            milestones: vec![5, 2, 5],
            gamma: 0.5,
            unit: Unit::Step,
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        let got: Vec<f64> = (0..7).map(|t| at(s.as_ref(), t)).collect();
        assert_eq!(got, [8.0, 8.0, 4.0, 4.0, 4.0, 1.0, 1.0]);
    }

    #[test]
    fn exponential_by_hand() {
        let c = ExponentialConfig {
            lr: Some(2.0),
            gamma: 0.5,
            unit: Unit::Step,
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        assert_eq!(at(s.as_ref(), 0), 2.0);
        assert_eq!(at(s.as_ref(), 3), 0.25);
    }

    #[test]
    fn bad_ranges_name_the_field() {
        let root = Ctx::root();
        let e = StepConfig {
            lr: Some(0.1),
            step_size: 0,
            gamma: 0.1,
            unit: Unit::Step,
        }
        .build(&root, None)
        .unwrap_err();
        assert!(e.to_string().contains("`step_size`"), "{e}");
        let e = ExponentialConfig {
            lr: Some(0.1),
            gamma: 0.0,
            unit: Unit::Step,
        }
        .build(&root, None)
        .unwrap_err();
        assert!(e.to_string().contains("`gamma`"), "{e}");
        let e = ExponentialConfig {
            lr: Some(0.1),
            gamma: -0.5,
            unit: Unit::Step,
        }
        .build(&root, None)
        .unwrap_err();
        assert!(e.to_string().contains("`gamma`"), "{e}");
        let e = MultiStepConfig {
            lr: Some(0.1),
            milestones: vec![],
            gamma: 0.1,
            unit: Unit::Step,
        }
        .build(&root, None)
        .unwrap_err();
        assert!(e.to_string().contains("`milestones`"), "{e}");
        let e = ConstantConfig { lr: Some(-1.0) }
            .build(&root, None)
            .unwrap_err();
        assert!(e.to_string().contains("`lr`"), "{e}");
        let e = ConstantConfig { lr: None }.build(&root, None).unwrap_err();
        assert!(e.to_string().contains("`lr` is required"), "{e}");
        // Inside a composition the enclosing lr fills in.
        let s = ConstantConfig { lr: None }.build(&root, Some(0.3)).unwrap();
        assert_eq!(at(s.as_ref(), 0), 0.3);
    }
}
