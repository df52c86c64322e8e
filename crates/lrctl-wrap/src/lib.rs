//! Methods that wrap other methods, and the flow of one cell.
//!
//! A plain method is an optimizer and a controller ([`lrctl_method::MethodSpec`]). A *wrapped*
//! method ([`Method`] with a [`Wrapper`]) does something on each task before the run it trains:
//!
//! * a **tuned method** ([`TuneSpec`], [`tuned`]) tunes its hyperparameters with a multi-fidelity
//!   tuner ([`tune()`]: real runs behind [`lrctl_tune::run_trials`]), then the incumbent trains;
//! * a **selection method** ([`SelectSpec`]) chooses a method for the task: `race` runs the
//!   candidates briefly and continues the best ([`race`]), `auto` asks a selector fitted on the
//!   study's other tasks ([`auto`], [`features`] for the meta-features, [`probe`] for a short
//!   reference run's).
//! * a **learned method** ([`LearnSpec`], [`learn`]) steers its optimizer and controller with a
//!   policy meta-trained ([`meta`]) on the study's other tasks: leave-one-task-out.
//!
//! [`cell::train`] is the flow of one cell: choose, tune, train, charge. The registry of
//! methods by name or file ([`find`], [`builtin`]) lives here because only this crate can read
//! every method file.

pub mod auto;
pub mod cell;
mod error;
pub mod features;
pub mod learn;
pub mod meta;
mod method;
pub mod probe;
pub mod race;
pub mod select;
pub mod tune;
pub mod tuned;
pub mod width;

pub use cell::{Caches, CellContext, TrainedCell, panic_message};
pub use error::{CellError, WrapError};
pub use learn::{LearnSpec, Learned};
pub use method::{Method, Wrapper, builtin, default_names, find};
pub use select::{AutoSpec, RaceSpec, ReferenceSet, References, SelectKind, SelectSpec, Selected};
pub use tune::{TuneReport, TuneSettings, TuneSpec, tune};
pub use tuned::Tuned;

/// SHA-256 of `text`, as lowercase hex.
pub(crate) fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
