//! Learned controllers: a small parametric policy — linear, or an MLP of a few thousand weights
//! at most — mapping the [observation vector](crate::observe) to a log learning-rate multiplier
//! of a base controller every `interval` steps, evaluated in-process and deterministically.
//!
//! The policy is the same kind of object the Python `lrctl.Env` trains and the `policy`
//! controller runs in a host, but its weights live in a JSON file (or inline in the method) so
//! that meta-training can produce it and a study can run it without Python. The action is
//! `tanh` of the network's single output, so it always lies in [−1, 1] and the learning rate is
//! `base · max_factor^action` ([`ActionMap`], log-multiplier). Learned LR policies of this
//! shape are those of Daniel, Taylor & Nowozin, *Learning Step Size Controllers for Robust
//! Neural Network Training* (AAAI 2016) and of the DAC line of work (Adriaensen et al., *Automated
//! Dynamic Algorithm Configuration*, JAIR 2022); the observation features are lrctl's own.
//!
//! # File format (`format = "lrctl-policy"`, version 1)
//!
//! ```json
//! {
//!   "format": "lrctl-policy",
//!   "observation_version": 1,
//!   "observation": ["progress", "log_loss", …],
//!   "layers": [
//!     {"weights": [[…13 numbers…], …16 rows…], "bias": [… 16 …]},
//!     {"weights": [[… 16 …]], "bias": [0.0]}
//!   ]
//! }
//! ```
//!
//! Every layer but the last is followed by `tanh`; the last has one output, squashed by
//! `tanh` into the action. A single layer is a linear policy. `observation` must be exactly
//! [`OBSERVATION_NAMES`] of [`OBSERVATION_VERSION`]: a policy trained on another layout is
//! refused with both named, never silently misread.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::policy::{
    ActionMap, ActionMode, Policy, PolicyController, Steering, check_steering, check_version, one,
    ten,
};
use crate::check::Ctx;
use crate::observe::{OBSERVATION_LEN, OBSERVATION_NAMES, OBSERVATION_VERSION};
use crate::spec::OnlineConfig;
use crate::{ControlError, ControllerConfig, ControllerSpec};

/// The `format` tag of a policy file.
pub const POLICY_FORMAT: &str = "lrctl-policy";

/// At most this many weights (a learned controller is small by design; meta-training searches
/// over every weight).
pub const MAX_POLICY_WEIGHTS: usize = 100_000;

/// One dense layer: `out = weights · in + bias`, `weights` row-major (`out × in`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseLayer {
    /// One row per output, each as long as the layer's input.
    pub weights: Vec<Vec<f64>>,
    /// One per output.
    pub bias: Vec<f64>,
}

/// A policy network: dense layers with `tanh` between them and on the single output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyNet {
    /// Always [`POLICY_FORMAT`].
    pub format: String,
    /// The observation layout it was trained on ([`OBSERVATION_VERSION`]).
    pub observation_version: u32,
    /// The names of its inputs, in order ([`OBSERVATION_NAMES`]).
    pub observation: Vec<String>,
    /// The layers, input first.
    pub layers: Vec<DenseLayer>,
}

impl PolicyNet {
    /// The number of weights (and biases) of a network with hidden layers `hidden` on the
    /// current observation vector.
    pub fn n_params(hidden: &[usize]) -> usize {
        let mut n = 0;
        let mut d_in = OBSERVATION_LEN;
        for &h in hidden.iter().chain(&[1]) {
            n += (d_in + 1) * h;
            d_in = h;
        }
        n
    }

    /// The network with hidden layers `hidden` whose weights are `params`, laid out layer by
    /// layer, each as its weight rows then its bias (the order meta-training searches in).
    /// `None` when `params` has not [`PolicyNet::n_params`] values.
    pub fn from_flat(hidden: &[usize], params: &[f64]) -> Option<PolicyNet> {
        if params.len() != Self::n_params(hidden) {
            return None;
        }
        let mut rest = params;
        let mut take = |n: usize| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head.to_vec()
        };
        let mut layers = Vec::new();
        let mut d_in = OBSERVATION_LEN;
        for &h in hidden.iter().chain(&[1]) {
            let weights = (0..h).map(|_| take(d_in)).collect();
            let bias = take(h);
            layers.push(DenseLayer { weights, bias });
            d_in = h;
        }
        Some(PolicyNet {
            format: POLICY_FORMAT.into(),
            observation_version: OBSERVATION_VERSION,
            observation: OBSERVATION_NAMES.iter().map(|s| s.to_string()).collect(),
            layers,
        })
    }

    /// The weights in [`PolicyNet::from_flat`]'s order.
    pub fn to_flat(&self) -> Vec<f64> {
        let mut out = Vec::new();
        for l in &self.layers {
            for row in &l.weights {
                out.extend_from_slice(row);
            }
            out.extend_from_slice(&l.bias);
        }
        out
    }

    /// The hidden layer sizes.
    pub fn hidden(&self) -> Vec<usize> {
        let n = self.layers.len().saturating_sub(1);
        self.layers[..n].iter().map(|l| l.bias.len()).collect()
    }

    /// Checks format, observation layout, shapes and values; the reason names what is wrong
    /// and what was expected.
    pub fn check(&self) -> Result<(), String> {
        if self.format != POLICY_FORMAT {
            return Err(format!(
                "`format` is {:?}, expected {POLICY_FORMAT:?}",
                self.format
            ));
        }
        if self.observation_version != OBSERVATION_VERSION
            || self.observation.len() != OBSERVATION_LEN
            || self
                .observation
                .iter()
                .zip(OBSERVATION_NAMES)
                .any(|(a, b)| a != b)
        {
            return Err(format!(
                "was trained on observation layout version {} ({} inputs: {}), but this lrctl \
                 computes version {OBSERVATION_VERSION} ({OBSERVATION_LEN} inputs: {}); \
                 meta-train it again on this version",
                self.observation_version,
                self.observation.len(),
                self.observation.join(", "),
                OBSERVATION_NAMES.join(", ")
            ));
        }
        if self.layers.is_empty() {
            return Err("has no layers (a linear policy is one layer with one output)".into());
        }
        let mut d_in = OBSERVATION_LEN;
        let mut total = 0usize;
        for (i, l) in self.layers.iter().enumerate() {
            let last = i + 1 == self.layers.len();
            let out = l.bias.len();
            if last && out != 1 {
                return Err(format!(
                    "layers[{i}] (the last) has {out} outputs, expected 1 (the action)"
                ));
            }
            if out == 0 || l.weights.len() != out {
                return Err(format!(
                    "layers[{i}] has {} weight rows and {out} biases; expected as many rows \
                     as biases, at least one",
                    l.weights.len()
                ));
            }
            if let Some((r, row)) = l.weights.iter().enumerate().find(|(_, r)| r.len() != d_in) {
                return Err(format!(
                    "layers[{i}].weights[{r}] has {} values, expected {d_in} (the {})",
                    row.len(),
                    if i == 0 {
                        "observation vector's length"
                    } else {
                        "previous layer's outputs"
                    }
                ));
            }
            if l.weights
                .iter()
                .flatten()
                .chain(&l.bias)
                .any(|w| !w.is_finite())
            {
                return Err(format!(
                    "layers[{i}] holds a weight that is NaN or infinite"
                ));
            }
            total += (d_in + 1) * out;
            d_in = out;
        }
        if total > MAX_POLICY_WEIGHTS {
            return Err(format!(
                "has {total} weights; a learned controller has at most {MAX_POLICY_WEIGHTS}"
            ));
        }
        Ok(())
    }

    /// The action for observation `x`: the network's output through `tanh`, in [−1, 1]
    /// (NaN only when `x` holds NaN, which the encoder never produces).
    pub fn act(&self, x: &[f64]) -> f64 {
        let mut h = x.to_vec();
        for l in &self.layers {
            h = l
                .weights
                .iter()
                .zip(&l.bias)
                .map(|(row, b)| (row.iter().zip(&h).map(|(w, v)| w * v).sum::<f64>() + b).tanh())
                .collect();
        }
        h[0]
    }

    /// Reads and checks a policy file; errors name the file.
    pub fn read(path: &Path) -> Result<PolicyNet, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read policy file {}: {e}", path.display()))?;
        let net: PolicyNet = serde_json::from_str(&text)
            .map_err(|e| format!("policy file {}: {e}", path.display()))?;
        net.check()
            .map_err(|e| format!("policy file {}: {e}", path.display()))?;
        Ok(net)
    }

    /// The JSON text of the file (pretty-printed).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a policy network serialises")
    }
}

impl Policy for PolicyNet {
    fn act(&mut self, _step: u64, _total_steps: u64, observation: &[f64]) -> Result<f64, String> {
        Ok(PolicyNet::act(self, observation))
    }

    fn snapshot(&self) -> Option<Box<dyn Policy>> {
        Some(Box::new(self.clone()))
    }
}

/// Where a learned controller's weights are: a file, or inline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PolicyWeights {
    /// A policy file (JSON, see the module docs), relative to the working directory.
    File(String),
    /// The network itself (what meta-training evaluates and may write into a method).
    Inline(Box<PolicyNet>),
}

/// `kind = "learned"`: a [`PolicyNet`] scaling a base controller's rate every `interval` steps.
///
/// ```toml
/// [controller]
/// kind = "learned"
/// policy = "policies/adamw-loto-iris.json"   # or an inline table (see PolicyNet)
/// interval = 10
/// max_factor = 10.0                          # lr = base · 10^a, a = tanh(net(obs)) in [-1, 1]
/// base = { kind = "constant", lr = 0.001 }   # any controller
/// ```
///
/// A file is read when the method is resolved. The file's content is not part of the cell's
/// configuration, only its name: when the file changes, change `version` (meta-training
/// writes inline weights, which are).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LearnedConfig {
    /// The policy network, a file or inline.
    pub policy: PolicyWeights,
    /// Steps between decisions, >= 1 (default 1).
    #[serde(default = "one")]
    pub interval: u64,
    /// The largest factor, > 1 (default 10).
    #[serde(default = "ten")]
    pub max_factor: f64,
    /// The controller whose rate the policy scales; asked every step.
    pub base: Box<ControllerSpec>,
    /// The smallest learning rate, >= 0 (default 0).
    #[serde(default)]
    pub lr_min: f64,
    /// The largest learning rate (default unbounded: `max_factor` bounds it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr_max: Option<f64>,
    /// Free text naming the policy file's version: part of the cell's configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl LearnedConfig {
    /// The checked network (read from its file when it is one).
    pub fn net(&self) -> Result<PolicyNet, ControlError> {
        self.checked(&Ctx::root()).map(|(net, _)| net)
    }

    fn checked(&self, ctx: &Ctx) -> Result<(PolicyNet, ActionMap), ControlError> {
        let net = match &self.policy {
            PolicyWeights::File(path) => {
                if path.trim().is_empty() || path.chars().any(char::is_control) {
                    return Err(ctx.invalid(
                        "policy",
                        "must name a policy file (JSON) or be an inline network",
                    ));
                }
                PolicyNet::read(Path::new(path)).map_err(|e| ctx.invalid("policy", e))?
            }
            PolicyWeights::Inline(net) => {
                net.check().map_err(|e| ctx.invalid("policy", e))?;
                (**net).clone()
            }
        };
        let (lr_min, lr_max) = check_steering(
            ctx,
            self.interval,
            self.max_factor,
            self.lr_min,
            self.lr_max.unwrap_or(f64::INFINITY),
        )?;
        check_version(ctx, &self.version)?;
        let map = ActionMap {
            mode: ActionMode::LogMultiplier,
            max_factor: self.max_factor,
            lr_min,
            lr_max,
        };
        Ok((net, map))
    }
}

impl ControllerConfig for LearnedConfig {
    const KIND: &'static str = "learned";

    fn signals(&self) -> Vec<crate::Signal> {
        let mut v = vec![crate::Signal::Loss, crate::Signal::GradNorm];
        v.extend(self.base.signals());
        v
    }

    /// The base controller's rate (what an action of 0 gives).
    fn lr(&self) -> Option<f64> {
        self.base.lr()
    }

    fn describe(&self) -> String {
        let what = match &self.policy {
            PolicyWeights::File(p) => format!("`{p}`"),
            PolicyWeights::Inline(net) => {
                let hidden = net.hidden();
                if hidden.is_empty() {
                    "an inline linear policy".to_string()
                } else {
                    format!("an inline MLP policy (hidden {hidden:?})")
                }
            }
        };
        format!(
            "learned policy {what} scales {} by a factor in [1/{1}, {1}] every {2} step(s)",
            self.base.describe(),
            self.max_factor,
            self.interval
        )
    }
}

impl OnlineConfig for LearnedConfig {
    type Controller = PolicyController;

    fn build(&self, ctx: &Ctx) -> Result<PolicyController, ControlError> {
        let (net, map) = self.checked(ctx)?;
        let base = self
            .base
            .build()
            .map_err(|e| super::policy::nested(ctx, e))?;
        Ok(PolicyController::new(
            Steering::new(Some(base), map, 0.0),
            self.interval,
            Box::new(net),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Controller, GradStats, Observation};

    fn obs(step: u64) -> Observation {
        let mut o = Observation::at_step(step, 50);
        o.loss = 2.0 / (1.0 + step as f64);
        o.grad = GradStats {
            norm: 1.0 + step as f64 * 0.01,
            ..GradStats::default()
        };
        o
    }

    fn config(policy: PolicyWeights) -> LearnedConfig {
        LearnedConfig {
            policy,
            interval: 5,
            max_factor: 10.0,
            base: Box::new(ControllerSpec::Constant(crate::schedules::ConstantConfig {
                lr: Some(0.01),
            })),
            lr_min: 0.0,
            lr_max: None,
            version: None,
        }
    }

    fn built(c: LearnedConfig) -> Box<dyn Controller> {
        ControllerSpec::Learned(c).build().unwrap()
    }

    fn net(hidden: &[usize], seed: u64) -> PolicyNet {
        // A fixed pseudo-random pattern (no rand dependency here).
        let n = PolicyNet::n_params(hidden);
        let params: Vec<f64> = (0..n)
            .map(|i| ((i as f64 + 1.0) * 0.618_033_988 * (seed as f64 + 1.0)).sin() * 0.5)
            .collect();
        PolicyNet::from_flat(hidden, &params).unwrap()
    }

    #[test]
    fn flat_round_trip_and_sizes() {
        assert_eq!(PolicyNet::n_params(&[]), OBSERVATION_LEN + 1);
        assert_eq!(PolicyNet::n_params(&[8]), (OBSERVATION_LEN + 1) * 8 + 9);
        let n = net(&[8, 4], 3);
        assert!(n.check().is_ok());
        assert_eq!(n.hidden(), vec![8, 4]);
        assert_eq!(PolicyNet::from_flat(&[8, 4], &n.to_flat()).unwrap(), n);
        assert!(PolicyNet::from_flat(&[8], &[0.0; 3]).is_none());
    }

    #[test]
    fn a_zero_policy_keeps_the_base_rate_and_runs_are_deterministic() {
        let zero = PolicyNet::from_flat(&[4], &vec![0.0; PolicyNet::n_params(&[4])]).unwrap();
        let mut c = built(config(PolicyWeights::Inline(Box::new(zero))));
        for s in 0..20 {
            assert_eq!(c.lr(&obs(s)), 0.01);
        }
        let run = || {
            let mut c = built(config(PolicyWeights::Inline(Box::new(net(&[6], 1)))));
            (0..50).map(|s| c.lr(&obs(s)).to_bits()).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        // The rate changes only at decisions and stays within base · 10^[-1, 1].
        for (s, w) in a.windows(2).enumerate() {
            if (s + 1) % 5 != 0 {
                assert_eq!(w[0], w[1], "step {}", s + 1);
            }
        }
        assert!(a.iter().all(|&b| {
            let lr = f64::from_bits(b);
            (0.001 - 1e-15..=0.1 + 1e-15).contains(&lr)
        }));
    }

    #[test]
    fn a_snapshot_continues_exactly() {
        let mut c = built(config(PolicyWeights::Inline(Box::new(net(&[], 2)))));
        for s in 0..12 {
            c.lr(&obs(s));
        }
        let mut copy = c.snapshot().expect("a learned controller can be copied");
        for s in 12..50 {
            assert_eq!(c.lr(&obs(s)).to_bits(), copy.lr(&obs(s)).to_bits());
        }
    }

    #[test]
    fn wrong_shapes_and_layouts_are_refused_naming_both() {
        let mut n = net(&[4], 0);
        n.layers[0].weights[2].pop();
        let e = n.check().unwrap_err();
        assert!(
            e.contains("layers[0].weights[2] has 12 values, expected 13"),
            "{e}"
        );
        let mut n = net(&[], 0);
        n.observation_version = 0;
        n.observation.truncate(5);
        let e = n.check().unwrap_err();
        assert!(
            e.contains("version 0 (5 inputs") && e.contains("version 1 (13 inputs"),
            "{e}"
        );
        let mut n = net(&[3], 0);
        n.layers[1].weights[0][1] = f64::NAN;
        assert!(n.check().unwrap_err().contains("NaN"));
        let mut n = net(&[3], 0);
        n.layers.pop();
        assert!(n.check().unwrap_err().contains("expected 1 (the action)"));
    }

    #[test]
    fn files_are_read_and_bad_ones_name_the_file() {
        let dir = std::env::temp_dir().join(format!("lrctl-learned-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.json");
        std::fs::write(&good, net(&[4], 5).to_json()).unwrap();
        let c = config(PolicyWeights::File(good.display().to_string()));
        assert_eq!(c.net().unwrap(), net(&[4], 5));
        let broken = dir.join("broken.json");
        std::fs::write(&broken, "{\"format\": \"lrctl-policy\", ").unwrap();
        let e = config(PolicyWeights::File(broken.display().to_string()))
            .net()
            .unwrap_err()
            .to_string();
        assert!(e.contains("broken.json") && e.contains("`policy`"), "{e}");
        let missing = dir.join("missing.json");
        let e = config(PolicyWeights::File(missing.display().to_string()))
            .net()
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot read policy file") && e.contains("missing.json"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_toml_form_parses_both_ways() {
        let t = r#"
            kind = "learned"
            policy = "p.json"
            interval = 10
            base = { kind = "constant", lr = 0.001 }
        "#;
        let spec: ControllerSpec = toml::from_str(t).unwrap();
        let ControllerSpec::Learned(c) = &spec else {
            panic!("{spec:?}")
        };
        assert_eq!(c.policy, PolicyWeights::File("p.json".into()));
        let inline = config(PolicyWeights::Inline(Box::new(net(&[], 1))));
        let json = serde_json::to_string(&ControllerSpec::Learned(inline.clone())).unwrap();
        let back: ControllerSpec = serde_json::from_str(&json).unwrap();
        assert_eq!(back, ControllerSpec::Learned(inline));
    }
}
