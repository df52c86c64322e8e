//! Read-only store connections shared by the request handlers.

use std::sync::Mutex;

use lrctl_store::{Store, StoreError};

/// Idle connections kept for reuse (a PostgreSQL connection costs a round trip to open).
const KEEP: usize = 4;

/// A few read-only connections to one store, opened on demand.
pub struct StorePool {
    location: String,
    redacted: String,
    idle: Mutex<Vec<Box<dyn Store>>>,
}

impl StorePool {
    /// Opens one connection now, so that a missing or unreadable store is an error at once.
    pub fn open(location: &str) -> Result<StorePool, StoreError> {
        let first = lrctl_store::open_read_only(location)?;
        Ok(StorePool {
            location: location.to_string(),
            redacted: first.location().to_string(),
            idle: Mutex::new(vec![first]),
        })
    }

    /// The store, password removed.
    pub fn location(&self) -> &str {
        &self.redacted
    }

    /// Runs `f` on a connection (blocking: call from a blocking task). A connection whose
    /// work failed is dropped rather than reused (it may be broken).
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.idle.lock().expect("not poisoned").pop();
        let mut store = match taken {
            Some(s) => s,
            None => lrctl_store::open_read_only(&self.location)?,
        };
        let out = f(store.as_mut());
        if out.is_ok() {
            let mut idle = self.idle.lock().expect("not poisoned");
            if idle.len() < KEEP {
                idle.push(store);
            }
        }
        out
    }
}
