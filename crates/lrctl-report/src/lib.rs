//! The report of an lrctl study: a snapshot of the store in, an [`lrctl_doc::Document`]
//! (HTML with inline SVG figures, Markdown, CSV tables) out. The document and chart layer is
//! `lrctl-doc`.

#![warn(missing_docs)]

pub mod study;
mod study_stats;
