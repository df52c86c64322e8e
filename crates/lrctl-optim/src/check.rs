//! Range checks shared by the optimizer configurations' `validate` methods: each failure is an
//! [`OptimError::InvalidHyperparameter`] naming the optimizer and the field as written in a
//! method file. Also the length checks every `step` starts with ([`step_lengths`]).

use crate::OptimError;

/// A validity rule: the predicate and the reason shown when it fails.
pub(crate) type Rule = (fn(f64) -> bool, &'static str);

/// Finite and strictly positive.
pub(crate) const POSITIVE: Rule = (|x| x.is_finite() && x > 0.0, "must be finite and > 0");

/// Finite and non-negative.
pub(crate) const NON_NEGATIVE: Rule = (|x| x.is_finite() && x >= 0.0, "must be finite and >= 0");

/// In `[0, 1)`, e.g. an EMA coefficient or a momentum.
pub(crate) const UNIT_INTERVAL: Rule = (|x| (0.0..1.0).contains(&x), "must be in [0, 1)");

/// In `(0, 1)`: a Schedule-Free interpolation needs some of the average and some of `z`, and
/// evaluating divides by it.
pub(crate) const OPEN_UNIT_INTERVAL: Rule = (|x| x > 0.0 && x < 1.0, "must be in (0, 1)");

/// A finite number (e.g. a loss lower bound, which may be negative).
pub(crate) const FINITE: Rule = (|x| x.is_finite(), "must be finite");

/// A multiplicative growth limit: `>= 1`, `inf` allowed.
pub(crate) const GROWTH_RATE: Rule = (|x| x >= 1.0, "must be >= 1 (inf for no limit)");

/// Checks the fields of one optimizer's configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Check(pub &'static str);

impl Check {
    /// `Ok` when `value` satisfies `rule`, else an error naming `field`.
    pub(crate) fn field(
        self,
        field: &'static str,
        value: f64,
        rule: Rule,
    ) -> Result<(), OptimError> {
        let (ok, reason) = rule;
        if ok(value) {
            Ok(())
        } else {
            Err(OptimError::InvalidHyperparameter {
                optimizer: self.0,
                field,
                value,
                reason,
            })
        }
    }

    /// `field` checked against `rule` when set; `None` (the field left out) is always valid.
    pub(crate) fn optional(
        self,
        field: &'static str,
        value: Option<f64>,
        rule: Rule,
    ) -> Result<(), OptimError> {
        value.map_or(Ok(()), |v| self.field(field, v, rule))
    }

    /// Schedule-Free's averaging exponents (`r`, `weight_lr_power`), each `>= 0`.
    pub(crate) fn averaging(self, r: f64, weight_lr_power: f64) -> Result<(), OptimError> {
        self.field("r", r, NON_NEGATIVE)?;
        self.field("weight_lr_power", weight_lr_power, NON_NEGATIVE)
    }

    /// Each of up to three EMA coefficients in `[0, 1)`, named `betas[i]` as a method file
    /// writes them.
    pub(crate) fn betas(self, betas: &[f64]) -> Result<(), OptimError> {
        const FIELDS: [&str; 3] = ["betas[0]", "betas[1]", "betas[2]"];
        debug_assert!(betas.len() <= FIELDS.len());
        for (field, &beta) in FIELDS.iter().zip(betas) {
            self.field(field, beta, UNIT_INTERVAL)?;
        }
        Ok(())
    }
}

/// The checks at the top of every `step`: the parameter vector still has the `n_params`
/// coordinates the state was built for, and the gradient has as many. A mismatch is the
/// engine's bug, not the user's, hence a panic rather than an error.
///
/// # Panics
/// If either length differs.
pub(crate) fn step_lengths(params: &[f32], grads: &[f32], n_params: usize) {
    assert_eq!(params.len(), n_params, "parameter vector length changed");
    assert_eq!(
        grads.len(),
        params.len(),
        "gradient length != parameter length"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_reject_nan_and_out_of_range() {
        let c = Check("test");
        assert!(c.field("a", 1e-9, POSITIVE).is_ok());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(c.field("a", bad, POSITIVE).is_err(), "{bad}");
        }
        assert!(c.field("a", 0.0, NON_NEGATIVE).is_ok());
        assert!(c.field("a", -0.1, NON_NEGATIVE).is_err());
        assert!(c.field("a", 0.0, UNIT_INTERVAL).is_ok());
        for bad in [1.0, -0.1, f64::NAN] {
            assert!(c.field("a", bad, UNIT_INTERVAL).is_err(), "{bad}");
        }
        assert!(c.field("a", f64::INFINITY, GROWTH_RATE).is_ok());
        assert!(c.field("a", 0.99, GROWTH_RATE).is_err());
        assert!(c.field("a", f64::NAN, GROWTH_RATE).is_err());
        let err = c.field("alpha", -1.0, POSITIVE).unwrap_err().to_string();
        assert!(err.contains("`alpha`") && err.contains("`test`"), "{err}");
    }
}
