//! Range checks shared by every configuration, with errors that name the field by its path.

use crate::ControlError;

/// Where in the `[controller]` table a configuration sits: empty at the top, `phases[1]` for
/// the second phase of a sequential schedule, and so on.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ctx {
    prefix: String,
}

impl Ctx {
    /// The top of the table.
    pub(crate) fn root() -> Self {
        Ctx::default()
    }

    /// The path of `name` at this level.
    pub(crate) fn path(&self, name: &str) -> String {
        if self.prefix.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.prefix)
        }
    }

    /// The `i`-th element of the list `name` (a nested configuration).
    pub(crate) fn item(&self, name: &str, i: usize) -> Ctx {
        Ctx {
            prefix: format!("{}[{i}]", self.path(name)),
        }
    }

    /// An [`ControlError::Invalid`] for field `name`.
    pub(crate) fn invalid(&self, name: &str, reason: impl Into<String>) -> ControlError {
        ControlError::Invalid {
            field: self.path(name),
            reason: reason.into(),
        }
    }

    /// The base learning rate: the configuration's own `lr`, else the one inherited from an
    /// enclosing composition. Must be finite and non-negative.
    pub(crate) fn lr(&self, own: Option<f64>, inherited: Option<f64>) -> Result<f64, ControlError> {
        match own.or(inherited) {
            Some(lr) => self.non_negative("lr", lr),
            None => Err(self.invalid(
                "lr",
                "is required (the base learning rate; for hyperparameter-free optimizers a \
                 multiplier, usually 1.0)",
            )),
        }
    }

    /// `value` must be finite and `>= 0`.
    pub(crate) fn non_negative(&self, name: &str, value: f64) -> Result<f64, ControlError> {
        if value.is_finite() && value >= 0.0 {
            Ok(value)
        } else {
            Err(self.invalid(name, format!("must be a finite number >= 0, got {value}")))
        }
    }

    /// `value` must be finite and `> 0`.
    pub(crate) fn positive(&self, name: &str, value: f64) -> Result<f64, ControlError> {
        if value.is_finite() && value > 0.0 {
            Ok(value)
        } else {
            Err(self.invalid(name, format!("must be a finite number > 0, got {value}")))
        }
    }

    /// `value` must be finite.
    pub(crate) fn finite(&self, name: &str, value: f64) -> Result<f64, ControlError> {
        if value.is_finite() {
            Ok(value)
        } else {
            Err(self.invalid(name, format!("must be a finite number, got {value}")))
        }
    }

    /// `value` must lie in `[lo, hi]`.
    pub(crate) fn within(
        &self,
        name: &str,
        value: f64,
        lo: f64,
        hi: f64,
    ) -> Result<f64, ControlError> {
        if value >= lo && value <= hi {
            Ok(value)
        } else {
            Err(self.invalid(name, format!("must lie in [{lo}, {hi}], got {value}")))
        }
    }

    /// An integer count that must be at least 1.
    pub(crate) fn at_least_one(&self, name: &str, value: u64) -> Result<u64, ControlError> {
        if value >= 1 {
            Ok(value)
        } else {
            Err(self.invalid(name, format!("must be at least 1, got {value}")))
        }
    }

    /// An optional step count that, when given, must be at least 1.
    pub(crate) fn horizon(
        &self,
        name: &str,
        value: Option<u64>,
    ) -> Result<Option<u64>, ControlError> {
        value.map(|v| self.at_least_one(name, v)).transpose()
    }
}
