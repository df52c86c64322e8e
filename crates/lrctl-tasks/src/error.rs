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
    /// A malformed `@wNdM` suffix, or one the model has no axis for.
    #[error("task `{name}`: {reason}")]
    BadScale {
        /// The name asked for.
        name: String,
        /// What is wrong and how to write it.
        reason: String,
    },
    /// A cell of the task would need more memory than the machine has.
    #[error(
        "task `{name}`: one cell needs about {estimate} of memory, more than this machine's \
         {available} ({detail}); use a smaller scale suffix, batch size or dataset"
    )]
    TooLarge {
        /// Task name.
        name: String,
        /// The estimate, e.g. `1.2 TiB`.
        estimate: String,
        /// The machine's memory.
        available: String,
        /// What the estimate is made of.
        detail: String,
    },
    /// A model holds a parameter the seeded initialisation has no rule for.
    #[error(
        "no initialisation rule for parameter `{field}` of `{container}`: add one to \
         lrctl_tasks::init (burn's own initialisers share one RNG between threads, so cells \
         would not be reproducible)"
    )]
    Init {
        /// The burn module holding it, e.g. `Struct:Conv1d`.
        container: String,
        /// The parameter's field, e.g. `weight`.
        field: String,
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
