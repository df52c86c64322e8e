//! The built-in tasks, looked up by name.
//!
//! Any name may carry a scale suffix: `mlp/fashion-mnist@w4` is the same task at four times the
//! width, `lm/tinyshakespeare@w2d2` doubles width and depth. The `ladder` suite is built this way.

use crate::error::TaskError;
use crate::models::{CnnSpec, LinearSpec, LmSpec, MlpSpec, ModelSpec, ResMlpSpec};
use crate::spec::{Budget, DataSpec, Holdout, Normalization, TaskSpec, USER_FILE};

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
    tasks.extend(resmlp_tasks());
    tasks.extend(ladder_tasks());
    tasks.extend(user_file_templates());
    tasks
}

/// Embedded datasets: the `quick` suite, no files needed.
fn embedded_tasks() -> Vec<TaskSpec> {
    let logreg = [
        ("iris", "iris", "150 × 4, 3 classes", 100.0),
        (
            "breast-cancer",
            "Wisconsin breast cancer",
            "569 × 30, binary",
            100.0,
        ),
        (
            "wine-quality",
            "red wine quality",
            "1599 × 11, 6 classes",
            50.0,
        ),
    ];
    let mut tasks: Vec<TaskSpec> = logreg
        .into_iter()
        .map(|(data, title, about, epochs)| {
            embedded(
                &format!("logreg/{data}"),
                data,
                &format!("Logistic regression on {title} (embedded, {about})"),
                ModelSpec::Linear(LinearSpec {}),
                Budget::Epochs(epochs),
            )
        })
        .collect();
    tasks.push(embedded(
        "mlp/digits",
        "digits",
        "MLP 64-128-128-10 on 8×8 digits (embedded, 1797 rows)",
        ModelSpec::Mlp(MlpSpec {
            hidden: vec![128, 128],
        }),
        Budget::Epochs(30.0),
    ));
    tasks
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
            model: ModelSpec::Linear(LinearSpec {}),
            width: 1,
            depth: 1,
            parametrization: Default::default(),
            batch_size: 64,
            budget: Budget::Epochs(100.0),
            evals: 10,
            curve_points: 100,
            eval_max_examples: 4096,
            normalization: Normalization::UnitL2,
            holdout: Holdout::default(),
            data_sha256: None,
        })
        .collect()
}

/// MLPs and CNNs on MNIST and Fashion-MNIST.
fn image_tasks() -> Vec<TaskSpec> {
    let mlp = || {
        ModelSpec::Mlp(MlpSpec {
            hidden: vec![256, 256],
        })
    };
    let cnn = || {
        ModelSpec::Cnn(CnnSpec {
            channels: [32, 64],
            hidden: 128,
        })
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
        model: ModelSpec::Lm(LmSpec {
            d_model: 128,
            layers: 2,
            heads: 4,
            context: 64,
        }),
        width: 1,
        depth: 1,
        parametrization: Default::default(),
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
        data_sha256: None,
    }
}

/// Subsample of Fashion-MNIST the image ladders train on.
const LADDER_ROWS: usize = 8000;

/// The bottom rungs of the scale ladders (`@wN` / `@dN` climb them): logistic regression, an
/// MLP and a CNN on one 8k-row subsample of Fashion-MNIST, and a small byte-level transformer.
/// Narrow and short on purpose (the width-16 MLP is 784-1024-1024-10): the ladder
/// suites train every rung under the paper's eight methods, tuned ones included, in a few
/// hours on two cores. Budgets are the same on every rung of a ladder and set so that its
/// widest rung costs at most about one CPU-hour under the paper's protocol (3 seeds of 8
/// methods, two of them tuning 50 trials): the CNN trains 1 epoch (2 would make its ×8 rung
/// 2 CPU-hours), the LM 200 steps (300 would make its ×4 rung 1.3).
fn ladder_tasks() -> Vec<TaskSpec> {
    let small = |mut t: TaskSpec| {
        t.evals = 4;
        t.curve_points = 40;
        t.eval_max_examples = 1024;
        t
    };
    let rows = LADDER_ROWS;
    let mut tasks = vec![
        small(images(
            "logreg/fashion-mnist-ladder",
            "fashion-mnist",
            &format!(
                "Logistic regression on a {rows}-row subsample of Fashion-MNIST, 5 epochs: the \
                 complexity axis's first family next to the ladders"
            ),
            ModelSpec::Linear(LinearSpec {}),
            128,
            Some(rows),
            Budget::Epochs(5.0),
        )),
        small(images(
            "mlp/fashion-mnist-ladder",
            "fashion-mnist",
            &format!(
                "MLP 784-64-64-10 on a {rows}-row subsample of Fashion-MNIST, 5 epochs: the MLP \
                 ladder's bottom rung (width up to ×16, depth up to ×3)"
            ),
            ModelSpec::Mlp(MlpSpec {
                hidden: vec![64, 64],
            }),
            128,
            Some(rows),
            Budget::Epochs(5.0),
        )),
        small(images(
            "cnn/fashion-mnist-ladder",
            "fashion-mnist",
            &format!(
                "CNN conv8-pool-conv16-pool-fc32-fc10 on a {rows}-row subsample of \
                 Fashion-MNIST, 1 epoch: the CNN ladder's bottom rung (width up to ×8)"
            ),
            ModelSpec::Cnn(CnnSpec {
                channels: [8, 16],
                hidden: 32,
            }),
            64,
            Some(rows),
            Budget::Epochs(1.0),
        )),
        TaskSpec {
            name: "lm/tinyshakespeare-ladder".into(),
            description: "Byte-level transformer (1 pre-LN block, d 64, 2 heads, context 64) on \
                          tiny Shakespeare, 200 steps: the LM ladder's bottom rung (width and \
                          depth up to ×4)"
                .into(),
            model: ModelSpec::Lm(LmSpec {
                d_model: 64,
                layers: 1,
                heads: 2,
                context: 64,
            }),
            batch_size: 16,
            budget: Budget::Steps(200),
            evals: 4,
            curve_points: 30,
            eval_max_examples: 32,
            ..lm_tinyshakespeare()
        },
    ];
    // The MLP ladder under µP (Tensor Programs V): at width ×1 it is the same network; wider
    // rungs scale the readout's initialisation and the per-layer learning rates.
    let mut mup = tasks[1].clone();
    mup.name = "mlp/fashion-mnist-ladder-mup".into();
    mup.description = format!(
        "{}; µP parametrisation relative to width ×1",
        mup.description.split(':').next().unwrap_or_default()
    );
    mup.parametrization = crate::Parametrization::Mup;
    tasks.push(mup);
    tasks
}

/// Residual MLPs (`models::resmlp`): two pre-norm blocks of twice the stream's width, on the
/// embedded digits, LIBSVM letter and Fashion-MNIST rows.
fn resmlp_tasks() -> Vec<TaskSpec> {
    let model = |dim: usize| {
        ModelSpec::ResMlp(ResMlpSpec {
            dim,
            hidden: 2 * dim,
            blocks: 2,
        })
    };
    let letter = rows(
        "resmlp/letter",
        DataSpec::Libsvm {
            name: "letter".into(),
            path: None,
        },
        "Residual MLP (dim 128, 2 pre-norm blocks of 256) on LIBSVM letter (15000 × 16, 26 \
         classes, official test file), 20 epochs",
        model(128),
        Budget::Epochs(20.0),
    );
    vec![
        embedded(
            "resmlp/digits",
            "digits",
            "Residual MLP (dim 128, 2 pre-norm blocks of 256) on 8×8 digits (embedded, 1797 rows)",
            model(128),
            Budget::Epochs(30.0),
        ),
        letter,
        images(
            "resmlp/fashion-mnist-10k",
            "fashion-mnist",
            "Residual MLP (dim 256, 2 pre-norm blocks of 512) on a 10k-row subsample of \
             Fashion-MNIST, 5 epochs",
            model(256),
            128,
            Some(10_000),
            Budget::Epochs(5.0),
        ),
    ]
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
        ModelSpec::Mlp(MlpSpec {
            hidden: vec![256, 256],
        }),
        128,
        None,
        Budget::Epochs(5.0),
    );
    let cnn = images(
        "cnn/idx",
        USER_FILE,
        "Small CNN on your IDX images (--data DIR with the four MNIST-style files)",
        ModelSpec::Cnn(CnnSpec {
            channels: [32, 64],
            hidden: 128,
        }),
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
    let data = DataSpec::Embedded {
        name: dataset.into(),
    };
    rows(name, data, description, model, budget)
}

/// A task on rows of features, standardised, batch 64, with the usual evaluation settings.
fn rows(
    name: &str,
    data: DataSpec,
    description: &str,
    model: ModelSpec,
    budget: Budget,
) -> TaskSpec {
    TaskSpec {
        name: name.into(),
        description: description.into(),
        data,
        model,
        width: 1,
        depth: 1,
        parametrization: Default::default(),
        batch_size: 64,
        budget,
        evals: 10,
        curve_points: 100,
        eval_max_examples: 4096,
        normalization: Normalization::Standardize,
        holdout: Holdout::default(),
        data_sha256: None,
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
        parametrization: Default::default(),
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
        data_sha256: None,
    }
}

/// Looks a task up by name, applying an optional `@wNdM` scale suffix.
///
/// Each configuration has exactly one name: the suffix is refused unless it is written the
/// one way [`scale_suffix`] writes it (`@w4d2`, factors above 1 only, width first), and it may
/// only scale the axes the model has (a linear model has none, a CNN no depth).
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
        let bad = |reason: String| TaskError::BadScale {
            name: name.to_string(),
            reason,
        };
        let (w, d) = parse_scale(scale).map_err(bad)?;
        check_axes(&spec.model, w, d).map_err(bad)?;
        let canonical = format!("{base}{}", scale_suffix(w, d));
        if canonical != name {
            return Err(bad(if w == 1 && d == 1 {
                format!("`@{scale}` does not scale anything; write `{base}`")
            } else {
                format!("the same task is written `{canonical}`; use that name")
            }));
        }
        spec.width = w;
        spec.depth = d;
        spec.name = canonical;
    }
    Ok(spec)
}

/// The scale suffix of a task name: `""` at scale 1, else `@w4`, `@d2`, `@w4d2`.
pub fn scale_suffix(width: u32, depth: u32) -> String {
    let mut s = String::new();
    if width != 1 {
        s.push_str(&format!("w{width}"));
    }
    if depth != 1 {
        s.push_str(&format!("d{depth}"));
    }
    if s.is_empty() { s } else { format!("@{s}") }
}

/// Whether the model has the axes a scale multiplies; `Err` says which it lacks.
pub fn check_axes(model: &ModelSpec, width: u32, depth: u32) -> Result<(), String> {
    let family = model.family();
    let axes = model.axes();
    if width != 1 && !axes.width {
        return Err(format!(
            "a {family} model has no width to scale (`w{width}` would name the same model)"
        ));
    }
    if depth != 1 && !axes.depth {
        return Err(format!(
            "a {family} model has no depth to scale (`d{depth}` would name the same model)"
        ));
    }
    Ok(())
}

/// Parses `w4`, `d2`, `w2d2` into (width, depth) multipliers; `Err` says what is wrong.
fn parse_scale(s: &str) -> Result<(u32, u32), String> {
    const FORM: &str = "the scale suffix must look like `@w2`, `@d2` or `@w4d2` (integers from 1)";
    if s.is_empty() {
        return Err(format!("empty scale suffix: {FORM}, or leave out the `@`"));
    }
    let (mut w, mut d) = (None, None);
    let mut chars = s.chars().peekable();
    while let Some(key) = chars.next() {
        let mut digits = String::new();
        while let Some(c) = chars.next_if(char::is_ascii_digit) {
            digits.push(c);
        }
        let slot = match key {
            'w' => &mut w,
            'd' => &mut d,
            other => {
                return Err(format!(
                    "`{}` is not `w` or `d`: {FORM}",
                    other.escape_default()
                ));
            }
        };
        let v: u32 = digits.parse().ok().filter(|&v| v >= 1).ok_or_else(|| {
            format!(
                "`{key}{digits}` needs a factor from 1 to {}: {FORM}",
                u32::MAX
            )
        })?;
        if slot.replace(v).is_some() {
            return Err(format!("`{key}` is given twice: {FORM}"));
        }
    }
    Ok((w.unwrap_or(1), d.unwrap_or(1)))
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
    fn scale_suffixes_parse() {
        let t = find("mlp/digits@w4d2").unwrap();
        assert_eq!((t.width, t.depth), (4, 2));
        assert_eq!(t.name, "mlp/digits@w4d2");
        assert!(find("mlp/digits@x3").is_err());
        assert!(find("mlp/digits@w0").is_err());
    }

    #[test]
    fn each_configuration_has_one_name() {
        let err = |name: &str| find(name).unwrap_err().to_string();
        // Byte slicing used to panic on a multi-byte character.
        for hostile in [
            "logreg/iris@é2",
            "mlp/digits@wé",
            "mlp/digits@w2é",
            "mlp/digits@😀",
        ] {
            let e = err(hostile);
            assert!(e.contains("scale suffix"), "{hostile}: {e}");
        }
        assert!(err("logreg/iris@").contains("empty scale suffix"));
        let e = err("logreg/iris@w4");
        assert!(e.contains("linear model has no width"), "{e}");
        assert!(err("cnn/mnist@d2").contains("no depth"));
        assert!(err("mlp/digits@d2w4").contains("`mlp/digits@w4d2`"));
        assert!(err("mlp/digits@w1").contains("write `mlp/digits`"));
        assert!(err("mlp/digits@w1d2").contains("`mlp/digits@d2`"));
        assert!(err("mlp/digits@w02").contains("`mlp/digits@w2`"));
        assert!(err("mlp/digits@w2w2").contains("twice"));
        assert!(err("mlp/digits@w99999999999").contains("from 1 to"));
        assert_eq!(find("cnn/mnist@w2").unwrap().width, 2);
        assert_eq!(scale_suffix(1, 1), "");
        assert_eq!(scale_suffix(1, 3), "@d3");
    }

    #[test]
    fn unknown_task_suggests_close_names() {
        let err = find("libsvm/leter").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("libsvm/letter"), "{msg}");
    }
}
