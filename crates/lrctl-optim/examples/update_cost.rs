//! Per-update cost of AdamW, Prodigy, D-Adaptation Adam and DoWG on one flat vector, the
//! way `lrctl bench` configures them (its AdamW; the paper's method files), and of a
//! separate finiteness pass: `cargo run --release -p lrctl-optim --example update_cost
//! [N_PARAMS] [STEPS]`. Prints the fastest of 25 blocks of `STEPS` updates each (the minimum:
//! on a shared machine the least disturbed), in ms and in ns per parameter, and each rule's
//! ratio to AdamW's. Criterion-free so that it builds with
//! this crate alone.

use std::time::Instant;

use lrctl_optim::OptimizerSpec;

const CONFIGS: [(&str, &str); 4] = [
    (
        "adamw",
        r#"kind = "adamw"
betas = [0.9, 0.999]
eps = 1e-8
weight_decay = 0.01"#,
    ),
    (
        "prodigy",
        r#"kind = "prodigy"
betas = [0.9, 0.99]
eps = 1e-8
weight_decay = 0.0
d0 = 1e-6
d_coef = 1.0
safeguard_warmup = false
bias_correction = false"#,
    ),
    (
        "dadapt-adam",
        r#"kind = "dadapt-adam"
betas = [0.9, 0.99]
eps = 1e-8
weight_decay = 0.0
decouple = true
bias_correction = false
d0 = 1e-6"#,
    ),
    ("dowg", r#"kind = "dowg""#),
];

fn fastest(v: Vec<f64>) -> f64 {
    v.into_iter().fold(f64::INFINITY, f64::min)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(269_322, |s| s.parse().unwrap());
    let steps: u32 = args.next().map_or(20, |s| s.parse().unwrap());
    // A deterministic, sign-mixing gradient and parameters (no rand dependency).
    let grads: Vec<f32> = (0..n).map(|i| 1e-2 * ((i as f32) * 0.37).sin()).collect();
    let init: Vec<f32> = (0..n).map(|i| 0.1 * ((i as f32) * 0.11).cos()).collect();
    let mut adamw = f64::NAN;
    for (name, toml) in CONFIGS {
        let spec: OptimizerSpec = toml::from_str(toml).unwrap();
        let mut opt = spec.build(n).unwrap();
        let mut params = init.clone();
        let lr = if name == "adamw" { 1e-3 } else { 1.0 };
        opt.step(&mut params, &grads, lr);
        let ms = fastest(
            (0..25)
                .map(|_| {
                    let t = Instant::now();
                    for _ in 0..steps {
                        opt.step(&mut params, &grads, lr);
                    }
                    t.elapsed().as_secs_f64() * 1e3 / f64::from(steps)
                })
                .collect(),
        );
        if name == "adamw" {
            adamw = ms;
        }
        println!(
            "{name:12} {ms:.4} ms  {:.3} ns/param  {:.2}x adamw",
            ms * 1e6 / n as f64,
            ms / adamw
        );
    }
    let ms = fastest(
        (0..25)
            .map(|_| {
                let t = Instant::now();
                let mut ok = true;
                for _ in 0..steps {
                    ok &= std::hint::black_box(&init)
                        .chunks(256)
                        .all(|c| c.iter().fold(true, |ok, v| ok & v.is_finite()));
                }
                assert!(ok);
                t.elapsed().as_secs_f64() * 1e3 / f64::from(steps)
            })
            .collect(),
    );
    println!(
        "all_finite   {ms:.4} ms  {:.3} ns/param (separate pass)",
        ms * 1e6 / n as f64
    );
}
