//! lrctl's errors as Python exceptions: each library error is classified once here.
//!
//! | lrctl error | Python |
//! |---|---|
//! | unknown task, method, suite or study | `lrctl.UnknownNameError` (a `KeyError`) |
//! | a file or store that is not there | `FileNotFoundError` |
//! | everything the user can fix in what they passed (fields, ranges, a store that is not a store) | `ValueError` |
//! | a misuse of an object's state (step before reset) and Rust panics | `RuntimeError` |
//!
//! The message is always lrctl's own (file, line, field, suggestions).

use pyo3::PyErr;
use pyo3::exceptions::{PyFileNotFoundError, PyRuntimeError, PyValueError};

use lrctl_data::DataError;
use lrctl_method::MethodError;
use lrctl_store::StoreError;
use lrctl_study::StudyError;
use lrctl_tasks::TaskError;
use lrctl_wrap::WrapError;

pyo3::import_exception!(lrctl._errors, UnknownNameError);

/// An error on its way to Python, classified by the exception it becomes.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// An unknown name: `lrctl.UnknownNameError` (a `KeyError`).
    #[error("{0}")]
    Unknown(String),
    /// A file or store that does not exist: `FileNotFoundError`.
    #[error("{0}")]
    NotFound(String),
    /// Bad input: `ValueError`.
    #[error("{0}")]
    Value(String),
    /// A misused object or an internal failure: `RuntimeError`.
    #[error("{0}")]
    Runtime(String),
}

impl Error {
    /// A Rust panic's payload as a `RuntimeError`.
    pub fn panic(payload: &(dyn std::any::Any + Send)) -> Error {
        Error::Runtime(format!(
            "lrctl internal error (Rust panic): {}",
            lrctl_wrap::panic_message(payload)
        ))
    }
}

impl From<Error> for PyErr {
    fn from(e: Error) -> PyErr {
        match e {
            Error::Unknown(m) => UnknownNameError::new_err(m),
            Error::NotFound(m) => PyFileNotFoundError::new_err(m),
            Error::Value(m) => PyValueError::new_err(m),
            Error::Runtime(m) => PyRuntimeError::new_err(m),
        }
    }
}

fn io_kind(e: &std::io::Error, message: String) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound(message)
    } else {
        Error::Value(message)
    }
}

impl From<DataError> for Error {
    fn from(e: DataError) -> Error {
        let m = e.to_string();
        match &e {
            DataError::NotFound { .. } => Error::NotFound(m),
            DataError::Io { source, .. } => io_kind(source, m),
            _ => Error::Value(m),
        }
    }
}

impl From<TaskError> for Error {
    fn from(e: TaskError) -> Error {
        let m = e.to_string();
        match e {
            TaskError::UnknownTask { .. } => Error::Unknown(m),
            TaskError::Data { source, .. } => match Error::from(source) {
                Error::NotFound(_) => Error::NotFound(m),
                _ => Error::Value(m),
            },
            _ => Error::Value(m),
        }
    }
}

impl From<MethodError> for Error {
    fn from(e: MethodError) -> Error {
        let m = e.to_string();
        match &e {
            MethodError::Unknown { .. } => Error::Unknown(m),
            MethodError::Io { source, .. } => io_kind(source, m),
            _ => Error::Value(m),
        }
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        let m = e.to_string();
        match e {
            StoreError::Missing { .. } => Error::NotFound(m),
            _ => Error::Value(m),
        }
    }
}

impl From<WrapError> for Error {
    fn from(e: WrapError) -> Error {
        match e {
            WrapError::Method(m) => m.into(),
            WrapError::Store(s) => s.into(),
            WrapError::Start(lrctl_engine::StartError::Model(t)) => t.into(),
            WrapError::Start(lrctl_engine::StartError::Method(m)) => m.into(),
            other => Error::Value(other.to_string()),
        }
    }
}

impl From<lrctl_engine::StartError> for Error {
    fn from(e: lrctl_engine::StartError) -> Error {
        match e {
            lrctl_engine::StartError::Model(t) => t.into(),
            lrctl_engine::StartError::Method(m) => m.into(),
        }
    }
}

impl From<StudyError> for Error {
    fn from(e: StudyError) -> Error {
        match e {
            StudyError::Task(t) => t.into(),
            StudyError::Method(m) => m.into(),
            StudyError::Wrap(w) => w.into(),
            StudyError::Store(s) => s.into(),
            StudyError::UnknownSuite(..) => Error::Unknown(e.to_string()),
            other => Error::Value(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_lrctl_error_is_classified() {
        let unknown_task = lrctl_tasks::registry::find("mlp/digitz").unwrap_err();
        let e = Error::from(unknown_task);
        assert!(
            matches!(&e, Error::Unknown(m) if m.contains("mlp/digits")),
            "{e:?}"
        );
        let e = Error::from(lrctl_wrap::find("prodigi").unwrap_err());
        assert!(
            matches!(&e, Error::Unknown(m) if m.contains("prodigy")),
            "{e:?}"
        );
        let e = Error::from(lrctl_wrap::find("/no/such/method.toml").unwrap_err());
        assert!(matches!(&e, Error::NotFound(m) if m.contains("/no/such/method.toml")));
        let e = Error::from(lrctl_wrap::Method::from_toml("name = 1", "m.toml").unwrap_err());
        assert!(
            matches!(&e, Error::Value(m) if m.contains("m.toml")),
            "{e:?}"
        );
        let e = Error::from(StoreError::Missing {
            location: "x.db".into(),
        });
        assert!(matches!(e, Error::NotFound(_)));
        let e = Error::from(StudyError::UnknownSuite("q".into(), "quick".into()));
        assert!(matches!(e, Error::Unknown(_)));
        let e = Error::from(StudyError::Store(StoreError::NotAStore {
            location: "x".into(),
            why: "text".into(),
        }));
        assert!(matches!(e, Error::Value(_)));
        let e = Error::panic(&"boom");
        assert_eq!(
            e,
            Error::Runtime("lrctl internal error (Rust panic): boom".into())
        );
    }
}
