//! The built-in tasks, looked up by name.
//!
//! Any name may carry a scale suffix: `mlp/fashion-mnist@w4` is the same task at four times the
//! width, `lm/tinyshakespeare@w2d2` doubles width and depth. The `ladder` suite is built this way.

use crate::error::TaskError;
use crate::spec::{Budget, DataSpec, Holdout, ModelSpec, Normalization, TaskSpec, USER_FILE};

/// LIBSVM datasets of the mirror: (name, description).
pub const LIBSVM_DATASETS: &[(&str, &str)] = &[
    ("iris", "150 × 4, 3 classes"),
    ("wine", "178 × 13, 3 classes"),
    ("vowel", "528 × 10, 11 classes, official test file"),
    ("vehicle", "846 × 18, 4 classes"),
    ("dna", "2000 × 180, 3 classes, official test file"),
    ("letter", "15000 × 16, 26 classes, official test file"),
    ("pendigits", "7494 × 16, 10 classes, official test file"),
    ("a9a", "32561 × 123, binary, official test file"),
    ("ijcnn1", "49990 × 22, binary, official test file"),
    (
        "mushrooms",
        "6513 × 126, binary (agaricus), official test file",
    ),
    ("w8a", "49749 × 300, binary"),
];

/// Every built-in task at scale 1.
pub fn builtin() -> Vec<TaskSpec> {
    let mut tasks = embedded_tasks();
    tasks.extend(builtin_paper_libsvm());
    tasks.extend(image_tasks());
    tasks.push(lm_tinyshakespeare());
    tasks.extend(user_file_templates());
    tasks
}

/// Embedded datasets: the `quick` suite, no files needed.
fn embedded_tasks() -> Vec<TaskSpec> {
    vec![
        embedded(
            "logreg/iris",
            "iris",
            "Logistic regression on iris (embedded, 150 × 4, 3 classes)",
            ModelSpec::Linear,
            Budget::Epochs(100.0),
        ),
        embedded(
            "logreg/breast-cancer",
            "breast-cancer",
            "Logistic regression on Wisconsin breast cancer (embedded, 569 × 30, binary)",
            ModelSpec::Linear,
            Budget::Epochs(100.0),
        ),
        embedded(
            "logreg/wine-quality",
            "wine-quality",
            "Logistic regression on red wine quality (embedded, 1599 × 11, 6 classes)",
            ModelSpec::Linear,
            Budget::Epochs(50.0),
        ),
        embedded(
            "mlp/digits",
            "digits",
            "MLP 64-128-128-10 on 8×8 digits (embedded, 1797 rows)",
            ModelSpec::Mlp {
                hidden: vec![128, 128],
            },
            Budget::Epochs(30.0),
        ),
    ]
}

/// The paper's LIBSVM setup: multinomial logistic regression, batch 64, 100 epochs, every
/// feature column scaled to unit L2 norm.
fn builtin_paper_libsvm() -> Vec<TaskSpec> {
    LIBSVM_DATASETS
        .iter()
        .map(|(name, about)| TaskSpec {
            name: format!("libsvm/{name}"),
            description: format!("Logistic regression on LIBSVM {name} ({about}), paper setup"),
            data: DataSpec::Libsvm {
                name: name.to_string(),
                path: None,
            },
            model: ModelSpec::Linear,
            width: 1,
            depth: 1,
            batch_size: 64,
            budget: Budget::Epochs(100.0),
            evals: 10,
            curve_points: 100,
            eval_max_examples: 4096,
            normalization: Normalization::UnitL2,
            holdout: Holdout::default(),
        })
        .collect()
}

/// MLPs and CNNs on MNIST and Fashion-MNIST.
fn image_tasks() -> Vec<TaskSpec> {
    let mlp = || ModelSpec::Mlp {
        hidden: vec![256, 256],
    };
    let cnn = || ModelSpec::Cnn {
        channels: [32, 64],
        hidden: 128,
    };
    let mut tasks = Vec::new();
    for (ds, title) in [("mnist", "MNIST"), ("fashion-mnist", "Fashion-MNIST")] {
        tasks.push(images(
            &format!("mlp/{ds}"),
            ds,
            &format!("MLP 784-256-256-10 on {title} (60k rows), 5 epochs"),
            mlp(),
            128,
            None,
            Budget::Epochs(5.0),
        ));
        tasks.push(images(
            &format!("mlp/{ds}-10k"),
            ds,
            &format!("MLP 784-256-256-10 on a 10k-row subsample of {title}, 5 epochs"),
            mlp(),
            128,
            Some(10_000),
            Budget::Epochs(5.0),
        ));
        tasks.push(images(
            &format!("cnn/{ds}"),
            ds,
            &format!(
                "CNN conv32-pool-conv64-pool-fc128-fc10 on a 10k-row subsample of {title}, 2 epochs"
            ),
            cnn(),
            64,
            Some(10_000),
            Budget::Epochs(2.0),
        ));
        tasks.push(images(
            &format!("cnn/{ds}-full"),
            ds,
            &format!("CNN conv32-pool-conv64-pool-fc128-fc10 on all of {title}, 2 epochs"),
            cnn(),
            64,
            None,
            Budget::Epochs(2.0),
        ));
    }
    tasks
}

/// The byte-level language model on tiny Shakespeare.
fn lm_tinyshakespeare() -> TaskSpec {
    TaskSpec {
        name: "lm/tinyshakespeare".into(),
        description: "Byte-level transformer (2 pre-LN blocks, d 128, 4 heads, context 64) on \
                      tiny Shakespeare, 600 steps"
            .into(),
        data: DataSpec::Text {
            name: "tinyshakespeare".into(),
            path: None,
        },
        model: ModelSpec::Lm {
            d_model: 128,
            layers: 2,
            heads: 4,
            context: 64,
        },
        width: 1,
        depth: 1,
        batch_size: 32,
        budget: Budget::Steps(600),
        evals: 6,
        curve_points: 60,
        eval_max_examples: 64,
        normalization: Normalization::None,
        holdout: Holdout {
            validation: 0.05,
            test: 0.05,
        },
    }
}

/// Tasks that train on the user's own file, given with `--data PATH`.
fn user_file_templates() -> Vec<TaskSpec> {
    let mut libsvm = find_in(&builtin_paper_libsvm(), "libsvm/iris");
    libsvm.name = "libsvm/file".into();
    libsvm.description =
        "Logistic regression, paper setup, on your LIBSVM file (--data PATH; PATH.t = test)".into();
    libsvm.data = DataSpec::Libsvm {
        name: USER_FILE.into(),
        path: None,
    };
    let mlp = images(
        "mlp/idx",
        USER_FILE,
        "MLP 256-256 on your IDX images (--data DIR with the four MNIST-style files)",
        ModelSpec::Mlp {
            hidden: vec![256, 256],
        },
        128,
        None,
        Budget::Epochs(5.0),
    );
    let cnn = images(
        "cnn/idx",
        USER_FILE,
        "Small CNN on your IDX images (--data DIR with the four MNIST-style files)",
        ModelSpec::Cnn {
            channels: [32, 64],
            hidden: 128,
        },
        64,
        None,
        Budget::Epochs(2.0),
    );
    let mut lm = lm_tinyshakespeare();
    lm.name = "lm/file".into();
    lm.description = "Byte-level transformer on your text file (--data PATH)".into();
    lm.data = DataSpec::Text {
        name: USER_FILE.into(),
        path: None,
    };
    vec![libsvm, mlp, cnn, lm]
}

fn find_in(tasks: &[TaskSpec], name: &str) -> TaskSpec {
    tasks
        .iter()
        .find(|t| t.name == name)
        .cloned()
        .expect("built-in task exists")
}

fn embedded(
    name: &str,
    dataset: &str,
    description: &str,
    model: ModelSpec,
    budget: Budget,
) -> TaskSpec {
    TaskSpec {
        name: name.into(),
        description: description.into(),
        data: DataSpec::Embedded {
            name: dataset.into(),
        },
        model,
        width: 1,
        depth: 1,
        batch_size: 64,
        budget,
        evals: 10,
        curve_points: 100,
        eval_max_examples: 4096,
        normalization: Normalization::Standardize,
        holdout: Holdout::default(),
    }
}

fn images(
    name: &str,
    dataset: &str,
    description: &str,
    model: ModelSpec,
    batch_size: usize,
    subsample: Option<usize>,
    budget: Budget,
) -> TaskSpec {
    TaskSpec {
        name: name.into(),
        description: description.into(),
        data: DataSpec::Images {
            name: dataset.into(),
            path: None,
            subsample,
        },
        model,
        width: 1,
        depth: 1,
        batch_size,
        budget,
        evals: 10,
        curve_points: 100,
        eval_max_examples: 2048,
        normalization: Normalization::None,
        holdout: Holdout {
            validation: 0.1,
            test: 0.0,
        },
    }
}

/// Looks a task up by name, applying an optional `@wNdM` scale suffix.
pub fn find(name: &str) -> Result<TaskSpec, TaskError> {
    let (base, scale) = match name.split_once('@') {
        Some((b, s)) => (b, Some(s)),
        None => (name, None),
    };
    let all = builtin();
    let mut spec = all
        .iter()
        .find(|t| t.name == base)
        .cloned()
        .ok_or_else(|| TaskError::UnknownTask {
            name: name.to_string(),
            suggestions: suggest(base, all.iter().map(|t| t.name.as_str())),
        })?;
    if let Some(scale) = scale {
        let (w, d) = parse_scale(scale).ok_or_else(|| TaskError::BadScale {
            name: name.to_string(),
        })?;
        spec.width = w;
        spec.depth = d;
        spec.name = name.to_string();
    }
    Ok(spec)
}

/// Parses `w4`, `d2`, `w2d2` into (width, depth) multipliers.
fn parse_scale(s: &str) -> Option<(u32, u32)> {
    let (mut w, mut d) = (1, 1);
    let mut rest = s;
    while !rest.is_empty() {
        let key = rest.chars().next()?;
        let digits: String = rest[1..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let v: u32 = digits.parse().ok().filter(|&v| v >= 1)?;
        match key {
            'w' => w = v,
            'd' => d = v,
            _ => return None,
        }
        rest = &rest[1 + digits.len()..];
    }
    Some((w, d))
}

/// The closest names to `name`, best first (at most three).
pub fn suggest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut scored: Vec<(f64, &str)> = candidates
        .map(|c| {
            let tail = c.rsplit('/').next().unwrap_or(c);
            let score = strsim::jaro_winkler(name, c).max(strsim::jaro_winkler(name, tail));
            (score, c)
        })
        .filter(|(s, _)| *s > 0.7)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored
        .into_iter()
        .take(3)
        .map(|(_, c)| c.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let all = builtin();
        let mut names: Vec<_> = all.iter().map(|t| t.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }

    #[test]
    fn scale_suffix() {
        let t = find("mlp/digits@w4d2").unwrap();
        assert_eq!((t.width, t.depth), (4, 2));
        assert_eq!(t.name, "mlp/digits@w4d2");
        assert!(find("mlp/digits@x3").is_err());
        assert!(find("mlp/digits@w0").is_err());
    }

    #[test]
    fn unknown_task_suggests_close_names() {
        let err = find("libsvm/leter").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("libsvm/letter"), "{msg}");
    }
}
