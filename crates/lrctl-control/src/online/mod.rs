//! Online controllers: state machines that read the observations the engine hands them.
//!
//! * [`ReduceOnPlateau`]: divide the rate when a monitored quantity stops improving
//!   (PyTorch `ReduceLROnPlateau`).
//! * [`Hypergradient`]: hypergradient descent (Baydin et al. 2018).
//! * [`Sps`]: the stochastic Polyak step size SPS_max (Loizou et al. 2021).
//!
//! None of them can return NaN: non-finite inputs leave the state unchanged (or, for SPS,
//! give the cap), so that a diverging run is recognised by its loss, not by its learning rate.

mod hypergradient;
mod plateau;
mod sps;

pub use hypergradient::{Hypergradient, HypergradientConfig};
pub use plateau::{Mode, Monitor, Plateau, PlateauConfig, ReduceOnPlateau, ThresholdMode};
pub use sps::{Sps, SpsConfig};
