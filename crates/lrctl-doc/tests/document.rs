//! Tests of the report document: HTML, Markdown, CSV and the output directory.

use lrctl_doc::{Cell, Document, LineChart, LineSeries, Table, csv_field, line_chart};

fn chart() -> String {
    line_chart(&LineChart::new("c", "step", "loss").series(LineSeries::new(
        "m",
        vec![0.0, 1.0],
        vec![1.0, 0.5],
    )))
}

fn sample_table() -> Table {
    Table::new(["method", "loss", "note"])
        .row(vec![
            Cell::text("adam"),
            Cell::number(0.123456, 3).emphasized(),
            Cell::text("a, b"),
        ])
        .row(vec![
            Cell::text("sgd | momentum"),
            Cell::number(f64::NAN, 3),
            Cell::text("say \"hi\"\nline 2"),
        ])
        .row(vec![Cell::text("short row")])
}

fn sample_doc() -> Document {
    let mut d = Document::new("Report <1> & \"more\"");
    d.paragraph("Intro with <b>tags</b> & ampersands.")
        .warning("3 cells unfinished")
        .note("seeds missing: 2")
        .section("Results")
        .figure("Loss curves!", "Loss <mean>", chart())
        .table("summary", "Summary & more", sample_table())
        .subsection("Details")
        .list(["one <1>", "two"])
        .code("lrctl report --out <dir>")
        .section("Results") // duplicate heading -> unique anchor
        .figure("Loss curves!", "Second figure with the same name", chart());
    d
}

/// Every `href="#id"` must point at an existing `id="id"`.
fn assert_anchors_resolve(html: &str) {
    let mut n = 0;
    for part in html.split("href=\"#").skip(1) {
        let id = &part[..part.find('"').unwrap()];
        assert!(
            html.contains(&format!("id=\"{id}\"")),
            "dangling anchor #{id}"
        );
        n += 1;
    }
    assert!(n > 0, "no table of contents links");
}

#[test]
fn html_is_self_contained_and_escaped() {
    let html = sample_doc().to_html();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.trim_end().ends_with("</html>"));
    assert!(html.contains("<meta name=\"viewport\""));
    assert!(html.contains("<style>"));
    assert!(html.contains("@media print"));
    assert!(html.contains(".chart svg{display:block;width:100%;height:auto"));
    assert!(!html.contains("<script"));
    assert!(!html.contains("<link"));
    assert!(!html.contains(" src="));
    // Escaping of all user text.
    assert!(html.contains("<h1>Report &lt;1&gt; &amp; &quot;more&quot;</h1>"));
    assert!(html.contains("Intro with &lt;b&gt;tags&lt;/b&gt; &amp; ampersands."));
    assert!(!html.contains("<b>tags</b>"));
    assert!(html.contains("<li>one &lt;1&gt;</li>"));
    assert!(html.contains("lrctl report --out &lt;dir&gt;"));
    assert!(html.contains("aria-label=\"Loss &lt;mean&gt;\""));
    // Notes and warnings.
    assert!(html.contains("class=\"note warning\""));
    assert!(html.contains("3 cells unfinished"));
    assert!(html.contains("seeds missing: 2"));
    // Figures: inline SVG with viewBox, numbered captions.
    assert_eq!(html.matches("<svg").count(), 2);
    assert_eq!(html.matches("viewBox=").count(), 2);
    assert!(html.contains("<strong>Figure 2.</strong>"));
    // Table: numeric column right-aligned, best emphasised, padded rows.
    assert!(html.contains("<td class=\"num best\"><strong>0.123</strong></td>"));
    assert!(html.contains("<th scope=\"col\" class=\"num\">loss</th>"));
    assert!(html.contains("<td class=\"num\">n/a</td>"));
    assert!(html.contains("<td>short row</td><td></td><td></td>"));
    // Table of contents with unique, resolvable anchors.
    assert!(html.contains("id=\"results\""));
    assert!(html.contains("id=\"results-1\""));
    assert!(html.contains("<nav class=\"toc\""));
    assert_anchors_resolve(&html);
}

/// Cells of a Markdown table line, splitting on unescaped pipes.
fn md_cells(line: &str) -> usize {
    let mut n = 0;
    let mut escaped = false;
    for c in line.chars() {
        match c {
            '\\' if !escaped => escaped = true,
            '|' if !escaped => n += 1,
            _ => escaped = false,
        }
    }
    n - 1
}

#[test]
fn markdown_tables_have_consistent_columns() {
    let md = sample_doc().to_markdown();
    let table_lines: Vec<&str> = md.lines().filter(|l| l.starts_with('|')).collect();
    assert_eq!(table_lines.len(), 2 + 3, "header, separator and three rows");
    for l in &table_lines {
        assert_eq!(md_cells(l), 3, "wrong column count in {l:?}");
    }
    assert_eq!(table_lines[1], "| --- | ---: | --- |");
    assert!(table_lines[2].contains("**0.123**"));
    assert!(table_lines[3].contains("sgd \\| momentum"));
    assert!(
        table_lines[3].contains("line 2"),
        "newline folded into the cell"
    );
    // Ragged table: the widest row decides.
    let t = Table::new(["a"]).row(vec![Cell::text("1"), Cell::text("2"), Cell::text("3")]);
    for l in t.to_markdown().lines() {
        assert_eq!(md_cells(l), 3, "{l}");
    }
}

#[test]
fn markdown_mirrors_the_content() {
    let md = sample_doc().to_markdown();
    assert!(md.starts_with("# Report \\<1\\> \\& \"more\""));
    assert!(md.contains("## Results"));
    assert!(md.contains("### Details"));
    assert!(md.contains("- [Results](#results)"));
    assert!(md.contains("- [Results](#results-1)"));
    assert!(md.contains("  - [Details](#details)"));
    assert!(md.contains("> **Warning:** 3 cells unfinished"));
    assert!(md.contains("> **Note:** seeds missing: 2"));
    assert!(md.contains("![Figure 1: Loss \\<mean\\>](figures/loss-curves.svg)"));
    assert!(md.contains("](figures/loss-curves-2.svg)"));
    assert!(md.contains("([CSV](tables/summary.csv))"));
    assert!(md.contains("Intro with \\<b\\>tags\\</b\\> \\& ampersands."));
    assert!(md.contains("```\nlrctl report --out <dir>\n```"));
    assert!(!md.contains("<svg"));
}

#[test]
fn csv_follows_rfc_4180() {
    assert_eq!(csv_field("plain"), "plain");
    assert_eq!(csv_field("a,b"), "\"a,b\"");
    assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    assert_eq!(csv_field("cr\r"), "\"cr\r\"");
    let csv = sample_table().to_csv();
    let expected = "method,loss,note\r\n\
                    adam,0.123456,\"a, b\"\r\n\
                    sgd | momentum,,\"say \"\"hi\"\"\nline 2\"\r\n\
                    short row,,\r\n";
    assert_eq!(csv, expected);
}

#[test]
fn write_dir_creates_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("nested/report");
    let doc = sample_doc();
    doc.write_dir(&out).unwrap();
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert_eq!(html, doc.to_html());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert_eq!(md, doc.to_markdown());
    for f in ["figures/loss-curves.svg", "figures/loss-curves-2.svg"] {
        let svg = std::fs::read_to_string(out.join(f)).unwrap();
        assert!(svg.starts_with("<?xml"), "{f}");
        assert!(
            svg.contains("<svg") && svg.trim_end().ends_with("</svg>"),
            "{f}"
        );
    }
    let csv = std::fs::read_to_string(out.join("tables/summary.csv")).unwrap();
    assert_eq!(csv, sample_table().to_csv());
    // Every file the Markdown references exists.
    for part in md.split("](").skip(1) {
        let target = &part[..part.find(')').unwrap()];
        if !target.starts_with('#') {
            assert!(out.join(target).is_file(), "missing {target}");
        }
    }
    // Exactly these files.
    let count = |d: &str| std::fs::read_dir(out.join(d)).unwrap().count();
    assert_eq!(count("figures"), 2);
    assert_eq!(count("tables"), 1);
}

#[test]
fn empty_document_is_valid() {
    let d = Document::new("");
    let html = d.to_html();
    assert!(html.contains("<h1></h1>"));
    assert!(!html.contains("<nav"));
    let dir = tempfile::tempdir().unwrap();
    d.write_dir(dir.path()).unwrap();
    assert!(dir.path().join("index.html").is_file());
    assert!(dir.path().join("report.md").is_file());
    assert!(dir.path().join("figures").is_dir());
    assert!(dir.path().join("tables").is_dir());
    assert_eq!(Table::default().to_markdown(), "");
}
