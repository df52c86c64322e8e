//! Search spaces ([`SearchSpace`], [`Param`]), configurations ([`Config`]) and the fidelity
//! ([`Fidelity`]) a tuner may spend on one trial.

use std::collections::BTreeMap;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// One point of a [`SearchSpace`]: parameter name → value. Integer parameters hold integral
/// values (`3.0`), so a configuration serialises as a plain TOML/JSON table of numbers.
pub type Config = BTreeMap<String, f64>;

/// What is wrong with a [`SearchSpace`] or a [`Fidelity`]. Every message names the parameter (or
/// fidelity field) and the problem.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SpaceError {
    /// The space has no parameters, so there is nothing to tune.
    #[error("search space is empty: declare at least one parameter")]
    Empty,
    /// Two parameters share a name.
    #[error("parameter `{0}` is declared twice")]
    Duplicate(String),
    /// `low`, `high` or `default` is not a finite number.
    #[error("parameter `{name}`: {field} must be a finite number (got {value})")]
    NotFinite {
        /// The parameter.
        name: String,
        /// Which field (`low`, `high` or `default`).
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// `low > high`.
    #[error("parameter `{name}`: low ({low}) is greater than high ({high})")]
    MinAboveMax {
        /// The parameter.
        name: String,
        /// Its lower bound.
        low: f64,
        /// Its upper bound.
        high: f64,
    },
    /// A log-scaled range includes zero or negative values.
    #[error(
        "parameter `{name}`: a log range must be strictly positive, but low = {low} \
         (use a linear range or a positive lower bound)"
    )]
    LogNotPositive {
        /// The parameter.
        name: String,
        /// Its lower bound.
        low: f64,
    },
    /// An integer parameter has a non-integral bound or default.
    #[error("parameter `{name}`: {field} of an integer parameter must be an integer (got {value})")]
    NotInteger {
        /// The parameter.
        name: String,
        /// Which field (`low`, `high` or `default`).
        field: &'static str,
        /// The offending value.
        value: f64,
    },
    /// The default lies outside `[low, high]`.
    #[error("parameter `{name}`: default {default} is outside its range [{low}, {high}]")]
    DefaultOutOfRange {
        /// The parameter.
        name: String,
        /// The default.
        default: f64,
        /// Lower bound.
        low: f64,
        /// Upper bound.
        high: f64,
    },
    /// A serialised parameter has a `type` other than `"float"` or `"int"`.
    #[error("parameter `{name}`: unknown type {kind:?} (expected \"float\" or \"int\")")]
    UnknownType {
        /// The parameter.
        name: String,
        /// The unknown type.
        kind: String,
    },
    /// An invalid [`Fidelity`].
    #[error("fidelity: {0}")]
    Fidelity(String),
}

/// The domain of one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParamKind {
    /// A real number in `[low, high]`, uniform or (with `log`) log-uniform.
    Float {
        /// Lower bound (inclusive).
        low: f64,
        /// Upper bound (inclusive).
        high: f64,
        /// Search `ln(x)` uniformly; requires `low > 0`.
        log: bool,
    },
    /// An integer in `[low, high]`, uniform or (with `log`) log-uniform.
    Int {
        /// Lower bound (inclusive).
        low: i64,
        /// Upper bound (inclusive).
        high: i64,
        /// Search `ln(x)` uniformly; requires `low > 0`.
        log: bool,
    },
}

/// A named hyperparameter: its domain and an optional default (the value a method uses when
/// it is not tuned).
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    /// Name, the key of the parameter in a [`Config`].
    pub name: String,
    /// Domain.
    pub kind: ParamKind,
    /// Default value, inside the domain.
    pub default: Option<f64>,
}

impl Param {
    /// A float parameter in `[low, high]`, log-scaled when `log`, without a default.
    pub fn float(name: &str, low: f64, high: f64, log: bool) -> Param {
        Param {
            name: name.to_string(),
            kind: ParamKind::Float { low, high, log },
            default: None,
        }
    }

    /// An integer parameter in `[low, high]`, log-scaled when `log`, without a default.
    pub fn int(name: &str, low: i64, high: i64, log: bool) -> Param {
        Param {
            name: name.to_string(),
            kind: ParamKind::Int { low, high, log },
            default: None,
        }
    }

    /// The same parameter with a default.
    pub fn with_default(mut self, default: f64) -> Param {
        self.default = Some(default);
        self
    }

    /// `(low, high, log)` as floats.
    fn bounds(&self) -> (f64, f64, bool) {
        match self.kind {
            ParamKind::Float { low, high, log } => (low, high, log),
            ParamKind::Int { low, high, log } => (low as f64, high as f64, log),
        }
    }

    /// The interval that the unit interval maps onto linearly (in log space for log
    /// parameters). Integers get half a unit on either side so that every integer owns an
    /// equal share of `[0, 1]` (as in Optuna and ConfigSpace).
    fn internal_interval(&self) -> (f64, f64) {
        let (low, high, log) = self.bounds();
        let (low, high) = match self.kind {
            ParamKind::Float { .. } => (low, high),
            ParamKind::Int { .. } => (low - 0.5, high + 0.5),
        };
        if log {
            (low.ln(), high.ln())
        } else {
            (low, high)
        }
    }

    /// Checks this parameter alone (see [`SearchSpace::validate`]).
    pub fn validate(&self) -> Result<(), SpaceError> {
        let name = || self.name.clone();
        let (low, high, log) = self.bounds();
        for (field, value) in [("low", low), ("high", high)] {
            if !value.is_finite() {
                return Err(SpaceError::NotFinite {
                    name: name(),
                    field,
                    value,
                });
            }
        }
        if low > high {
            return Err(SpaceError::MinAboveMax {
                name: name(),
                low,
                high,
            });
        }
        if log && low <= 0.0 {
            return Err(SpaceError::LogNotPositive { name: name(), low });
        }
        if let Some(default) = self.default {
            if !default.is_finite() {
                return Err(SpaceError::NotFinite {
                    name: name(),
                    field: "default",
                    value: default,
                });
            }
            if matches!(self.kind, ParamKind::Int { .. }) && default.fract() != 0.0 {
                return Err(SpaceError::NotInteger {
                    name: name(),
                    field: "default",
                    value: default,
                });
            }
            if default < low || default > high {
                return Err(SpaceError::DefaultOutOfRange {
                    name: name(),
                    default,
                    low,
                    high,
                });
            }
        }
        Ok(())
    }

    /// Maps `u ∈ [0, 1]` (clamped) to a value of the parameter.
    pub fn from_unit(&self, u: f64) -> f64 {
        let (low, high, log) = self.bounds();
        let (a, b) = self.internal_interval();
        let t = a + u.clamp(0.0, 1.0) * (b - a);
        let x = if log { t.exp() } else { t };
        match self.kind {
            ParamKind::Float { .. } => x.clamp(low, high),
            ParamKind::Int { .. } => x.round().clamp(low, high),
        }
    }

    /// Maps a value of the parameter to `[0, 1]` (the inverse of [`Param::from_unit`]; an
    /// integer maps to the centre of its share).
    pub fn to_unit(&self, x: f64) -> f64 {
        let (_, _, log) = self.bounds();
        let (a, b) = self.internal_interval();
        if b <= a {
            return 0.5;
        }
        let t = if log {
            x.max(f64::MIN_POSITIVE).ln()
        } else {
            x
        };
        ((t - a) / (b - a)).clamp(0.0, 1.0)
    }

    /// The default, or else the centre of the range (geometric centre for log parameters).
    pub fn default_or_centre(&self) -> f64 {
        self.default.unwrap_or_else(|| self.from_unit(0.5))
    }
}

/// The TOML/serde form of one parameter; see [`SearchSpace`].
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct ParamSpec {
    #[serde(rename = "type", default = "float_type")]
    kind: String,
    low: f64,
    high: f64,
    #[serde(default)]
    log: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default: Option<f64>,
}

fn float_type() -> String {
    "float".to_string()
}

/// An ordered list of named parameters: the domain a tuner searches. Build one with
/// [`SearchSpace::new`] (which validates) or deserialise it.
///
/// # Serialised form
///
/// A table keyed by parameter name, so a method config can embed it as `[search.<name>]`:
///
/// ```toml
/// [search.lr]
/// low = 1e-4
/// high = 1.0
/// log = true        # optional, default false
/// default = 0.01    # optional
/// [search.t0]
/// type = "int"      # "float" (default) or "int"
/// low = 1
/// high = 50
/// ```
///
/// Deserialisation validates (see [`SearchSpace::validate`]), so a bad range is a config
/// error naming the parameter; unknown keys are rejected. Parameters are ordered by name
/// (a table has no reliable order), which fixes the unit-cube dimension order: reordering
/// the TOML does not change what a seeded tuner does.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchSpace {
    params: Vec<Param>,
}

impl SearchSpace {
    /// A validated space with the parameters in the given order.
    pub fn new(params: Vec<Param>) -> Result<SearchSpace, SpaceError> {
        let space = SearchSpace { params };
        space.validate()?;
        Ok(space)
    }

    /// Checks the space: at least one parameter, unique names, finite bounds with
    /// `low <= high`, log ranges strictly positive, integral bounds and defaults for integer
    /// parameters, and defaults inside their range.
    pub fn validate(&self) -> Result<(), SpaceError> {
        if self.params.is_empty() {
            return Err(SpaceError::Empty);
        }
        for (i, p) in self.params.iter().enumerate() {
            if self.params[..i].iter().any(|q| q.name == p.name) {
                return Err(SpaceError::Duplicate(p.name.clone()));
            }
            p.validate()?;
        }
        Ok(())
    }

    /// The parameters, in dimension order.
    pub fn params(&self) -> &[Param] {
        &self.params
    }

    /// Number of parameters (the dimension of the unit cube).
    pub fn dim(&self) -> usize {
        self.params.len()
    }

    /// A configuration drawn uniformly (log-uniformly for log parameters; every integer
    /// equally likely on a linear scale).
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Config {
        let u: Vec<f64> = (0..self.dim()).map(|_| rng.random::<f64>()).collect();
        self.from_unit(&u)
    }

    /// The configuration at `u ∈ [0, 1]^d` (clamped; integers rounded).
    pub fn from_unit(&self, u: &[f64]) -> Config {
        self.params
            .iter()
            .zip(u)
            .map(|(p, &x)| (p.name.clone(), p.from_unit(x)))
            .collect()
    }

    /// The unit-cube coordinates of `config` (a missing parameter maps to 0.5).
    pub fn to_unit(&self, config: &Config) -> Vec<f64> {
        self.params
            .iter()
            .map(|p| config.get(&p.name).map_or(0.5, |&x| p.to_unit(x)))
            .collect()
    }

    /// Every parameter at its default (or the centre of its range).
    pub fn default_config(&self) -> Config {
        self.params
            .iter()
            .map(|p| (p.name.clone(), p.default_or_centre()))
            .collect()
    }
}

impl SearchSpace {
    /// The validated space of a deserialised `name → spec` table.
    fn from_specs(specs: BTreeMap<String, ParamSpec>) -> Result<SearchSpace, SpaceError> {
        let mut params = Vec::with_capacity(specs.len());
        for (name, spec) in specs {
            let kind = match spec.kind.as_str() {
                "float" => ParamKind::Float {
                    low: spec.low,
                    high: spec.high,
                    log: spec.log,
                },
                "int" => {
                    for (field, value) in [("low", spec.low), ("high", spec.high)] {
                        if !value.is_finite() {
                            return Err(SpaceError::NotFinite { name, field, value });
                        }
                        if value.fract() != 0.0 {
                            return Err(SpaceError::NotInteger { name, field, value });
                        }
                    }
                    ParamKind::Int {
                        low: spec.low as i64,
                        high: spec.high as i64,
                        log: spec.log,
                    }
                }
                other => {
                    return Err(SpaceError::UnknownType {
                        name,
                        kind: other.to_string(),
                    });
                }
            };
            params.push(Param {
                name,
                kind,
                default: spec.default,
            });
        }
        SearchSpace::new(params)
    }
}

impl<'de> Deserialize<'de> for SearchSpace {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let specs = BTreeMap::<String, ParamSpec>::deserialize(deserializer)?;
        SearchSpace::from_specs(specs).map_err(serde::de::Error::custom)
    }
}

impl Serialize for SearchSpace {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let specs: BTreeMap<&str, ParamSpec> = self
            .params
            .iter()
            .map(|p| {
                let (low, high, log) = p.bounds();
                let kind = match p.kind {
                    ParamKind::Float { .. } => "float",
                    ParamKind::Int { .. } => "int",
                };
                let spec = ParamSpec {
                    kind: kind.to_string(),
                    low,
                    high,
                    log,
                    default: p.default,
                };
                (p.name.as_str(), spec)
            })
            .collect();
        specs.serialize(serializer)
    }
}

/// How much a tuner may spend on one trial, in budget units (training steps, or epochs):
/// between `min_budget` and `max_budget`, with successive rungs `eta` times apart.
///
/// Serialised as `{ min_budget, max_budget, eta }` (`eta` optional, default 3); deserialising
/// validates ([`Fidelity::validate`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawFidelity")]
pub struct Fidelity {
    /// Smallest budget of a trial (> 0).
    pub min_budget: u64,
    /// Largest budget of a trial, the "full" run (>= `min_budget`).
    pub max_budget: u64,
    /// Reduction factor between rungs (>= 2; default 3 when deserialised).
    pub eta: f64,
}

fn default_eta() -> f64 {
    3.0
}

/// [`Fidelity`] before validation.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFidelity {
    min_budget: u64,
    max_budget: u64,
    #[serde(default = "default_eta")]
    eta: f64,
}

impl TryFrom<RawFidelity> for Fidelity {
    type Error = SpaceError;

    fn try_from(raw: RawFidelity) -> Result<Fidelity, SpaceError> {
        Fidelity::new(raw.min_budget, raw.max_budget, raw.eta)
    }
}

impl Fidelity {
    /// A validated fidelity.
    pub fn new(min_budget: u64, max_budget: u64, eta: f64) -> Result<Fidelity, SpaceError> {
        let f = Fidelity {
            min_budget,
            max_budget,
            eta,
        };
        f.validate()?;
        Ok(f)
    }

    /// Checks `min_budget > 0`, `min_budget <= max_budget` and `eta >= 2`.
    pub fn validate(&self) -> Result<(), SpaceError> {
        if self.min_budget == 0 {
            return Err(SpaceError::Fidelity("min_budget must be positive".into()));
        }
        if self.min_budget > self.max_budget {
            return Err(SpaceError::Fidelity(format!(
                "min_budget ({}) is greater than max_budget ({})",
                self.min_budget, self.max_budget
            )));
        }
        if !(self.eta >= 2.0 && self.eta.is_finite()) {
            return Err(SpaceError::Fidelity(format!(
                "eta must be a finite number >= 2 (got {})",
                self.eta
            )));
        }
        Ok(())
    }

    /// `s_max = floor(log_eta(max_budget / min_budget))`: the index of the most aggressive
    /// Hyperband bracket, and the number of rungs minus one.
    pub fn s_max(&self) -> usize {
        let ratio = self.max_budget as f64 / self.min_budget as f64;
        let mut s = 0;
        // Integer stepping with a tolerance so that 81 / 3^4 is exactly four rungs.
        while self.eta.powi(s as i32 + 1) <= ratio * (1.0 + 1e-9) {
            s += 1;
        }
        s
    }

    /// Budget of rung `i` of a bracket with `s + 1` rungs: `max_budget * eta^(i - s)`, rounded
    /// and kept within `[min_budget, max_budget]` (when `max/min` is not a power of `eta`, the
    /// bottom rung lies above `min_budget`, as in Hyperband's `r_i = R eta^(i - s)`).
    pub fn rung_budget(&self, s: usize, i: usize) -> u64 {
        let b = self.max_budget as f64 * self.eta.powi(i as i32 - s as i32);
        (b.round() as u64).clamp(self.min_budget, self.max_budget)
    }
}
