//! `lrctl._lrctl`: the native module of the Python package `lrctl`.
//!
//! The Python package (`python/lrctl/`) is the public API; this module is what it is built on:
//! the registries, one training run, the environment's core and studies. Everything that
//! trains runs without the GIL on Rust threads, so other Python threads go on meanwhile; a
//! Rust panic never crosses into Python (it becomes `RuntimeError`), and lrctl's own errors
//! become `ValueError`, `FileNotFoundError` or `lrctl.UnknownNameError` (a `KeyError`) with
//! lrctl's message ([`error`]).
//!
//! The crate's Rust tests do not touch Python (no libpython is linked into them); the bindings
//! are tested by pytest (`crates/lrctl-py/tests`).

pub mod control;
pub mod env;
pub mod error;
pub mod registry;
pub mod study;
pub mod train;
pub mod user;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use pyo3::prelude::*;

pub use error::Error;

/// Runs `work` on its own thread while the caller waits without the GIL, checking for Ctrl-C
/// every 100 ms: on a signal the work's cancel flag is set, the work is waited for (it stops at
/// its next step), and the signal's exception (`KeyboardInterrupt`) is raised. A panic in the
/// work becomes `RuntimeError`.
pub(crate) fn blocking<T: Send + 'static>(
    py: Python<'_>,
    work: impl FnOnce(Arc<AtomicBool>) -> Result<T, Error> + Send + 'static,
) -> PyResult<T> {
    let cancel = Arc::new(AtomicBool::new(false));
    let (tx, rx) = std::sync::mpsc::channel();
    let flag = Arc::clone(&cancel);
    std::thread::Builder::new()
        .name("lrctl".into())
        .spawn(move || {
            let out = catch_unwind(AssertUnwindSafe(|| work(flag)))
                .unwrap_or_else(|p| Err(Error::panic(&*p)));
            let _ = tx.send(out);
        })
        .map_err(|e| Error::Runtime(format!("cannot start a thread: {e}")))?;
    // A Receiver is not Sync: the closure that waits without the GIL borrows it through a lock.
    let rx = std::sync::Mutex::new(rx);
    let mut interrupted: Option<PyErr> = None;
    loop {
        let next = py.detach(|| {
            rx.lock()
                .unwrap_or_else(|p| p.into_inner())
                .recv_timeout(Duration::from_millis(100))
        });
        match next {
            Ok(out) => {
                if let Some(e) = interrupted {
                    return Err(e);
                }
                return out.map_err(PyErr::from);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if interrupted.is_none()
                    && let Err(e) = py.check_signals()
                {
                    cancel.store(true, Ordering::Relaxed);
                    interrupted = Some(e);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(
                    Error::Runtime("lrctl's worker thread ended without a result".into()).into(),
                );
            }
        }
    }
}

/// Raises a Rust panic on a worker thread (what pytest checks: it must arrive as
/// `RuntimeError`, never as a `PanicException`).
#[pyfunction]
fn _debug_panic(py: Python<'_>) -> PyResult<()> {
    blocking(py, |_| -> Result<(), Error> {
        panic!("deliberate panic for the tests")
    })
}

/// Native part of lrctl: registries, training runs, the environment core and studies. Use the
/// `lrctl` package, not this module.
#[pymodule]
fn _lrctl(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("OBSERVATION_VERSION", lrctl_control::OBSERVATION_VERSION)?;
    m.add(
        "OBSERVATION_NAMES",
        pyo3::types::PyTuple::new(m.py(), lrctl_control::OBSERVATION_NAMES)?,
    )?;
    m.add("OBSERVATION_CLIP", lrctl_control::observe::OBSERVATION_CLIP)?;
    m.add(
        "CELL_COLUMNS",
        pyo3::types::PyTuple::new(m.py(), study::cell_columns())?,
    )?;
    m.add(
        "CURVE_COLUMNS",
        pyo3::types::PyTuple::new(m.py(), study::curve_columns())?,
    )?;
    m.add_function(wrap_pyfunction!(_debug_panic, m)?)?;
    registry::register(m)?;
    train::register(m)?;
    env::register(m)?;
    control::register(m)?;
    study::register(m)?;
    user::register(m)?;
    Ok(())
}
