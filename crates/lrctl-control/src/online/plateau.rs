//! Reduce the learning rate when a monitored quantity stops improving.

use serde::{Deserialize, Serialize};

use crate::check::Ctx;
use crate::spec::{ControllerConfig, OnlineConfig};
use crate::{ControlError, Controller, Observation};

/// Whether lower or higher values of the monitored quantity are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Lower is better (losses, perplexity).
    Min,
    /// Higher is better (accuracy).
    Max,
}

/// How `threshold` defines a significant improvement.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ThresholdMode {
    /// Better than `best · (1 ∓ threshold)`.
    #[default]
    Rel,
    /// Better than `best ∓ threshold`.
    Abs,
}

/// The quantity reduce-on-plateau watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Monitor {
    /// The mini-batch training loss averaged over consecutive windows of `window` steps (one
    /// epoch by default); each full window is one plateau step, like calling PyTorch's
    /// `scheduler.step(mean_epoch_loss)` at the end of each epoch.
    #[default]
    TrainLoss,
    /// The held-out loss of each evaluation.
    EvalLoss,
    /// The task's primary held-out metric of each evaluation (`mode` must then be given).
    /// Evaluations of a task without a metric are ignored.
    EvalMetric,
}

impl Monitor {
    fn as_str(self) -> &'static str {
        match self {
            Monitor::TrainLoss => "train-loss",
            Monitor::EvalLoss => "eval-loss",
            Monitor::EvalMetric => "eval-metric",
        }
    }
}

/// PyTorch's `ReduceLROnPlateau` state machine, step for step: after each value, if it is
/// better than the best so far (by the threshold) the bad-step counter resets, else it grows;
/// during cooldown bad steps are ignored; when the counter exceeds `patience` the rate becomes
/// `max(lr · factor, min_lr)` (unless that changes it by no more than `eps`) and cooldown
/// starts. NaN is never an improvement.
#[derive(Debug, Clone, PartialEq)]
pub struct Plateau {
    lr: f64,
    mode: Mode,
    threshold_mode: ThresholdMode,
    threshold: f64,
    patience: u64,
    cooldown: u64,
    factor: f64,
    min_lr: f64,
    eps: f64,
    best: f64,
    num_bad: u64,
    cooldown_counter: u64,
}

impl Plateau {
    /// The current learning rate.
    pub fn lr(&self) -> f64 {
        self.lr
    }

    /// The best value seen so far (±∞ before the first).
    pub fn best(&self) -> f64 {
        self.best
    }

    /// Feeds one value of the monitored quantity (PyTorch's `scheduler.step(value)`).
    pub fn step(&mut self, value: f64) {
        if self.is_better(value) {
            self.best = value;
            self.num_bad = 0;
        } else {
            self.num_bad += 1;
        }
        if self.cooldown_counter > 0 {
            self.cooldown_counter -= 1;
            self.num_bad = 0;
        }
        if self.num_bad > self.patience {
            let new_lr = (self.lr * self.factor).max(self.min_lr);
            if self.lr - new_lr > self.eps {
                self.lr = new_lr;
            }
            self.cooldown_counter = self.cooldown;
            self.num_bad = 0;
        }
    }

    fn is_better(&self, a: f64) -> bool {
        let best = self.best;
        match (self.mode, self.threshold_mode) {
            (Mode::Min, ThresholdMode::Rel) => a < best * (1.0 - self.threshold),
            (Mode::Min, ThresholdMode::Abs) => a < best - self.threshold,
            (Mode::Max, ThresholdMode::Rel) => a > best * (self.threshold + 1.0),
            (Mode::Max, ThresholdMode::Abs) => a > best + self.threshold,
        }
    }
}

/// Reduce-on-plateau as a controller: feeds [`Plateau`] from the observations ([`Monitor`]).
///
/// Timing, equal to the usual PyTorch loop: a new evaluation (present in the observation of the
/// first step after it ran) is fed before the rate of that step is returned, as
/// `scheduler.step(val_loss)` after validation affects the next epoch; a full training-loss
/// window (whose last loss is that of the current step) affects the next step, as
/// `scheduler.step(mean_loss)` at the end of an epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct ReduceOnPlateau {
    plateau: Plateau,
    monitor: Monitor,
    window: Option<u64>,
    sum: f64,
    count: u64,
}

impl ReduceOnPlateau {
    /// The state machine.
    pub fn plateau(&self) -> &Plateau {
        &self.plateau
    }
}

impl Controller for ReduceOnPlateau {
    fn needs_history(&self) -> bool {
        false
    }

    fn lr(&mut self, obs: &Observation) -> f64 {
        match self.monitor {
            Monitor::TrainLoss => {
                let lr = self.plateau.lr();
                self.sum += obs.loss;
                self.count += 1;
                if self.count >= self.window.unwrap_or(obs.steps_per_epoch).max(1) {
                    self.plateau.step(self.sum / self.count as f64);
                    self.sum = 0.0;
                    self.count = 0;
                }
                lr
            }
            Monitor::EvalLoss => {
                if let Some(e) = obs.eval {
                    self.plateau.step(e.loss);
                }
                self.plateau.lr()
            }
            Monitor::EvalMetric => {
                if let Some(m) = obs.eval.and_then(|e| e.metric) {
                    self.plateau.step(m);
                }
                self.plateau.lr()
            }
        }
    }

    fn snapshot(&self) -> Option<Box<dyn Controller>> {
        Some(Box::new(self.clone()))
    }
}

fn factor() -> f64 {
    0.1
}
fn patience() -> u64 {
    10
}
fn threshold() -> f64 {
    1e-4
}
fn eps() -> f64 {
    1e-8
}

/// `kind = "reduce-on-plateau"`: [`ReduceOnPlateau`], PyTorch `ReduceLROnPlateau` defaults.
///
/// ```toml
/// [controller]
/// kind = "reduce-on-plateau"
/// lr = 0.001
/// monitor = "eval-loss"
/// patience = 2
/// factor = 0.5
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlateauConfig {
    /// Initial learning rate, >= 0.
    pub lr: f64,
    /// What to watch: `train-loss` (default), `eval-loss` or `eval-metric`.
    #[serde(default)]
    pub monitor: Monitor,
    /// `min` or `max`. Defaults to `min` for the losses; required for `eval-metric`, whose
    /// direction depends on the task (accuracy: `max`, perplexity: `min`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Multiplier applied on a plateau, in [0, 1) (default 0.1).
    #[serde(default = "factor")]
    pub factor: f64,
    /// Plateau steps without improvement tolerated before reducing (default 10).
    #[serde(default = "patience")]
    pub patience: u64,
    /// Minimal significant improvement, >= 0 (default 1e-4).
    #[serde(default = "threshold")]
    pub threshold: f64,
    /// `rel` (default) or `abs`.
    #[serde(default)]
    pub threshold_mode: ThresholdMode,
    /// Plateau steps to wait after a reduction before counting again (default 0).
    #[serde(default)]
    pub cooldown: u64,
    /// Lower bound on the rate, >= 0 (default 0).
    #[serde(default)]
    pub min_lr: f64,
    /// Reductions changing the rate by no more than this are skipped, >= 0 (default 1e-8).
    #[serde(default = "eps")]
    pub eps: f64,
    /// Steps averaged per plateau step with `monitor = "train-loss"`, at least 1 (default: one
    /// epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u64>,
}

impl ControllerConfig for PlateauConfig {
    const KIND: &'static str = "reduce-on-plateau";

    fn signals(&self) -> Vec<crate::Signal> {
        vec![match self.monitor {
            Monitor::TrainLoss => crate::Signal::Loss,
            Monitor::EvalLoss => crate::Signal::EvalLoss,
            Monitor::EvalMetric => crate::Signal::EvalMetric,
        }]
    }

    fn lr(&self) -> Option<f64> {
        Some(self.lr)
    }

    fn describe(&self) -> String {
        let mode = match self.mode {
            Some(Mode::Max) => "max",
            _ => "min",
        };
        let every = match (self.monitor, self.window) {
            (Monitor::TrainLoss, Some(w)) => format!(" per {w} steps"),
            (Monitor::TrainLoss, None) => " per epoch".to_string(),
            _ => String::new(),
        };
        format!(
            "reduce-on-plateau ({}{every}, {mode}): lr {} × {} after {} checks without \
             improvement, cooldown {}, min lr {}",
            self.monitor.as_str(),
            self.lr,
            self.factor,
            self.patience,
            self.cooldown,
            self.min_lr
        )
    }
}

impl OnlineConfig for PlateauConfig {
    type Controller = ReduceOnPlateau;

    fn build(&self, ctx: &Ctx) -> Result<ReduceOnPlateau, ControlError> {
        let mode = match (self.mode, self.monitor) {
            (Some(m), _) => m,
            (None, Monitor::EvalMetric) => {
                return Err(ctx.invalid(
                    "mode",
                    "is required with monitor = \"eval-metric\": \"max\" for accuracy-like \
                     metrics, \"min\" for perplexity-like ones",
                ));
            }
            (None, _) => Mode::Min,
        };
        let factor = ctx.non_negative("factor", self.factor)?;
        if factor >= 1.0 {
            return Err(ctx.invalid("factor", format!("must be < 1, got {factor}")));
        }
        if self.window.is_some() && self.monitor != Monitor::TrainLoss {
            return Err(ctx.invalid("window", "only applies to monitor = \"train-loss\""));
        }
        Ok(ReduceOnPlateau {
            plateau: Plateau {
                lr: ctx.non_negative("lr", self.lr)?,
                mode,
                threshold_mode: self.threshold_mode,
                threshold: ctx.non_negative("threshold", self.threshold)?,
                patience: self.patience,
                cooldown: self.cooldown,
                factor,
                min_lr: ctx.non_negative("min_lr", self.min_lr)?,
                eps: ctx.non_negative("eps", self.eps)?,
                best: match mode {
                    Mode::Min => f64::INFINITY,
                    Mode::Max => f64::NEG_INFINITY,
                },
                num_bad: 0,
                cooldown_counter: 0,
            },
            monitor: self.monitor,
            window: self
                .window
                .map(|w| ctx.at_least_one("window", w))
                .transpose()?,
            sum: 0.0,
            count: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EvalObservation;

    fn config() -> PlateauConfig {
        PlateauConfig {
            lr: 1.0,
            monitor: Monitor::EvalLoss,
            mode: None,
            factor: 0.5,
            patience: 2,
            threshold: 0.0,
            threshold_mode: ThresholdMode::Rel,
            cooldown: 0,
            min_lr: 0.0,
            eps: 1e-8,
            window: None,
        }
    }

    fn lrs(c: &PlateauConfig, values: &[f64]) -> Vec<f64> {
        let mut p = c.build(&Ctx::root()).unwrap().plateau;
        values
            .iter()
            .map(|&v| {
                p.step(v);
                p.lr()
            })
            .collect()
    }

    #[test]
    fn patience_counts_bad_steps_before_reducing() {
        // Best 1.0 at the first value; three bad values: reduced after the third (> patience 2).
        let got = lrs(&config(), &[1.0, 1.0, 1.0, 1.0, 0.5, 0.6, 0.6, 0.6]);
        assert_eq!(got, [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25]);
    }

    #[test]
    fn cooldown_ignores_bad_steps_after_a_reduction() {
        let c = PlateauConfig {
            patience: 0,
            cooldown: 2,
            ..config()
        };
        // patience 0: every bad step reduces, except during the 2 cooldown steps.
        let got = lrs(&c, &[1.0, 2.0, 2.0, 2.0, 2.0, 2.0]);
        assert_eq!(got, [1.0, 0.5, 0.5, 0.5, 0.25, 0.25]);
    }

    #[test]
    fn thresholds_and_min_lr() {
        // rel 10%: 0.95 is no real improvement over 1.0, 0.85 is.
        let c = PlateauConfig {
            patience: 0,
            threshold: 0.1,
            ..config()
        };
        assert_eq!(lrs(&c, &[1.0, 0.95, 0.85]), [1.0, 0.5, 0.5]);
        // abs 0.1 in max mode: 1.05 is not better than 1.0, 1.2 is.
        let c = PlateauConfig {
            patience: 0,
            threshold: 0.1,
            threshold_mode: ThresholdMode::Abs,
            mode: Some(Mode::Max),
            ..config()
        };
        assert_eq!(lrs(&c, &[1.0, 1.05, 1.2]), [1.0, 0.5, 0.5]);
        // The floor, and no reduction smaller than eps.
        let c = PlateauConfig {
            patience: 0,
            min_lr: 0.3,
            ..config()
        };
        assert_eq!(lrs(&c, &[1.0, 2.0, 2.0, 2.0]), [1.0, 0.5, 0.3, 0.3]);
        let c = PlateauConfig {
            lr: 1e-8,
            patience: 0,
            ..config()
        };
        assert_eq!(lrs(&c, &[1.0, 2.0]), [1e-8, 1e-8]);
    }

    #[test]
    fn nan_is_never_an_improvement() {
        let c = PlateauConfig {
            patience: 1,
            ..config()
        };
        let got = lrs(&c, &[1.0, f64::NAN, f64::NAN]);
        assert_eq!(got, [1.0, 1.0, 0.5]);
    }

    fn obs(step: u64, loss: f64, eval: Option<(f64, Option<f64>)>) -> Observation {
        let mut o = Observation::at_step(step, 100);
        o.steps_per_epoch = 4;
        o.epoch = step / 4;
        o.loss = loss;
        o.eval = eval.map(|(loss, metric)| EvalObservation { step, loss, metric });
        o
    }

    #[test]
    fn train_loss_windows_take_effect_on_the_next_step() {
        let c = PlateauConfig {
            monitor: Monitor::TrainLoss,
            patience: 0,
            ..config()
        };
        let mut ctl = c.build(&Ctx::root()).unwrap();
        // Window = one epoch of 4 steps. Epoch 0 mean 2.0 (best), epoch 1 mean 2.5 (bad).
        let losses = [1.0, 3.0, 2.0, 2.0, 2.5, 2.5, 2.5, 2.5, 1.0];
        let got: Vec<f64> = losses
            .iter()
            .enumerate()
            .map(|(t, &l)| ctl.lr(&obs(t as u64, l, None)))
            .collect();
        assert_eq!(got, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.5]);
        assert_eq!(ctl.plateau().best(), 2.0);
        // An explicit window of 2 steps.
        let c = PlateauConfig {
            window: Some(2),
            ..c
        };
        let mut ctl = c.build(&Ctx::root()).unwrap();
        let got: Vec<f64> = [1.0, 1.0, 3.0, 3.0, 0.0]
            .iter()
            .enumerate()
            .map(|(t, &l)| ctl.lr(&obs(t as u64, l, None)))
            .collect();
        assert_eq!(got, [1.0, 1.0, 1.0, 1.0, 0.5]);
    }

    #[test]
    fn evaluations_take_effect_at_once_and_metrics_need_a_mode() {
        let c = PlateauConfig {
            patience: 0,
            ..config()
        };
        let mut ctl = c.build(&Ctx::root()).unwrap();
        assert_eq!(ctl.lr(&obs(0, 9.0, None)), 1.0);
        assert_eq!(ctl.lr(&obs(1, 9.0, Some((1.0, None)))), 1.0);
        assert_eq!(ctl.lr(&obs(2, 0.1, None)), 1.0); // training loss is not watched
        assert_eq!(ctl.lr(&obs(3, 9.0, Some((1.5, None)))), 0.5);

        let c = PlateauConfig {
            monitor: Monitor::EvalMetric,
            ..config()
        };
        let e = c.build(&Ctx::root()).unwrap_err();
        assert!(e.to_string().contains("`mode` is required"), "{e}");
        let c = PlateauConfig {
            mode: Some(Mode::Max),
            patience: 0,
            ..c
        };
        let mut ctl = c.build(&Ctx::root()).unwrap();
        assert_eq!(ctl.lr(&obs(1, 0.0, Some((5.0, Some(0.8))))), 1.0);
        assert_eq!(ctl.lr(&obs(2, 0.0, Some((5.0, None)))), 1.0); // no metric: ignored
        assert_eq!(ctl.lr(&obs(3, 0.0, Some((0.1, Some(0.7))))), 0.5);
    }

    #[test]
    fn ranges() {
        let root = Ctx::root();
        for (c, field) in [
            (
                PlateauConfig {
                    factor: 1.0,
                    ..config()
                },
                "`factor`",
            ),
            (
                PlateauConfig {
                    factor: -0.1,
                    ..config()
                },
                "`factor`",
            ),
            (
                PlateauConfig {
                    lr: -1.0,
                    ..config()
                },
                "`lr`",
            ),
            (
                PlateauConfig {
                    threshold: -1.0,
                    ..config()
                },
                "`threshold`",
            ),
            (
                PlateauConfig {
                    min_lr: f64::NAN,
                    ..config()
                },
                "`min_lr`",
            ),
            (
                PlateauConfig {
                    window: Some(3),
                    ..config()
                },
                "`window`",
            ),
            (
                PlateauConfig {
                    window: Some(0),
                    monitor: Monitor::TrainLoss,
                    ..config()
                },
                "`window`",
            ),
        ] {
            let e = c.build(&root).unwrap_err();
            assert!(e.to_string().contains(field), "{e}");
        }
    }
}
