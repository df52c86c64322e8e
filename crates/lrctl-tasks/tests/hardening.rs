//! What a task refuses, and the model arithmetic it owns: parameter counts equal to the built
//! models', zero-sized and oversized models refused before anything is allocated, budgets and
//! sizes of zero refused naming the field, tiny images and empty held-out splits handled
//! without a panic or a made-up 0.

use std::path::Path;
use std::sync::Arc;

use lrctl_data::{DataDirs, Tabular, idx};
use lrctl_tasks::Shape;
use lrctl_tasks::models::{CnnSpec, Input, LinearSpec, LmSpec, MlpSpec};
use lrctl_tasks::{
    Budget, ClassData, DataSpec, LoadedTask, ModelSpec, Split, Task, TaskData, TaskError, TaskSpec,
    TextData, registry,
};

/// Rows of `shape` (labels cycling through every class), enough for every split.
fn rows_of(shape: &Shape, n: usize) -> Tabular {
    Tabular {
        name: "synthetic".into(),
        n_rows: n,
        n_features: shape.features,
        x: (0..n * shape.features)
            .map(|i| (i % 7) as f32 / 7.0)
            .collect(),
        y: (0..n).map(|i| (i % shape.classes) as u32).collect(),
        n_classes: shape.classes,
        class_names: (0..shape.classes).map(|c| c.to_string()).collect(),
        image_shape: shape.image,
    }
}

/// `spec` over synthetic data of `shape` (a few rows, or a few windows of text).
fn with_data(spec: TaskSpec, shape: &Shape) -> Result<LoadedTask, TaskError> {
    let data = match spec.model.input() {
        Input::Text { context } => TaskData::Text(Arc::new(TextData {
            train: vec![b'a'; context + 2],
            validation: vec![b'b'; context + 2],
            test: vec![b'c'; context + 2],
        })),
        _ => {
            let rows = rows_of(shape, shape.classes.max(4));
            TaskData::Class(Arc::new(ClassData {
                train: rows.clone(),
                validation: rows.clone(),
                test: rows,
                official_test: false,
            }))
        }
    };
    LoadedTask::new(spec, data)
}

/// A shape for the templates that train on a user's file.
fn user_shape(spec: &TaskSpec) -> Shape {
    match spec.model.input() {
        _ if matches!(spec.data, DataSpec::Images { .. }) => Shape {
            rows: 100,
            test_rows: Some(20),
            features: 12 * 10,
            classes: 4,
            image: Some([1, 12, 10]),
        },
        Input::Text { .. } => Shape {
            rows: 1000,
            test_rows: None,
            features: 0,
            classes: 256,
            image: None,
        },
        _ => Shape {
            rows: 100,
            test_rows: None,
            features: 7,
            classes: 3,
            image: None,
        },
    }
}

/// The model arithmetic's parameter count is the built model's, for every built-in task and
/// every scale its model has axes for, on the shape the catalog states for its dataset.
#[test]
fn n_params_is_the_instantiated_models_for_every_task_and_scale() {
    let device = lrctl_tasks::default_device();
    for base in registry::builtin() {
        let shape = base.data_shape().unwrap_or_else(|| {
            assert!(
                base.data.needs_path(),
                "{}: the catalog knows no shape",
                base.name
            );
            user_shape(&base)
        });
        for (w, d) in [(1, 1), (2, 1), (1, 2), (3, 2)] {
            if registry::check_axes(&base.model, w, d).is_err() {
                continue;
            }
            let mut spec = base.clone();
            (spec.width, spec.depth) = (w, d);
            let expect = spec.n_params(&shape);
            let task = with_data(spec.clone(), &shape)
                .unwrap_or_else(|e| panic!("{} @w{w}d{d}: {e}", base.name));
            let built = task.instantiate(0, &device).unwrap().n_params();
            assert_eq!(expect, built as u64, "{} @w{w}d{d}", base.name);
            assert!(spec.forward_macs(&shape) > 0, "{}", base.name);
            if (w, d) != (1, 1) {
                let mut one = spec.clone();
                (one.width, one.depth) = (1, 1);
                assert!(
                    spec.forward_macs(&shape) > one.forward_macs(&shape)
                        && spec.memory_estimate(&shape).total()
                            > one.memory_estimate(&shape).total(),
                    "{} @w{w}d{d} costs more than at scale 1",
                    base.name
                );
            }
        }
    }
}

#[test]
fn forward_macs_count_every_layer() {
    let iris = Shape {
        rows: 150,
        test_rows: None,
        features: 4,
        classes: 3,
        image: None,
    };
    assert_eq!(
        ModelSpec::Linear(LinearSpec {}).forward_macs(1, 1, &iris),
        12
    );
    let mlp = ModelSpec::Mlp(MlpSpec { hidden: vec![5, 6] });
    assert_eq!(mlp.forward_macs(2, 1, &iris), 4 * 10 + 10 * 12 + 12 * 3);
    let image = Shape {
        features: 64,
        image: Some([1, 8, 8]),
        ..iris
    };
    let cnn = ModelSpec::Cnn(CnnSpec {
        channels: [2, 3],
        hidden: 5,
    });
    let conv1 = 8 * 8 * 2 * 9;
    let conv2 = 4 * 4 * 2 * 3 * 9;
    let dense = 3 * 2 * 2 * 5 + 5 * 3;
    assert_eq!(cnn.forward_macs(1, 1, &image), conv1 + conv2 + dense);
    let lm = ModelSpec::Lm(LmSpec {
        d_model: 4,
        layers: 1,
        heads: 2,
        context: 3,
    });
    // Per token 12 d² + head d · 256; causal attention t(t+1) d per layer.
    assert_eq!(
        lm.forward_macs(1, 1, &iris),
        3 * (12 * 16 + 4 * 256) + 3 * 4 * 4
    );
}

/// `@w99999` used to allocate until the process aborted.
#[test]
fn a_cell_larger_than_the_machine_is_refused_before_anything_is_loaded() {
    let Some(memory) = lrctl_tasks::machine_memory() else {
        eprintln!("SKIPPED: this machine's memory is unknown");
        return;
    };
    for name in [
        "mlp/digits@w99999",
        "lm/tinyshakespeare@w4000d4000",
        "cnn/mnist@w99999",
    ] {
        let spec = registry::find(name).unwrap();
        // No data directory: the refusal comes before the (missing) data is looked for.
        let err = lrctl_tasks::prepare(&spec, &DataDirs::only("/nonexistent"))
            .err()
            .unwrap();
        let msg = err.to_string();
        assert!(matches!(err, TaskError::TooLarge { .. }), "{name}: {msg}");
        assert!(
            msg.contains(&lrctl_tasks::human_bytes(memory)) && msg.contains("parameters"),
            "{msg}"
        );
        let shape = spec.data_shape().unwrap();
        assert!(spec.memory_estimate(&shape).total() > memory);
    }
    // The built-in tasks themselves fit a 2 GiB machine.
    for spec in registry::builtin() {
        if let Some(shape) = spec.data_shape() {
            spec.check_memory(&shape, 2 << 30)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
}

fn embedded(model: ModelSpec) -> TaskSpec {
    let mut spec = registry::find("mlp/digits").unwrap();
    spec.name = "inline/zero".into();
    spec.model = model;
    spec
}

/// Zero-sized models printed burn backtraces; budgets and sizes of zero silently became 1.
#[test]
fn zero_sizes_and_budgets_are_refused_naming_the_field() {
    let lm = |d_model, layers, heads, context| {
        ModelSpec::Lm(LmSpec {
            d_model,
            layers,
            heads,
            context,
        })
    };
    let mut cases: Vec<(TaskSpec, &str)> = vec![
        (
            embedded(ModelSpec::Mlp(MlpSpec { hidden: vec![0] })),
            "model.hidden[0]",
        ),
        (
            embedded(ModelSpec::Mlp(MlpSpec { hidden: vec![8, 0] })),
            "model.hidden[1]",
        ),
        (
            embedded(ModelSpec::Cnn(CnnSpec {
                channels: [0, 4],
                hidden: 8,
            })),
            "model.channels[0]",
        ),
        (
            embedded(ModelSpec::Cnn(CnnSpec {
                channels: [4, 4],
                hidden: 0,
            })),
            "model.hidden",
        ),
        (embedded(lm(0, 1, 1, 8)), "model.d_model"),
        (embedded(lm(8, 0, 1, 8)), "model.layers"),
        (embedded(lm(8, 1, 0, 8)), "model.heads"),
        (embedded(lm(8, 1, 1, 0)), "model.context"),
        (embedded(lm(10, 1, 3, 8)), "divisible"),
    ];
    let base = embedded(ModelSpec::Mlp(MlpSpec { hidden: vec![8] }));
    let mut with = |field: &'static str, f: &dyn Fn(&mut TaskSpec)| {
        let mut s = base.clone();
        f(&mut s);
        cases.push((s, field));
    };
    with("width", &|s| s.width = 0);
    with("depth", &|s| s.depth = 0);
    with("batch_size", &|s| s.batch_size = 0);
    with("budget.epochs", &|s| s.budget = Budget::Epochs(0.0));
    with("budget.epochs", &|s| s.budget = Budget::Epochs(-3.0));
    with("budget.epochs", &|s| s.budget = Budget::Epochs(f64::NAN));
    with("budget.epochs", &|s| {
        s.budget = Budget::Epochs(f64::INFINITY)
    });
    with("budget.steps", &|s| s.budget = Budget::Steps(0));
    with("eval_max_examples", &|s| s.eval_max_examples = 0);
    with("curve_points", &|s| s.curve_points = 0);
    with("holdout.validation", &|s| s.holdout.validation = f64::NAN);
    with("holdout.test", &|s| s.holdout.test = 0.95);
    with("name", &|s| s.name = "n\ntouch PWNED".into());
    with("name", &|s| s.name = " ".into());
    for (spec, field) in cases {
        let err = spec.validate().unwrap_err().to_string();
        assert!(err.contains(field), "`{field}` missing in: {err}");
        // `prepare` refuses it the same way (no panic, nothing allocated).
        let err = lrctl_tasks::prepare(&spec, &DataDirs::default())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(field), "`{field}` missing in: {err}");
    }
}

#[test]
fn a_study_file_budget_of_nan_is_refused() {
    let spec: TaskSpec = toml::from_str(
        r#"
        name = "mlp/mine"
        description = "x"
        data = { kind = "embedded", name = "digits" }
        model = { kind = "mlp", hidden = [16] }
        batch_size = 8
        budget = { epochs = nan }
        "#,
    )
    .unwrap();
    let err = spec.validate().unwrap_err().to_string();
    assert!(err.contains("budget.epochs = NaN"), "{err}");
}

fn idx_dir(dir: &Path, h: u32, w: u32) {
    let n = 6u32;
    let images = idx::encode(&[n, h, w], &vec![200; (n * h * w) as usize]);
    let labels = idx::encode(&[n], &[0, 1, 0, 1, 0, 1]);
    for split in ["train", "t10k"] {
        std::fs::write(dir.join(format!("{split}-images-idx3-ubyte")), &images).unwrap();
        std::fs::write(dir.join(format!("{split}-labels-idx1-ubyte")), &labels).unwrap();
    }
}

/// A CNN on 1×1 images crashed inside burn.
#[test]
fn a_cnn_on_tiny_images_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cnn = registry::find("cnn/idx").unwrap();
    let cnn = TaskSpec {
        data: cnn.data.with_path(dir.path().to_path_buf()),
        ..cnn
    };
    for (h, w) in [(1, 1), (3, 8), (8, 2)] {
        idx_dir(dir.path(), h, w);
        let err = lrctl_tasks::prepare(&cnn, &DataDirs::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("at least 4x4") && err.contains(&format!("{h}x{w}")),
            "{err}"
        );
    }
    idx_dir(dir.path(), 0, 0);
    let err = lrctl_tasks::prepare(&cnn, &DataDirs::default())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("0x0 pixels"), "{err}");
    idx_dir(dir.path(), 4, 4);
    let task = lrctl_tasks::prepare(&cnn, &DataDirs::default()).unwrap();
    assert!(task.instantiate(0, &lrctl_tasks::default_device()).is_ok());
}

/// Evaluations over zero examples reported a loss and an accuracy of 0.
#[test]
fn empty_held_out_splits_report_no_value() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("two.svm");
    // Two rows: 20 % test and 10 % validation round to no row at all.
    std::fs::write(&file, "1 1:0.5\n2 1:-0.5 2:1\n").unwrap();
    let base = registry::find("libsvm/file").unwrap();
    let spec = TaskSpec {
        data: base.data.with_path(file),
        ..base
    };
    let task = lrctl_tasks::prepare(&spec, &DataDirs::default()).unwrap();
    let s = task.summary();
    assert_eq!((s.train, s.validation, s.test), (2, 0, 0));
    let w = task.instantiate(0, &lrctl_tasks::default_device()).unwrap();
    assert!(w.evaluate(Split::Validation, None).is_none());
    assert!(w.evaluate(Split::Test, None).is_none());
    let train = w.evaluate(Split::Train, None).unwrap();
    assert_eq!(train.examples, 2);
    assert!(w.evaluate(Split::Train, Some(0)).is_none());

    // A validation fraction of 0 on embedded data: no validation value, a real test value.
    let mut iris = registry::find("logreg/iris").unwrap();
    iris.holdout.validation = 0.0;
    let task = lrctl_tasks::prepare(&iris, &DataDirs::default()).unwrap();
    let w = task.instantiate(0, &lrctl_tasks::default_device()).unwrap();
    assert!(w.evaluate(Split::Validation, None).is_none());
    assert!(w.evaluate(Split::Test, None).unwrap().examples > 0);
}

#[test]
fn one_class_or_featureless_data_cannot_train() {
    let dir = tempfile::tempdir().unwrap();
    let base = registry::find("libsvm/file").unwrap();
    for (text, needle) in [
        ("1 1:1\n1 1:2\n1 2:1\n", "at least two"),
        ("1\n2\n1\n2\n", "no features"),
    ] {
        let file = dir.path().join("f.svm");
        std::fs::write(&file, text).unwrap();
        let spec = TaskSpec {
            data: base.data.with_path(file),
            ..base.clone()
        };
        let err = lrctl_tasks::prepare(&spec, &DataDirs::default())
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains(needle), "{err}");
    }
}

// ---- Fuzzing: task names and task specifications ------------------------------------------
// `PROPTEST_CASES` cases each (default 256); set it higher for a longer run.

use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig::with_cases(cases)
}

fn suffix() -> impl Strategy<Value = String> {
    prop_oneof![
        ".{0,8}",
        "[wd0-9é@]{0,10}",
        (0u64..5_000_000_000, 0u64..5_000_000_000).prop_map(|(w, d)| format!("w{w}d{d}")),
        (1u32..5, 1u32..5).prop_map(|(w, d)| format!("d{d}w{w}")),
    ]
}

proptest! {
    #![proptest_config(config())]

    /// Any suffix on any task: a task whose name is exactly the canonical one for its scale
    /// (so two names never mean one configuration), or an error naming the name given.
    #[test]
    fn task_names_with_any_suffix_resolve_canonically_or_fail_clearly(
        base in prop::sample::select(
            registry::builtin().into_iter().map(|t| t.name).collect::<Vec<_>>()
        ),
        suffix in suffix(),
    ) {
        let name = format!("{base}@{suffix}");
        match registry::find(&name) {
            Ok(spec) => {
                prop_assert_eq!(&spec.name, &name);
                prop_assert_eq!(
                    format!("{base}{}", registry::scale_suffix(spec.width, spec.depth)),
                    name
                );
                prop_assert!(spec.width > 1 || spec.depth > 1);
                prop_assert!(spec.validate().is_ok());
            }
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.contains(&name), "{}", msg);
            }
        }
    }

    /// Any sizes in a study file's task: validation and the model arithmetic never panic
    /// (the arithmetic saturates), and a valid specification's memory can be checked.
    #[test]
    fn any_task_sizes_validate_and_measure_without_a_panic(
        hidden in prop::collection::vec(prop_oneof![Just(0usize), 1usize..4096, Just(usize::MAX)], 0..4),
        width in prop_oneof![Just(0u32), 1u32..8, Just(u32::MAX)],
        depth in prop_oneof![Just(0u32), 1u32..8, Just(u32::MAX)],
        batch in prop_oneof![Just(0usize), 1usize..512, Just(usize::MAX)],
        epochs in prop_oneof![any::<f64>(), Just(0.0), Just(-1.0), Just(f64::NAN)],
        family in 0u8..4,
        d_model in prop_oneof![Just(0usize), 1usize..300, Just(usize::MAX)],
        heads in 0usize..9,
    ) {
        let model = match family {
            0 => ModelSpec::Linear(LinearSpec {}),
            1 => ModelSpec::Mlp(MlpSpec { hidden: hidden.clone() }),
            2 => ModelSpec::Cnn(CnnSpec { channels: [d_model, heads], hidden: hidden.first().copied().unwrap_or(1) }),
            _ => ModelSpec::Lm(LmSpec { d_model, layers: heads, heads, context: hidden.len() }),
        };
        let mut spec = registry::find("mlp/digits").unwrap();
        spec.model = model;
        (spec.width, spec.depth, spec.batch_size) = (width, depth, batch);
        spec.budget = Budget::Epochs(epochs);
        let valid = spec.validate();
        let shape = spec.data_shape().unwrap();
        let (p, m) = (spec.n_params(&shape), spec.memory_estimate(&shape));
        prop_assert!(m.total() >= m.parameters);
        if valid.is_ok() {
            prop_assert!(p > 0);
            let _ = spec.check_memory(&shape, 1 << 30);
        }
    }
}
