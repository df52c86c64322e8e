//! Documents with inline SVG charts: plain numbers in, self-contained HTML / Markdown / CSV
//! out.
//!
//! The crate knows nothing of lrctl's stores, studies or statistics (it depends on no lrctl
//! crate); callers compute the numbers (means, confidence intervals, ranks, profiles) and hand
//! them over as plain data. `lrctl-report` builds the study report on top of it.
//!
//! * Charts render to SVG strings with plotters' SVG backend (text is emitted
//!   as `<text>`, so no fonts are needed): [`line_chart`], [`heatmap`],
//!   [`interval_chart`], [`profile_chart`], [`scatter`]. They use the
//!   Okabe–Ito colour-blind-safe [`PALETTE`] plus distinct markers and dash
//!   patterns per series, skip NaN/infinite values, show "no data" for empty
//!   input and never panic.
//! * [`Document`] assembles sections, paragraphs, notes, [`Table`]s and
//!   figures into one HTML file ([`Document::to_html`]), a Markdown twin
//!   ([`Document::to_markdown`]) or a directory ([`Document::write_dir`]:
//!   `index.html`, `report.md`, `figures/*.svg`, `tables/*.csv`).
//!
//! ```
//! use lrctl_doc::{Cell, Document, LineChart, LineSeries, Table, line_chart};
//!
//! let chart = LineChart::new("Validation loss", "training step", "loss (nats)").series(
//!     LineSeries::new("adam", vec![0.0, 1.0, 2.0], vec![2.3, 1.2, 0.9])
//!         .with_band(vec![2.2, 1.1, 0.8], vec![2.4, 1.3, 1.0]),
//! );
//! let mut doc = Document::new("Study report");
//! doc.section("Learning curves")
//!     .figure("curves", "Mean ± SE over 5 seeds.", line_chart(&chart))
//!     .warning("3 cells unfinished")
//!     .table(
//!         "final",
//!         "Final loss.",
//!         Table::new(["method", "loss"]).row(vec![Cell::text("adam"), Cell::number(0.9, 3).emphasized()]),
//!     );
//! let html = doc.to_html();
//! assert!(html.contains("<svg"));
//! ```

mod charts;
mod doc;
mod heatmap;
mod interval;
mod render;
mod style;

pub use charts::{
    Band, LineChart, LineSeries, ProfileChart, Scatter, ScatterPoint, line_chart, profile_chart,
    scatter,
};
pub use doc::{Block, Cell, Document, NoteKind, Table, csv_field, escape_html};
pub use heatmap::{ColorScale, Heatmap, heatmap};
pub use interval::{Interval, IntervalChart, IntervalPanel, interval_chart};
pub use style::{DEFAULT_SIZE, PALETTE, PALETTE_HEX, format_number};
