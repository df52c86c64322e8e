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
