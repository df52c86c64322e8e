//! The finiteness check folded into the fused update passes (AdamW/Adam, Prodigy,
//! D-Adaptation Adam): what `Optimizer::finiteness` says must be exactly whether the
//! parameters the step left are all finite, for every kind of non-finite value and wherever
//! it sits (first coordinate, inside a block, in the remainder after the last full vector).

use lrctl_optim::{Finiteness, OptimizerSpec};

/// The optimizers whose update pass checks, as the benchmark and the paper's method files
/// configure them (plus weight decay and AMSGrad variants).
const SPECS: [&str; 6] = [
    r#"kind = "adamw""#,
    r#"kind = "adam"
weight_decay = 0.1"#,
    r#"kind = "prodigy""#,
    r#"kind = "prodigy"
weight_decay = 0.1
betas = [0.0, 0.99]"#,
    r#"kind = "dadapt-adam""#,
    r#"kind = "dadapt-adam"
weight_decay = 0.1
decouple = false"#,
];

fn all_finite(x: &[f32]) -> bool {
    x.iter().all(|v| v.is_finite())
}

#[test]
fn fused_passes_report_exactly_whether_the_new_parameters_are_finite() {
    for toml in SPECS {
        let spec: OptimizerSpec = toml::from_str(toml).unwrap();
        for n in [1usize, 7, 300, 1000] {
            for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
                for at in [0, n / 2, n - 1] {
                    let mut opt = spec.build(n).unwrap();
                    let mut x: Vec<f32> = (0..n).map(|i| (i as f32 * 0.3).sin()).collect();
                    let g: Vec<f32> = (0..n).map(|i| (i as f32 * 0.7).cos()).collect();
                    for step in 0..3 {
                        let mut g = g.clone();
                        // A bad gradient at the last step poisons its coordinate.
                        if step == 2 {
                            g[at] = bad;
                        }
                        opt.step(&mut x, &g, 1e-2);
                        let expected = Finiteness::checked(all_finite(&x));
                        assert_eq!(
                            opt.finiteness(),
                            expected,
                            "{toml}: n {n}, {bad} at {at}, step {step}"
                        );
                    }
                    assert_eq!(opt.finiteness(), Finiteness::NonFinite, "{toml}: n {n}");
                }
            }
        }
    }
}

#[test]
fn a_step_that_does_not_run_the_pass_leaves_the_check_to_the_caller() {
    // lr = 0: Prodigy and D-Adaptation take no step at all; AMSGrad takes the multi-pass path.
    for toml in [r#"kind = "prodigy""#, r#"kind = "dadapt-adam""#] {
        let spec: OptimizerSpec = toml::from_str(toml).unwrap();
        let mut opt = spec.build(4).unwrap();
        let mut x = vec![1.0f32; 4];
        opt.step(&mut x, &[1.0; 4], 1.0);
        assert_eq!(opt.finiteness(), Finiteness::Finite, "{toml}");
        opt.step(&mut x, &[1.0; 4], 0.0);
        assert_eq!(opt.finiteness(), Finiteness::Unchecked, "{toml}");
    }
    let spec: OptimizerSpec = toml::from_str("kind = \"adam\"\namsgrad = true").unwrap();
    let mut opt = spec.build(4).unwrap();
    opt.step(&mut [1.0; 4], &[1.0; 4], 1e-3);
    assert_eq!(opt.finiteness(), Finiteness::Unchecked);
    // Optimizers without a fused check never claim one.
    let spec: OptimizerSpec = toml::from_str("kind = \"sgd\"").unwrap();
    let mut opt = spec.build(4).unwrap();
    opt.step(&mut [f32::NAN; 4], &[1.0; 4], 1e-3);
    assert_eq!(opt.finiteness(), Finiteness::Unchecked);
}
