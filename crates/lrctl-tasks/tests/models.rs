//! Integration tests of the task layer: gradients against finite differences for every model
//! family, seeded initialisation, language-model causality, evaluation metrics and the
//! registry.
//!
//! Models are tiny and most data is synthetic (built in memory and wrapped with
//! [`LoadedTask::new`]), so every test runs in well under a second without the data mirror.
//! The tests marked "mirror" also train the CNN and the language model on the real MNIST and
//! tiny Shakespeare files when the mirror (`$LRCTL_DATA_DIR`, else `../shared/data` next to the
//! repository) is present, and print a message and return when it is not.

use std::path::PathBuf;
use std::sync::Arc;

use burn::prelude::*;
use lrctl_data::{DataDirs, Normalization, Tabular};
use lrctl_tasks::init::{init_params, read_grads};
use lrctl_tasks::models::{ByteLm, CnnSpec, Input, LinearSpec, LmSpec, MlpSpec};
use lrctl_tasks::registry;
use lrctl_tasks::spec::USER_FILE;
use lrctl_tasks::{
    Budget, ClassData, DataSpec, Holdout, LoadedTask, ModelSpec, Split, Task, TaskData, TaskError,
    TaskSpec, TextData, Workload,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn device() -> Device {
    lrctl_tasks::default_device()
}

/// A spec for `model` with placeholder data (the data is supplied directly to `LoadedTask`).
fn spec(name: &str, model: ModelSpec, data: DataSpec) -> TaskSpec {
    TaskSpec {
        name: name.into(),
        description: "test".into(),
        data,
        model,
        width: 1,
        depth: 1,
        parametrization: Default::default(),
        batch_size: 8,
        budget: Budget::Steps(10),
        evals: 2,
        curve_points: 10,
        eval_max_examples: 64,
        normalization: Normalization::None,
        holdout: Holdout::default(),
        data_sha256: None,
    }
}

/// Random rows: features ~ N(0, 1)-ish (uniform ±√3), labels uniform.
fn random_rows(
    rng: &mut ChaCha8Rng,
    n: usize,
    features: usize,
    classes: usize,
    image: Option<[usize; 3]>,
) -> Tabular {
    let x: Vec<f32> = (0..n * features)
        .map(|_| rng.random_range(-1.732f32..1.732))
        .collect();
    let mut y: Vec<u32> = (0..n)
        .map(|_| rng.random_range(0..classes as u32))
        .collect();
    // Every class present, so a split never has fewer classes than the model.
    for (c, label) in y.iter_mut().take(classes).enumerate() {
        *label = c as u32;
    }
    Tabular {
        name: "synthetic".into(),
        n_rows: n,
        n_features: features,
        x: x.into(),
        y,
        n_classes: classes,
        class_names: (0..classes).map(|c| c.to_string()).collect(),
        image_shape: image,
    }
}

/// A classification task over synthetic rows (no files needed).
fn synthetic_class_task(
    model: ModelSpec,
    rows: usize,
    features: usize,
    classes: usize,
    image: Option<[usize; 3]>,
) -> LoadedTask {
    let mut rng = ChaCha8Rng::seed_from_u64(0xda7a);
    let data = ClassData {
        train: random_rows(&mut rng, rows, features, classes, image),
        validation: random_rows(&mut rng, rows / 2, features, classes, image),
        test: random_rows(&mut rng, rows / 2, features, classes, image),
        official_test: false,
    };
    let s = spec(
        "synthetic/class",
        model,
        DataSpec::Embedded {
            name: "synthetic".into(),
        },
    );
    LoadedTask::new(s, TaskData::Class(Arc::new(data))).expect("valid synthetic task")
}

/// Pseudo-English bytes (letters, spaces, newlines) from a seeded generator.
fn synthetic_text(n: usize, seed: u64) -> Vec<u8> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let alphabet = b"etaoin shrdlu\ncmfwyp";
    (0..n)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())])
        .collect()
}

fn tiny_lm(d_model: usize, layers: usize, heads: usize, context: usize) -> ModelSpec {
    ModelSpec::Lm(LmSpec {
        d_model,
        layers,
        heads,
        context,
    })
}

/// A language-model task over synthetic text (no files needed).
fn synthetic_lm_task(model: ModelSpec) -> LoadedTask {
    let data = TextData {
        train: synthetic_text(2000, 1),
        validation: synthetic_text(400, 2),
        test: synthetic_text(400, 3),
    };
    let s = spec(
        "synthetic/lm",
        model,
        DataSpec::Text {
            name: "synthetic".into(),
            path: None,
        },
    );
    LoadedTask::new(s, TaskData::Text(Arc::new(data))).expect("valid synthetic LM task")
}

/// The data mirror, or `None` (with a message) when it is absent.
fn mirror(test: &str) -> Option<DataDirs> {
    let dir = std::env::var_os("LRCTL_DATA_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if dir.is_dir() {
        Some(DataDirs::only(dir))
    } else {
        assert!(
            std::env::var("LRCTL_REQUIRE_MIRROR").as_deref() != Ok("1"),
            "{test}: LRCTL_REQUIRE_MIRROR=1 but the data mirror is not at {}",
            dir.display()
        );
        eprintln!(
            "SKIPPED {test}: no data mirror at {} (set LRCTL_DATA_DIR)",
            dir.display()
        );
        None
    }
}

fn params_of(w: &dyn Workload) -> Vec<f32> {
    let mut p = Vec::new();
    w.params(&mut p);
    p
}

fn loss_at(w: &mut dyn Workload, params: &[f32], batch: &[usize]) -> f32 {
    let mut scratch = Vec::new();
    w.set_params(params);
    w.loss_and_grad(batch, &mut scratch)
}

/// Whether the model may have kinks (ReLU, max-pool) where finite differences are meaningless.
#[derive(Clone, Copy, PartialEq)]
enum Smooth {
    /// Smooth everywhere (softmax, GELU, LayerNorm): every coordinate must match.
    Yes,
    /// Piecewise smooth: a coordinate whose central differences at `eps` and `eps / 4` disagree
    /// straddles a kink and is skipped (at most half of them).
    Piecewise,
}

/// Compares the analytic gradient of the mean batch loss against central finite differences.
///
/// Coordinates are spread over the whole parameter vector (and so over every layer): the flat
/// vector is cut into `coords` equal slices and each slice contributes its coordinate with the
/// largest analytic gradient, if that gradient is well above the f32 rounding noise of a finite
/// difference at `eps`. The tolerance is `rel_tol` relative plus that noise (two ulps of the
/// loss over the step).
fn gradient_check(
    w: &mut dyn Workload,
    batch: &[usize],
    eps: f32,
    coords: usize,
    rel_tol: f32,
    smooth: Smooth,
) {
    let p0 = params_of(w);
    assert_eq!(p0.len(), w.n_params());
    let mut grad = Vec::new();
    let loss0 = w.loss_and_grad(batch, &mut grad);
    assert!(loss0.is_finite(), "loss {loss0}");
    assert_eq!(grad.len(), p0.len(), "gradient length");
    assert!(grad.iter().all(|g| g.is_finite()), "non-finite gradient");

    let ulp = loss0.abs().max(1e-3) * f32::EPSILON;
    let noise = |e: f32| 2.0 * ulp / e;
    let max_g = grad.iter().fold(0.0f32, |m, g| m.max(g.abs()));
    assert!(max_g > 0.0, "gradient is identically zero");
    let floor = (1e-3 * max_g).max(20.0 * noise(eps));
    let chunk = p0.len().div_ceil(coords);
    let picked: Vec<usize> = (0..p0.len())
        .step_by(chunk)
        .filter_map(|start| {
            let end = (start + chunk).min(p0.len());
            let i = (start..end).max_by(|&a, &b| grad[a].abs().total_cmp(&grad[b].abs()))?;
            (grad[i].abs() >= floor).then_some(i)
        })
        .collect();
    assert!(
        picked.len() >= coords.min(p0.len()) / 2,
        "too few coordinates with a usable gradient (floor {floor:e}): {picked:?}"
    );

    let mut p = p0.clone();
    let mut central = |i: usize, e: f32| {
        p[i] = p0[i] + e;
        let up = loss_at(w, &p, batch);
        p[i] = p0[i] - e;
        let down = loss_at(w, &p, batch);
        p[i] = p0[i];
        // The actual step in f32, not the nominal one.
        (up - down) / ((p0[i] + e) - (p0[i] - e))
    };
    let mut report = Vec::new();
    let (mut bad, mut kinks) = (0, 0);
    for &i in &picked {
        let g = grad[i];
        let fd = central(i, eps);
        let fd_small = central(i, eps / 4.0);
        let kink = (fd - fd_small).abs() > rel_tol * fd.abs() + noise(eps / 4.0);
        let ok = (fd - g).abs() <= rel_tol * g.abs().max(fd.abs()) + noise(eps);
        let verdict = match (ok, kink, smooth) {
            (true, _, _) => "ok",
            (false, true, Smooth::Piecewise) => {
                kinks += 1;
                "kink, skipped"
            }
            (false, _, _) => {
                bad += 1;
                "MISMATCH"
            }
        };
        report.push(format!(
            "  #{i}: analytic {g:+.6e}  numeric {fd:+.6e} (eps/4: {fd_small:+.6e})  {verdict}"
        ));
    }
    let report = report.join("\n");
    println!("gradient check (eps {eps}, loss {loss0}):\n{report}");
    assert_eq!(bad, 0, "gradient mismatch (eps {eps}):\n{report}");
    assert!(
        kinks * 2 <= picked.len(),
        "too many coordinates at kinks:\n{report}"
    );

    // Restoring the parameters restores the loss exactly.
    let again = loss_at(w, &p0, batch);
    assert_eq!(again.to_bits(), loss0.to_bits(), "loss not restored");
}

// ---------------------------------------------------------------------------------------------
// Gradient checks
// ---------------------------------------------------------------------------------------------

#[test]
fn gradient_check_linear_on_iris() {
    let s = registry::find("logreg/iris").unwrap();
    let task = lrctl_tasks::prepare(&s, &DataDirs::default()).unwrap();
    let mut w = task.instantiate(3, &device()).unwrap();
    assert_eq!(w.n_params(), 4 * 3 + 3);
    let batch: Vec<usize> = (0..16).collect();
    gradient_check(w.as_mut(), &batch, 1e-2, 15, 1e-2, Smooth::Yes);
}

#[test]
fn gradient_check_mlp() {
    // Two hidden ReLU layers, 10 features, 4 classes.
    let task = synthetic_class_task(
        ModelSpec::Mlp(MlpSpec {
            hidden: vec![12, 8],
        }),
        40,
        10,
        4,
        None,
    );
    let mut w = task.instantiate(5, &device()).unwrap();
    assert_eq!(w.n_params(), 10 * 12 + 12 + 12 * 8 + 8 + 8 * 4 + 4);
    // The tensors in flat order (burn stores a Linear weight as [d_input, d_output]).
    let shapes: Vec<Vec<usize>> = vec![
        vec![10, 12],
        vec![12],
        vec![12, 8],
        vec![8],
        vec![8, 4],
        vec![4],
    ];
    assert_eq!(w.param_shapes(), shapes);
    gradient_check(
        w.as_mut(),
        &[0, 3, 7, 11, 19],
        1e-2,
        12,
        1e-2,
        Smooth::Piecewise,
    );
}

#[test]
fn gradient_check_mlp_on_digits() {
    let mut s = registry::find("mlp/digits").unwrap();
    s.model = ModelSpec::Mlp(MlpSpec { hidden: vec![16] });
    let task = lrctl_tasks::prepare(&s, &DataDirs::default()).unwrap();
    let mut w = task.instantiate(1, &device()).unwrap();
    assert_eq!(w.n_params(), 64 * 16 + 16 + 16 * 10 + 10);
    gradient_check(
        w.as_mut(),
        &[1, 2, 3, 5, 8, 13],
        1e-2,
        10,
        1e-2,
        Smooth::Piecewise,
    );
}

#[test]
fn gradient_check_cnn() {
    // 1×8×8 images: conv(1→2) pool → 4×4, conv(2→3) pool → 2×2, fc 12→6, out 6→3.
    let task = synthetic_class_task(
        ModelSpec::Cnn(CnnSpec {
            channels: [2, 3],
            hidden: 6,
        }),
        24,
        64,
        3,
        Some([1, 8, 8]),
    );
    let mut w = task.instantiate(2, &device()).unwrap();
    let expect = (2 * 9 + 2) + (3 * 2 * 9 + 3) + (3 * 2 * 2 * 6 + 6) + (6 * 3 + 3);
    assert_eq!(w.n_params(), expect);
    gradient_check(w.as_mut(), &[0, 1, 2, 3], 1e-2, 12, 1e-2, Smooth::Piecewise);
}

#[test]
fn gradient_check_lm() {
    // d_model 8, 2 heads, 1 block, context 6.
    let task = synthetic_lm_task(tiny_lm(8, 1, 2, 6));
    let mut w = task.instantiate(4, &device()).unwrap();
    assert_eq!(w.n_params(), lm_params(8, 1, 6));
    gradient_check(w.as_mut(), &[0, 17, 100, 555], 1e-2, 12, 1e-2, Smooth::Yes);
}

/// Every registered family, on its tiny instance: the parameter count is the arithmetic's and
/// the analytic gradient matches finite differences (kinks of ReLU and max-pool allowed).
#[test]
fn gradient_check_every_family() {
    for model in ModelSpec::tiny_of_each() {
        let family = model.family();
        let task = synthetic_task(model.clone(), 8);
        // A seed at which no sampled coordinate of the built-in families sits within eps of a
        // ReLU or max-pool kink (seeds 6 to 9 put the tiny CNN's on one).
        let mut w = task.instantiate(1, &device()).unwrap();
        let shape = task.data().shape();
        assert_eq!(
            w.n_params() as u64,
            model.n_params(1, 1, &shape),
            "{family}"
        );
        println!("{family}:");
        gradient_check(
            w.as_mut(),
            &[0, 3, 7, 11],
            1e-2,
            12,
            1e-2,
            Smooth::Piecewise,
        );
    }
}

/// Mirror: a small CNN on real MNIST images.
#[test]
fn gradient_check_cnn_on_mnist_mirror() {
    let Some(dirs) = mirror("gradient_check_cnn_on_mnist_mirror") else {
        return;
    };
    let mut s = registry::find("cnn/mnist").unwrap();
    s.model = ModelSpec::Cnn(CnnSpec {
        channels: [2, 3],
        hidden: 8,
    });
    s.data = DataSpec::Images {
        name: "mnist".into(),
        path: None,
        subsample: Some(64),
    };
    let task = lrctl_tasks::prepare(&s, &dirs).unwrap();
    let summary = task.summary();
    assert_eq!(summary.features, 784);
    assert_eq!(summary.classes, 10);
    let mut w = task.instantiate(1, &device()).unwrap();
    let expect = (2 * 9 + 2) + (3 * 2 * 9 + 3) + (3 * 7 * 7 * 8 + 8) + (8 * 10 + 10);
    assert_eq!(w.n_params(), expect);
    gradient_check(
        w.as_mut(),
        &[0, 1, 2, 3, 4, 5],
        1e-2,
        12,
        1e-2,
        Smooth::Piecewise,
    );
}

/// Mirror: a tiny transformer on tiny Shakespeare.
#[test]
fn gradient_check_lm_on_tinyshakespeare_mirror() {
    let Some(dirs) = mirror("gradient_check_lm_on_tinyshakespeare_mirror") else {
        return;
    };
    let mut s = registry::find("lm/tinyshakespeare").unwrap();
    s.model = tiny_lm(16, 1, 2, 16);
    let task = lrctl_tasks::prepare(&s, &dirs).unwrap();
    let mut w = task.instantiate(9, &device()).unwrap();
    assert_eq!(w.n_params(), lm_params(16, 1, 16));
    gradient_check(
        w.as_mut(),
        &[0, 1000, 20_000, 500_000],
        1e-2,
        12,
        1e-2,
        Smooth::Yes,
    );
}

/// Parameters of `ByteLm` with width `d`, `layers` blocks and a `context`-byte window.
fn lm_params(d: usize, layers: usize, context: usize) -> usize {
    let block = 2 * d              // norm1
        + d * 3 * d + 3 * d        // qkv
        + d * d + d                // proj
        + 2 * d                    // norm2
        + d * 4 * d + 4 * d        // fc
        + 4 * d * d + d; // out
    256 * d + context * d + layers * block + 2 * d + d * 256 + 256
}

// ---------------------------------------------------------------------------------------------
// Seeded initialisation
// ---------------------------------------------------------------------------------------------

/// A task of `model` over synthetic data of the kind its family reads: 20 rows of 5 features
/// and 3 classes, `side`×`side` images, or text.
fn synthetic_task(model: ModelSpec, side: usize) -> LoadedTask {
    match model.input() {
        Input::Rows => synthetic_class_task(model, 20, 5, 3, None),
        Input::Images { min_side } => {
            let side = side.max(min_side);
            synthetic_class_task(model, 20, side * side, 3, Some([1, side, side]))
        }
        Input::Text { .. } => synthetic_lm_task(model),
    }
}

/// Every registered family's tiny instance (`ModelFamily::tiny`) on synthetic data.
fn all_tiny_tasks() -> Vec<(&'static str, LoadedTask)> {
    ModelSpec::tiny_of_each()
        .into_iter()
        .map(|m| (m.family(), synthetic_task(m, 4)))
        .collect()
}

#[test]
fn same_seed_gives_bit_identical_initial_params() {
    let dev = device();
    for (family, task) in all_tiny_tasks() {
        let a = params_of(task.instantiate(42, &dev).unwrap().as_ref());
        let b = params_of(task.instantiate(42, &dev).unwrap().as_ref());
        assert_eq!(a.len(), b.len(), "{family}");
        let same = a.iter().zip(&b).all(|(x, y)| x.to_bits() == y.to_bits());
        assert!(same, "{family}: seed 42 twice gave different parameters");
    }
}

#[test]
fn different_seeds_give_different_initial_params() {
    let dev = device();
    for (family, task) in all_tiny_tasks() {
        let a = params_of(task.instantiate(1, &dev).unwrap().as_ref());
        let b = params_of(task.instantiate(2, &dev).unwrap().as_ref());
        // Random entries differ almost everywhere; LayerNorm's ones and zeros never do.
        let constant = |x: f32, y: f32| x == y && (x == 0.0 || x == 1.0);
        let random: Vec<(f32, f32)> = a
            .iter()
            .zip(&b)
            .map(|(&x, &y)| (x, y))
            .filter(|&(x, y)| !constant(x, y))
            .collect();
        let n = random.len();
        let differ = random.iter().filter(|(x, y)| x != y).count();
        assert!(n > a.len() / 2, "{family}: too few random entries");
        assert!(
            differ as f64 > 0.99 * n as f64,
            "{family}: seeds 1 and 2 share {} of {n} random entries",
            n - differ
        );
    }
}

/// Checks one linear layer's block of the flat vector against PyTorch's `U(±1/√fan_in)`.
fn check_uniform(block: &[f32], fan_in: usize, what: &str) {
    let bound = 1.0 / (fan_in as f32).sqrt();
    let max = block.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(max <= bound, "{what}: |w| up to {max} > bound {bound}");
    let n = block.len() as f64;
    let mean = block.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = block
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    let expect_var = f64::from(bound).powi(2) / 3.0;
    if block.len() >= 1000 {
        assert!(
            max > 0.99 * bound,
            "{what}: max {max} far below bound {bound}"
        );
        assert!(mean.abs() < 0.1 * f64::from(bound), "{what}: mean {mean}");
        assert!(
            (var / expect_var - 1.0).abs() < 0.1,
            "{what}: variance {var}, expected {expect_var}"
        );
    } else {
        assert!(
            max > 0.5 * bound,
            "{what}: max {max} far below bound {bound}"
        );
    }
}

#[test]
fn mlp_init_follows_pytorch_kaiming_uniform_bounds() {
    // mlp/digits: 64 → 128 → 128 → 10. Layouts: weight [d_in, d_out] then bias [d_out].
    let task =
        lrctl_tasks::prepare(&registry::find("mlp/digits").unwrap(), &DataDirs::default()).unwrap();
    let p = params_of(task.instantiate(0, &device()).unwrap().as_ref());
    let layers = [(64, 128), (128, 128), (128, 10)];
    let mut at = 0;
    for (k, (d_in, d_out)) in layers.into_iter().enumerate() {
        check_uniform(
            &p[at..at + d_in * d_out],
            d_in,
            &format!("layer {k} weight"),
        );
        at += d_in * d_out;
        check_uniform(&p[at..at + d_out], d_in, &format!("layer {k} bias"));
        at += d_out;
    }
    assert_eq!(at, p.len());
}

#[test]
fn cnn_init_uses_conv_fan_in() {
    // 1×8×8 images, conv(1→4), conv(4→40) so that conv2 has 1440 weights, fc (40·2·2=160)→8.
    let task = synthetic_class_task(
        ModelSpec::Cnn(CnnSpec {
            channels: [4, 40],
            hidden: 8,
        }),
        10,
        64,
        3,
        Some([1, 8, 8]),
    );
    let p = params_of(task.instantiate(0, &device()).unwrap().as_ref());
    let blocks = [
        ("conv1 weight", 4 * 9, 9),
        ("conv1 bias", 4, 9),
        ("conv2 weight", 40 * 4 * 9, 4 * 9),
        ("conv2 bias", 40, 4 * 9),
        ("fc weight", 160 * 8, 160),
        ("fc bias", 8, 160),
        ("output weight", 8 * 3, 8),
        ("output bias", 3, 8),
    ];
    let mut at = 0;
    for (what, n, fan_in) in blocks {
        check_uniform(&p[at..at + n], fan_in, what);
        at += n;
    }
    assert_eq!(at, p.len());
}

#[test]
fn lm_init_embeddings_normal_layernorm_identity() {
    let d = 32;
    let context = 64;
    let task = synthetic_lm_task(tiny_lm(d, 1, 4, context));
    let p = params_of(task.instantiate(0, &device()).unwrap().as_ref());
    assert_eq!(p.len(), lm_params(d, 1, context));
    // tokens [256, d] then positions [context, d], both N(0, 1).
    let emb = &p[..(256 + context) * d];
    let n = emb.len() as f64;
    let mean = emb.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
    let var = emb
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n;
    assert!(mean.abs() < 0.05, "embedding mean {mean}");
    assert!((var - 1.0).abs() < 0.05, "embedding variance {var}");
    // Block: norm1 gamma (ones) and beta (zeros) come first.
    let norm1 = &p[(256 + context) * d..(256 + context) * d + 2 * d];
    assert!(norm1[..d].iter().all(|&v| v == 1.0), "LayerNorm gamma");
    assert!(norm1[d..].iter().all(|&v| v == 0.0), "LayerNorm beta");
    // qkv weight [d, 3d]: U(±1/√d).
    let qkv_at = (256 + context) * d + 2 * d;
    check_uniform(&p[qkv_at..qkv_at + 3 * d * d], d, "qkv weight");
}

// ---------------------------------------------------------------------------------------------
// Language-model causality
// ---------------------------------------------------------------------------------------------

fn lm_model(d: usize, heads: usize, context: usize, seed: u64) -> ByteLm {
    let m = ByteLm::new(d, 2, heads, context, &device());
    init_params(m, &mut ChaCha8Rng::seed_from_u64(seed)).unwrap()
}

fn tokens(bytes: &[u8]) -> Tensor<2, Int> {
    let ids: Vec<i64> = bytes.iter().map(|&b| i64::from(b)).collect();
    Tensor::<2, Int>::from_data(TensorData::new(ids, [1, bytes.len()]), &device())
}

fn logits_of(model: &ByteLm, bytes: &[u8]) -> Vec<f32> {
    model
        .logits(tokens(bytes))
        .into_data()
        .iter::<f32>()
        .collect()
}

#[test]
fn lm_prefix_logits_do_not_depend_on_later_tokens() {
    let (d, context) = (16, 12);
    let model = lm_model(d, 4, context, 7);
    let k = 5;
    let a = b"hello world!";
    let b = b"helloXYZ\n?#Q";
    assert_eq!(a[..k], b[..k]);
    let la = logits_of(&model, a);
    let lb = logits_of(&model, b);
    assert_eq!(la.len(), context * 256);
    let max_diff = |from: usize, to: usize| {
        la[from * 256..to * 256]
            .iter()
            .zip(&lb[from * 256..to * 256])
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()))
    };
    let prefix = max_diff(0, k);
    let suffix = max_diff(k, context);
    assert!(prefix <= 1e-5, "prefix logits changed by {prefix}");
    assert!(suffix > 1e-2, "suffix logits did not change ({suffix})");
}

#[test]
fn lm_prefix_loss_has_no_gradient_from_later_positions() {
    let (d, context) = (16, 12);
    let model = lm_model(d, 4, context, 11);
    let k = 4;
    // Prefix uses lowercase letters only, the rest uppercase only.
    let text = b"abcdWXYZQRST";
    let logits = model.logits(tokens(text)); // [1, t, 256]
    let loss = logits.narrow(1, 0, k).powi_scalar(2).sum();
    let mut grads = loss.backward();
    let mut flat = Vec::new();
    read_grads(&model, &mut grads, &mut flat);
    // tokens.weight [256, d] then positions.weight [context, d].
    let tok_row = |c: u8| &flat[c as usize * d..(c as usize + 1) * d];
    let pos_rows = |from: usize, to: usize| &flat[(256 + from) * d..(256 + to) * d];
    for &c in &text[k..] {
        assert!(
            tok_row(c).iter().all(|&g| g == 0.0),
            "embedding of later byte {:?} received gradient from the prefix",
            c as char
        );
    }
    for &c in &text[..k] {
        assert!(
            tok_row(c).iter().any(|&g| g != 0.0),
            "embedding of prefix byte {:?} received no gradient",
            c as char
        );
    }
    assert!(
        pos_rows(k, context).iter().all(|&g| g == 0.0),
        "positions ≥ {k} received gradient from the prefix"
    );
    assert!(pos_rows(0, k).iter().any(|&g| g != 0.0));
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

#[test]
fn classifier_evaluate_reports_accuracy_and_matches_training_loss() {
    let s = registry::find("logreg/wine-quality").unwrap();
    let task = lrctl_tasks::prepare(&s, &DataDirs::default()).unwrap();
    let summary = task.summary();
    let mut w = task.instantiate(0, &device()).unwrap();
    for (split, rows) in [
        (Split::Train, summary.train),
        (Split::Validation, summary.validation),
        (Split::Test, summary.test),
    ] {
        let m = w.evaluate(split, None).unwrap();
        assert_eq!(m.examples, rows, "{split:?}");
        let acc = m.accuracy.expect("classifiers report accuracy");
        assert!((0.0..=1.0).contains(&acc), "{split:?}: accuracy {acc}");
        // accuracy is a count over `rows`.
        let correct = acc * rows as f64;
        assert!((correct - correct.round()).abs() < 1e-6, "{split:?}");
        assert!(
            m.loss.is_finite() && m.loss > 0.0,
            "{split:?}: loss {}",
            m.loss
        );
        assert_eq!(m.bits_per_byte, None);
        assert_eq!(m.perplexity, None);
    }
    let limited = w.evaluate(Split::Train, Some(100)).unwrap();
    assert_eq!(limited.examples, 100);
    assert_eq!(
        w.evaluate(Split::Train, Some(usize::MAX)).unwrap().examples,
        summary.train
    );

    // The evaluation loss on the first 100 training rows equals the training loss on them.
    let batch: Vec<usize> = (0..100).collect();
    let train_loss = w.loss_and_grad(&batch, &mut Vec::new());
    let rel = (limited.loss - f64::from(train_loss)).abs() / limited.loss;
    assert!(rel < 1e-5, "eval {} vs train {train_loss}", limited.loss);
}

#[test]
fn evaluate_accuracy_reaches_one_on_separable_data() {
    // A linear model whose weights copy the (one-hot) features scores 100%.
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let n = 30;
    let mut rows = random_rows(&mut rng, n, 3, 3, None);
    rows.x = (0..n)
        .flat_map(|i| (0..3).map(move |f| (i, f)))
        .map(|(i, f)| if rows.y[i] as usize == f { 1.0 } else { 0.0 })
        .collect();
    let data = ClassData {
        train: rows.clone(),
        validation: rows.clone(),
        test: rows,
        official_test: false,
    };
    let s = spec(
        "separable",
        ModelSpec::Linear(LinearSpec {}),
        DataSpec::Embedded { name: "x".into() },
    );
    let task = LoadedTask::new(s, TaskData::Class(Arc::new(data))).unwrap();
    let mut w = task.instantiate(0, &device()).unwrap();
    // weight [3, 3] = 10·I, bias 0.
    let mut p = vec![0.0f32; 12];
    for f in 0..3 {
        p[f * 3 + f] = 10.0;
    }
    w.set_params(&p);
    let m = w.evaluate(Split::Test, None).unwrap();
    assert_eq!(m.accuracy, Some(1.0));
    assert!(m.loss < 1e-3, "loss {}", m.loss);
    // Negated weights: always wrong.
    let neg: Vec<f32> = p.iter().map(|v| -v).collect();
    w.set_params(&neg);
    let m = w.evaluate(Split::Test, None).unwrap();
    assert_eq!(m.accuracy, Some(0.0));
}

#[test]
fn lm_evaluate_reports_bits_per_byte_and_perplexity() {
    let context = 6;
    let task = synthetic_lm_task(tiny_lm(8, 1, 2, context));
    let mut w = task.instantiate(0, &device()).unwrap();
    for split in [Split::Train, Split::Validation, Split::Test] {
        let m = w.evaluate(split, Some(20)).unwrap();
        assert_eq!(m.accuracy, None);
        assert_eq!(m.examples, 20 * context, "{split:?}");
        let bpb = m.bits_per_byte.expect("bits per byte");
        let ppl = m.perplexity.expect("perplexity");
        assert!(m.loss.is_finite() && m.loss > 0.0);
        assert!((bpb - m.loss / std::f64::consts::LN_2).abs() <= 1e-12 * bpb);
        assert!((ppl - m.loss.exp()).abs() <= 1e-12 * ppl);
    }
    // Whole split: non-overlapping windows covering it.
    let m = w.evaluate(Split::Validation, None).unwrap();
    assert_eq!(m.examples, (400 - 1) / context * context);

    // Evaluation on window w·t equals the training loss on the same windows.
    let starts: Vec<usize> = (0..20).map(|k| k * context).collect();
    let train_loss = w.loss_and_grad(&starts, &mut Vec::new());
    let m = w.evaluate(Split::Train, Some(20)).unwrap();
    let rel = (m.loss - f64::from(train_loss)).abs() / m.loss;
    assert!(rel < 1e-5, "eval {} vs train {train_loss}", m.loss);
}

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

#[test]
fn every_builtin_task_resolves() {
    let all = registry::builtin();
    assert!(all.len() >= 20, "only {} built-in tasks", all.len());
    for t in &all {
        let found = registry::find(&t.name).unwrap_or_else(|e| panic!("{}: {e}", t.name));
        assert_eq!(&found, t);
        assert_eq!((found.width, found.depth), (1, 1), "{}", t.name);
        assert!(found.batch_size >= 1, "{}", t.name);
        // The model family prefix of the name matches the model.
        let family = t.name.split('/').next().unwrap();
        let expect = match family {
            "logreg" | "libsvm" => "linear",
            other => other,
        };
        assert_eq!(t.model.family(), expect, "{}", t.name);
        assert_eq!(
            t.data.needs_path(),
            t.data.name() == USER_FILE,
            "{}",
            t.name
        );
    }
    for name in [
        "logreg/iris",
        "mlp/digits",
        "cnn/mnist",
        "lm/tinyshakespeare",
        "libsvm/a9a",
    ] {
        assert!(all.iter().any(|t| t.name == name), "{name} missing");
    }
}

#[test]
fn every_embedded_builtin_task_prepares_and_instantiates() {
    for t in registry::builtin().iter().filter(|t| t.data.is_embedded()) {
        let task = lrctl_tasks::prepare(t, &DataDirs::default())
            .unwrap_or_else(|e| panic!("{}: {e}", t.name));
        let w = task.instantiate(0, &device()).unwrap();
        assert!(w.n_params() > 0);
        assert_eq!(w.n_train(), task.summary().train, "{}", t.name);
    }
}

#[test]
fn width_suffix_scales_the_model() {
    let s1 = registry::find("mlp/digits").unwrap();
    let s2 = registry::find("mlp/digits@w2").unwrap();
    assert_eq!((s2.width, s2.depth), (2, 1));
    assert_eq!(s2.name, "mlp/digits@w2");
    assert_eq!(
        s2.model, s1.model,
        "the suffix scales, it does not rewrite the model"
    );
    let dev = device();
    let n1 = lrctl_tasks::prepare(&s1, &DataDirs::default())
        .unwrap()
        .instantiate(0, &dev)
        .unwrap()
        .n_params();
    let n2 = lrctl_tasks::prepare(&s2, &DataDirs::default())
        .unwrap()
        .instantiate(0, &dev)
        .unwrap()
        .n_params();
    assert_eq!(n1, 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10);
    assert_eq!(n2, 64 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10);

    // Depth repeats the hidden list.
    let s = registry::find("mlp/digits@d2").unwrap();
    let n = lrctl_tasks::prepare(&s, &DataDirs::default())
        .unwrap()
        .instantiate(0, &dev)
        .unwrap()
        .n_params();
    assert_eq!(n, 64 * 128 + 128 + 3 * (128 * 128 + 128) + 128 * 10 + 10);

    // LM: width multiplies d_model and heads, depth multiplies layers.
    let mut lm = registry::find("lm/tinyshakespeare@w2d2").unwrap();
    assert_eq!((lm.width, lm.depth), (2, 2));
    lm.model = tiny_lm(8, 1, 2, 4);
    let data = TextData {
        train: synthetic_text(200, 1),
        validation: synthetic_text(50, 2),
        test: synthetic_text(50, 3),
    };
    let task = LoadedTask::new(lm, TaskData::Text(Arc::new(data))).unwrap();
    assert_eq!(
        task.instantiate(0, &dev).unwrap().n_params(),
        lm_params(16, 2, 4)
    );

    // CNN: width multiplies channels and the hidden layer.
    let mut cnn = registry::find("cnn/mnist@w2").unwrap();
    assert_eq!(cnn.width, 2);
    cnn.model = ModelSpec::Cnn(CnnSpec {
        channels: [1, 2],
        hidden: 3,
    });
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let rows = random_rows(&mut rng, 10, 16, 2, Some([1, 4, 4]));
    let data = ClassData {
        train: rows.clone(),
        validation: rows.clone(),
        test: rows,
        official_test: false,
    };
    let task = LoadedTask::new(cnn, TaskData::Class(Arc::new(data))).unwrap();
    let expect = (2 * 9 + 2) + (4 * 2 * 9 + 4) + (4 * 6 + 6) + (6 * 2 + 2);
    assert_eq!(task.instantiate(0, &dev).unwrap().n_params(), expect);
}

#[test]
fn unknown_task_names_get_suggestions() {
    match registry::find("mlp/digts") {
        Err(TaskError::UnknownTask { name, suggestions }) => {
            assert_eq!(name, "mlp/digts");
            assert_eq!(suggestions.first().map(String::as_str), Some("mlp/digits"));
            assert!(suggestions.len() <= 3);
        }
        other => panic!("expected UnknownTask, got {other:?}"),
    }
    // A dataset name alone finds its tasks.
    match registry::find("fashion-mnist") {
        Err(TaskError::UnknownTask { suggestions, .. }) => {
            assert!(
                suggestions.iter().any(|s| s.contains("fashion-mnist")),
                "{suggestions:?}"
            );
        }
        other => panic!("expected UnknownTask, got {other:?}"),
    }
    // The suffix is kept in the error, the lookup ignores it.
    let err = registry::find("lm/tinyshakespear@w2").unwrap_err();
    assert!(err.to_string().contains("lm/tinyshakespeare"), "{err}");
    // Nothing close: no suggestions, and the message says how to list tasks.
    match registry::find("qqqqqqqqqqqq") {
        Err(e @ TaskError::UnknownTask { .. }) => {
            let TaskError::UnknownTask { suggestions, .. } = &e else {
                unreachable!()
            };
            assert!(suggestions.is_empty(), "{suggestions:?}");
            assert!(e.to_string().contains("lrctl tasks"), "{e}");
        }
        other => panic!("expected UnknownTask, got {other:?}"),
    }
    assert!(matches!(
        registry::find("mlp/digits@w"),
        Err(TaskError::BadScale { .. })
    ));
}

#[test]
fn model_and_data_mismatch_is_an_error_not_a_panic() {
    // A CNN on rows without an image shape.
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let rows = random_rows(&mut rng, 10, 16, 2, None);
    let data = ClassData {
        train: rows.clone(),
        validation: rows.clone(),
        test: rows,
        official_test: false,
    };
    let s = spec(
        "bad/cnn",
        ModelSpec::Cnn(CnnSpec {
            channels: [1, 1],
            hidden: 1,
        }),
        DataSpec::Embedded { name: "x".into() },
    );
    assert!(matches!(
        LoadedTask::new(s, TaskData::Class(Arc::new(data))),
        Err(TaskError::Invalid { .. })
    ));
    // d_model not divisible by heads.
    let s = spec(
        "bad/lm",
        tiny_lm(10, 1, 3, 4),
        DataSpec::Text {
            name: "x".into(),
            path: None,
        },
    );
    let data = TextData {
        train: synthetic_text(100, 1),
        validation: synthetic_text(20, 2),
        test: synthetic_text(20, 3),
    };
    assert!(matches!(
        LoadedTask::new(s, TaskData::Text(Arc::new(data))),
        Err(TaskError::Invalid { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Images held as bytes
// ---------------------------------------------------------------------------------------------

/// The same rows as bytes and as the `f32` values they decode to.
fn byte_and_f32_rows(rng: &mut ChaCha8Rng, n: usize, side: usize) -> (Tabular, Tabular) {
    let f = side * side;
    let bytes: Vec<u8> = (0..n * f).map(|_| rng.random()).collect();
    let old: Vec<f32> = bytes.iter().map(|&b| f32::from(b) / 255.0).collect();
    let rows = Tabular {
        name: "bytes".into(),
        n_rows: n,
        n_features: f,
        x: lrctl_data::Features::U8(lrctl_data::ByteValues::unit_scaled(bytes)),
        y: (0..n).map(|i| (i % 3) as u32).collect(),
        n_classes: 3,
        class_names: (0..3).map(|c| c.to_string()).collect(),
        image_shape: Some([1, side, side]),
    };
    let f32_rows = Tabular {
        x: old.into(),
        ..rows.clone()
    };
    (rows, f32_rows)
}

#[test]
fn byte_images_train_and_evaluate_as_their_f32_values_do() {
    // Every classifier family, plain and (where it exists) stacked, standardised as a task
    // would be: losses, gradients and evaluations bit for bit those of the `f32` rows.
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    let (train, train_f) = byte_and_f32_rows(&mut rng, 24, 8);
    let (val, val_f) = byte_and_f32_rows(&mut rng, 10, 8);
    let task_of = |mut train: Tabular, mut val: Tabular, model: ModelSpec| {
        let norm = Normalization::Standardize.fit(&train);
        norm.apply(&mut train);
        norm.apply(&mut val);
        let data = ClassData {
            train,
            test: val.clone(),
            validation: val,
            official_test: false,
        };
        let s = spec(
            "synthetic/bytes",
            model,
            DataSpec::Embedded { name: "b".into() },
        );
        LoadedTask::new(s, TaskData::Class(Arc::new(data))).unwrap()
    };
    let batch = [5, 0, 23, 5, 11];
    let bits = |v: &[f32]| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    for model in ModelSpec::tiny_of_each() {
        if matches!(model.input(), Input::Text { .. }) {
            continue;
        }
        let family = model.family();
        let a = task_of(train.clone(), val.clone(), model.clone());
        let b = task_of(train_f.clone(), val_f.clone(), model);
        assert_eq!(a.summary(), b.summary(), "{family}");
        let (mut wa, mut wb) = (
            a.instantiate(0, &device()).unwrap(),
            b.instantiate(0, &device()).unwrap(),
        );
        let (mut ga, mut gb) = (Vec::new(), Vec::new());
        let (la, lb) = (
            wa.loss_and_grad(&batch, &mut ga),
            wb.loss_and_grad(&batch, &mut gb),
        );
        assert_eq!(la.to_bits(), lb.to_bits(), "{family}: loss");
        assert_eq!(bits(&ga), bits(&gb), "{family}: gradient");
        for split in [Split::Train, Split::Validation] {
            let (ma, mb) = (wa.evaluate(split, None), wb.evaluate(split, None));
            let key = |m: Option<lrctl_tasks::Metrics>| m.map(|m| (m.loss.to_bits(), m.accuracy));
            assert_eq!(key(ma), key(mb), "{family}: {split:?}");
        }
        let (Some(mut sa), Some(mut sb)) = (
            a.instantiate_stacked(0, 2).unwrap(),
            b.instantiate_stacked(0, 2).unwrap(),
        ) else {
            continue;
        };
        let (mut la, mut lb) = ([0f32; 2], [0f32; 2]);
        let (mut ga, mut gb) = (vec![Vec::new(); 2], vec![Vec::new(); 2]);
        sa.loss_and_grads(&batch, &[0, 1], &mut la, &mut ga);
        sb.loss_and_grads(&batch, &[0, 1], &mut lb, &mut gb);
        assert_eq!(bits(&la), bits(&lb), "{family} stacked: losses");
        assert_eq!(bits(&ga[1]), bits(&gb[1]), "{family} stacked: gradient");
        let key = |m: Option<lrctl_tasks::Metrics>| m.map(|m| (m.loss.to_bits(), m.accuracy));
        assert_eq!(
            key(sa.evaluate(1, Split::Validation, None)),
            key(sb.evaluate(1, Split::Validation, None)),
            "{family} stacked: evaluation"
        );
    }
}
