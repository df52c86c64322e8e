//! LIBSVM sparse text: `label idx:val idx:val ...`, one example per line.
//!
//! Indices are 1-based and strictly increasing along a line; a missing feature is 0. Blank
//! lines and `#` comments (whole-line or trailing) are skipped and `qid:` tokens ignored.
//! Labels are parsed as numbers, so `+1`, `1` and `1.0` are the same class; class ids are
//! assigned by sorting the distinct label values, over a train file *and* its test file
//! together, so both files always agree on what class 0 is.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::Tabular;
use crate::error::{DataError, show_token};
use crate::read::read_bytes;

/// Largest dense matrix (`rows * features` values, 4 GiB of `f32`) built from a file: beyond
/// it, a corrupt index such as `4000000000:1` would abort the process on allocation.
pub const MAX_DENSE_VALUES: usize = 1 << 30;

/// One parsed LIBSVM file, still sparse.
#[derive(Debug, Clone, PartialEq)]
pub struct LibsvmFile {
    /// Where it was read from (used in messages).
    pub path: PathBuf,
    /// Numeric label of each row.
    pub labels: Vec<f64>,
    /// Row `r`'s entries are `indices[row_start[r]..row_start[r + 1]]` (and the same range of
    /// `values`); `row_start` has `rows + 1` entries.
    pub row_start: Vec<usize>,
    /// 1-based feature indices, strictly increasing within a row.
    pub indices: Vec<u32>,
    /// The values belonging to `indices`.
    pub values: Vec<f32>,
    /// Highest feature index seen (explicit zeros included), 0 if there are no entries.
    pub max_index: usize,
    /// Each distinct label value with its spelling at first occurrence, in order of appearance.
    pub label_spellings: Vec<(f64, String)>,
}

impl LibsvmFile {
    /// Number of examples.
    pub fn n_rows(&self) -> usize {
        self.labels.len()
    }

    /// Number of distinct labels.
    pub fn n_distinct_labels(&self) -> usize {
        self.label_spellings.len()
    }

    /// Densifies into a [`Tabular`] with `n_features` columns (at least [`Self::max_index`]),
    /// mapping labels through `classes`.
    pub fn to_tabular(
        &self,
        name: &str,
        n_features: usize,
        classes: &ClassMap,
    ) -> Result<Tabular, DataError> {
        let n_features = n_features.max(self.max_index);
        let rows = self.n_rows();
        let total = rows
            .checked_mul(n_features)
            .filter(|&t| t <= MAX_DENSE_VALUES)
            .ok_or_else(|| DataError::TooLarge {
                path: self.path.clone(),
                rows,
                features: n_features,
                limit: MAX_DENSE_VALUES,
            })?;
        let mut x = vec![0f32; total];
        for r in 0..rows {
            let row = &mut x[r * n_features..(r + 1) * n_features];
            let span = self.row_start[r]..self.row_start[r + 1];
            for (&i, &v) in self.indices[span.clone()].iter().zip(&self.values[span]) {
                row[i as usize - 1] = v;
            }
        }
        let y = self
            .labels
            .iter()
            .map(|&l| {
                classes.id(l).ok_or_else(|| DataError::Mismatch {
                    reason: format!(
                        "{}: label {l} is not in the class map ({})",
                        self.path.display(),
                        classes.names.join(", ")
                    ),
                })
            })
            .collect::<Result<Vec<u32>, _>>()?;
        Ok(Tabular {
            name: name.to_string(),
            n_rows: rows,
            n_features,
            x: x.into(),
            y,
            n_classes: classes.len(),
            class_names: classes.names.clone(),
            image_shape: None,
        })
    }
}

/// Numeric labels → contiguous class ids `0..K`, ordered by label value.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassMap {
    /// Label value of each class id, increasing.
    pub values: Vec<f64>,
    /// Label spelling of each class id (as first written in the files, train file first).
    pub names: Vec<String>,
}

impl ClassMap {
    /// The union of the labels of `files`, sorted by value. Spellings come from the first file
    /// that has the label, so a train file's `-1.0` wins over its test file's `-1`.
    pub fn from_files(files: &[&LibsvmFile]) -> ClassMap {
        let mut all: Vec<(f64, String)> = Vec::new();
        let mut seen = HashSet::new();
        for f in files {
            for (v, s) in &f.label_spellings {
                if seen.insert(v.to_bits()) {
                    all.push((*v, s.clone()));
                }
            }
        }
        all.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (values, names) = all.into_iter().unzip();
        ClassMap { values, names }
    }

    /// Number of classes.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether there are no classes.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Class id of a label value.
    pub fn id(&self, label: f64) -> Option<u32> {
        // Labels are compared by value; `-0.0 == 0.0` as numbers.
        self.values
            .binary_search_by(|v| v.total_cmp(&(label + 0.0)))
            .ok()
            .map(|i| i as u32)
    }
}

/// A train file with its optional test file, densified with a shared class map and the same
/// number of features.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedSplits {
    /// The training file.
    pub train: Tabular,
    /// The official test file, when there is one.
    pub test: Option<Tabular>,
}

/// Reads and parses one LIBSVM file (plain or gzip).
pub fn read_file(path: &Path) -> Result<LibsvmFile, DataError> {
    let bytes = read_bytes(path)?;
    parse(&bytes, path)
}

/// Loads one file into a [`Tabular`]; `declared_features` (e.g. from the catalog) widens the
/// feature count when the file leaves out the highest index.
pub fn load_file(
    path: &Path,
    name: &str,
    declared_features: Option<usize>,
) -> Result<Tabular, DataError> {
    let file = read_file(path)?;
    let classes = ClassMap::from_files(&[&file]);
    file.to_tabular(name, declared_features.unwrap_or(0), &classes)
}

/// Loads a train file and an optional test file with one class map and one feature count
/// (`max(declared, highest index in either file)`).
pub fn load_pair(
    train: &Path,
    test: Option<&Path>,
    name: &str,
    declared_features: Option<usize>,
) -> Result<LoadedSplits, DataError> {
    let train = read_file(train)?;
    let test = test.map(read_file).transpose()?;
    if let Some(test) = &test {
        check_classes_seen(&train, test)?;
    }
    let mut files = vec![&train];
    files.extend(test.as_ref());
    let classes = ClassMap::from_files(&files);
    let n_features = files
        .iter()
        .map(|f| f.max_index)
        .chain(declared_features)
        .max()
        .unwrap_or(0);
    Ok(LoadedSplits {
        train: train.to_tabular(name, n_features, &classes)?,
        test: test
            .map(|t| t.to_tabular(&format!("{name} (test)"), n_features, &classes))
            .transpose()?,
    })
}

/// Refuses a test file with a label the training file never has (see [`crate::load_libsvm`]).
fn check_classes_seen(train: &LibsvmFile, test: &LibsvmFile) -> Result<(), DataError> {
    let known: HashSet<u64> = train
        .label_spellings
        .iter()
        .map(|(v, _)| v.to_bits())
        .collect();
    let unseen = test
        .labels
        .iter()
        .position(|l| !known.contains(&l.to_bits()));
    match unseen {
        None => Ok(()),
        Some(row) => {
            let label = test.labels[row];
            let spelling = test
                .label_spellings
                .iter()
                .find(|(v, _)| v.to_bits() == label.to_bits())
                .map_or_else(|| label.to_string(), |(_, s)| s.clone());
            Err(crate::unseen_class(&test.path, &train.path, &spelling, row))
        }
    }
}

/// Parses LIBSVM text; `path` only names the source in errors. A file without any example is
/// an error.
pub fn parse(bytes: &[u8], path: &Path) -> Result<LibsvmFile, DataError> {
    let mut out = LibsvmFile {
        path: path.to_path_buf(),
        labels: Vec::new(),
        row_start: vec![0],
        indices: Vec::new(),
        values: Vec::new(),
        max_index: 0,
        label_spellings: Vec::new(),
    };
    // Label values already in `label_spellings`, by bit pattern: keeps files with many
    // distinct labels linear.
    let mut seen = HashSet::new();
    for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
        parse_line(line, n + 1, &mut out, &mut seen)?;
    }
    if out.labels.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "LIBSVM lines `label index:value ...`".into(),
        });
    }
    Ok(out)
}

fn parse_line(
    line: &[u8],
    line_no: usize,
    out: &mut LibsvmFile,
    seen: &mut HashSet<u64>,
) -> Result<(), DataError> {
    let line = match line.iter().position(|&b| b == b'#') {
        Some(hash) => &line[..hash],
        None => line,
    };
    let mut fields = line
        .split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
        .enumerate()
        .map(|(i, t)| (i + 1, t));
    let Some((_, label_tok)) = fields.next() else {
        return Ok(()); // blank or comment-only line
    };
    let err = |field: usize, tok: &[u8], reason: String| DataError::Parse {
        path: out.path.clone(),
        line: line_no,
        field,
        token: show_token(tok),
        reason,
    };
    let label = parse_label(label_tok).map_err(|r| err(1, label_tok, r))?;
    let mut prev = 0u32;
    for (field, tok) in fields {
        if tok.starts_with(b"qid:") {
            continue;
        }
        let Some(colon) = tok.iter().position(|&b| b == b':') else {
            return Err(err(
                field,
                tok,
                "expected `index:value` (missing `:`)".into(),
            ));
        };
        let (idx_tok, val_tok) = (&tok[..colon], &tok[colon + 1..]);
        let idx = parse_index(idx_tok).map_err(|r| err(field, tok, r))?;
        if idx <= prev {
            return Err(err(
                field,
                tok,
                format!("feature indices must increase along a line ({idx} after {prev})"),
            ));
        }
        prev = idx;
        let val = parse_value(val_tok).map_err(|r| err(field, tok, r))?;
        out.indices.push(idx);
        out.values.push(val);
        out.max_index = out.max_index.max(idx as usize);
    }
    // Normalise -0.0 so that it is the same class as 0.
    let label = label + 0.0;
    if seen.insert(label.to_bits()) {
        out.label_spellings
            .push((label, String::from_utf8_lossy(label_tok).into_owned()));
    }
    out.labels.push(label);
    out.row_start.push(out.indices.len());
    Ok(())
}

fn as_str(tok: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(tok).map_err(|_| "not valid UTF-8".to_string())
}

fn parse_label(tok: &[u8]) -> Result<f64, String> {
    let s = as_str(tok)?;
    if s.contains(',') {
        return Err("multi-label rows (`a,b`) are not supported; one class per row".into());
    }
    if s.contains(':') {
        return Err("a line must start with its label, not with `index:value`".into());
    }
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err("label must be a finite number".into()),
        Err(_) => Err("label is not a number".into()),
    }
}

fn parse_index(tok: &[u8]) -> Result<u32, String> {
    if tok.is_empty() {
        return Err("missing feature index before `:`".into());
    }
    // Hand-rolled: digits only, no sign, checked overflow; avoids a `&str` round trip.
    let mut v: u32 = 0;
    for &b in tok {
        if !b.is_ascii_digit() {
            return Err("feature index must be a positive integer".into());
        }
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(b - b'0')))
            .ok_or_else(|| "feature index too large".to_string())?;
    }
    if v == 0 {
        return Err("feature indices are 1-based; 0 is not allowed".into());
    }
    Ok(v)
}

fn parse_value(tok: &[u8]) -> Result<f32, String> {
    if tok.is_empty() {
        return Err("missing value after `:`".into());
    }
    let s = as_str(tok)?;
    match s.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        // Parsing straight to f32 also catches values that only overflow in single precision.
        Ok(_) => Err("value must be finite (NaN, infinity or out of f32 range)".into()),
        Err(_) => Err("value is not a number".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<LibsvmFile, DataError> {
        parse(text.as_bytes(), Path::new("t.svm"))
    }

    #[test]
    fn parses_sparse_rows_comments_blank_lines_and_qid() {
        let f = p("# header\n+1 1:0.5 3:-2 # trailing\n\n-1 qid:7 2:1e-3 \r\n-1\n").unwrap();
        assert_eq!(f.labels, vec![1.0, -1.0, -1.0]);
        assert_eq!(f.row_start, vec![0, 2, 3, 3]);
        assert_eq!(f.indices, vec![1, 3, 2]);
        assert_eq!(f.values, vec![0.5, -2.0, 1e-3]);
        assert_eq!(f.max_index, 3);
        let classes = ClassMap::from_files(&[&f]);
        assert_eq!(classes.names, vec!["-1", "+1"]);
        let t = f.to_tabular("t", 4, &classes).unwrap();
        assert_eq!((t.n_rows, t.n_features, t.n_classes), (3, 4, 2));
        assert_eq!(t.y, vec![1, 0, 0]);
        assert_eq!(
            t.x,
            vec![0.5, 0., -2., 0., 0., 1e-3, 0., 0., 0., 0., 0., 0.].into()
        );
    }

    #[test]
    fn labels_are_compared_as_numbers() {
        let a = p("-1.0 1:1\n1.0 1:2\n").unwrap();
        let b = p("-1 1:1\n1 1:1\n+1 2:1\n-0 1:1\n").unwrap();
        let m = ClassMap::from_files(&[&a, &b]);
        assert_eq!(m.values, vec![-1.0, 0.0, 1.0]);
        assert_eq!(m.names, vec!["-1.0", "-0", "1.0"]);
        assert_eq!(m.id(1.0), Some(2));
        assert_eq!(m.id(-0.0), Some(1));
        assert_eq!(m.id(5.0), None);
    }

    #[test]
    fn feature_count_is_the_larger_of_declared_and_seen() {
        let f = p("1 2:1\n").unwrap();
        let m = ClassMap::from_files(&[&f]);
        assert_eq!(f.to_tabular("t", 0, &m).unwrap().n_features, 2);
        assert_eq!(f.to_tabular("t", 5, &m).unwrap().n_features, 5);
    }

    #[test]
    fn absurd_index_is_too_large_not_an_abort() {
        let f = p("1 4000000000:1\n2 1:1\n").unwrap();
        let m = ClassMap::from_files(&[&f]);
        assert!(matches!(
            f.to_tabular("t", 0, &m),
            Err(DataError::TooLarge { .. })
        ));
    }

    #[test]
    fn a_test_class_the_training_file_never_has_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (train, test) = (dir.path().join("a.svm"), dir.path().join("a.svm.t"));
        std::fs::write(&train, "1 1:1\n2 1:2\n").unwrap();
        std::fs::write(&test, "1 1:1\n# comment\n+2 1:1\n3 1:5\n").unwrap();
        let e = load_pair(&train, Some(&test), "a", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a.svm.t, example 3: class 3 never occurs")
                && e.contains(&train.display().to_string()),
            "{e}"
        );
        std::fs::write(&test, "2.0 1:1\n1 1:3\n").unwrap();
        let ok = load_pair(&train, Some(&test), "a", None).unwrap();
        assert_eq!(ok.test.unwrap().y, vec![1, 0]);
    }

    #[test]
    fn empty_file_is_an_error() {
        assert!(matches!(p("\n# nothing\n"), Err(DataError::Empty { .. })));
    }
}
