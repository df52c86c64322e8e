//! The one-cycle policy.

use serde::{Deserialize, Serialize};

use super::{Clock, Horizon, Schedule, lr_text};
use crate::ControlError;
use crate::check::Ctx;
use crate::shape::Shape;
use crate::spec::{ControllerConfig, ScheduleConfig};

/// The one-cycle policy (Smith & Topin 2019, *Super-Convergence: Very Fast Training of Neural
/// Networks Using Large Learning Rates*) with PyTorch `OneCycleLR` semantics: from
/// `lr / div_factor` up to `lr` over the first `pct_start` of the steps, then down to
/// `lr / div_factor / final_div_factor`; with `three_phase`, back down to `lr / div_factor`
/// symmetrically and then to the minimum (the paper's version). Phase boundaries are PyTorch's
/// fractional `end_step`s, so the values equal `OneCycleLR`'s step for step.
///
/// Deviations: momentum is not cycled (that is the optimizer's configuration, and lrctl's
/// controllers only set the learning rate); past the cycle the rate holds its minimum (PyTorch
/// raises an error); a phase of zero length jumps to its end value (PyTorch divides by zero).
#[derive(Debug, Clone, PartialEq)]
pub struct OneCycle {
    max_lr: f64,
    initial_lr: f64,
    min_lr: f64,
    pct_start: f64,
    anneal: Shape,
    three_phase: bool,
    horizon: Horizon,
}

impl Schedule for OneCycle {
    fn lr(&self, clock: Clock) -> f64 {
        let total = self.horizon.resolve(clock.total) as f64;
        let (initial, peak, min) = (self.initial_lr, self.max_lr, self.min_lr);
        let p1 = self.pct_start * total - 1.0;
        let two: [(f64, f64, f64); 2] = [(p1, initial, peak), (total - 1.0, peak, min)];
        let three: [(f64, f64, f64); 3] = [
            (p1, initial, peak),
            (2.0 * self.pct_start * total - 2.0, peak, initial),
            (total - 1.0, initial, min),
        ];
        let phases: &[(f64, f64, f64)] = if self.three_phase { &three } else { &two };
        let t = clock.step as f64;
        let mut start = 0.0;
        for (i, &(end, from, to)) in phases.iter().enumerate() {
            if t <= end || i == phases.len() - 1 {
                let p = if end == start {
                    1.0
                } else {
                    (t - start) / (end - start)
                };
                return self.anneal.interpolate(from, to, p);
            }
            start = end;
        }
        unreachable!("the last phase always matches")
    }
}

fn pct_start() -> f64 {
    0.3
}
fn cosine() -> Shape {
    Shape::Cosine
}
fn div_factor() -> f64 {
    25.0
}
fn final_div_factor() -> f64 {
    1e4
}

/// `kind = "one-cycle"`: [`OneCycle`], PyTorch `OneCycleLR` defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneCycleConfig {
    /// Peak learning rate, PyTorch's `max_lr` (alias); inherited inside a composition when
    /// omitted.
    #[serde(default, alias = "max_lr", skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Steps in the cycle (alias `total_steps`); the budget when omitted.
    #[serde(
        default,
        alias = "total_steps",
        skip_serializing_if = "Option::is_none"
    )]
    pub total: Option<u64>,
    /// Fraction of the cycle spent increasing the rate, in [0, 1] (default 0.3; at most 0.5
    /// with `three_phase`).
    #[serde(default = "pct_start")]
    pub pct_start: f64,
    /// Annealing curve (alias `anneal_strategy`): `cosine` (or `cos`, the default), `linear`,
    /// `sqrt`.
    #[serde(default = "cosine", alias = "anneal_strategy")]
    pub anneal: Shape,
    /// Initial rate is `lr / div_factor`, > 0 (default 25).
    #[serde(default = "div_factor")]
    pub div_factor: f64,
    /// Final rate is the initial rate / `final_div_factor`, > 0 (default 1e4).
    #[serde(default = "final_div_factor")]
    pub final_div_factor: f64,
    /// Three phases as in the paper instead of PyTorch's default two (default false).
    #[serde(default)]
    pub three_phase: bool,
}

impl ControllerConfig for OneCycleConfig {
    const KIND: &'static str = "one-cycle";

    fn lr(&self) -> Option<f64> {
        self.lr
    }

    fn describe(&self) -> String {
        format!(
            "one-cycle ({}{}): peak {} at {}% of {}, div {}, final div {}",
            self.anneal.as_str(),
            if self.three_phase {
                ", three phases"
            } else {
                ""
            },
            lr_text(self.lr),
            self.pct_start * 100.0,
            match self.total {
                Some(n) => format!("{n} steps"),
                None => "the budget".to_string(),
            },
            self.div_factor,
            self.final_div_factor
        )
    }
}

impl ScheduleConfig for OneCycleConfig {
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError> {
        let max_lr = ctx.lr(self.lr, inherited)?;
        let hi = if self.three_phase { 0.5 } else { 1.0 };
        let pct_start = ctx.within("pct_start", self.pct_start, 0.0, hi)?;
        let initial_lr = max_lr / ctx.positive("div_factor", self.div_factor)?;
        let min_lr = initial_lr / ctx.positive("final_div_factor", self.final_div_factor)?;
        Ok(Box::new(OneCycle {
            max_lr,
            initial_lr,
            min_lr,
            pct_start,
            anneal: self.anneal,
            three_phase: self.three_phase,
            horizon: Horizon::from_option(ctx.horizon("total", self.total)?),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OneCycleConfig {
        OneCycleConfig {
            lr: Some(1.0),
            total: None,
            pct_start: 0.25,
            anneal: Shape::Linear,
            div_factor: 10.0,
            final_div_factor: 100.0,
            three_phase: false,
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-14
    }

    #[test]
    fn two_phases_by_hand() {
        // 21 steps, pct 0.25: phase 1 ends at step 4.25, phase 2 at step 20.
        let s = config().build(&Ctx::root(), None).unwrap();
        let at = |t| s.lr(Clock::new(t, 21));
        assert!(close(at(0), 0.1));
        assert!(close(at(4), 0.1 + 0.9 * 4.0 / 4.25));
        // Step 5 is 0.75 / 15.75 into phase 2, from 1 to 0.001.
        assert!(close(at(5), 1.0 - 0.999 * 0.75 / 15.75));
        assert!(close(at(20), 0.001));
        // Beyond the cycle: the minimum (PyTorch raises).
        assert!(close(at(25), 0.001));
    }

    #[test]
    fn three_phases_by_hand() {
        let c = OneCycleConfig {
            three_phase: true,
            total: Some(20),
            ..config()
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        // Phase ends: 4, 8, 19.
        let at = |t| s.lr(Clock::new(t, 1000));
        assert!(close(at(4), 1.0));
        assert!(close(at(6), 0.55));
        assert!(close(at(8), 0.1));
        assert!(close(at(19), 0.001));
    }

    #[test]
    fn degenerate_budgets_give_finite_rates() {
        let s = config().build(&Ctx::root(), None).unwrap();
        for total in [1, 2, 3] {
            for t in 0..total {
                let v = s.lr(Clock::new(t, total));
                assert!(v.is_finite() && v > 0.0, "total {total} step {t}: {v}");
            }
        }
        let c = OneCycleConfig {
            pct_start: 0.0,
            ..config()
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        // Phase 1 ends at step -1, so step 0 is already 1/10 into the decay (as in PyTorch).
        assert!(close(s.lr(Clock::new(0, 10)), 1.0 - 0.999 * 0.1));
    }

    #[test]
    fn ranges() {
        let e = OneCycleConfig {
            pct_start: 1.5,
            ..config()
        }
        .build(&Ctx::root(), None)
        .unwrap_err();
        assert!(e.to_string().contains("`pct_start`"), "{e}");
        let c = OneCycleConfig {
            pct_start: 0.6,
            three_phase: true,
            ..config()
        };
        assert!(
            c.build(&Ctx::root(), None)
                .unwrap_err()
                .to_string()
                .contains("`pct_start`")
        );
        let e = OneCycleConfig {
            div_factor: 0.0,
            ..config()
        }
        .build(&Ctx::root(), None)
        .unwrap_err();
        assert!(e.to_string().contains("`div_factor`"), "{e}");
    }
}
