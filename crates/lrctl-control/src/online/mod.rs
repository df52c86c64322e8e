//! Online controllers: state machines that read the observations the engine hands them.
//!
//! * [`ReduceOnPlateau`]: divide the rate when a monitored quantity stops improving
//!   (PyTorch `ReduceLROnPlateau`).
//! * [`Hypergradient`]: hypergradient descent (Baydin et al. 2018).
//! * [`Sps`]: the stochastic Polyak step size SPS_max (Loizou et al. 2021).
//! * [`PolicyController`]: a policy outside lrctl (a Python callable in a policy host) choosing
//!   the rate from the [observation vector](crate::observe); [`Steering`] is the same driven
//!   step by step from outside (the Python `lrctl.Env`).
//! * [`LearnedConfig`]: a learned policy network evaluated in-process (meta-trained weights).
//!
//! None of them can return NaN: non-finite inputs leave the state unchanged (or, for SPS,
//! give the cap), so that a diverging run is recognised by its loss, not by its learning rate.

mod host;
mod hypergradient;
mod learned;
mod plateau;
mod policy;
mod sps;

pub use host::{HOST_PROTOCOL, HostPolicy, PYTHON_ENV};
pub use hypergradient::{Hypergradient, HypergradientConfig};
pub use learned::{
    DenseLayer, LearnedConfig, MAX_POLICY_WEIGHTS, POLICY_FORMAT, PolicyNet, PolicyWeights,
};
pub use plateau::{Mode, Monitor, Plateau, PlateauConfig, ReduceOnPlateau, ThresholdMode};
pub use policy::{ActionMap, ActionMode, Policy, PolicyConfig, PolicyController, Steering};
pub use sps::{Sps, SpsConfig};

/// The online controllers of [`crate::ControllerSpec`], in its order (after the fixed
/// schedules): one line per controller, `Variant(its configuration) = "its kind tag"` (the tag
/// must be the configuration's [`crate::ControllerConfig::KIND`]). Adding an online controller
/// is its module and one line here. `then!(…)` continues the chain that builds the enum (see
/// `crate::spec`).
macro_rules! online_controllers {
    ($then:ident ! ($($next:tt)*) $($done:tt)*) => {
        $then! { $($next)* $($done)*
            online {
                /// Reduce the rate when a monitored quantity stops improving.
                ReduceOnPlateau($crate::online::PlateauConfig) = "reduce-on-plateau",
                /// Hypergradient descent (Baydin et al. 2018).
                Hypergradient($crate::online::HypergradientConfig) = "hypergradient",
                /// Stochastic Polyak step size, SPS_max (Loizou et al. 2021).
                Sps($crate::online::SpsConfig) = "sps",
                /// A Python policy choosing the rate from the observation vector (run in a
                /// policy host).
                Policy($crate::online::PolicyConfig) = "policy",
                /// A learned policy network (linear or a small MLP, weights in a file or
                /// inline) scaling a base controller's rate.
                Learned($crate::online::LearnedConfig) = "learned",
            }
        }
    };
}
pub(crate) use online_controllers;
