//! Why a controller configuration was rejected.

/// A controller configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ControlError {
    /// A field is missing or out of range. `field` is its path inside the `[controller]` table,
    /// e.g. `t0` or `phases[1].eta_min`.
    #[error("controller field `{field}` {reason}")]
    Invalid {
        /// Path of the field inside the `[controller]` table.
        field: String,
        /// What is wrong, e.g. "must be at least 1, got 0".
        reason: String,
    },
    /// The table could not be read: an unknown `kind` or field, a missing field or a wrong type
    /// (the deserializer's message, which names it).
    #[error("invalid [controller] table: {0}")]
    Parse(String),
}
