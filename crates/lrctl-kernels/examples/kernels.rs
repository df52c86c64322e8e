//! Time of each kernel on the shapes of `cnn/fashion-mnist` (batch 64), single-threaded and on
//! the global pool: `cargo run --release -p lrctl-kernels --example kernels [REPS]`.

use std::time::Instant;

use lrctl_kernels::conv::{self, ConvShape};
use lrctl_kernels::pool::{self, PoolShape};

fn time(name: &str, reps: usize, mut f: impl FnMut()) {
    f();
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    println!(
        "{name:28} {:8.3} ms",
        t.elapsed().as_secs_f64() * 1e3 / reps as f64
    );
}

fn data(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0)
        .collect()
}

fn main() {
    let reps: usize = std::env::args().nth(1).map_or(20, |s| s.parse().unwrap());
    for s in [
        ConvShape {
            batch: 64,
            c_in: 1,
            c_out: 32,
            height: 28,
            width: 28,
            kernel: 3,
        },
        ConvShape {
            batch: 64,
            c_in: 32,
            c_out: 64,
            height: 14,
            width: 14,
            kernel: 3,
        },
    ] {
        let (x, w, b) = (data(s.input_len()), data(s.weight_len()), data(s.c_out));
        let g = data(s.output_len());
        let label = format!("{}→{} {}×{}", s.c_in, s.c_out, s.height, s.width);
        time(&format!("conv fwd {label}"), reps, || {
            std::hint::black_box(conv::forward(&x, &w, &b, &s));
        });
        time(&format!("conv bwd {label}"), reps, || {
            std::hint::black_box(conv::backward(&g, &w, &x, &s, s.c_in > 1));
        });
        let p = PoolShape {
            planes: s.batch * s.c_out,
            height: s.height,
            width: s.width,
        };
        let y = data(s.output_len());
        time(&format!("pool fwd {label}"), reps, || {
            std::hint::black_box(pool::forward(&y, &p));
        });
        let (out, arg) = pool::forward(&y, &p);
        time(&format!("pool bwd {label}"), reps, || {
            std::hint::black_box(pool::backward(&out, &arg, &p));
        });
    }
}
