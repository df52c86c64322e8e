//! `lrctl`: learning-rate control, trained, compared and selected.

mod bench_cmd;
mod catalog_cmds;
mod cells_cmd;
mod cluster_cmds;
mod commands;
mod meta_cmd;
mod output;
mod progress;
mod select_cmd;
mod serve_cmd;
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
    quiet_on_closed_output();
    warn_password_in_arguments(std::env::args_os());
    let cli = commands::Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        // `lrctl export | head`: the reader has what it wanted; like any Unix tool, stop
        // without a word.
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
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

/// Whether an error comes from writing to a pipe whose reader has gone.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            // serde_json keeps the I/O error inside, out of the source chain.
            || e.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
    })
}

/// Makes a closed standard output (or error) end the process quietly with status 0.
///
/// Rust ignores SIGPIPE, so writing to a pipe whose reader exited (`lrctl status | head -c 10`)
/// fails with `BrokenPipe`; `println!` then panics with a backtrace. Restoring SIGPIPE's
/// default would also kill a worker on any broken socket or log pipe mid-cell, so instead the
/// panic `println!`/`eprintln!` raise for that one error ends the process like `head` ends
/// `yes`: silently. Every other panic goes to the default hook.
fn quiet_on_closed_output() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        // std's wording: "failed printing to stdout: Broken pipe (os error 32)".
        if message.starts_with("failed printing to std") && message.contains("Broken pipe") {
            std::process::exit(0);
        }
        default(info);
    }));
}

/// Warns, once, when `--store` carries a password: other users of the machine see command
/// lines (`ps`), not environments or files.
fn warn_password_in_arguments(args: impl Iterator<Item = std::ffi::OsString>) {
    if let Some(shown) = password_in_arguments(args) {
        eprintln!(
            "warning: --store {shown} carries a password on the command line, where other \
             users see it (ps, /proc); give the password in PGPASSWORD or ~/.pgpass, or the \
             whole URL in LRCTL_STORE (see SECURITY.md)"
        );
    }
}

/// The redacted `--store` value when it holds a password.
fn password_in_arguments(args: impl Iterator<Item = std::ffi::OsString>) -> Option<String> {
    let args: Vec<String> = args.map(|a| a.to_string_lossy().into_owned()).collect();
    let mut values = Vec::new();
    for (i, a) in args.iter().enumerate() {
        if a == "--" {
            break;
        }
        if a == "--store" {
            values.extend(args.get(i + 1).map(String::as_str));
        } else if let Some(v) = a.strip_prefix("--store=") {
            values.push(v);
        }
    }
    values.into_iter().find_map(|v| {
        let shown = lrctl_store::redact(v);
        (shown != v).then_some(shown)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> impl Iterator<Item = std::ffi::OsString> {
        a.iter()
            .map(std::ffi::OsString::from)
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn a_password_in_store_arguments_is_found_and_never_shown() {
        let found = password_in_arguments(args(&[
            "lrctl",
            "status",
            "--store",
            "postgres://u:hunter2@h/db",
        ]));
        assert_eq!(found.as_deref(), Some("postgres://u:***@h/db"));
        let found = password_in_arguments(args(&["lrctl", "run", "--store=postgres://u:pw@h/db"]));
        assert_eq!(found.as_deref(), Some("postgres://u:***@h/db"));
        for clean in [
            &["lrctl", "status", "--store", "postgres://u@h/db"][..],
            &["lrctl", "status", "--store", "lrctl.db"],
            &["lrctl", "status"],
            &["lrctl", "run", "--", "--store", "postgres://u:pw@h/db"],
        ] {
            assert_eq!(password_in_arguments(args(clean)), None, "{clean:?}");
        }
    }

    #[test]
    fn broken_pipes_are_recognised_through_context() {
        let io = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        let err = anyhow::Error::from(io).context("writing the table");
        assert!(is_broken_pipe(&err));
        assert!(!is_broken_pipe(&anyhow::anyhow!("Broken pipe")));
        let json = serde_json::Error::io(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(is_broken_pipe(&anyhow::Error::from(json)));
    }
}
