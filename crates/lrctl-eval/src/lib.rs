//! Evaluation statistics (placeholder, being written).
