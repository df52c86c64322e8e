//! Errors a user can cause: unknown names, bad scale suffixes, data that cannot be loaded.

/// Why a task could not be found or prepared.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// No task of that name.
    #[error("unknown task `{name}`{}; `lrctl tasks` lists them all", did_you_mean(.suggestions))]
    UnknownTask {
        /// The name asked for.
        name: String,
        /// Closest known names.
        suggestions: Vec<String>,
    },
    /// A malformed `@wNdM` suffix.
    #[error(
        "task `{name}`: the scale suffix must look like `@w2`, `@d2` or `@w4d2` (positive integers)"
    )]
    BadScale {
        /// The name asked for.
        name: String,
    },
    /// A task whose configuration does not fit its data.
    #[error("task `{name}`: {reason}")]
    Invalid {
        /// Task name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// The dataset could not be loaded.
    #[error("task `{name}`: {source}")]
    Data {
        /// Task name.
        name: String,
        /// The data layer's error (names the file and where it was looked for).
        #[source]
        source: lrctl_data::DataError,
    },
}

/// `"; did you mean `a`, `b`?"` or nothing.
pub fn did_you_mean(suggestions: &[String]) -> String {
    if suggestions.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = suggestions.iter().map(|s| format!("`{s}`")).collect();
        format!("; did you mean {}?", names.join(" or "))
    }
}
