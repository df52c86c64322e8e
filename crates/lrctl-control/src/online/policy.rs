//! Policies: a learning rate decided from the [observation vector](crate::observe) by something
//! outside this crate — an agent stepping `lrctl.Env`, or a Python callable run in a policy host.

use serde::{Deserialize, Serialize};

use super::host::HostPolicy;
use crate::check::Ctx;
use crate::observe::{OBSERVATION_LEN, ObservationEncoder};
use crate::spec::OnlineConfig;
use crate::{
    ControlError, Controller, ControllerConfig, ControllerSpec, EvalObservation, Observation,
};

/// How a policy's action becomes a learning rate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActionMode {
    /// The action is the learning rate itself (DACBench's SGD benchmark does this).
    Absolute,
    /// The action `a` scales the base controller's rate: `lr = base · max_factor^a`, with `a`
    /// clipped to [−1, 1]. An agent steers any method this way (AdamW's schedule, Prodigy's
    /// multiplier of `d`), and an action of 0 leaves the method as it is.
    #[default]
    LogMultiplier,
}

impl ActionMode {
    /// The name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionMode::Absolute => "absolute",
            ActionMode::LogMultiplier => "log-multiplier",
        }
    }
}

/// The mapping from an action to a learning rate, with its bounds.
///
/// * `absolute`: `lr = clamp(a, lr_min, lr_max)`;
/// * `log-multiplier`: `lr = clamp(base · max_factor^clamp(a, −1, 1), lr_min, lr_max)`.
///
/// Out-of-range actions, negative ones and ±∞ are clipped (so an absurd action gives the bound,
/// and whatever training then does is data). NaN is not a learning rate: it maps to NaN, which
/// the engine records as divergence and the environment as a crash.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActionMap {
    /// How the action is read.
    pub mode: ActionMode,
    /// The largest factor of a log-multiplier (> 1).
    pub max_factor: f64,
    /// The smallest learning rate (>= 0).
    pub lr_min: f64,
    /// The largest learning rate (>= `lr_min`, may be +∞ for a log-multiplier).
    pub lr_max: f64,
}

impl ActionMap {
    /// The learning rate of action `action` when the base controller says `base`.
    pub fn lr(&self, action: f64, base: f64) -> f64 {
        if action.is_nan() {
            return f64::NAN;
        }
        let lr = match self.mode {
            ActionMode::Absolute => action,
            ActionMode::LogMultiplier => base * self.max_factor.powf(action.clamp(-1.0, 1.0)),
        };
        if lr.is_nan() {
            // A NaN base (never from this crate's controllers) stays NaN: divergence.
            return lr;
        }
        lr.clamp(self.lr_min, self.lr_max)
    }

    /// The action that keeps the base rate: 0 for a log-multiplier; for an absolute rate the
    /// geometric middle of the bounds is a guess, so `None`.
    pub fn neutral(&self) -> Option<f64> {
        match self.mode {
            ActionMode::LogMultiplier => Some(0.0),
            ActionMode::Absolute => None,
        }
    }
}

/// A controller whose learning rate follows an action set from outside, on top of an optional
/// base controller, and that keeps the [observation vector](crate::observe) of the run.
///
/// `lrctl.Env` drives a run with it: set the action ([`set_action`](Self::set_action)), advance
/// the run `interval` steps, read [`vector`](Self::vector). [`PolicyController`] is the same
/// with a [`Policy`] choosing the action every `interval` steps inside the run. The base
/// controller is asked every step (it keeps its own state, e.g. a plateau detector), and the
/// learning rate of every step is `map.lr(action, base)`.
pub struct Steering {
    base: Option<Box<dyn Controller>>,
    map: ActionMap,
    encoder: ObservationEncoder,
    action: f64,
}

impl Steering {
    /// Steers `base` (required for a log-multiplier) through `map`, starting with `action`.
    pub fn new(base: Option<Box<dyn Controller>>, map: ActionMap, action: f64) -> Steering {
        Steering {
            base,
            map,
            encoder: ObservationEncoder::new(),
            action,
        }
    }

    /// A copy in the current state; `None` when the base controller cannot be copied.
    fn try_clone(&self) -> Option<Steering> {
        let base = match &self.base {
            Some(b) => Some(b.snapshot()?),
            None => None,
        };
        Some(Steering {
            base,
            map: self.map,
            encoder: self.encoder.clone(),
            action: self.action,
        })
    }

    /// The action for the steps from now on.
    pub fn set_action(&mut self, action: f64) {
        self.action = action;
    }

    /// The current action.
    pub fn action(&self) -> f64 {
        self.action
    }

    /// The action mapping.
    pub fn map(&self) -> &ActionMap {
        &self.map
    }

    /// A validation result known outside the engine's own schedule (see
    /// [`ObservationEncoder::observe_eval`]).
    pub fn observe_eval(&mut self, eval: &EvalObservation) {
        self.encoder.observe_eval(eval);
    }

    /// The observation vector for the decision of step `step` of `total_steps`.
    pub fn vector(&self, step: u64, total_steps: u64) -> [f64; OBSERVATION_LEN] {
        self.encoder.vector(step, total_steps)
    }
}

impl Controller for Steering {
    fn lr(&mut self, obs: &Observation) -> f64 {
        if let Some(e) = &obs.eval {
            self.encoder.observe_eval(e);
        }
        let base = self.base.as_mut().map_or(f64::NAN, |b| b.lr(obs));
        let lr = self.map.lr(self.action, base);
        self.encoder.observe_step(obs);
        self.encoder.record_lr(lr);
        lr
    }

    fn needs_history(&self) -> bool {
        // The observation vector reads the gradient cosine and the update ratio.
        true
    }

    fn snapshot(&self) -> Option<Box<dyn Controller>> {
        Some(Box::new(self.try_clone()?))
    }
}

/// Chooses an action from the observation vector.
pub trait Policy: Send {
    /// The action for the steps from `step` on (the next `interval` of them), from the
    /// observation vector. `Err` with the reason when the policy cannot answer (it raised, its
    /// process died); the run then fails with that reason.
    fn act(&mut self, step: u64, total_steps: u64, observation: &[f64]) -> Result<f64, String>;

    /// An independent copy in the current state (see [`Controller::snapshot`]); `None` when
    /// the policy cannot be copied (a process), the default.
    fn snapshot(&self) -> Option<Box<dyn Policy>> {
        None
    }
}

/// `kind = "policy"`: the learning rate chosen every `interval` steps by a [`Policy`] from the
/// [observation vector](crate::observe), on top of a base controller.
///
/// Built from a [`PolicyConfig`], the policy is a Python callable run in a *policy host*: a
/// child process `$LRCTL_PYTHON -m lrctl._policy_host POLICY` (`python3` when `LRCTL_PYTHON`
/// is unset) started at the first step, speaking JSON lines (the observation in, the action
/// out; see `lrctl._policy_host`). A subprocess rather than an embedded interpreter, because
/// the `lrctl` binary then needs no libpython, the callable runs in the user's exact
/// interpreter (its virtual environment and packages; the Python package sets
/// `LRCTL_PYTHON` to itself for the studies it drives), and a crash of the policy ends one cell,
/// not the worker. The cost is one round trip per decision, tens of microseconds.
///
/// A policy that raises or dies fails the run with its traceback as the reason
/// ([`Controller::failure`]); an action that is NaN ends it as diverged; any other action is
/// clipped to the configured bounds ([`ActionMap`]). A policy host cannot be copied, so
/// neither can this controller then ([`Controller::snapshot`] is `None`); with a learned
/// network ([`crate::online::LearnedConfig`]) it can.
pub struct PolicyController {
    steering: Steering,
    interval: u64,
    policy: Box<dyn Policy>,
    failure: Option<String>,
}

impl PolicyController {
    /// Asks `policy` every `interval` (>= 1) steps and steers with its action.
    pub fn new(steering: Steering, interval: u64, policy: Box<dyn Policy>) -> Self {
        PolicyController {
            steering,
            interval: interval.max(1),
            policy,
            failure: None,
        }
    }
}

impl Controller for PolicyController {
    fn lr(&mut self, obs: &Observation) -> f64 {
        if self.failure.is_some() {
            return f64::NAN;
        }
        if obs.step.is_multiple_of(self.interval) {
            // A validation that ran after the previous step is past information: it is in the
            // vector, as it is in the environment's after the same steps.
            if let Some(e) = &obs.eval {
                self.steering.observe_eval(e);
            }
            let v = self.steering.vector(obs.step, obs.total_steps);
            match self.policy.act(obs.step, obs.total_steps, &v) {
                Ok(a) => self.steering.set_action(a),
                Err(reason) => {
                    self.failure = Some(reason);
                    return f64::NAN;
                }
            }
        }
        self.steering.lr(obs)
    }

    fn needs_history(&self) -> bool {
        true
    }

    fn failure(&self) -> Option<String> {
        self.failure.clone()
    }

    /// A copy when the policy can be copied (a learned network; not a policy host).
    fn snapshot(&self) -> Option<Box<dyn Controller>> {
        Some(Box::new(PolicyController {
            steering: self.steering.try_clone()?,
            interval: self.interval,
            policy: self.policy.snapshot()?,
            failure: self.failure.clone(),
        }))
    }
}

pub(super) fn one() -> u64 {
    1
}

pub(super) fn ten() -> f64 {
    10.0
}

/// The checks every steering configuration shares: `interval` >= 1, `max_factor` > 1,
/// 0 <= `lr_min` <= `lr_max`. Returns (`lr_min`, `lr_max`).
pub(super) fn check_steering(
    ctx: &Ctx,
    interval: u64,
    max_factor: f64,
    lr_min: f64,
    lr_max: f64,
) -> Result<(f64, f64), ControlError> {
    ctx.at_least_one("interval", interval)?;
    if !(max_factor.is_finite() && max_factor > 1.0) {
        return Err(ctx.invalid(
            "max_factor",
            format!("must be a finite number > 1, got {max_factor}"),
        ));
    }
    let lr_min = ctx.non_negative("lr_min", lr_min)?;
    if lr_max.is_nan() || lr_max < lr_min {
        return Err(ctx.invalid(
            "lr_max",
            format!("must be a number >= lr_min ({lr_min}), got {lr_max}"),
        ));
    }
    Ok((lr_min, lr_max))
}

/// A `version` tag goes into cell configurations and reports: no control characters.
pub(super) fn check_version(ctx: &Ctx, version: &Option<String>) -> Result<(), ControlError> {
    match version {
        Some(v) if v.chars().any(char::is_control) => {
            Err(ctx.invalid("version", "holds control characters"))
        }
        _ => Ok(()),
    }
}

/// `kind = "policy"`: [`PolicyController`] with a Python policy.
///
/// ```toml
/// [controller]
/// kind = "policy"
/// policy = "my_policies:warm_then_decay"   # module:callable, file.py:callable, a .pkl or .json
/// interval = 10                            # ask every 10 steps
/// action = "log-multiplier"                # or "absolute"
/// max_factor = 10.0                        # log-multiplier: lr = base · 10^a, a in [-1, 1]
/// base = { kind = "constant", lr = 0.001 } # any controller (required for a log-multiplier)
/// ```
///
/// `policy` is given to the policy host as written: `module:callable` (imported from the
/// working directory or `PYTHONPATH`), `path/to/file.py:callable`, a pickled callable
/// (`.pkl`/`.pickle`; pickles run code: only your own files), or a `.json` file
/// `{"factory": "module:callable", "kwargs": {...}}` whose factory returns the callable. The
/// callable maps the observation vector (a float64 numpy array, [`crate::observe`]) to the
/// action. Relative paths are relative to the working directory of the process that trains
/// the cell.
///
/// The configuration — not the policy's code — is part of a cell's identity: when the code
/// changes, change `version` so that new cells are trained instead of the old results reused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyConfig {
    /// The policy, as the policy host reads it (see above).
    pub policy: String,
    /// Steps between decisions, >= 1 (default 1).
    #[serde(default = "one")]
    pub interval: u64,
    /// How the action is read (default `log-multiplier`).
    #[serde(default)]
    pub action: ActionMode,
    /// The largest factor of a log-multiplier, > 1 (default 10).
    #[serde(default = "ten")]
    pub max_factor: f64,
    /// The controller whose rate a log-multiplier scales (the base method's controller);
    /// asked every step. Optional for an absolute action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<Box<ControllerSpec>>,
    /// The smallest learning rate, >= 0 (default 0).
    #[serde(default)]
    pub lr_min: f64,
    /// The largest learning rate (default 1 for an absolute action, unbounded for a
    /// log-multiplier, whose `max_factor` bounds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_max: Option<f64>,
    /// Free text naming the policy's version: part of the cell's configuration (see above).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl PolicyConfig {
    /// The checked action mapping.
    pub fn action_map(&self) -> Result<ActionMap, ControlError> {
        self.checked(&Ctx::root())
    }

    fn checked(&self, ctx: &Ctx) -> Result<ActionMap, ControlError> {
        if self.policy.trim().is_empty() {
            return Err(ctx.invalid(
                "policy",
                "is empty; give `module:callable`, `file.py:callable`, a .pkl or a .json file",
            ));
        }
        if self.policy.chars().any(char::is_control) {
            return Err(ctx.invalid("policy", "holds control characters"));
        }
        let default_max = match self.action {
            ActionMode::Absolute => 1.0_f64.max(self.lr_min),
            ActionMode::LogMultiplier => f64::INFINITY,
        };
        let (lr_min, lr_max) = check_steering(
            ctx,
            self.interval,
            self.max_factor,
            self.lr_min,
            self.lr_max.unwrap_or(default_max),
        )?;
        if self.action == ActionMode::LogMultiplier && self.base.is_none() {
            return Err(ctx.invalid(
                "base",
                "is required with action = \"log-multiplier\" (the controller whose learning \
                 rate the policy scales, e.g. base = { kind = \"constant\", lr = 0.001 })",
            ));
        }
        check_version(ctx, &self.version)?;
        Ok(ActionMap {
            mode: self.action,
            max_factor: self.max_factor,
            lr_min,
            lr_max,
        })
    }
}

impl ControllerConfig for PolicyConfig {
    const KIND: &'static str = "policy";

    fn signals(&self) -> Vec<crate::Signal> {
        // The observation vector's loss and gradient terms, and the base controller's own.
        let mut v = vec![crate::Signal::Loss, crate::Signal::GradNorm];
        v.extend(self.base.iter().flat_map(|b| b.signals()));
        v
    }

    /// The base controller's rate (what a log-multiplier of 0 gives).
    fn lr(&self) -> Option<f64> {
        self.base.as_ref().and_then(|b| b.lr())
    }

    fn describe(&self) -> String {
        let base = self
            .base
            .as_ref()
            .map(|b| format!(" of {}", b.describe()))
            .unwrap_or_default();
        let how = match self.action {
            ActionMode::Absolute => "the learning rate".to_string(),
            ActionMode::LogMultiplier => format!("a factor in [1/{0}, {0}]{base}", self.max_factor),
        };
        format!(
            "Python policy `{}` sets {how} every {} step(s)",
            self.policy, self.interval
        )
    }
}

impl OnlineConfig for PolicyConfig {
    type Controller = PolicyController;

    fn build(&self, ctx: &Ctx) -> Result<PolicyController, ControlError> {
        let map = self.checked(ctx)?;
        let base = match &self.base {
            Some(b) => Some(b.build().map_err(|e| nested(ctx, e))?),
            None => None,
        };
        // Nothing is started here (building also validates): the host starts at the first step.
        let policy = HostPolicy::new(self.policy.clone());
        Ok(PolicyController::new(
            Steering::new(base, map, map.neutral().unwrap_or(0.0)),
            self.interval,
            Box::new(policy),
        ))
    }
}

/// A base controller's error, its field path under `base`.
pub(super) fn nested(ctx: &Ctx, e: ControlError) -> ControlError {
    match e {
        ControlError::Invalid { field, reason } => ctx.invalid(&format!("base.{field}"), reason),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::GradStats;

    fn map(mode: ActionMode) -> ActionMap {
        ActionMap {
            mode,
            max_factor: 10.0,
            lr_min: 1e-6,
            lr_max: 1.0,
        }
    }

    #[test]
    fn actions_map_to_clipped_rates_and_nan_stays_nan() {
        let a = map(ActionMode::Absolute);
        assert_eq!(a.lr(0.01, f64::NAN), 0.01);
        assert_eq!(a.lr(-3.0, 0.1), 1e-6);
        assert_eq!(a.lr(f64::INFINITY, 0.1), 1.0);
        assert_eq!(a.lr(f64::NEG_INFINITY, 0.1), 1e-6);
        assert!(a.lr(f64::NAN, 0.1).is_nan());
        let m = map(ActionMode::LogMultiplier);
        assert_eq!(m.lr(0.0, 0.01), 0.01);
        assert!((m.lr(1.0, 0.01) - 0.1).abs() < 1e-15);
        assert!((m.lr(-0.5, 0.01) - 0.01 / 10f64.sqrt()).abs() < 1e-15);
        assert!((m.lr(7.0, 0.01) - 0.1).abs() < 1e-15); // the action is clipped to [-1, 1]
        assert_eq!(m.lr(1.0, 0.5), 1.0); // and the rate to the bounds
        assert!(m.lr(f64::NAN, 0.01).is_nan());
        assert_eq!(m.neutral(), Some(0.0));
    }

    /// The (step, vector) pairs a policy was asked about.
    type Seen = std::sync::Arc<std::sync::Mutex<Vec<(u64, Vec<f64>)>>>;

    /// Answers from a list and records what it saw.
    struct Scripted {
        actions: Vec<Result<f64, String>>,
        seen: Seen,
    }

    impl Policy for Scripted {
        fn act(&mut self, step: u64, _total: u64, v: &[f64]) -> Result<f64, String> {
            self.seen.lock().unwrap().push((step, v.to_vec()));
            self.actions.remove(0)
        }
    }

    fn obs(step: u64) -> Observation {
        let mut o = Observation::at_step(step, 100);
        o.loss = 1.0 / (1.0 + step as f64);
        o.grad = GradStats {
            norm: 1.0,
            ..GradStats::default()
        };
        o
    }

    /// [`obs`] with a validation result (loss 0.7) arriving at step 4.
    fn obs_eval_at_4(step: u64) -> Observation {
        let mut o = obs(step);
        if step == 4 {
            o.eval = Some(EvalObservation {
                step: 4,
                loss: 0.7,
                metric: None,
            });
        }
        o
    }

    fn constant(lr: f64) -> Box<dyn Controller> {
        ControllerSpec::Constant(crate::schedules::ConstantConfig { lr: Some(lr) })
            .build()
            .unwrap()
    }

    #[test]
    fn the_policy_is_asked_every_interval_with_the_past_only() {
        let seen = Default::default();
        let policy = Scripted {
            actions: vec![Ok(0.0), Ok(1.0), Ok(-1.0)],
            seen: std::sync::Arc::clone(&seen),
        };
        let steering = Steering::new(Some(constant(0.01)), map(ActionMode::LogMultiplier), 0.0);
        let mut c = PolicyController::new(steering, 4, Box::new(policy));
        let lrs: Vec<f64> = (0..12).map(|s| c.lr(&obs(s))).collect();
        let expect = [0.01; 4]
            .into_iter()
            .chain([0.1; 4])
            .chain([0.001; 4])
            .collect::<Vec<_>>();
        for (a, b) in lrs.iter().zip(&expect) {
            assert!((a - b).abs() < 1e-12, "{lrs:?}");
        }
        let seen = seen.lock().unwrap();
        assert_eq!(seen.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [0, 4, 8]);
        // At step 0 nothing is known; at step 4 the loss of steps 0..4, not step 4's.
        assert_eq!(seen[0].1, ObservationEncoder::new().vector(0, 100).to_vec());
        let mut e = ObservationEncoder::new();
        for s in 0..4 {
            e.observe_step(&obs(s));
            e.record_lr(0.01);
        }
        assert_eq!(seen[1].1, e.vector(4, 100).to_vec());
        assert!(c.failure().is_none());
    }

    #[test]
    fn the_environment_and_the_controller_see_the_same_vectors() {
        // The environment: set an action, advance `interval` steps, read the vector.
        let actions = [0.3, -0.2, 0.9];
        let mut env = Steering::new(Some(constant(0.01)), map(ActionMode::LogMultiplier), 0.0);
        let mut env_vectors = Vec::new();
        let mut env_lrs = Vec::new();
        for (k, a) in actions.iter().enumerate() {
            env_vectors.push(env.vector(3 * k as u64, 100).to_vec());
            env.set_action(*a);
            for s in 3 * k as u64..3 * (k as u64 + 1) {
                env_lrs.push(env.lr(&obs_eval_at_4(s)));
            }
        }
        // The controller, with a policy answering the same actions.
        let seen = Default::default();
        let policy = Scripted {
            actions: actions.iter().map(|a| Ok(*a)).collect(),
            seen: std::sync::Arc::clone(&seen),
        };
        let mut c = PolicyController::new(
            Steering::new(Some(constant(0.01)), map(ActionMode::LogMultiplier), 0.0),
            3,
            Box::new(policy),
        );
        let lrs: Vec<f64> = (0..9).map(|s| c.lr(&obs_eval_at_4(s))).collect();
        assert_eq!(lrs, env_lrs);
        let seen: Vec<Vec<f64>> = seen.lock().unwrap().iter().map(|x| x.1.clone()).collect();
        assert_eq!(seen, env_vectors);
    }

    #[test]
    fn a_failing_policy_fails_the_run_and_nan_diverges() {
        let policy = Scripted {
            actions: vec![Ok(0.0), Err("Traceback: ZeroDivisionError".into())],
            seen: Default::default(),
        };
        let steering = Steering::new(Some(constant(0.01)), map(ActionMode::LogMultiplier), 0.0);
        let mut c = PolicyController::new(steering, 2, Box::new(policy));
        assert_eq!(c.lr(&obs(0)), 0.01);
        assert_eq!(c.lr(&obs(1)), 0.01);
        assert!(c.lr(&obs(2)).is_nan());
        assert!(c.failure().unwrap().contains("ZeroDivisionError"));
        assert!(c.lr(&obs(3)).is_nan(), "stays failed");

        let policy = Scripted {
            actions: vec![Ok(f64::NAN)],
            seen: Default::default(),
        };
        let steering = Steering::new(Some(constant(0.01)), map(ActionMode::LogMultiplier), 0.0);
        let mut c = PolicyController::new(steering, 2, Box::new(policy));
        assert!(c.lr(&obs(0)).is_nan());
        assert_eq!(c.failure(), None, "NaN is divergence, not failure");
    }

    #[test]
    fn configuration_is_checked_without_starting_anything() {
        let parse = |text: &str| -> Result<ControllerSpec, ControlError> {
            let v: toml::Value = toml::from_str(text).unwrap();
            ControllerSpec::from_deserializer(v)
        };
        // `validate` builds: no process may start (a nonexistent module would fail if it did).
        let ok = parse(
            "kind = \"policy\"\npolicy = \"no_such_module:f\"\ninterval = 5\n\
             base = { kind = \"cosine\", lr = 0.01 }\n",
        )
        .unwrap();
        assert_eq!(ok.kind(), "policy");
        assert!(!ok.is_schedule());
        assert_eq!(ok.lr(), Some(0.01));
        assert!(
            ok.describe().contains("no_such_module:f"),
            "{}",
            ok.describe()
        );
        let abs = parse("kind = \"policy\"\npolicy = \"m:f\"\naction = \"absolute\"\n").unwrap();
        let ControllerSpec::Policy(p) = &abs else {
            panic!()
        };
        assert_eq!(p.action_map().unwrap().lr_max, 1.0);
        for (text, field) in [
            (
                "policy = \"\"\nbase = { kind = \"constant\", lr = 1.0 }",
                "policy",
            ),
            ("policy = \"m:f\"", "base"),
            (
                "policy = \"m:f\"\ninterval = 0\nbase = { kind = \"constant\", lr = 1.0 }",
                "interval",
            ),
            (
                "policy = \"m:f\"\nmax_factor = 1.0\nbase = { kind = \"constant\", lr = 1.0 }",
                "max_factor",
            ),
            (
                "policy = \"m:f\"\naction = \"absolute\"\nlr_min = 0.5\nlr_max = 0.1",
                "lr_max",
            ),
            (
                "policy = \"m:f\"\nbase = { kind = \"constant\", lr = -1.0 }",
                "base.lr",
            ),
        ] {
            let e = parse(&format!("kind = \"policy\"\n{text}\n")).unwrap_err();
            assert!(
                e.to_string().contains(&format!("`{field}`")),
                "{field}: {e}"
            );
        }
        let e = parse("kind = \"policy\"\npolicy = \"m:f\"\nbogus = 1\n").unwrap_err();
        assert!(e.to_string().contains("bogus"), "{e}");
    }
}
