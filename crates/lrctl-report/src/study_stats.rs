//! The across-tasks part of a study report.

use lrctl_store::Outcome;
use lrctl_study::snapshot::Snapshot;

use crate::study::ReportOptions;
use crate::{Cell, Document, Table};

/// Adds the across-tasks section.
pub fn across_tasks(doc: &mut Document, snap: &Snapshot, _opts: &ReportOptions) {
    doc.section("Across tasks");
    divergence_table(doc, snap);
}

fn divergence_table(doc: &mut Document, snap: &Snapshot) {
    let mut headers = vec!["method".to_string()];
    headers.extend(snap.tasks.iter().map(|t| t.name.clone()));
    headers.push("total".into());
    let mut table = Table::new(headers);
    for m in &snap.methods {
        let mut row = vec![Cell::text(m)];
        let mut total = (0, 0);
        for t in &snap.tasks {
            let cells: Vec<_> = snap.cells_of(&t.name, m).collect();
            let div = cells
                .iter()
                .filter(|c| {
                    c.result
                        .as_ref()
                        .is_some_and(|r| r.outcome != Outcome::Finished)
                })
                .count();
            let done = cells.iter().filter(|c| c.result.is_some()).count();
            total.0 += div;
            total.1 += done;
            row.push(Cell::numeric(format!("{div} / {done}")).emphasized_if(div > 0));
        }
        row.push(Cell::numeric(format!("{} / {}", total.0, total.1)).emphasized_if(total.0 > 0));
        table = table.row(row);
    }
    doc.subsection("Divergences").table(
        "divergences",
        "Diverged or failed seeds out of those with a result, per method and task.",
        table,
    );
}
