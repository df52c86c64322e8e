//! The observation vector: one fixed-length, normalised description of a run's state that a
//! learned or external policy reads.
//!
//! One definition serves every policy lrctl runs: the Python `lrctl.Env` returns it as its
//! observation, the `policy` controller ([`crate::online::PolicyConfig`]) sends it to a Python
//! callable, and natively learned controllers read it. A policy trained in the environment
//! therefore sees, inside a study, exactly what it saw while it was trained.
//!
//! # Layout (version [`OBSERVATION_VERSION`])
//!
//! | # | name | value |
//! |---|---|---|
//! | 0 | `progress` | steps taken / steps in the run, in [0, 1] |
//! | 1 | `log_loss` | short EWMA of ln(mini-batch loss) |
//! | 2 | `log_loss_rel` | `log_loss` − ln(first mini-batch loss) |
//! | 3 | `loss_trend_short` | change of the short EWMA of ln loss over the last 10 steps |
//! | 4 | `loss_trend_long` | change of the long EWMA of ln loss over the last 100 steps |
//! | 5 | `log_grad_norm_rel` | short EWMA of ln‖g‖ − ln‖g‖ of the first step |
//! | 6 | `grad_norm_trend_short` | change of the short EWMA of ln‖g‖ over the last 10 steps |
//! | 7 | `grad_norm_trend_long` | change of the long EWMA of ln‖g‖ over the last 100 steps |
//! | 8 | `grad_cos` | short EWMA of the cosine between successive mini-batch gradients |
//! | 9 | `log_update_ratio` | short EWMA of ln(‖θ_t − θ_{t−1}‖ / ‖θ_t‖) |
//! | 10 | `val_loss_rel` | ln(last validation loss / first validation loss); 0 before any |
//! | 11 | `val_age` | (steps taken − step of the last validation) / steps in the run; 1 before any |
//! | 12 | `log_lr` | ln(learning rate of the last step); 0 before the first step |
//!
//! The short EWMA has time constant 10 steps (α = 0.1), the long one 100 steps (α = 0.01);
//! both are bias-corrected like Adam's moments (Kingma & Ba 2015), so they are averages of the
//! steps seen so far from the first step on. A trend compares the EWMA with its own value a
//! window ago (or at the first step, while fewer steps have been seen): −0.1 means the
//! smoothed loss fell by about 10 % over the window. Differences of smoothed levels are used
//! rather than smoothed step-to-step differences, whose noise is that of a single mini-batch.
//!
//! Losses and gradient norms enter relative to their first value and in logarithms, so tasks of
//! different scales (10 classes or 256 bytes, a hundred parameters or a million) give vectors
//! of comparable size; `log_loss` keeps the absolute level (cross-entropy in nats). Every
//! component is clipped to [−[`OBSERVATION_CLIP`], [`OBSERVATION_CLIP`]], and a component that
//! cannot be computed (no previous gradient yet, a zero norm, a non-finite input) is 0.
//!
//! # Timing
//!
//! The vector at step `s` describes steps `0..s` — only the past: the engine's observation of
//! step `s` itself (its mini-batch loss and gradient) enters after the decision for step `s` is
//! made. A validation that ran after step `s − 1` is already in it. This is what an
//! environment that pauses the run after step `s − 1` can know, so the environment and a
//! controller deciding inside the run see the same vector.
//!
//! The statistics that compare two steps (`grad_cos`, `log_update_ratio`) are only computed by
//! the engine for controllers whose [`Controller::needs_history`](crate::Controller::needs_history)
//! is true; every controller that uses this encoder must say so.

use crate::{EvalObservation, Observation};

/// Version of the layout: bumped whenever a component is added, removed, reordered or
/// redefined. Policy files and hosts check it.
pub const OBSERVATION_VERSION: u32 = 1;

/// Number of components.
pub const OBSERVATION_LEN: usize = 13;

/// The name of each component, in order (see the module docs for their definitions).
pub const OBSERVATION_NAMES: [&str; OBSERVATION_LEN] = [
    "progress",
    "log_loss",
    "log_loss_rel",
    "loss_trend_short",
    "loss_trend_long",
    "log_grad_norm_rel",
    "grad_norm_trend_short",
    "grad_norm_trend_long",
    "grad_cos",
    "log_update_ratio",
    "val_loss_rel",
    "val_age",
    "log_lr",
];

/// Every component lies in `[-OBSERVATION_CLIP, OBSERVATION_CLIP]`.
pub const OBSERVATION_CLIP: f64 = 10.0;

/// Time constant of the short EWMAs and window of the short trends, in steps.
pub const SHORT_WINDOW: usize = 10;

/// Time constant of the long EWMAs and window of the long trends, in steps.
pub const LONG_WINDOW: usize = 100;

/// A bias-corrected exponentially weighted moving average that remembers its last `window`
/// values (for trends).
#[derive(Debug, Clone)]
struct Ewma {
    alpha: f64,
    raw: f64,
    weight: f64,
    /// The last `window + 1` bias-corrected values, oldest first (a ring).
    history: Vec<f64>,
    next: usize,
    window: usize,
}

impl Ewma {
    fn new(window: usize) -> Ewma {
        Ewma {
            alpha: 1.0 / window as f64,
            raw: 0.0,
            weight: 0.0,
            history: Vec::with_capacity(window + 1),
            next: 0,
            window,
        }
    }

    fn push(&mut self, x: f64) {
        self.raw = (1.0 - self.alpha) * self.raw + self.alpha * x;
        self.weight = (1.0 - self.alpha) * self.weight + self.alpha;
        let v = self.value();
        if self.history.len() < self.window + 1 {
            self.history.push(v);
        } else {
            self.history[self.next] = v;
            self.next = (self.next + 1) % (self.window + 1);
        }
    }

    /// The current average (0 before any value).
    fn value(&self) -> f64 {
        if self.weight > 0.0 {
            self.raw / self.weight
        } else {
            0.0
        }
    }

    /// The average now minus the average `window` values ago (or at the first value while
    /// fewer have been seen); 0 before two values.
    fn trend(&self) -> f64 {
        if self.history.len() < 2 {
            return 0.0;
        }
        // In a full ring `next` points at the oldest value; while filling, index 0 is.
        let oldest = if self.history.len() == self.window + 1 {
            self.history[self.next]
        } else {
            self.history[0]
        };
        self.value() - oldest
    }
}

/// Turns the engine's per-step [`Observation`]s into the observation vector (see the module
/// docs for the layout and timing).
///
/// Feed it [`observe_eval`](Self::observe_eval) with any validation result as soon as it is
/// known (repeats of the same evaluation are ignored), then [`vector`](Self::vector) for the
/// decision of step `s`, then [`observe_step`](Self::observe_step) with step `s`'s observation
/// and [`record_lr`](Self::record_lr) with the learning rate chosen for it.
#[derive(Debug, Clone)]
pub struct ObservationEncoder {
    first_loss: Option<f64>,
    first_grad: Option<f64>,
    loss_short: Ewma,
    loss_long: Ewma,
    grad_short: Ewma,
    grad_long: Ewma,
    cos: Ewma,
    update_ratio: Ewma,
    first_val: Option<f64>,
    last_val: Option<(u64, f64)>,
    lr: Option<f64>,
}

impl Default for ObservationEncoder {
    fn default() -> Self {
        Self::new()
    }
}

/// ln(x) for a positive finite x, else `None`.
fn ln(x: f64) -> Option<f64> {
    (x.is_finite() && x > 0.0).then(|| x.ln())
}

impl ObservationEncoder {
    /// An encoder that has seen nothing (the vector at step 0).
    pub fn new() -> Self {
        ObservationEncoder {
            first_loss: None,
            first_grad: None,
            loss_short: Ewma::new(SHORT_WINDOW),
            loss_long: Ewma::new(LONG_WINDOW),
            grad_short: Ewma::new(SHORT_WINDOW),
            grad_long: Ewma::new(LONG_WINDOW),
            cos: Ewma::new(SHORT_WINDOW),
            update_ratio: Ewma::new(SHORT_WINDOW),
            first_val: None,
            last_val: None,
            lr: None,
        }
    }

    /// A validation result: its loss becomes `val_loss_rel` from now on. An evaluation at a
    /// step not after the last one fed is ignored (the engine hands the same evaluation to the
    /// first step after it, which may already have been fed from elsewhere).
    pub fn observe_eval(&mut self, eval: &EvalObservation) {
        if self.last_val.is_some_and(|(step, _)| eval.step <= step) {
            return;
        }
        if ln(eval.loss).is_none() {
            return;
        }
        self.first_val.get_or_insert(eval.loss);
        self.last_val = Some((eval.step, eval.loss));
    }

    /// The engine's observation of one step (its loss, gradient statistics and any
    /// evaluation). Non-finite or non-positive losses and norms are skipped.
    pub fn observe_step(&mut self, obs: &Observation) {
        if let Some(e) = &obs.eval {
            self.observe_eval(e);
        }
        if let Some(l) = ln(obs.loss) {
            self.first_loss.get_or_insert(l);
            self.loss_short.push(l);
            self.loss_long.push(l);
        }
        if let Some(g) = ln(obs.grad.norm) {
            self.first_grad.get_or_insert(g);
            self.grad_short.push(g);
            self.grad_long.push(g);
        }
        if let Some(c) = obs.grad.cos_prev.filter(|c| c.is_finite()) {
            self.cos.push(c);
        }
        if let (Some(u), Some(p)) = (obs.grad.prev_update_norm, obs.grad.param_norm)
            && let Some(r) = ln(u / p)
        {
            self.update_ratio.push(r);
        }
    }

    /// The learning rate chosen for the step just observed.
    pub fn record_lr(&mut self, lr: f64) {
        if ln(lr).is_some() {
            self.lr = Some(lr);
        } else if lr == 0.0 {
            // ln 0 is -inf: the clip's floor says "no step" well enough.
            self.lr = Some(0.0);
        }
    }

    /// The vector for the decision of step `step` of a run of `total_steps` steps.
    pub fn vector(&self, step: u64, total_steps: u64) -> [f64; OBSERVATION_LEN] {
        let total = total_steps.max(1) as f64;
        let log_loss = self.loss_short.value();
        let rel = |ewma: &Ewma, first: Option<f64>| first.map_or(0.0, |f| ewma.value() - f);
        let (val_rel, val_age) = match (self.first_val, self.last_val) {
            (Some(first), Some((at, last))) => {
                ((last / first).ln(), step.saturating_sub(at) as f64 / total)
            }
            _ => (0.0, 1.0),
        };
        let log_lr = match self.lr {
            Some(lr) if lr > 0.0 => lr.ln(),
            Some(_) => -OBSERVATION_CLIP,
            None => 0.0,
        };
        let raw = [
            (step as f64 / total).min(1.0),
            log_loss,
            rel(&self.loss_short, self.first_loss),
            self.loss_short.trend(),
            self.loss_long.trend(),
            rel(&self.grad_short, self.first_grad),
            self.grad_short.trend(),
            self.grad_long.trend(),
            self.cos.value(),
            self.update_ratio.value(),
            val_rel,
            val_age,
            log_lr,
        ];
        raw.map(|x| {
            if x.is_finite() {
                x.clamp(-OBSERVATION_CLIP, OBSERVATION_CLIP)
            } else {
                0.0
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GradStats;

    fn obs(step: u64, loss: f64, norm: f64) -> Observation {
        Observation {
            step,
            total_steps: 1000,
            steps_per_epoch: 100,
            epoch: step / 100,
            loss,
            grad: GradStats {
                norm,
                cos_prev: (step > 0).then_some(0.5),
                dot_prev_direction: None,
                prev_update_norm: (step > 0).then_some(0.01),
                param_norm: Some(10.0),
            },
            eval: None,
        }
    }

    fn index(name: &str) -> usize {
        OBSERVATION_NAMES.iter().position(|n| *n == name).unwrap()
    }

    #[test]
    fn names_are_unique_and_the_docs_list_them_in_order() {
        let mut seen = std::collections::HashSet::new();
        for n in OBSERVATION_NAMES {
            assert!(seen.insert(n), "{n} twice");
        }
        // The module docs' table is the documentation users read: it must match.
        let src = include_str!("observe.rs");
        for (i, n) in OBSERVATION_NAMES.iter().enumerate() {
            assert!(
                src.contains(&format!("//! | {i} | `{n}` |")),
                "row {i} `{n}` missing from the layout table"
            );
        }
    }

    #[test]
    fn before_any_step_everything_is_neutral() {
        let v = ObservationEncoder::new().vector(0, 100);
        let mut expected = [0.0; OBSERVATION_LEN];
        expected[index("val_age")] = 1.0;
        assert_eq!(v, expected);
    }

    #[test]
    fn constant_run_by_hand() {
        let mut e = ObservationEncoder::new();
        for s in 0..50 {
            e.observe_step(&obs(s, 2.0, 4.0));
            e.record_lr(1e-3);
        }
        let v = e.vector(50, 1000);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
        assert!(close(v[index("progress")], 0.05));
        assert!(close(v[index("log_loss")], 2f64.ln()), "{v:?}");
        assert!(close(v[index("log_loss_rel")], 0.0));
        assert!(close(v[index("loss_trend_short")], 0.0));
        assert!(close(v[index("loss_trend_long")], 0.0));
        assert!(close(v[index("log_grad_norm_rel")], 0.0));
        assert!(close(v[index("grad_cos")], 0.5));
        assert!(close(v[index("log_update_ratio")], (0.01f64 / 10.0).ln()));
        assert!(close(v[index("log_lr")], 1e-3f64.ln()));
        assert_eq!(v[index("val_age")], 1.0);
        assert_eq!(v[index("val_loss_rel")], 0.0);
    }

    #[test]
    fn a_falling_loss_has_negative_trends_and_the_windows_differ() {
        let mut e = ObservationEncoder::new();
        // ln loss falls by 0.01 per step: the level is a bias-corrected EWMA of a line, which
        // lags it by about its time constant; its change over a window approaches the line's.
        for s in 0..1000u64 {
            e.observe_step(&obs(s, (-0.01 * s as f64).exp() * 3.0, 1.0));
        }
        let v = e.vector(1000, 1000);
        let short = v[index("loss_trend_short")];
        let long = v[index("loss_trend_long")];
        assert!((short - (-0.1)).abs() < 1e-3, "{short}");
        assert!((long - (-1.0)).abs() < 0.01, "{long}");
        assert!(v[index("log_loss_rel")] < -3.0);
        // Early on, the trend is measured from the first step.
        let mut e = ObservationEncoder::new();
        for s in 0..3u64 {
            e.observe_step(&obs(s, (-0.01 * s as f64).exp(), 1.0));
        }
        let t = e.vector(3, 1000)[index("loss_trend_short")];
        assert!(t < 0.0 && t > -0.03, "{t}");
    }

    #[test]
    fn scale_invariance_of_the_relative_components() {
        // The same run at 1000× the loss and gradient scale: only the absolute log loss moves.
        let run = |scale: f64| {
            let mut e = ObservationEncoder::new();
            for s in 0..120u64 {
                let wiggle = 1.0 + 0.3 * ((s as f64) * 0.7).sin();
                e.observe_step(&obs(s, scale * wiggle / (1.0 + s as f64), scale * wiggle));
                e.record_lr(0.01);
            }
            e.vector(120, 1000)
        };
        let (a, b) = (run(1.0), run(1000.0));
        for (i, name) in OBSERVATION_NAMES.iter().enumerate() {
            if *name == "log_loss" {
                assert!((b[i] - a[i] - 1000f64.ln()).abs() < 1e-9);
            } else {
                assert!((a[i] - b[i]).abs() < 1e-9, "{name}: {} vs {}", a[i], b[i]);
            }
        }
    }

    #[test]
    fn validation_is_relative_to_the_first_and_repeats_are_ignored() {
        let mut e = ObservationEncoder::new();
        let eval = |step, loss| EvalObservation {
            step,
            loss,
            metric: None,
        };
        e.observe_eval(&eval(10, 2.0));
        e.observe_eval(&eval(50, 1.0));
        let mut o = obs(50, 1.0, 1.0);
        o.eval = Some(eval(50, 1.0)); // the engine hands it to the next step again
        e.observe_step(&o);
        e.observe_eval(&eval(40, 100.0)); // older: ignored
        let v = e.vector(60, 100);
        assert!((v[index("val_loss_rel")] - 0.5f64.ln()).abs() < 1e-12);
        assert!((v[index("val_age")] - 0.1).abs() < 1e-12);
    }

    #[test]
    fn degenerate_inputs_never_give_nan_and_everything_is_clipped() {
        let mut e = ObservationEncoder::new();
        let mut o = obs(0, f64::NAN, 0.0);
        o.grad.cos_prev = Some(f64::NAN);
        o.grad.prev_update_norm = Some(0.0);
        e.observe_step(&o);
        e.record_lr(f64::INFINITY);
        e.observe_step(&obs(1, 1e300, 1e-300));
        e.observe_step(&obs(2, 1e-300, 1e300));
        e.record_lr(0.0);
        e.observe_eval(&EvalObservation {
            step: 3,
            loss: f64::INFINITY,
            metric: None,
        });
        for v in [e.vector(3, 0), e.vector(u64::MAX, 1)] {
            for (x, n) in v.iter().zip(OBSERVATION_NAMES) {
                assert!(x.is_finite() && x.abs() <= OBSERVATION_CLIP, "{n}: {x}");
            }
        }
        assert_eq!(e.vector(3, 10)[index("log_lr")], -OBSERVATION_CLIP);
        assert_eq!(e.vector(u64::MAX, 1)[index("progress")], 1.0);
    }
}
