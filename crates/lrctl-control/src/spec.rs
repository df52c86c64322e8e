//! Controller configuration as data: the `[controller]` table of a method file.
//!
//! Each controller's configuration struct implements [`ControllerConfig`] next to its rule
//! (and builds through `ScheduleConfig` or `OnlineConfig`); [`ControllerSpec`], the tagged enum
//! of all of them, and its dispatch are generated from the two registration lists, the fixed
//! schedules' in `schedules/mod.rs` and the online controllers' in `online/mod.rs`. Adding a
//! controller is its module and one line in its family's list.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::check::Ctx;
use crate::online::online_controllers;
use crate::schedules::{Schedule, fixed_schedules};
use crate::{ControlError, Controller};

/// The configuration of one controller: the `[controller]` table of one `kind`.
///
/// Implementations use `#[serde(deny_unknown_fields)]` and document their defaults; the field
/// names are those of the method file. The registration checks at compile time that the tag it
/// gives the variant is [`ControllerConfig::KIND`].
pub trait ControllerConfig:
    Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The `kind` tag as written in a method file, e.g. `"cosine-warm-restarts"`.
    const KIND: &'static str;

    /// The configured base learning rate, if the table sets one.
    fn lr(&self) -> Option<f64>;

    /// One line describing the controller and its main hyperparameters, for `lrctl methods`.
    fn describe(&self) -> String;

    /// The step at which a run of `budget` steps leaves the part it shares with runs of any
    /// budget (see [`ControllerSpec::branch_step`]); `None` (the default) when there is none.
    fn branch_step(&self, _budget: u64) -> Option<u64> {
        None
    }

    /// The observations it reads besides the step counters (none for a fixed schedule).
    fn signals(&self) -> Vec<crate::Signal> {
        Vec::new()
    }
}

/// A fixed schedule's configuration: builds a pure function of the step counter, which can be
/// a phase or a factor of a composition.
pub(crate) trait ScheduleConfig: ControllerConfig {
    /// Validates and builds the schedule at `ctx` (its place in the table, for errors), with
    /// `inherited` as the base rate when the table sets no `lr`.
    fn build(&self, ctx: &Ctx, inherited: Option<f64>) -> Result<Box<dyn Schedule>, ControlError>;
}

/// An online controller's configuration: builds a controller with state that reads the
/// observations (never a phase or factor of a composition).
pub(crate) trait OnlineConfig: ControllerConfig {
    /// The controller built.
    type Controller: Controller + 'static;

    /// Validates and builds the controller at `ctx` (its place in the table, for errors).
    fn build(&self, ctx: &Ctx) -> Result<Self::Controller, ControlError>;
}

/// `a == b`, usable in constants (the registration's compile-time check of the tags).
pub(crate) const fn same_str(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Generates [`ControllerSpec`] and its dispatch from the two registration lists (the end of
/// the chain `fixed_schedules! → online_controllers! → controller_spec!`).
macro_rules! controller_spec {
    (
        schedules {
            $( $(#[$sattr:meta])* $svariant:ident($sconfig:ty) = $skind:literal, )+
        }
        online {
            $( $(#[$oattr:meta])* $ovariant:ident($oconfig:ty) = $okind:literal, )+
        }
    ) => {
        /// Every controller lrctl knows, tagged by `kind` (kebab-case). Field names are
        /// snake_case, as in the `[optimizer]` table; each variant's struct rejects unknown
        /// fields and documents its defaults.
        ///
        /// `lr` is the base (or peak, or initial) learning rate of every variant; for
        /// hyperparameter-free optimizers it is their multiplier, usually 1. Fixed schedules
        /// nested in a `sequential` or `product` may omit it and inherit the enclosing one.
        ///
        /// ```toml
        /// [controller]
        /// kind = "constant"
        /// lr = 0.001
        /// ```
        ///
        /// ```toml
        /// [controller]
        /// kind = "cosine-warm-restarts"
        /// lr = 0.005
        /// t0 = 10
        /// t_mult = 2
        /// eta_min = 0.0
        /// ```
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "kind")]
        pub enum ControllerSpec {
            $( $(#[$sattr])* #[serde(rename = $skind)] $svariant($sconfig), )+
            $( $(#[$oattr])* #[serde(rename = $okind)] $ovariant($oconfig), )+
        }

        const _: () = {
            $(
                assert!(
                    same_str(<$sconfig as ControllerConfig>::KIND, $skind),
                    concat!("the registered tag `", $skind, "` is not its configuration's KIND"),
                );
            )+
            $(
                assert!(
                    same_str(<$oconfig as ControllerConfig>::KIND, $okind),
                    concat!("the registered tag `", $okind, "` is not its configuration's KIND"),
                );
            )+
        };

        impl ControllerSpec {
            /// Every registered `kind` tag (aliases not included), in registration order.
            pub const KINDS: &'static [&'static str] = &[$($skind,)+ $($okind),+];

            /// Validates the configuration and builds a fresh controller.
            pub fn build(&self) -> Result<Box<dyn Controller>, ControlError> {
                let ctx = Ctx::root();
                Ok(match self {
                    $( Self::$ovariant(c) => Box::new(OnlineConfig::build(c, &ctx)?), )+
                    _ => Box::new(crate::ScheduleController::new(
                        self.nested_schedule(&ctx, None)?,
                    )),
                })
            }

            /// Whether this is a fixed schedule (a pure function of the step counter) rather
            /// than an online controller.
            pub fn is_schedule(&self) -> bool {
                !matches!(self, $( Self::$ovariant(_) )|+)
            }

            /// The configured base learning rate, if the table sets one.
            pub fn lr(&self) -> Option<f64> {
                match self {
                    $( Self::$svariant(c) => c.lr(), )+
                    $( Self::$ovariant(c) => c.lr(), )+
                }
            }

            /// The `kind` tag as written in a method file, e.g. `"cosine-warm-restarts"`.
            pub fn kind(&self) -> &'static str {
                match self {
                    $( Self::$svariant(_) => <$sconfig as ControllerConfig>::KIND, )+
                    $( Self::$ovariant(_) => <$oconfig as ControllerConfig>::KIND, )+
                }
            }

            /// One line describing the controller and its main hyperparameters, for
            /// `lrctl methods`.
            pub fn describe(&self) -> String {
                match self {
                    $( Self::$svariant(c) => c.describe(), )+
                    $( Self::$ovariant(c) => c.describe(), )+
                }
            }

            /// For a controller whose runs of different budgets share their first steps (a
            /// warmup-stable-decay schedule, [`WarmupStableDecayConfig::branch_step`]), the
            /// step at which a run of `budget` steps leaves the shared part: runs of any budget
            /// can branch off a checkpoint taken there. `None` for every other kind.
            ///
            /// [`WarmupStableDecayConfig::branch_step`]: crate::schedules::WarmupStableDecayConfig::branch_step
            pub fn branch_step(&self, budget: u64) -> Option<u64> {
                match self {
                    $( Self::$svariant(c) => ControllerConfig::branch_step(c, budget), )+
                    $( Self::$ovariant(c) => ControllerConfig::branch_step(c, budget), )+
                }
            }

            /// The observations the controller reads besides the step counters, in order and
            /// without repeats (none for fixed schedules).
            pub fn signals(&self) -> Vec<crate::Signal> {
                let mut v = match self {
                    $( Self::$svariant(c) => ControllerConfig::signals(c), )+
                    $( Self::$ovariant(c) => ControllerConfig::signals(c), )+
                };
                v.sort();
                v.dedup();
                v
            }

            /// The schedule of a fixed-schedule variant at `ctx`, with `inherited` as the base
            /// rate when the table has no `lr`. Online controllers are rejected: they cannot be
            /// phases or factors of a composition.
            pub(crate) fn nested_schedule(
                &self,
                ctx: &Ctx,
                inherited: Option<f64>,
            ) -> Result<Box<dyn Schedule>, ControlError> {
                match self {
                    $( Self::$svariant(c) => ScheduleConfig::build(c, ctx, inherited), )+
                    $( Self::$ovariant(_) )|+ => Err(ctx.invalid(
                        "kind",
                        format!(
                            "`{}` is an online controller; only fixed schedules can be phases \
                             or factors of a composition",
                            self.kind()
                        ),
                    )),
                }
            }
        }
    };
}

fixed_schedules!(online_controllers!(controller_spec!()));

impl ControllerSpec {
    /// Checks every field's range without keeping the result.
    pub fn validate(&self) -> Result<(), ControlError> {
        self.build().map(|_| ())
    }

    /// The fixed schedule, validated, for plotting or evaluating out of order; `None` for an
    /// online controller, whose rates depend on the run.
    pub fn schedule(&self) -> Result<Option<Box<dyn Schedule>>, ControlError> {
        if self.is_schedule() {
            self.nested_schedule(&Ctx::root(), None).map(Some)
        } else {
            Ok(None)
        }
    }

    /// Reads a `[controller]` table from any serde deserializer (a `toml::Value`, a
    /// `serde_json::Value`, …) and validates it. An unknown `kind` or field, a missing field or
    /// a wrong type gives [`ControlError::Parse`] with the deserializer's message (which names
    /// it); a value out of range gives the error of [`ControllerSpec::validate`].
    pub fn from_deserializer<'de, D>(deserializer: D) -> Result<Self, ControlError>
    where
        D: serde::Deserializer<'de>,
        D::Error: std::fmt::Display,
    {
        use serde::Deserialize;
        let spec =
            Self::deserialize(deserializer).map_err(|e| ControlError::Parse(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_registered_tag_is_recognised() {
        for &kind in ControllerSpec::KINDS {
            // An unknown field fails after the tag picked the variant, not at the tag.
            let err = serde_json::from_value::<ControllerSpec>(
                serde_json::json!({"kind": kind, "no_such_field": 1}),
            )
            .unwrap_err()
            .to_string();
            assert!(!err.contains("unknown variant"), "`{kind}`: {err}");
        }
        let wsd: ControllerSpec =
            serde_json::from_value(serde_json::json!({"kind": "wsd", "lr": 1.0, "warmup": 2}))
                .unwrap();
        assert_eq!(wsd.kind(), "warmup-stable-decay");
        assert_eq!(wsd.branch_step(100), Some(90));
        let sps: ControllerSpec =
            serde_json::from_value(serde_json::json!({"kind": "sps", "lr": 1.0})).unwrap();
        assert!(!sps.is_schedule() && sps.branch_step(100).is_none());
        assert_eq!(sps.lr(), Some(1.0));
    }

    #[test]
    fn same_str_compares_bytes() {
        assert!(same_str("sps", "sps"));
        assert!(!same_str("sps", "sp") && !same_str("sps", "spx"));
    }
}
