//! Report documents: a builder producing one self-contained HTML file, a
//! GitHub-flavoured Markdown twin, and a directory with figures and CSVs.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::style::format_fixed;

/// One table cell.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Text as displayed.
    pub text: String,
    /// Exact value written to CSV instead of `text` (full precision).
    pub value: Option<f64>,
    /// Right-align (numbers); a column whose non-empty cells are all numeric
    /// is right-aligned in Markdown too.
    pub numeric: bool,
    /// Emphasise the cell (e.g. the best value of a column): bold, tinted.
    pub emphasis: bool,
}

impl Cell {
    /// A left-aligned text cell.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            ..Self::default()
        }
    }

    /// A right-aligned number shown with `decimals` decimals ("n/a" if NaN);
    /// CSV gets the full-precision value (empty if NaN).
    pub fn number(value: f64, decimals: usize) -> Self {
        Self {
            text: format_fixed(value, decimals),
            value: Some(value),
            numeric: true,
            emphasis: false,
        }
    }

    /// A right-aligned, already formatted numeric text (e.g. "0.41 ± 0.02").
    pub fn numeric(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            numeric: true,
            ..Self::default()
        }
    }

    /// An empty cell.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Marks this cell as emphasised (the best of its row/column).
    pub fn emphasized(mut self) -> Self {
        self.emphasis = true;
        self
    }

    /// Emphasises this cell when `on` (convenient in loops).
    pub fn emphasized_if(mut self, on: bool) -> Self {
        self.emphasis |= on;
        self
    }

    /// The CSV field: the exact value for numbers, otherwise the text.
    fn csv_text(&self) -> String {
        match self.value {
            Some(v) if v.is_nan() => String::new(),
            Some(v) => format!("{v}"),
            None => self.text.clone(),
        }
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::text(s)
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::text(s)
    }
}

/// A table: header row and body rows. Rows shorter than the widest row (or
/// the header) are padded with empty cells.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Column headers.
    pub headers: Vec<String>,
    /// Body rows.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// A table with the given headers and no rows.
    pub fn new<S: Into<String>>(headers: impl IntoIterator<Item = S>) -> Self {
        Self {
            headers: headers.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn row(mut self, cells: Vec<Cell>) -> Self {
        self.rows.push(cells);
        self
    }

    /// Appends a row (non-consuming).
    pub fn push_row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// Number of columns: the longest of the header and the rows.
    pub fn columns(&self) -> usize {
        self.rows
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .max(self.headers.len())
    }

    /// Whether column `c` holds only numeric (or empty) cells, and at least
    /// one numeric one.
    fn numeric_column(&self, c: usize) -> bool {
        let mut any = false;
        for r in &self.rows {
            match r.get(c) {
                Some(cell) if cell.numeric => any = true,
                Some(cell) if cell.text.trim().is_empty() => {}
                None => {}
                Some(_) => return false,
            }
        }
        any
    }

    /// RFC 4180 CSV: header line then rows, CRLF line ends, fields quoted
    /// when they contain a comma, a double quote, CR or LF.
    pub fn to_csv(&self) -> String {
        let n = self.columns();
        let mut out = String::new();
        let mut line = |fields: Vec<String>| {
            let f: Vec<String> = fields.iter().map(|s| csv_field(s)).collect();
            out.push_str(&f.join(","));
            out.push_str("\r\n");
        };
        line(
            (0..n)
                .map(|c| self.headers.get(c).cloned().unwrap_or_default())
                .collect(),
        );
        for r in &self.rows {
            line(
                (0..n)
                    .map(|c| r.get(c).map(Cell::csv_text).unwrap_or_default())
                    .collect(),
            );
        }
        out
    }

    /// The table as GitHub-flavoured Markdown (numeric columns right-aligned,
    /// emphasised cells in bold).
    pub fn to_markdown(&self) -> String {
        let n = self.columns();
        if n == 0 {
            return String::new();
        }
        let mut out = String::new();
        let head: Vec<String> = (0..n)
            .map(|c| md_cell(self.headers.get(c).map(String::as_str).unwrap_or("")))
            .collect();
        let _ = writeln!(out, "| {} |", head.join(" | "));
        let align: Vec<&str> = (0..n)
            .map(|c| {
                if self.numeric_column(c) {
                    "---:"
                } else {
                    "---"
                }
            })
            .collect();
        let _ = writeln!(out, "| {} |", align.join(" | "));
        for r in &self.rows {
            let cells: Vec<String> = (0..n)
                .map(|c| match r.get(c) {
                    Some(cell) if cell.emphasis && !cell.text.trim().is_empty() => {
                        format!("**{}**", md_cell(&cell.text))
                    }
                    Some(cell) => md_cell(&cell.text),
                    None => String::new(),
                })
                .collect();
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        out
    }

    /// The table as an HTML `<table>` element (no caption).
    pub fn to_html(&self) -> String {
        self.html(None, None)
    }

    fn html(&self, id: Option<&str>, caption: Option<&str>) -> String {
        let n = self.columns();
        let num: Vec<bool> = (0..n).map(|c| self.numeric_column(c)).collect();
        let mut out = String::new();
        match id {
            Some(id) => {
                let _ = write!(out, "<table id=\"{}\">", esc(id));
            }
            None => out.push_str("<table>"),
        }
        if let Some(c) = caption {
            let _ = write!(out, "<caption>{c}</caption>");
        }
        out.push_str("\n<thead><tr>");
        for (c, is_num) in num.iter().enumerate() {
            let h = self.headers.get(c).map(String::as_str).unwrap_or("");
            let class = if *is_num { " class=\"num\"" } else { "" };
            let _ = write!(out, "<th scope=\"col\"{class}>{}</th>", esc(h));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for r in &self.rows {
            out.push_str("<tr>");
            for c in 0..n {
                match r.get(c) {
                    Some(cell) => {
                        let mut classes = Vec::new();
                        if cell.numeric {
                            classes.push("num");
                        }
                        if cell.emphasis {
                            classes.push("best");
                        }
                        let class = if classes.is_empty() {
                            String::new()
                        } else {
                            format!(" class=\"{}\"", classes.join(" "))
                        };
                        let text = esc(&cell.text);
                        if cell.emphasis {
                            let _ = write!(out, "<td{class}><strong>{text}</strong></td>");
                        } else {
                            let _ = write!(out, "<td{class}>{text}</td>");
                        }
                    }
                    None => out.push_str("<td></td>"),
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody></table>");
        out
    }
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    esc(s)
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Quotes one CSV field per RFC 4180 when needed.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// Backslash-escapes Markdown punctuation inside a line.
fn md_inline(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(
            c,
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '&' | '~'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes a paragraph of Markdown: inline punctuation plus line starts that
/// would otherwise become headings, lists or quotes.
fn md_block(s: &str) -> String {
    s.lines()
        .map(|line| {
            // Leading indentation would turn into a code block: drop it.
            let mut e = md_inline(line.trim_start());
            if e.starts_with(['#', '-', '+', '=']) {
                e.insert(0, '\\');
            } else {
                let digits = e.chars().take_while(char::is_ascii_digit).count();
                if digits > 0 && e[digits..].starts_with(['.', ')']) {
                    e.insert(digits, '\\');
                }
            }
            e
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A Markdown table cell: escaped, on one line.
fn md_cell(s: &str) -> String {
    md_inline(&s.replace(['\r', '\n'], " "))
}

/// A GitHub-style heading anchor: lower case, punctuation dropped, spaces
/// turned into hyphens.
fn slug(text: &str) -> String {
    let s: String = text
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c)
            } else if c == ' ' {
                Some('-')
            } else {
                None
            }
        })
        .collect();
    if s.is_empty() { "section".into() } else { s }
}

/// A file-name-safe name: `[a-z0-9_-]`, never empty.
fn file_name(name: &str, fallback: &str) -> String {
    let mut s = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() || c == '_' {
            s.push(c);
        } else if !s.ends_with('-') {
            s.push('-');
        }
    }
    let s = s.trim_matches('-').to_string();
    let s: String = s.chars().take(80).collect();
    if s.is_empty() { fallback.into() } else { s }
}

fn unique(base: String, taken: &mut HashSet<String>, sep: &str, first_suffix: usize) -> String {
    if taken.insert(base.clone()) {
        return base;
    }
    let mut k = first_suffix;
    loop {
        let cand = format!("{base}{sep}{k}");
        if taken.insert(cand.clone()) {
            return cand;
        }
        k += 1;
    }
}

/// Severity of a [`Document`] note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoteKind {
    /// Neutral information.
    Info,
    /// Something the reader must know (unfinished cells, missing seeds, ...).
    Warning,
}

/// One element of a [`Document`], in order of appearance.
#[derive(Debug, Clone, PartialEq)]
pub enum Block {
    /// A heading (`level` 2 = section, 3 = subsection) with its anchor id.
    Heading {
        /// 2 or 3.
        level: u8,
        /// Heading text.
        text: String,
        /// Unique anchor id.
        id: String,
    },
    /// A paragraph of plain text.
    Paragraph(String),
    /// A highlighted note or warning.
    Note {
        /// Severity.
        kind: NoteKind,
        /// Text.
        text: String,
    },
    /// A bulleted list.
    List(Vec<String>),
    /// Preformatted text (commands, configuration).
    Code(String),
    /// A numbered table.
    Table {
        /// Unique file-safe name (`tables/<name>.csv`).
        name: String,
        /// Caption.
        caption: String,
        /// Content.
        table: Table,
        /// 1-based table number.
        number: usize,
    },
    /// A numbered figure.
    Figure {
        /// Unique file-safe name (`figures/<name>.svg`).
        name: String,
        /// Caption.
        caption: String,
        /// SVG document (trusted: embedded verbatim).
        svg: String,
        /// 1-based figure number.
        number: usize,
    },
}

/// A report under construction. Build it with the chaining methods, then
/// render with [`Document::to_html`] / [`Document::to_markdown`] or write
/// everything with [`Document::write_dir`].
///
/// All text is escaped; figure SVGs are embedded verbatim (they are meant to
/// come from this crate's chart functions).
#[derive(Debug, Clone, Default)]
pub struct Document {
    title: String,
    blocks: Vec<Block>,
    ids: HashSet<String>,
    figure_names: HashSet<String>,
    table_names: HashSet<String>,
    figures: usize,
    tables: usize,
}

const CSS: &str = r#"
:root{color-scheme:light;--fg:#1f2328;--muted:#59636e;--line:#d1d9e0;--bg-alt:#f6f8fa;--accent:#0072b2;--warn-bg:#fff8e1;--warn-line:#d55e00;--info-bg:#eef6fc}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;font-size:16px;line-height:1.5;color:var(--fg);background:#fff}
main{max-width:62rem;margin:0 auto;padding:1.5rem 1rem 3rem}
h1{font-size:1.8rem;line-height:1.25;margin:0 0 1rem}
h2{font-size:1.4rem;margin:2.2rem 0 .8rem;padding-bottom:.25rem;border-bottom:1px solid var(--line)}
h3{font-size:1.15rem;margin:1.6rem 0 .6rem}
a{color:var(--accent)}
p{margin:.6rem 0}
nav.toc{background:var(--bg-alt);border:1px solid var(--line);border-radius:6px;padding:.6rem 1rem;margin:1rem 0 1.5rem}
nav.toc h2{font-size:1rem;margin:0 0 .3rem;border:0;padding:0}
nav.toc ol{margin:.2rem 0;padding-left:1.3rem}
.note{border-left:4px solid var(--accent);background:var(--info-bg);padding:.5rem .8rem;margin:.8rem 0;border-radius:0 4px 4px 0}
.note.warning{border-left-color:var(--warn-line);background:var(--warn-bg)}
.table-wrap{overflow-x:auto;margin:1rem 0}
table{border-collapse:collapse;font-size:.9rem;font-variant-numeric:tabular-nums}
caption{caption-side:top;text-align:left;font-size:.9rem;color:var(--muted);padding:0 0 .4rem}
th,td{border:1px solid var(--line);padding:.3rem .6rem;text-align:left;vertical-align:top}
th{background:var(--bg-alt);font-weight:600}
th.num,td.num{text-align:right;white-space:nowrap}
td.best{background:#e3f1fa}
tbody tr:nth-child(even) td:not(.best){background:#fbfcfd}
figure{margin:1.2rem 0}
.chart svg{display:block;width:100%;height:auto;max-width:100%}
figcaption{font-size:.9rem;color:var(--muted);margin-top:.3rem}
pre{background:var(--bg-alt);border:1px solid var(--line);border-radius:6px;padding:.6rem .8rem;overflow-x:auto;font-size:.85rem}
code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
@media print{
 main{max-width:none;padding:0}
 body{font-size:11pt}
 a{color:inherit;text-decoration:none}
 nav.toc{break-after:auto}
 h2,h3{break-after:avoid}
 figure,table,.note,pre{break-inside:avoid}
 .table-wrap{overflow:visible}
 td.best,th{-webkit-print-color-adjust:exact;print-color-adjust:exact}
}
"#;

impl Document {
    /// A new, empty document with a title (the `<h1>`).
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            title: title.into(),
            ..Self::default()
        }
    }

    /// The document title.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The blocks added so far, in order.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    fn heading(&mut self, level: u8, text: String) -> &mut Self {
        let id = unique(slug(&text), &mut self.ids, "-", 1);
        self.blocks.push(Block::Heading { level, text, id });
        self
    }

    /// Starts a section (`<h2>`, listed in the table of contents).
    pub fn section(&mut self, title: impl Into<String>) -> &mut Self {
        self.heading(2, title.into())
    }

    /// Starts a subsection (`<h3>`, listed in the table of contents).
    pub fn subsection(&mut self, title: impl Into<String>) -> &mut Self {
        self.heading(3, title.into())
    }

    /// Adds a paragraph of plain text (line breaks are kept).
    pub fn paragraph(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Paragraph(text.into()));
        self
    }

    /// Adds an informational note.
    pub fn note(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Note {
            kind: NoteKind::Info,
            text: text.into(),
        });
        self
    }

    /// Adds a warning (e.g. "3 cells unfinished", "seeds missing").
    pub fn warning(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Note {
            kind: NoteKind::Warning,
            text: text.into(),
        });
        self
    }

    /// Adds a bulleted list.
    pub fn list<S: Into<String>>(&mut self, items: impl IntoIterator<Item = S>) -> &mut Self {
        self.blocks
            .push(Block::List(items.into_iter().map(Into::into).collect()));
        self
    }

    /// Adds preformatted text (e.g. the command that reproduces the report).
    pub fn code(&mut self, text: impl Into<String>) -> &mut Self {
        self.blocks.push(Block::Code(text.into()));
        self
    }

    /// Adds a numbered table. `name` becomes `tables/<name>.csv` (made
    /// file-safe and unique).
    pub fn table(&mut self, name: &str, caption: impl Into<String>, table: Table) -> &mut Self {
        let name = unique(file_name(name, "table"), &mut self.table_names, "-", 2);
        self.tables += 1;
        self.blocks.push(Block::Table {
            name,
            caption: caption.into(),
            table,
            number: self.tables,
        });
        self
    }

    /// Adds a numbered figure from an SVG string (e.g. from [`crate::line_chart`]).
    /// `name` becomes `figures/<name>.svg` (made file-safe and unique).
    pub fn figure(
        &mut self,
        name: &str,
        caption: impl Into<String>,
        svg: impl Into<String>,
    ) -> &mut Self {
        let name = unique(file_name(name, "figure"), &mut self.figure_names, "-", 2);
        self.figures += 1;
        self.blocks.push(Block::Figure {
            name,
            caption: caption.into(),
            svg: svg.into(),
            number: self.figures,
        });
        self
    }

    /// The figures as `(file-safe name, svg)`.
    pub fn figures(&self) -> impl Iterator<Item = (&str, &str)> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Figure { name, svg, .. } => Some((name.as_str(), svg.as_str())),
            _ => None,
        })
    }

    /// The tables as `(file-safe name, table)`.
    pub fn tables(&self) -> impl Iterator<Item = (&str, &Table)> {
        self.blocks.iter().filter_map(|b| match b {
            Block::Table { name, table, .. } => Some((name.as_str(), table)),
            _ => None,
        })
    }

    fn headings(&self) -> Vec<(u8, &str, &str)> {
        self.blocks
            .iter()
            .filter_map(|b| match b {
                Block::Heading { level, text, id } => Some((*level, text.as_str(), id.as_str())),
                _ => None,
            })
            .collect()
    }

    /// One self-contained HTML file: inline CSS, inline SVG figures, no
    /// scripts and no external resources; responsive and print-friendly.
    pub fn to_html(&self) -> String {
        let mut o = String::new();
        o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        o.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        let _ = writeln!(o, "<title>{}</title>", esc(&self.title));
        let _ = writeln!(o, "<style>{CSS}</style>\n</head>\n<body>\n<main>");
        let _ = writeln!(o, "<h1>{}</h1>", esc(&self.title));
        let heads = self.headings();
        if !heads.is_empty() {
            o.push_str("<nav class=\"toc\" aria-label=\"Contents\">\n<h2>Contents</h2>\n<ol>\n");
            let mut open_sub = false;
            let mut open_item = false;
            for (level, text, id) in heads {
                let link = format!("<a href=\"#{}\">{}</a>", esc(id), esc(text));
                if level >= 3 && open_item {
                    if !open_sub {
                        o.push_str("<ol>\n");
                        open_sub = true;
                    }
                    let _ = writeln!(o, "<li>{link}</li>");
                } else {
                    if open_sub {
                        o.push_str("</ol>\n");
                        open_sub = false;
                    }
                    if open_item {
                        o.push_str("</li>\n");
                    }
                    let _ = write!(o, "<li>{link}");
                    open_item = true;
                }
            }
            if open_sub {
                o.push_str("</ol>\n");
            }
            if open_item {
                o.push_str("</li>\n");
            }
            o.push_str("</ol>\n</nav>\n");
        }
        for b in &self.blocks {
            match b {
                Block::Heading { level, text, id } => {
                    let _ = writeln!(o, "<h{level} id=\"{}\">{}</h{level}>", esc(id), esc(text));
                }
                Block::Paragraph(t) => {
                    let _ = writeln!(o, "<p>{}</p>", esc(t).replace('\n', "<br>\n"));
                }
                Block::Note { kind, text } => {
                    let (class, label) = match kind {
                        NoteKind::Info => ("note", "Note"),
                        NoteKind::Warning => ("note warning", "Warning"),
                    };
                    let _ = writeln!(
                        o,
                        "<div class=\"{class}\" role=\"note\"><strong>{label}:</strong> {}</div>",
                        esc(text).replace('\n', "<br>\n")
                    );
                }
                Block::List(items) => {
                    o.push_str("<ul>\n");
                    for it in items {
                        let _ = writeln!(o, "<li>{}</li>", esc(it));
                    }
                    o.push_str("</ul>\n");
                }
                Block::Code(t) => {
                    let _ = writeln!(o, "<pre><code>{}</code></pre>", esc(t));
                }
                Block::Table {
                    name,
                    caption,
                    table,
                    number,
                } => {
                    let cap = if caption.is_empty() {
                        format!("<strong>Table {number}.</strong>")
                    } else {
                        format!("<strong>Table {number}.</strong> {}", esc(caption))
                    };
                    let _ = writeln!(
                        o,
                        "<div class=\"table-wrap\">{}</div>",
                        table.html(Some(&format!("tab-{name}")), Some(&cap))
                    );
                }
                Block::Figure {
                    name,
                    caption,
                    svg,
                    number,
                } => {
                    let _ = writeln!(
                        o,
                        "<figure id=\"fig-{}\">\n<div class=\"chart\">\n{}</div>\n<figcaption><strong>Figure {number}.</strong> {}</figcaption>\n</figure>",
                        esc(name),
                        inline_svg(svg, caption),
                        esc(caption)
                    );
                }
            }
        }
        o.push_str("</main>\n</body>\n</html>\n");
        o
    }

    /// The same content as GitHub-flavoured Markdown; figures are referenced
    /// as `figures/<name>.svg` and tables link their `tables/<name>.csv`
    /// (the layout written by [`Document::write_dir`]).
    pub fn to_markdown(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "# {}\n", md_inline(&self.title.replace('\n', " ")));
        let heads = self.headings();
        if !heads.is_empty() {
            o.push_str("## Contents\n\n");
            let mut in_section = false;
            for (level, text, id) in heads {
                let indent = if level >= 3 && in_section { "  " } else { "" };
                in_section |= level == 2;
                let _ = writeln!(o, "{indent}- [{}](#{})", md_inline(text), id);
            }
            o.push('\n');
        }
        for b in &self.blocks {
            match b {
                Block::Heading { level, text, .. } => {
                    let _ = writeln!(
                        o,
                        "{} {}\n",
                        "#".repeat(*level as usize),
                        md_inline(&text.replace('\n', " "))
                    );
                }
                Block::Paragraph(t) => {
                    // Two trailing spaces keep line breaks.
                    let _ = writeln!(o, "{}\n", md_block(t).replace('\n', "  \n"));
                }
                Block::Note { kind, text } => {
                    let label = match kind {
                        NoteKind::Info => "Note",
                        NoteKind::Warning => "Warning",
                    };
                    let body = md_block(text).replace('\n', "  \n> ");
                    let _ = writeln!(o, "> **{label}:** {body}\n");
                }
                Block::List(items) => {
                    for it in items {
                        let _ = writeln!(o, "- {}", md_inline(&it.replace('\n', " ")));
                    }
                    o.push('\n');
                }
                Block::Code(t) => {
                    let fence = if t.contains("```") { "~~~~" } else { "```" };
                    let _ = writeln!(o, "{fence}\n{t}\n{fence}\n");
                }
                Block::Table {
                    name,
                    caption,
                    table,
                    number,
                } => {
                    let cap = md_inline(&caption.replace('\n', " "));
                    let sep = if cap.is_empty() { "" } else { " " };
                    let _ = writeln!(
                        o,
                        "**Table {number}.**{sep}{cap} ([CSV](tables/{name}.csv))\n"
                    );
                    let t = table.to_markdown();
                    if !t.is_empty() {
                        let _ = writeln!(o, "{t}");
                    }
                }
                Block::Figure {
                    name,
                    caption,
                    number,
                    ..
                } => {
                    let cap = md_inline(&caption.replace('\n', " "));
                    let _ = writeln!(o, "![Figure {number}: {cap}](figures/{name}.svg)\n");
                    let _ = writeln!(o, "*Figure {number}.* {cap}\n");
                }
            }
        }
        o
    }

    /// The files of the document as a directory, by path relative to it: `index.html`,
    /// `report.md`, `figures/<name>.svg` for every figure and `tables/<name>.csv` for every
    /// table. Callers that must never leave a half-written file write these atomically.
    pub fn files(&self) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = vec![
            (PathBuf::from("index.html"), self.to_html().into_bytes()),
            (PathBuf::from("report.md"), self.to_markdown().into_bytes()),
        ];
        for (name, svg) in self.figures() {
            out.push((
                Path::new("figures").join(format!("{name}.svg")),
                standalone_svg(svg).into_bytes(),
            ));
        }
        for (name, table) in self.tables() {
            out.push((
                Path::new("tables").join(format!("{name}.csv")),
                table.to_csv().into_bytes(),
            ));
        }
        out
    }

    /// Writes [`Document::files`] into `dir` (created if needed; existing files with these
    /// names are replaced).
    pub fn write_dir(&self, dir: impl AsRef<Path>) -> io::Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir.join("figures"))?;
        std::fs::create_dir_all(dir.join("tables"))?;
        for (path, bytes) in self.files() {
            std::fs::write(dir.join(path), bytes)?;
        }
        Ok(())
    }
}

/// Strips a leading XML declaration / doctype / comments before `<svg`.
fn strip_prolog(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

/// A standalone SVG file body (XML declaration added).
fn standalone_svg(svg: &str) -> String {
    let s = strip_prolog(svg);
    if s.starts_with("<svg") {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{s}")
    } else {
        s.to_string()
    }
}

/// Prepares an SVG for inline embedding: drops any prolog, makes it an
/// accessible image labelled by the caption, and adds a `viewBox` from
/// `width`/`height` if missing so that CSS can scale it.
fn inline_svg(svg: &str, caption: &str) -> String {
    let s = strip_prolog(svg);
    if !s.starts_with("<svg") {
        // Not an SVG: show it as text rather than injecting markup.
        return format!("<pre>{}</pre>\n", esc(s));
    }
    let tag_end = s.find('>').unwrap_or(s.len());
    let tag = &s[..tag_end];
    let mut extra = String::new();
    if !tag.contains("viewBox")
        && let (Some(w), Some(h)) = (attr(tag, "width"), attr(tag, "height"))
        && w.parse::<f64>().is_ok()
        && h.parse::<f64>().is_ok()
    {
        let _ = write!(extra, " viewBox=\"0 0 {w} {h}\"");
    }
    if !tag.contains("role=") {
        let _ = write!(extra, " role=\"img\" aria-label=\"{}\"", esc(caption));
    }
    let mut out = String::with_capacity(s.len() + extra.len() + 1);
    out.push_str("<svg");
    out.push_str(&extra);
    out.push_str(&s[4..]);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    out
}

fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let pat = format!(" {name}=\"");
    let i = tag.find(&pat)? + pat.len();
    let j = tag[i..].find('"')? + i;
    Some(&tag[i..j])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_and_names() {
        assert_eq!(
            slug("Learning curves (mean ± SE)"),
            "learning-curves-mean--se"
        );
        assert_eq!(file_name("Rank heat-map / IQM!", "x"), "rank-heat-map-iqm");
        assert_eq!(file_name("***", "figure"), "figure");
        let mut d = Document::new("t");
        d.section("A").section("A").section("A");
        let ids: Vec<_> = d.headings().iter().map(|h| h.2.to_string()).collect();
        assert_eq!(ids, ["a", "a-1", "a-2"]);
    }

    #[test]
    fn markdown_block_escapes_line_starts() {
        assert_eq!(md_block("# not a heading"), "\\# not a heading");
        assert_eq!(md_block("1. not a list"), "1\\. not a list");
        assert_eq!(md_block("a_b <c>"), "a\\_b \\<c\\>");
    }

    #[test]
    fn inline_svg_gets_viewbox_and_label() {
        let s = inline_svg(
            "<?xml version=\"1.0\"?>\n<svg width=\"10\" height=\"20\"></svg>",
            "a \"b\"",
        );
        assert!(
            s.starts_with("<svg viewBox=\"0 0 10 20\" role=\"img\" aria-label=\"a &quot;b&quot;\"")
        );
        assert!(inline_svg("<b>x</b>", "c").starts_with("<pre>&lt;b&gt;"));
    }
}
