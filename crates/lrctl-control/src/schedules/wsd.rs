//! Warmup-stable-decay.

use serde::{Deserialize, Serialize};

use super::{Clock, Horizon, Schedule, lr_text, warmup_ramp};
use crate::ControlError;
use crate::check::Ctx;
use crate::shape::{Shape, progress};
use crate::spec::{ControllerConfig, ScheduleConfig};

/// Warmup-stable-decay (Hu et al. 2024, *MiniCPM: Unveiling the Potential of Small Language
/// Models with Scalable Training Strategies*): a linear warm-up to `lr` over `warmup` steps, a
/// stable phase at `lr`, and a decay to `min_lr` over the last `decay_fraction` of the
/// budget, with progress `(t - S) / D` through the decay (`S` its first step, `D` its length).
///
/// Deviations: MiniCPM decays exponentially; here the decay curve is `linear`, `cosine` or
/// `sqrt` (the "1-sqrt" cooldown of Hägele et al. 2024, which they found best). The warm-up is
/// `lr · (t+1)/warmup` so that the first step is not taken at zero. The decay length is
/// `round(decay_fraction · T)`; when the warm-up and the decay would overlap, the warm-up
/// completes and the decay is shortened.
#[derive(Debug, Clone, PartialEq)]
pub struct WarmupStableDecay {
    lr: f64,
    warmup: u64,
    decay_fraction: f64,
    decay: Shape,
    min_lr: f64,
    horizon: Horizon,
}

impl Schedule for WarmupStableDecay {
    fn lr(&self, clock: Clock) -> f64 {
        let total = self.horizon.resolve(clock.total);
        let decay_start = decay_start(total, self.warmup, self.decay_fraction);
        let t = clock.step;
        if t < self.warmup {
            warmup_ramp(self.lr, t, self.warmup)
        } else if t < decay_start {
            self.lr
        } else {
            let p = progress(t - decay_start, total.saturating_sub(decay_start));
            self.decay.interpolate(self.lr, self.min_lr, p)
        }
    }
}

/// The first step of the decay in a run of `total` steps (`total` or more: no decay).
fn decay_start(total: u64, warmup: u64, decay_fraction: f64) -> u64 {
    let decay_len = ((decay_fraction * total as f64).round() as u64).min(total);
    (total - decay_len).max(warmup)
}

fn decay_fraction() -> f64 {
    0.1
}

/// `kind = "warmup-stable-decay"` (alias `wsd`): [`WarmupStableDecay`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupStableDecayConfig {
    /// Learning rate of the stable phase (inherited inside a composition when omitted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    /// Warm-up steps (default 0).
    #[serde(default)]
    pub warmup: u64,
    /// Fraction of the budget spent decaying, in [0, 1] (default 0.1, MiniCPM's ~10%).
    #[serde(default = "decay_fraction")]
    pub decay_fraction: f64,
    /// Decay curve: `linear` (default), `cosine` or `sqrt`.
    #[serde(default)]
    pub decay: Shape,
    /// Learning rate at the end of the decay, >= 0 (default 0).
    #[serde(default)]
    pub min_lr: f64,
    /// Steps in the schedule; the budget when omitted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl WarmupStableDecayConfig {
    /// The step at which a run of `budget` steps leaves the stable phase: its steps before it
    /// (warm-up and stable phase) have the same learning rates whatever the budget, so runs of
    /// different budgets share them and each can branch its decay
    /// off a checkpoint of a common stable phase (Hägele et al. 2024, *Scaling Laws and
    /// Compute-Optimal Training Beyond Fixed Training Durations*). At most `budget` (a run that
    /// never leaves its warm-up has no decay).
    pub fn branch_step(&self, budget: u64) -> u64 {
        let total = self.total.unwrap_or(budget);
        decay_start(total, self.warmup, self.decay_fraction).min(budget)
    }
}

impl ControllerConfig for WarmupStableDecayConfig {
    const KIND: &'static str = "warmup-stable-decay";

    fn lr(&self) -> Option<f64> {
        self.lr
    }

    fn describe(&self) -> String {
        format!(
            "warmup-stable-decay: {}, {} warm-up steps, {} decay to {} over the last {}% of {}",
            lr_text(self.lr),
            self.warmup,
            self.decay.as_str(),
            self.min_lr,
            self.decay_fraction * 100.0,
            match self.total {
                Some(n) => format!("{n} steps"),
                None => "the budget".to_string(),
            }
        )
    }

    fn branch_step(&self, budget: u64) -> Option<u64> {
        Some(WarmupStableDecayConfig::branch_step(self, budget))
    }
}

impl ScheduleConfig for WarmupStableDecayConfig {
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError> {
        Ok(Box::new(WarmupStableDecay {
            lr: ctx.lr(self.lr, inherited)?,
            warmup: self.warmup,
            decay_fraction: ctx.within("decay_fraction", self.decay_fraction, 0.0, 1.0)?,
            decay: self.decay,
            min_lr: ctx.non_negative("min_lr", self.min_lr)?,
            horizon: Horizon::from_option(ctx.horizon("total", self.total)?),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(decay: Shape) -> WarmupStableDecayConfig {
        WarmupStableDecayConfig {
            lr: Some(1.0),
            warmup: 2,
            decay_fraction: 0.4,
            decay,
            min_lr: 0.0,
            total: None,
        }
    }

    #[test]
    fn linear_by_hand() {
        // 10 steps: warm-up 0-1, stable 2-5, decay 6-9 (4 steps).
        let s = config(Shape::Linear).build(&Ctx::root(), None).unwrap();
        let got: Vec<f64> = (0..11).map(|t| s.lr(Clock::new(t, 10))).collect();
        assert_eq!(
            got,
            [0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
        );
    }

    #[test]
    fn sqrt_and_cosine_decay_and_a_floor() {
        let c = WarmupStableDecayConfig {
            min_lr: 0.2,
            ..config(Shape::Sqrt)
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        // Step 7 is 1/4 into the decay: 0.2 + 0.8 · (1 - 1/2).
        assert!((s.lr(Clock::new(7, 10)) - 0.6).abs() < 1e-15);
        assert!((s.lr(Clock::new(12, 10)) - 0.2).abs() < 1e-15);
        let s = config(Shape::Cosine).build(&Ctx::root(), None).unwrap();
        assert!((s.lr(Clock::new(8, 10)) - 0.5).abs() < 1e-15);
    }

    #[test]
    fn warmup_longer_than_the_stable_phase_shortens_the_decay() {
        let c = WarmupStableDecayConfig {
            warmup: 8,
            ..config(Shape::Linear)
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        assert_eq!(s.lr(Clock::new(7, 10)), 1.0); // end of warm-up
        assert_eq!(s.lr(Clock::new(8, 10)), 1.0); // decay over steps 8-9
        assert_eq!(s.lr(Clock::new(9, 10)), 0.5);
        // A one-step budget without warm-up: the step runs at lr when the decay rounds to 0.
        let c = WarmupStableDecayConfig {
            warmup: 0,
            ..config(Shape::Linear)
        };
        let s = c.build(&Ctx::root(), None).unwrap();
        assert_eq!(s.lr(Clock::new(0, 1)), 1.0);
    }

    #[test]
    fn budgets_share_the_steps_before_their_branch_step() {
        let c = config(Shape::Linear);
        let s = c.build(&Ctx::root(), None).unwrap();
        let mut prev = 0;
        for budget in 1..60 {
            let b = c.branch_step(budget);
            assert!(b <= budget && b >= prev, "{budget}: {b} after {prev}");
            prev = b;
            for t in 0..b {
                assert_eq!(
                    s.lr(Clock::new(t, budget)).to_bits(),
                    s.lr(Clock::new(t, 1000)).to_bits()
                );
            }
        }
        assert_eq!(c.branch_step(10), 6);
    }

    #[test]
    fn fraction_range() {
        let c = WarmupStableDecayConfig {
            decay_fraction: 1.2,
            ..config(Shape::Linear)
        };
        let e = c.build(&Ctx::root(), None).unwrap_err();
        assert!(e.to_string().contains("`decay_fraction`"), "{e}");
    }
}
