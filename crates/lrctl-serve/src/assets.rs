//! The pages: one HTML shell, its script and style sheet, and uPlot (vendored from the npm
//! registry, `assets/vendor/uplot`), all embedded in the binary: no CDN, works offline.
//!
//! The script builds every element with `textContent` and attributes, never `innerHTML` with
//! data, so study, task and method names cannot inject markup.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// `(path, content type, bytes)` of every embedded file.
pub const FILES: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("../assets/index.html"),
    ),
    (
        "/assets/app.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/app.js"),
    ),
    (
        "/assets/app.css",
        "text/css; charset=utf-8",
        include_str!("../assets/app.css"),
    ),
    (
        "/assets/uPlot.iife.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../assets/vendor/uplot/uPlot.iife.min.js"),
    ),
    (
        "/assets/uPlot.min.css",
        "text/css; charset=utf-8",
        include_str!("../assets/vendor/uplot/uPlot.min.css"),
    ),
    (
        "/assets/uPlot-LICENSE.txt",
        "text/plain; charset=utf-8",
        include_str!("../assets/vendor/uplot/LICENSE"),
    ),
];

/// The routes serving [`FILES`].
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut r = Router::new();
    for &(path, mime, body) in FILES {
        r = r.route(
            path,
            get(move || async move { ([(header::CONTENT_TYPE, mime)], body).into_response() }),
        );
    }
    r
}
