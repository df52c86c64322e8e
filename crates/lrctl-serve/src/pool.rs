//! Read-only store connections shared by the request handlers.
//!
//! An SQLite store is read through its write-ahead log while a writer has it open (the `-wal`
//! file exists): such a connection follows every commit and is kept for reuse; it also keeps
//! the log in place while it is open, so workers never lose it. With no writer, lrctl-store
//! opens the file `immutable` (it creates nothing next to it): that connection is a snapshot
//! of the moment, so it serves one request and is dropped, and the next request sees any run
//! that started since.

use std::path::PathBuf;
use std::sync::Mutex;

use lrctl_store::{Location, Store, StoreError};

/// Idle connections kept for reuse (a PostgreSQL connection costs a round trip to open).
const KEEP: usize = 4;

/// A few read-only connections to one store, opened on demand.
pub struct StorePool {
    /// The location as given (it may hold a password: never shown).
    url: String,
    redacted: String,
    /// The SQLite store's `-wal` file; `None` for PostgreSQL.
    wal: Option<PathBuf>,
    idle: Mutex<Vec<Box<dyn Store>>>,
}

impl StorePool {
    /// Opens one connection now, so that a missing or unreadable store is an error at once.
    pub fn open(location: &str) -> Result<StorePool, StoreError> {
        let wal = match Location::parse(location)? {
            Location::Sqlite(path) => {
                let mut w = path.into_os_string();
                w.push("-wal");
                Some(PathBuf::from(w))
            }
            Location::Postgres(_) => None,
        };
        let first = lrctl_store::open_read_only(location)?;
        Ok(StorePool {
            url: location.to_string(),
            redacted: first.location().to_string(),
            wal,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// The store, password removed.
    pub fn location(&self) -> &str {
        &self.redacted
    }

    fn wal_exists(&self) -> bool {
        self.wal.as_ref().is_none_or(|w| w.exists())
    }

    /// Runs `f` on a connection (blocking: call from a blocking task). A connection whose
    /// work failed is dropped rather than reused (it may be broken).
    pub fn with<T>(
        &self,
        f: impl FnOnce(&mut dyn Store) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let taken = self.idle.lock().expect("not poisoned").pop();
        let (mut store, follows) = match taken {
            Some(s) => (s, true),
            None => {
                let before = self.wal_exists();
                let s = lrctl_store::open_read_only(&self.url)?;
                (s, before && self.wal_exists())
            }
        };
        let out = f(store.as_mut());
        if out.is_ok() && follows {
            let mut idle = self.idle.lock().expect("not poisoned");
            if idle.len() < KEEP {
                idle.push(store);
            }
        }
        out
    }
}
