//! `lrctl serve`: a live, read-only web dashboard over an lrctl store.
//!
//! The server opens the store read-only ([`lrctl_store::OpenMode::ReadOnly`]: SQLite files are
//! never written, so `lrctl run` and workers are never locked out and the write-ahead log is
//! left alone; PostgreSQL transactions are `READ ONLY`) and serves:
//!
//! - a JSON API ([`api`]): studies with progress, workers and ETA; a study's cells and results;
//!   its curves downsampled on the server ([`downsample`]); the report's statistics, computed by
//!   [`lrctl_report::analyse`] and served as JSON; a cell; a comparison of two studies;
//! - server-sent events ([`live`]) that tell pages when a study changed (a cell finished, a
//!   running cell's partial curve grew), so that they refetch without reloading;
//! - the pages ([`assets`]): plain HTML and JavaScript with uPlot, embedded in the binary.
//!
//! Security ([`security`]): loopback by default, a token required for any other address, every
//! response read-only, store locations shown only through [`lrctl_store::redact`].

pub mod api;
pub mod assets;
pub mod downsample;
pub mod live;
mod pool;
pub mod security;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;

pub use pool::StorePool;
pub use security::Exposure;

/// What `lrctl serve` was asked to do.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The store: a path, `sqlite://PATH` or `postgres://…` (see [`lrctl_store::Location`]).
    pub store: String,
    /// Address to listen on (port 0: any free port).
    pub bind: SocketAddr,
    /// Token a client must present (`?token=`, a cookie set from it, or
    /// `Authorization: Bearer`); required for a non-loopback address.
    pub token: Option<String>,
}

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] lrctl_store::StoreError),
    /// A non-loopback address without a token.
    #[error(
        "{addr} is reachable from other machines; pass --token TOKEN so that only those who \
         know it can read the store (or bind 127.0.0.1)"
    )]
    NeedsToken {
        /// The address asked for.
        addr: SocketAddr,
    },
    /// The token is unusable.
    #[error("the token must be 16 to 256 printable ASCII characters without spaces")]
    BadToken,
    /// Listening failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime or the server failed.
    #[error("server: {0}")]
    Io(#[from] std::io::Error),
}

/// What the server shares between requests.
#[derive(Clone)]
pub struct AppState {
    /// Read-only store connections.
    pub pool: Arc<StorePool>,
    /// Computed results that do not change until the store does.
    pub cache: Arc<api::Cache>,
}

/// Where a started server listens.
#[derive(Debug, Clone)]
pub struct Bound {
    /// The address (with the port the system chose for port 0).
    pub addr: SocketAddr,
    /// Who can reach it.
    pub exposure: Exposure,
    /// The store, password removed.
    pub store: String,
}

impl Bound {
    /// The URL to open (the token in it when there is one, so that the page can set its cookie).
    pub fn url(&self, token: Option<&str>) -> String {
        match token {
            Some(t) => format!("http://{}/?token={t}", self.addr),
            None => format!("http://{}/", self.addr),
        }
    }
}

/// The routes of the dashboard over `state`.
pub fn router(state: AppState, token: Option<String>) -> Router {
    let api = Router::new()
        .route("/api/studies", get(api::studies))
        .route("/api/study", get(api::study))
        .route("/api/study/stats", get(api::stats))
        .route("/api/study/curves", get(api::curves))
        .route("/api/cell", get(api::cell))
        .route("/api/compare", get(api::compare))
        .route("/api/events", get(live::events))
        .with_state(state);
    assets::routes()
        .merge(api)
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(security::Guard::new(token)),
            security::guard,
        ))
}

/// Opens the store, binds, calls `on_ready` with where it listens, and serves until the
/// process ends. Blocks the calling thread (it runs its own tokio runtime).
pub fn serve(options: &ServeOptions, on_ready: impl FnOnce(&Bound)) -> Result<(), ServeError> {
    let exposure = security::exposure(options.bind, options.token.as_deref())?;
    let pool = StorePool::open(&options.store)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(options.bind)
            .await
            .map_err(|source| ServeError::Bind {
                addr: options.bind,
                source,
            })?;
        let bound = Bound {
            addr: listener.local_addr()?,
            exposure,
            store: pool.location().to_string(),
        };
        let state = AppState {
            pool: Arc::new(pool),
            cache: Arc::new(api::Cache::default()),
        };
        on_ready(&bound);
        axum::serve(listener, router(state, options.token.clone())).await?;
        Ok(())
    })
}
