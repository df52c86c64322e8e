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

/// The `ladder-transfer` suite's methods: the paper's tuned methods tuned at each width and
/// at width ×1 only, and the untuned methods they start from.
pub const TRANSFER_METHODS: &[&str] = &[
    "adam-fixed",
    "cawr-default",
    "smac-fixed",
    "smac-fixed-w1",
    "cawr-tuned",
    "cawr-tuned-w1",
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
    suites.extend(ladder_suites());
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

/// The rungs of one ladder: `base` at each (width, depth) multiplier.
fn rungs(base: &str, scales: &[(u32, u32)]) -> Vec<String> {
    scales
        .iter()
        .map(|&(w, d)| format!("{base}{}", lrctl_tasks::registry::scale_suffix(w, d)))
        .collect()
}

/// The scale ladders (issue 20): one suite per family and `ladder`, all of them with logistic
/// regression on the same data for the complexity axis. Every rung is a real task; the bottom
/// rungs are small and short (see `lrctl tasks`) so the paper's eight methods, tuned ones
/// included, train every rung on three seeds in a few hours on two cores.
fn ladder_suites() -> Vec<Suite> {
    let widths = |n: u32| {
        std::iter::successors(Some(1u32), |w| Some(w * 2))
            .take_while(|&w| w <= n)
            .map(|w| (w, 1))
            .collect::<Vec<_>>()
    };
    let mlp = rungs(
        "mlp/fashion-mnist-ladder",
        &[widths(16), vec![(1, 2), (1, 3)]].concat(),
    );
    let cnn = rungs("cnn/fashion-mnist-ladder", &widths(8));
    let lm = rungs(
        "lm/tinyshakespeare-ladder",
        &[(1, 1), (2, 1), (3, 1), (4, 1), (1, 2), (1, 3), (1, 4)],
    );
    let methods = Some(PAPER_METHODS.iter().map(|s| s.to_string()).collect());
    let suite = |name, description, tasks: Vec<String>| Suite {
        name,
        description,
        tasks,
        methods: methods.clone(),
        seeds: 3,
    };
    let mup = rungs("mlp/fashion-mnist-ladder-mup", &widths(16));
    let transfer = rungs("mlp/fashion-mnist-ladder", &widths(16))
        .into_iter()
        .chain(mup.clone())
        .chain(cnn.clone())
        .collect();
    vec![
        Suite {
            name: "ladder-transfer",
            description: "Tune small, train large: the MLP width ladder under the standard \
                          parametrisation and under µP, and the CNN width ladder, each tuned \
                          method tuned at every rung and at width ×1 only (`-w1`, width \
                          fidelity), with the untuned methods they start from; the report's \
                          transfer regret",
            tasks: transfer,
            methods: Some(TRANSFER_METHODS.iter().map(|s| s.to_string()).collect()),
            seeds: 3,
        },
        suite(
            "ladder-mlp-mup",
            "The MLP width ladder under µP (Tensor Programs V) instead of the standard \
             parametrisation, the paper's methods (the free ones train under the standard \
             parametrisation's learning rates: µP refuses them, their cells fail with the reason)",
            mup,
        ),
        suite(
            "ladder-mlp",
            "MLP on Fashion-MNIST 8k at width ×1–×16 and depth ×1–×3, the paper's methods: \
             does tuning lose its edge as the model grows?",
            mlp.clone(),
        ),
        suite(
            "ladder-cnn",
            "CNN on Fashion-MNIST 8k at width ×1–×8, the paper's methods",
            cnn.clone(),
        ),
        suite(
            "ladder-lm",
            "Byte-level transformer on tiny Shakespeare at width ×1–×4 and depth ×1–×4, the \
             paper's methods",
            lm.clone(),
        ),
        suite(
            "ladder",
            "Every family's ladder (MLP, CNN, LM) and logistic regression on the same images: \
             tuning's advantage against scale and along the complexity axis",
            std::iter::once("logreg/fashion-mnist-ladder".to_string())
                .chain(mlp)
                .chain(cnn)
                .chain(lm)
                .collect(),
        ),
    ]
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
