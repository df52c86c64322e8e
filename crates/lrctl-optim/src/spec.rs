//! Optimizer configuration as data: the `[optimizer]` table of a method file.
//!
//! ```toml
//! [optimizer]
//! kind = "adamw"
//! betas = [0.9, 0.99]
//! eps = 1e-8
//! weight_decay = 0.0
//! ```
//!
//! Each optimizer's configuration struct implements [`OptimizerConfig`] next to its update
//! rule (its `kind` tag, validation, construction, and whether it sets its own step size);
//! [`crate::OptimizerSpec`], the tagged enum of all of them, and its dispatch are generated
//! from the one registration list in `lib.rs`. Adding an optimizer is its module and one line
//! there.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{OptimError, Optimizer, OptimizerSpec};

/// The configuration of one optimizer: the `[optimizer]` table of one `kind`.
///
/// Implementations use `#[serde(deny_unknown_fields)]` and own their defaults; the field names
/// are those of the method file. The registration in `lib.rs` checks at compile time that the
/// tag it gives the variant is [`OptimizerConfig::KIND`].
pub trait OptimizerConfig:
    Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static
{
    /// The `kind` tag as written in a method file, e.g. `"adamw"` (also the name its errors
    /// carry).
    const KIND: &'static str;

    /// The optimizer this configuration builds.
    type Optimizer: Optimizer + 'static;

    /// Checks every field's range; an error names the field as written in a method file.
    fn validate(&self) -> Result<(), OptimError>;

    /// Validates and builds the optimizer for a model with `n_params` parameters.
    fn build(&self, n_params: usize) -> Result<Self::Optimizer, OptimError>;

    /// Whether the optimizer sets its own step size (Prodigy, D-Adaptation, COCOB, DoG,
    /// Mechanic, …), so that the controller's `lr` only multiplies it (1 in the paper setups)
    /// and is not a learning rate worth tuning. Default search spaces leave such methods'
    /// `controller.lr` alone.
    fn sets_own_step_size(&self) -> bool;
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

/// Generates [`OptimizerSpec`] from the registration list: the enum, tagged by `kind` with each
/// variant renamed to its literal (so the serialized form is exactly the list's), and its
/// dispatch (`build`, `validate`, `kind`, `sets_own_step_size`) through [`OptimizerConfig`].
/// Each literal must equal its configuration's [`OptimizerConfig::KIND`] (checked when
/// compiling).
macro_rules! optimizer_spec {
    (
        $(#[$enum_attr:meta])*
        pub enum OptimizerSpec {
            $( $(#[$attr:meta])* $variant:ident($config:ty) = $kind:literal, )+
        }
    ) => {
        $(#[$enum_attr])*
        #[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
        #[serde(tag = "kind")]
        pub enum OptimizerSpec {
            $( $(#[$attr])* #[serde(rename = $kind)] $variant($config), )+
        }

        const _: () = {
            $(
                assert!(
                    $crate::spec::same_str(
                        <$config as $crate::OptimizerConfig>::KIND,
                        $kind
                    ),
                    concat!("the registered tag `", $kind, "` is not its configuration's KIND"),
                );
            )+
        };

        impl OptimizerSpec {
            /// Validates the configuration and builds the optimizer for a model with
            /// `n_params` parameters.
            pub fn build(
                &self,
                n_params: usize,
            ) -> Result<Box<dyn $crate::Optimizer>, $crate::OptimError> {
                use $crate::OptimizerConfig as _;
                Ok(match self {
                    $( Self::$variant(c) => Box::new(c.build(n_params)?), )+
                })
            }

            /// Checks every field's range without building anything.
            pub fn validate(&self) -> Result<(), $crate::OptimError> {
                use $crate::OptimizerConfig as _;
                match self {
                    $( Self::$variant(c) => c.validate(), )+
                }
            }

            /// The `kind` tag as written in a method file, e.g. `"adamw"`.
            pub fn kind(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => <$config as $crate::OptimizerConfig>::KIND, )+
                }
            }

            /// Whether the optimizer sets its own step size, so that the controller's `lr` is
            /// only its multiplier ([`OptimizerConfig::sets_own_step_size`]).
            ///
            /// [`OptimizerConfig::sets_own_step_size`]: $crate::OptimizerConfig::sets_own_step_size
            pub fn sets_own_step_size(&self) -> bool {
                use $crate::OptimizerConfig as _;
                match self {
                    $( Self::$variant(c) => c.sets_own_step_size(), )+
                }
            }

            /// Every registered `kind` tag, in registration order.
            pub const KINDS: &'static [&'static str] = &[$($kind),+];
        }
    };
}
pub(crate) use optimizer_spec;

impl OptimizerSpec {
    /// Reads an `[optimizer]` table from any serde deserializer (a `toml::Value`, a
    /// `serde_json::Value`, …) and validates it. An unknown `kind` or field, a missing field
    /// or a wrong type gives [`OptimError::Parse`] with the deserializer's message (which names
    /// it); a value out of range gives the error of [`OptimizerSpec::validate`].
    pub fn from_deserializer<'de, D>(deserializer: D) -> Result<Self, OptimError>
    where
        D: serde::Deserializer<'de>,
        D::Error: std::fmt::Display,
    {
        use serde::Deserialize;
        let spec = Self::deserialize(deserializer).map_err(|e| OptimError::Parse(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kind with every field at its default; a wrapper (`base` has no default) around SGD.
    fn defaults(kind: &str) -> OptimizerSpec {
        serde_json::from_value(serde_json::json!({ "kind": kind })).unwrap_or_else(|_| {
            serde_json::from_value(serde_json::json!({"kind": kind, "base": {"kind": "sgd"}}))
                .unwrap_or_else(|e| panic!("`{kind}` does not parse: {e}"))
        })
    }

    #[test]
    fn same_str_compares_bytes() {
        assert!(same_str("adamw", "adamw"));
        assert!(!same_str("adamw", "adam"));
        assert!(!same_str("adamw", "adamx"));
        assert!(same_str("", ""));
    }

    #[test]
    fn every_kind_parses_under_its_tag_and_reports_it() {
        for &kind in OptimizerSpec::KINDS {
            let spec = defaults(kind);
            assert_eq!(spec.kind(), kind);
            let back = serde_json::to_value(&spec).unwrap();
            assert_eq!(back["kind"], kind);
            let built = spec.build(3).unwrap();
            assert_eq!(built.name(), kind);
        }
    }

    #[test]
    fn self_tuning_optimizers_say_so() {
        for kind in [
            "mechanic",
            "dadapt-adam",
            "dadapt-sgd",
            "prodigy",
            "cocob",
            "dog",
            "dowg",
        ] {
            assert!(defaults(kind).sets_own_step_size(), "{kind}");
        }
        for kind in [
            "sgd",
            "adam",
            "adamw",
            "schedulefree-sgd",
            "schedulefree-adamw",
        ] {
            assert!(!defaults(kind).sets_own_step_size(), "{kind}");
        }
    }
}
