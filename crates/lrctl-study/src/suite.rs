//! Suites: named sets of tasks with a default method set and seed count. Suites are data.

use serde::Serialize;

/// A named set of tasks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Suite {
    /// Name used with `--suite`.
    pub name: &'static str,
    /// One line for `lrctl suites`.
    pub description: &'static str,
    /// Task names (registry names, possibly with a scale suffix).
    pub tasks: Vec<String>,
    /// Methods used when the study names none (`None`: the registry's default set).
    pub methods: Option<Vec<String>>,
    /// Seeds per (task, method) when the study does not say.
    pub seeds: u32,
}

/// The methods of the paper's comparison available in lrctl (tuned ones join once built).
pub const PAPER_METHODS: &[&str] = &[
    "adam-fixed",
    "smac-fixed",
    "cawr-default",
    "cawr-tuned",
    "dadapt-adam",
    "prodigy",
    "cocob",
    "dowg",
];

/// The learning-rate-free methods published after the paper (issue 22), then the free methods
/// of the paper and Schedule-Free AdamW they are compared with.
pub const POST_PAPER_METHODS: &[&str] = &[
    "prodigy-sf",
    "schedulefree-radam",
    "schedulefree-wrap-prodigy",
    "adamg",
    "kate",
    "momo",
    "momo-adam",
    "ldog",
    "prodigy",
    "dadapt-adam",
    "cocob",
    "schedulefree-adamw",
];

/// LIBSVM datasets of the paper that the mirror holds (Sensorless and aloi are not in it).
pub const PAPER_LIBSVM: &[&str] = &[
    "iris",
    "wine",
    "vowel",
    "vehicle",
    "dna",
    "letter",
    "pendigits",
];

/// Every built-in suite.
pub fn suites() -> Vec<Suite> {
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut suites = vec![
        Suite {
            name: "quick",
            description: "Embedded datasets (no files): logistic regression on iris, breast \
                          cancer, wine quality; MLP on digits",
            tasks: names(&[
                "logreg/iris",
                "logreg/breast-cancer",
                "logreg/wine-quality",
                "mlp/digits",
            ]),
            methods: None,
            seeds: 3,
        },
        Suite {
            name: "libsvm",
            description: "Every LIBSVM dataset of the mirror, paper setup (logistic regression, \
                          batch 64, 100 epochs, unit-L2 columns)",
            tasks: lrctl_tasks::registry::LIBSVM_DATASETS
                .iter()
                .map(|(n, _)| format!("libsvm/{n}"))
                .collect(),
            methods: Some(names(PAPER_METHODS)),
            seeds: 10,
        },
        Suite {
            name: "vision",
            description: "MLP and small CNN on Fashion-MNIST and MNIST (10k-row subsamples)",
            tasks: names(&[
                "mlp/fashion-mnist-10k",
                "mlp/mnist-10k",
                "cnn/fashion-mnist",
                "cnn/mnist",
            ]),
            methods: None,
            seeds: 3,
        },
        Suite {
            name: "lm",
            description: "Byte-level transformer language model on tiny Shakespeare",
            tasks: names(&["lm/tinyshakespeare"]),
            methods: None,
            seeds: 3,
        },
        Suite {
            name: "ladder",
            description: "One family (MLP on Fashion-MNIST 10k) at width × 1, 2, 4, 8: the axis \
                          on which the paper saw HPO decline",
            // Width 1 is the task itself: `@w1` is refused as a non-canonical spelling.
            tasks: [1, 2, 4, 8]
                .iter()
                .map(|w| lrctl_tasks::registry::scale_suffix(*w, 1))
                .map(|suffix| format!("mlp/fashion-mnist-10k{suffix}"))
                .collect(),
            methods: None,
            seeds: 3,
        },
        Suite {
            name: "paper",
            description: "The paper's setups at CPU scale: its LIBSVM datasets, a CNN and an LM \
                          standing in for the GPU tasks, the paper's methods",
            tasks: PAPER_LIBSVM
                .iter()
                .map(|n| format!("libsvm/{n}"))
                .chain([
                    "cnn/fashion-mnist".to_string(),
                    "lm/tinyshakespeare".to_string(),
                ])
                .collect(),
            methods: Some(names(PAPER_METHODS)),
            seeds: 10,
        },
    ];
    // The libsvm, vision and lm suites' tasks under the post-paper methods.
    let tasks = suites
        .iter()
        .filter(|s| matches!(s.name, "libsvm" | "vision" | "lm"))
        .flat_map(|s| s.tasks.clone())
        .collect();
    suites.push(Suite {
        name: "post-paper",
        description: "The learning-rate-free methods published after the paper against its free \
                      methods and Schedule-Free AdamW, on the libsvm, vision and lm tasks",
        tasks,
        methods: Some(names(POST_PAPER_METHODS)),
        seeds: 3,
    });
    suites
}

/// Looks a suite up by name.
pub fn find(name: &str) -> Option<Suite> {
    suites().into_iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_resolves() {
        for s in suites() {
            let file = crate::StudyFile {
                suites: vec![s.name.to_string()],
                ..Default::default()
            };
            let study = file
                .resolve()
                .unwrap_or_else(|e| panic!("suite {}: {e}", s.name));
            assert_eq!(study.tasks.len(), s.tasks.len(), "{}", s.name);
        }
    }
}
