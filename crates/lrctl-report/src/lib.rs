//! Reports (placeholder, being written).
