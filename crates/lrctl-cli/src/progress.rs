//! How the CLI shows a running study: [`RunEvent`]s from `lrctl-study` drawn as a progress bar
//! on a terminal, or written as one log line per finished cell (for workers' batch logs).

use std::io::{LineWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use lrctl_study::{Observer, RunEvent};

/// How progress is shown (`--progress bar|log|none` on `run` and `worker`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Display {
    /// A progress bar on stderr (hidden when stderr is not a terminal).
    Bar,
    /// One line per finished cell on stderr.
    Log,
    /// Nothing (`--quiet`).
    #[value(name = "none")]
    Quiet,
}

/// An observer that shows a study's progress as `display` says and, with `events`, writes
/// every event as a JSON line to that file (`-`: standard output).
pub fn observer(display: Display, events: Option<&Path>) -> anyhow::Result<Observer> {
    let shown = shown(display);
    let Some(path) = events else {
        return Ok(shown);
    };
    let sink: Box<dyn Write + Send> = if path == Path::new("-") {
        Box::new(std::io::stdout())
    } else {
        Box::new(std::fs::File::create(path).map_err(|e| {
            anyhow::anyhow!("--events {}: cannot create the file: {e}", path.display())
        })?)
    };
    let sink = Mutex::new(LineWriter::new(sink));
    Ok(Arc::new(move |e: &RunEvent| {
        shown(e);
        let line = serde_json::to_string(e).expect("events serialise");
        // A closed reader does not stop the study; the events are a side channel.
        let _ = writeln!(sink.lock().expect("not poisoned"), "{line}");
    }))
}

fn shown(display: Display) -> Observer {
    match display {
        Display::Bar => bar_observer(),
        Display::Log => Arc::new(|e: &RunEvent| {
            if let RunEvent::StoreNotice { message } = e {
                eprintln!("{message}");
            }
            if let RunEvent::CellSkipped {
                worker,
                cell,
                task,
                method,
                reason,
            } = e
            {
                eprintln!("{worker}: cell {cell} {task} · {method} put back: {reason}");
            }
            if let RunEvent::ResultDiscarded {
                worker,
                cell,
                task,
                method,
                reason,
            } = e
            {
                eprintln!("{worker}: cell {cell} {task} · {method} result discarded: {reason}");
            }
            if let RunEvent::CellDone {
                worker,
                cell,
                task,
                method,
                seed,
                outcome,
                seconds,
            } = e
            {
                eprintln!(
                    "{worker}: cell {cell} {task} · {method} · seed {seed}: {outcome} in {seconds:.1} s"
                );
            }
        }),
        Display::Quiet => Arc::new(|e: &RunEvent| {
            if let RunEvent::StoreNotice { message } = e {
                eprintln!("{message}");
            }
        }),
    }
}

fn bar_observer() -> Observer {
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {prefix} [{bar:30}] {pos}/{len} cells · {elapsed_precise} · eta {eta} · {msg}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    Arc::new(move |e: &RunEvent| match e {
        RunEvent::Started { name, total, done } => {
            bar.set_prefix(name.clone());
            if let Some(t) = total {
                bar.set_length(*t as u64);
            }
            bar.set_position(*done as u64);
            bar.enable_steady_tick(Duration::from_millis(250));
        }
        RunEvent::CellStarted {
            task, method, seed, ..
        } => bar.set_message(format!("{task} · {method} · seed {seed}")),
        RunEvent::CellDone { .. } => bar.inc(1),
        RunEvent::StoreNotice { message } => bar.println(message),
        RunEvent::CellSkipped {
            cell, task, reason, ..
        } => bar.println(format!("cell {cell} ({task}) put back: {reason}")),
        RunEvent::ResultDiscarded {
            cell, task, reason, ..
        } => bar.println(format!("cell {cell} ({task}) result discarded: {reason}")),
        RunEvent::Finished => bar.finish_and_clear(),
    })
}

/// Draws dataset downloads (`lrctl_data::locate::DownloadObserver`): one line naming the URL
/// and the destination, then a byte bar on stderr (hidden when stderr is not a terminal).
#[derive(Default)]
pub struct DownloadBar {
    bar: Mutex<Option<ProgressBar>>,
}

impl lrctl_data::locate::DownloadObserver for DownloadBar {
    fn started(&self, url: &str, dest: &Path, done: u64, total: Option<u64>) {
        if done > 0 {
            eprintln!(
                "downloading {url} → {} (resuming after {done} bytes)",
                dest.display()
            );
        } else {
            eprintln!("downloading {url} → {}", dest.display());
        }
        let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
            )
            .expect("a valid template"),
        );
        bar.set_position(done);
        *self.bar.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar);
    }

    fn progress(&self, done: u64, _total: Option<u64>) {
        if let Some(bar) = &*self.bar.lock().unwrap_or_else(|e| e.into_inner()) {
            bar.set_position(done);
        }
    }

    fn finished(&self) {
        if let Some(bar) = self.bar.lock().unwrap_or_else(|e| e.into_inner()).take() {
            bar.finish_and_clear();
        }
    }
}
