//! `lrctl`: learning-rate control, trained, compared and selected.

mod bench_cmd;
mod cluster_cmds;
mod commands;
mod output;
mod progress;
mod select_cmd;
mod study_cmds;
mod tune_cmd;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc (Leijen, Zorn & de Moura 2019, "Mimalloc: free list sharding in action") as the
/// allocator of the `lrctl` binary.
///
/// A training step allocates and frees the same batch-sized tensors (several MB each) every
/// step. glibc hands a thread arena's heap back to the kernel as soon as it is empty, so the next
/// step page-faults the memory in again and the kernel zeroes it: about a third of the LM's step
/// time in profiles. mimalloc keeps freed memory for reuse per thread. Measured with `lrctl
/// bench` (medians of 5 runs, before the dense-layer kernel): LM 118 → 105 ms/step against
/// glibc with one arena and no trimming (≈ 215 ms with glibc's defaults), CNN 18.0 → 16.0, MLP
/// 2.17 → 1.89, and the two-job quick study 10.2 s (glibc default) → 8.9 s, where one glibc
/// arena took 19 s. The price is memory the
/// LM keeps between steps (161 MiB after loading, against 95): `MIMALLOC_PURGE_DELAY=0` returns
/// it at once (123 MiB, 178 ms/step).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = commands::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let mut shown = err.to_string();
            eprintln!("error: {shown}");
            // Wrapped errors often repeat their source's text; print only what is new.
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if !shown.contains(&text) {
                    eprintln!("  caused by: {text}");
                    shown = text;
                }
            }
            ExitCode::from(2)
        }
    }
}
