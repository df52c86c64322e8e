//! A task under µP (Tensor Programs V): the output layer starts narrower, the optimizer gets
//! per-layer learning rates, and an optimizer outside µP's table is refused.

use std::sync::Arc;

use lrctl_data::DataDirs;
use lrctl_engine::RunOptions;
use lrctl_tasks::{Parametrization, Task};

fn prepare(name: &str, parametrization: Parametrization) -> Arc<dyn Task> {
    let mut spec = lrctl_tasks::registry::find(name).unwrap();
    spec.parametrization = parametrization;
    lrctl_tasks::prepare(&spec, &DataDirs::default()).unwrap()
}

fn options() -> RunOptions<'static> {
    RunOptions {
        seed: 3,
        steps: Some(5),
        ..Default::default()
    }
}

#[test]
fn mup_scales_the_readout_and_trains_with_adam() {
    let device = lrctl_tasks::default_device();
    let standard = prepare("mlp/digits@w4", Parametrization::Standard);
    let mup = prepare("mlp/digits@w4", Parametrization::Mup);
    let (mut a, mut b) = (Vec::new(), Vec::new());
    standard.instantiate(3, &device).unwrap().params(&mut a);
    let w = mup.instantiate(3, &device).unwrap();
    w.params(&mut b);
    // The same draw; the output weights (the last matrix, 512 × 10, then its bias) halved.
    let n = a.len();
    let out = n - 10 - 512 * 10;
    assert_eq!(a[..out], b[..out]);
    for i in out..n - 10 {
        assert_eq!(b[i], a[i] * 0.5);
    }
    assert_eq!(a[n - 10..], b[n - 10..]);
    let adam = lrctl_method::find("adam-fixed").unwrap();
    let r = lrctl_engine::train_method(mup.as_ref(), &adam, &options())
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, lrctl_engine::Outcome::Finished);
    // At width ×1 µP is the standard parametrisation: the same run.
    let one = |p| {
        let t = prepare("mlp/digits", p);
        let r = lrctl_engine::train_method(t.as_ref(), &adam, &options())
            .unwrap()
            .unwrap();
        r.curve.iter().map(|c| c.train_loss).collect::<Vec<_>>()
    };
    assert_eq!(one(Parametrization::Standard), one(Parametrization::Mup));
}

#[test]
fn mup_refuses_an_optimizer_that_sets_its_own_step_size() {
    let task = prepare("mlp/digits@w2", Parametrization::Mup);
    let prodigy = lrctl_method::find("prodigy").unwrap();
    let Err(err) = lrctl_engine::train_method(task.as_ref(), &prodigy, &options()) else {
        panic!("refused");
    };
    let err = err.to_string();
    assert!(err.contains("needs SGD or Adam/AdamW"), "{err}");
    // A linear model has no width for µP to scale: refused when the task is checked.
    let mut spec = lrctl_tasks::registry::find("logreg/iris").unwrap();
    spec.parametrization = Parametrization::Mup;
    let err = spec.validate().unwrap_err().to_string();
    assert!(err.contains("no width axis"), "{err}");
}
