//! Optimizer configuration as data: the `[optimizer]` table of a method file.
//!
//! ```toml
//! [optimizer]
//! kind = "adamw"
//! betas = [0.9, 0.99]
//! eps = 1e-8
//! weight_decay = 0.0
//! ```

use serde::{Deserialize, Serialize};

use crate::{OptimError, Optimizer};

/// Every optimizer lrctl knows, tagged by `kind`. Each variant's config struct lives next to its
/// update rule and owns its defaults and validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum OptimizerSpec {
    // Variants are added by each optimizer module (config structs carry
    // `#[serde(deny_unknown_fields)]`). Adding one means adding an arm to `build`,
    // `validate` and `kind` below.
    /// SGD with momentum, Nesterov and weight decay ([`crate::sgd::Sgd`]).
    Sgd(crate::sgd::SgdConfig),
    /// Adam with coupled L2 weight decay ([`crate::adam::Adam`]).
    Adam(crate::adam::AdamConfig),
    /// AdamW, decoupled weight decay ([`crate::adam::AdamW`]).
    #[serde(rename = "adamw")]
    AdamW(crate::adam::AdamWConfig),
    /// Schedule-Free SGD ([`crate::schedulefree::ScheduleFreeSgd`]).
    #[serde(rename = "schedulefree-sgd")]
    ScheduleFreeSgd(crate::schedulefree::ScheduleFreeSgdConfig),
    /// Schedule-Free AdamW ([`crate::schedulefree::ScheduleFreeAdamW`]).
    #[serde(rename = "schedulefree-adamw")]
    ScheduleFreeAdamW(crate::schedulefree::ScheduleFreeAdamWConfig),
    /// Mechanic around SGD, Adam or AdamW ([`crate::mechanic::Mechanic`]).
    Mechanic(crate::mechanic::MechanicConfig),
    /// D-Adaptation Adam ([`crate::dadapt::DAdaptAdam`]).
    DadaptAdam(crate::dadapt::DAdaptAdamConfig),
    /// D-Adaptation SGD ([`crate::dadapt::DAdaptSgd`]).
    DadaptSgd(crate::dadapt::DAdaptSgdConfig),
    /// Prodigy ([`crate::prodigy::Prodigy`]).
    Prodigy(crate::prodigy::ProdigyConfig),
    /// COCOB-Backprop ([`crate::cocob::Cocob`]).
    Cocob(crate::cocob::CocobConfig),
    /// DoG, global version ([`crate::dog::Dog`]).
    Dog(crate::dog::DogConfig),
    /// DoWG, global version ([`crate::dog::Dowg`]).
    Dowg(crate::dog::DowgConfig),
}

impl OptimizerSpec {
    /// Validates the configuration and builds the optimizer for a model with `n_params`
    /// parameters.
    pub fn build(&self, n_params: usize) -> Result<Box<dyn Optimizer>, OptimError> {
        Ok(match self {
            Self::Sgd(c) => Box::new(c.build(n_params)?),
            Self::Adam(c) => Box::new(c.build(n_params)?),
            Self::AdamW(c) => Box::new(c.build(n_params)?),
            Self::ScheduleFreeSgd(c) => Box::new(c.build(n_params)?),
            Self::ScheduleFreeAdamW(c) => Box::new(c.build(n_params)?),
            Self::Mechanic(c) => Box::new(c.build(n_params)?),
            Self::DadaptAdam(c) => Box::new(c.build(n_params)?),
            Self::DadaptSgd(c) => Box::new(c.build(n_params)?),
            Self::Prodigy(c) => Box::new(c.build(n_params)?),
            Self::Cocob(c) => Box::new(c.build(n_params)?),
            Self::Dog(c) => Box::new(c.build(n_params)?),
            Self::Dowg(c) => Box::new(c.build(n_params)?),
        })
    }

    /// Checks every field's range without building anything.
    pub fn validate(&self) -> Result<(), OptimError> {
        match self {
            Self::Sgd(c) => c.validate(),
            Self::Adam(c) => c.validate(),
            Self::AdamW(c) => c.validate(),
            Self::ScheduleFreeSgd(c) => c.validate(),
            Self::ScheduleFreeAdamW(c) => c.validate(),
            Self::Mechanic(c) => c.validate(),
            Self::DadaptAdam(c) => c.validate(),
            Self::DadaptSgd(c) => c.validate(),
            Self::Prodigy(c) => c.validate(),
            Self::Cocob(c) => c.validate(),
            Self::Dog(c) => c.validate(),
            Self::Dowg(c) => c.validate(),
        }
    }

    /// The `kind` tag as written in a method file, e.g. `"adamw"`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Sgd(_) => "sgd",
            Self::Adam(_) => "adam",
            Self::AdamW(_) => "adamw",
            Self::ScheduleFreeSgd(_) => "schedulefree-sgd",
            Self::ScheduleFreeAdamW(_) => "schedulefree-adamw",
            Self::Mechanic(_) => "mechanic",
            Self::DadaptAdam(_) => "dadapt-adam",
            Self::DadaptSgd(_) => "dadapt-sgd",
            Self::Prodigy(_) => "prodigy",
            Self::Cocob(_) => "cocob",
            Self::Dog(_) => "dog",
            Self::Dowg(_) => "dowg",
        }
    }

    /// Reads an `[optimizer]` table from any serde deserializer (a `toml::Value`, a
    /// `serde_json::Value`, …) and validates it. An unknown `kind` or field, a missing field
    /// or a wrong type gives [`OptimError::Parse`] with the deserializer's message (which names
    /// it); a value out of range gives the error of [`OptimizerSpec::validate`].
    pub fn from_deserializer<'de, D>(deserializer: D) -> Result<Self, OptimError>
    where
        D: serde::Deserializer<'de>,
        D::Error: std::fmt::Display,
    {
        let spec = Self::deserialize(deserializer).map_err(|e| OptimError::Parse(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }
}
