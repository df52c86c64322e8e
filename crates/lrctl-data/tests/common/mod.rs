//! Shared by the integration tests: where the data mirror is and what its manifest says.

// Each test binary compiles this module and uses only part of it.
#![allow(dead_code)]

use std::path::PathBuf;

/// The data mirror: `LRCTL_DATA_DIR`, else `<workspace root>/../shared/data`. Panics with an
/// explanation when it is absent: CI always has it, so a silent skip would hide a broken setup.
pub fn mirror() -> PathBuf {
    let dir = match std::env::var_os("LRCTL_DATA_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"),
    };
    assert!(
        dir.join("MANIFEST.tsv").is_file(),
        "data mirror not found: {} has no MANIFEST.tsv. Set LRCTL_DATA_DIR to the mirror \
         (the folder with MANIFEST.tsv, libsvm/, mnist/, ...) or place it at \
         <workspace>/../shared/data",
        dir.display()
    );
    dir
}

/// One row of `MANIFEST.tsv`.
#[derive(Debug, Clone)]
pub struct ManifestRow {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
    pub rows: usize,
    /// `None` for `-`; `28x28 (784)` gives 784.
    pub features: Option<usize>,
    /// `None` for `-`.
    pub classes: Option<usize>,
}

/// Parses the mirror's `MANIFEST.tsv` (header line first, tab-separated).
pub fn manifest() -> Vec<ManifestRow> {
    let path = mirror().join("MANIFEST.tsv");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("empty manifest").split('\t').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("MANIFEST.tsv has no `{name}` column: {header:?}"))
    };
    let (c_path, c_bytes, c_sha, c_rows, c_feat, c_cls) = (
        col("path"),
        col("bytes"),
        col("sha256"),
        col("rows"),
        col("features"),
        col("classes"),
    );
    let count = |s: &str| -> Option<usize> {
        let s = s.trim();
        if s == "-" {
            return None;
        }
        // `28x28 (784)`: the total is in parentheses.
        let s = match (s.find('('), s.find(')')) {
            (Some(a), Some(b)) => &s[a + 1..b],
            _ => s,
        };
        Some(s.parse().unwrap_or_else(|_| panic!("bad count `{s}`")))
    };
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            ManifestRow {
                path: f[c_path].to_string(),
                bytes: f[c_bytes].parse().unwrap(),
                sha256: f[c_sha].to_string(),
                rows: count(f[c_rows]).unwrap(),
                features: count(f[c_feat]),
                classes: count(f[c_cls]),
            }
        })
        .collect()
}
