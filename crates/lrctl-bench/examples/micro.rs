//! Per-parameter cost of the flat-vector passes: optimizer updates, gradient statistics, the
//! finiteness check. `cargo run --release -p lrctl-bench --example micro [N_PARAMS]`.

use std::time::Instant;
fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(269_322, |s| s.parse().unwrap());
    for (name, ms) in lrctl_bench::optimizer_costs(n, 200).unwrap() {
        println!(
            "{name:12} {:.4} ms  {:.3} ns/param",
            ms,
            ms * 1e6 / n as f64
        );
    }
    let g: Vec<f32> = (0..n).map(|i| (i as f32).sin()).collect();
    let p: Vec<f32> = (0..n).map(|i| (i as f32).cos()).collect();
    let u: Vec<f32> = (0..n).map(|i| (i as f32 * 0.3).cos()).collect();
    let t = Instant::now();
    let mut s = 0.0;
    for _ in 0..200 {
        s += lrctl_engine::grad_stats(&g, &p, &u, Some(0.1)).norm;
    }
    let ms = t.elapsed().as_secs_f64() * 1e3 / 200.0;
    println!(
        "grad_stats   {ms:.4} ms  {:.3} ns/param ({s})",
        ms * 1e6 / n as f64
    );
    let t = Instant::now();
    for _ in 0..200 {
        s += lrctl_engine::grad_norm(&g);
    }
    let ms = t.elapsed().as_secs_f64() * 1e3 / 200.0;
    println!(
        "grad_norm    {ms:.4} ms  {:.3} ns/param ({s})",
        ms * 1e6 / n as f64
    );
    let t = Instant::now();
    let mut ok = true;
    for _ in 0..200 {
        ok &= lrctl_engine::all_finite(&g);
    }
    let ms = t.elapsed().as_secs_f64() * 1e3 / 200.0;
    println!(
        "all_finite   {ms:.4} ms  {:.3} ns/param ({ok})",
        ms * 1e6 / n as f64
    );
}
