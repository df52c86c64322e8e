//! Live updates: server-sent events that tell a page when what it shows changed.
//!
//! Every [`POLL`] the stream reads a cheap [`Stamp`](crate::api::Stamp) of the study (or of
//! every study) and sends a `change` event when it differs from the last one sent; the page
//! then refetches what it shows. A running cell's curve reaches the store about once a second
//! (`lrctl_study::run::LIVE_CURVE_EVERY`), so a page follows it within about two seconds.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;

use crate::AppState;
use crate::api::stamp;

/// How often the store is polled for changes.
pub const POLL: Duration = Duration::from_millis(500);

/// Query of `/api/events`.
#[derive(Debug, Deserialize)]
pub struct EventsQuery {
    /// The study to follow (none: every study's progress).
    pub study: Option<String>,
}

/// The stamp of one study, or of every study; `None` when it cannot be read (the store is
/// unreachable: the stream waits and tries again).
fn read(state: &AppState, study: Option<&str>) -> Option<String> {
    state
        .pool
        .with(|store| {
            let studies = match study {
                Some(name) => store.study(name)?.into_iter().collect(),
                None => store.studies()?,
            };
            let mut stamps = Vec::new();
            for s in &studies {
                stamps.push((s.name.clone(), stamp(store, s)?));
            }
            Ok(serde_json::to_string(&stamps).expect("stamps serialise"))
        })
        .ok()
}

/// `GET /api/events[?study=NAME]`: a `change` event whenever the study changes (and one at
/// once), with a keep-alive comment every 15 s.
pub async fn events(
    State(state): State<AppState>,
    Query(q): Query<EventsQuery>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold(
        (state, q.study, None::<String>),
        |(state, study, last)| async move {
            loop {
                let s2 = state.clone();
                let name = study.clone();
                let now = tokio::task::spawn_blocking(move || read(&s2, name.as_deref()))
                    .await
                    .ok()
                    .flatten();
                if let Some(now) = now
                    && last.as_ref() != Some(&now)
                {
                    let event = Event::default().event("change").data(&now);
                    return Some((Ok(event), (state, study, Some(now))));
                }
                tokio::time::sleep(POLL).await;
            }
        },
    );
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
