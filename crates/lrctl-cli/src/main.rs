//! `lrctl`: learning-rate control, trained, compared and selected.

mod bench_cmd;
mod cluster_cmds;
mod commands;
mod output;
mod select_cmd;
mod study_cmds;
mod tune_cmd;

use std::process::ExitCode;

use clap::Parser;

/// Set to keep glibc's default allocator settings (see [`keep_freed_memory`]).
const MALLOC_DEFAULTS_ENV: &str = "LRCTL_MALLOC_DEFAULTS";

/// Makes glibc keep freed memory for reuse instead of handing it back to the kernel.
///
/// A training step allocates and frees the same batch-sized tensors (several MB each) every
/// step. By default each thread's allocations come from its own arena, and a secondary arena's
/// heap is unmapped as soon as it is empty, so the next step page-faults the memory back in and
/// the kernel zeroes it again: a third of the LM's step time in profiles. One arena (all
/// threads share the main heap), no `mmap` below 32 MiB and no trimming keep it mapped. Measured
/// on `lm/tinyshakespeare`: 215–248 → 155–159 ms/step at the same peak memory; neutral on the
/// CNN. `LRCTL_MALLOC_DEFAULTS=1` turns this off.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os(MALLOC_DEFAULTS_ENV).is_none_or(|v| v.is_empty() || v == "0") {
        // SAFETY: `mallopt` only sets allocator parameters; called first thing in `main`,
        // before any other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}

fn main() -> ExitCode {
    keep_freed_memory();
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
