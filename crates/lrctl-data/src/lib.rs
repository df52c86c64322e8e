//! Datasets: readers for the standard formats (LIBSVM, IDX, plain text), datasets embedded in
//! dependencies, the lookup order for files, seeded splits and feature normalisation.
//!
//! The loaders most callers want are [`load_libsvm`], [`load_images`], [`load_text`] and
//! [`embedded::load`]; files are found through [`DataDirs`] (see [`locate`] for the order).
//! No user input makes this crate panic: malformed files give a [`DataError`] naming the file
//! and the line/field or byte offset.

use std::borrow::Cow;
use std::ops::Range;
use std::path::Path;

pub mod catalog;
pub mod download;
pub mod embedded;
pub mod error;
pub mod features;
pub mod idx;
pub mod libsvm;
pub mod locate;
pub mod normalize;
pub mod read;
pub mod split;
pub mod text;

pub use error::DataError;
pub use features::{ByteValues, Features};
pub use libsvm::LoadedSplits;
pub use locate::{DataDirs, Network};
pub use normalize::{Normalization, Normalizer};
pub use split::Subsample;

use catalog::{Kind, Role};

/// A labelled classification dataset held densely in memory, one row per example.
///
/// Images are stored the same way (one flattened image per row, pixels scaled to `[0, 1]`) with
/// [`Tabular::image_shape`] telling a convolutional model how to unflatten them; their pixels
/// stay bytes ([`Features::U8`]) and become `f32` only when rows are read ([`Tabular::row`],
/// [`Tabular::gather_rows`], [`Tabular::rows`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Tabular {
    /// Human-readable name, e.g. `"letter"`.
    pub name: String,
    /// Number of examples.
    pub n_rows: usize,
    /// Number of features per example.
    pub n_features: usize,
    /// Row-major features, `n_rows * n_features` values.
    pub x: Features,
    /// Class id of each example, in `0..n_classes`.
    pub y: Vec<u32>,
    /// Number of classes.
    pub n_classes: usize,
    /// The label as written in the source for each class id (e.g. `"-1"`, `"+1"`).
    pub class_names: Vec<String>,
    /// `[channels, height, width]` when the rows are images.
    pub image_shape: Option<[usize; 3]>,
}

/// A byte-level text corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct TextCorpus {
    /// Human-readable name, e.g. `"tinyshakespeare"`.
    pub name: String,
    /// The raw bytes.
    pub bytes: Vec<u8>,
}

impl Tabular {
    /// Features of row `i` (decoded when held as bytes).
    ///
    /// # Panics
    /// If `i >= n_rows`.
    pub fn row(&self, i: usize) -> Cow<'_, [f32]> {
        self.rows(i..i + 1)
    }

    /// Features of the consecutive rows `range`, row-major (borrowed when held as `f32`,
    /// decoded when held as bytes): an evaluation chunk.
    ///
    /// # Panics
    /// If the range is out of bounds.
    pub fn rows(&self, range: Range<usize>) -> Cow<'_, [f32]> {
        let f = self.n_features;
        self.x.values(range.start * f..range.end * f, f)
    }

    /// Every row's features, row-major (a decoded copy when held as bytes: for small data
    /// and exports, not for training loops).
    pub fn values(&self) -> Cow<'_, [f32]> {
        self.rows(0..self.n_rows)
    }

    /// Every row's features as little-endian `f32` bytes, row-major (the exports PyTorch
    /// reads), decoded row by row rather than through a whole `f32` copy.
    pub fn f32_le_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.x.len() * 4);
        self.for_each_row(|row| out.extend(row.iter().flat_map(|v| v.to_le_bytes())));
        out
    }

    /// Appends the features of rows `idx` (in that order, repeats allowed) to `out`: a
    /// mini-batch.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn gather_rows(&self, idx: &[usize], out: &mut Vec<f32>) {
        self.x.gather_rows(idx, self.n_features, out);
    }

    /// Calls `f` with each row's features in order.
    pub fn for_each_row(&self, f: impl FnMut(&[f32])) {
        self.x.for_each_row(self.n_features, f);
    }

    /// The rows `idx` (in that order, repeats allowed), with the same classes and shape
    /// (and storage: bytes stay bytes).
    ///
    /// # Panics
    /// If an index is out of range (indices come from [`split`], not from users).
    pub fn subset(&self, idx: &[usize]) -> Tabular {
        Tabular {
            name: self.name.clone(),
            n_rows: idx.len(),
            n_features: self.n_features,
            x: self.x.subset(idx, self.n_features),
            y: idx.iter().map(|&i| self.y[i]).collect(),
            n_classes: self.n_classes,
            class_names: self.class_names.clone(),
            image_shape: self.image_shape,
        }
    }

    /// Splits the rows `held` (sorted, distinct, in range) off: returns `(kept, held)`, the
    /// same datasets as `subset` of the other rows and of `held`, without copying the kept
    /// rows: they move down within this dataset's buffer, which keeps its capacity (the
    /// held-out share of it stays allocated). Splitting a validation set off 60 000 images
    /// this way needs one copy of the data, not two.
    ///
    /// # Panics
    /// If `held` is not sorted and distinct or an index is out of range (indices come from
    /// [`split`], not from users).
    pub fn split_off_rows(mut self, held: &[usize]) -> (Tabular, Tabular) {
        assert!(
            held.windows(2).all(|w| w[0] < w[1]) && held.last().is_none_or(|&i| i < self.n_rows),
            "held-out rows must be sorted, distinct and in range"
        );
        let out = self.subset(held);
        let f = self.n_features;
        let mut next_held = held.iter().peekable();
        let mut kept = 0;
        for i in 0..self.n_rows {
            if next_held.next_if_eq(&&i).is_some() {
                continue;
            }
            if kept != i {
                self.x.copy_within(i * f..(i + 1) * f, kept * f);
                self.y[kept] = self.y[i];
            }
            kept += 1;
        }
        self.x.truncate(kept * f);
        self.y.truncate(kept);
        self.n_rows = kept;
        (self, out)
    }

    /// The same rows with `n_features` columns: new columns are zero, surplus ones dropped
    /// (held as `f32`). Used to give a test file that leaves out the highest LIBSVM index the
    /// training width.
    pub fn with_features(self, n_features: usize) -> Tabular {
        if n_features == self.n_features {
            return self;
        }
        let keep = n_features.min(self.n_features);
        let mut x = vec![0f32; self.n_rows * n_features];
        if keep > 0 {
            let mut dst = x.chunks_exact_mut(n_features);
            self.for_each_row(|src| {
                if let Some(dst) = dst.next() {
                    dst[..keep].copy_from_slice(&src[..keep]);
                }
            });
        }
        Tabular {
            n_features,
            x: Features::F32(x),
            // A different width no longer matches the image shape.
            image_shape: None,
            ..self
        }
    }

    /// Number of rows of each class id.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.n_classes];
        for &c in &self.y {
            if let Some(n) = counts.get_mut(c as usize) {
                *n += 1;
            }
        }
        counts
    }

    /// Number of classes that occur at least once.
    pub fn n_present_classes(&self) -> usize {
        self.class_counts().iter().filter(|&&n| n > 0).count()
    }
}

fn unknown(kind: Kind, name: &str, hint: &str) -> DataError {
    DataError::UnknownDataset {
        kind: kind.label(),
        name: name.to_string(),
        known: catalog::names(kind).join(", "),
        hint: hint.to_string(),
    }
}

/// A test example whose class the training file never has: no model can learn to predict it,
/// so its score would measure nothing (`example` counts from 0 in file order).
fn unseen_class(test: &Path, train: &Path, label: &str, example: usize) -> DataError {
    DataError::Mismatch {
        reason: format!(
            "{}, example {}: class {label} never occurs in the training file {}; a classifier \
             cannot learn a class it never sees: drop those test examples or add training \
             examples of it",
            test.display(),
            example + 1,
            train.display()
        ),
    }
}

/// The display name of a user's file.
fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Loads a LIBSVM dataset: the mirror dataset `name` found through `dirs`, or, when `path` is
/// given, that file (its `PATH.t` sibling, if present, is the test file; see
/// [`locate::test_sibling`]). Train and test share class ids and feature count.
pub fn load_libsvm(
    name: &str,
    path: Option<&Path>,
    dirs: &DataDirs,
) -> Result<LoadedSplits, DataError> {
    if let Some(path) = path {
        let train = locate::explicit(path)?;
        let test = locate::test_sibling(&train);
        return libsvm::load_pair(&train, test.as_deref(), &file_name(path), None);
    }
    let d = catalog::find_kind(name, Kind::Libsvm).ok_or_else(|| {
        unknown(
            Kind::Libsvm,
            name,
            "; to use your own LIBSVM file pass --data PATH",
        )
    })?;
    let find = |role| d.file(role).map(|f| locate::locate(d, f, dirs)).transpose();
    let train = find(Role::Train)?.ok_or_else(|| unknown(Kind::Libsvm, name, ""))?;
    let test = find(Role::Test)?;
    libsvm::load_pair(&train, test.as_deref(), d.name, d.features)
}

/// File names tried for one IDX file inside a user's directory.
fn idx_names(split: &str, part: &str, dims: u8) -> Vec<String> {
    let mut v = Vec::new();
    for sep in ['-', '.'] {
        let base = format!("{split}-{part}{sep}idx{dims}-ubyte");
        v.push(format!("{base}.gz"));
        v.push(base);
    }
    v
}

/// Loads an IDX image dataset as `(train, test)`: the mirror dataset `name` found through
/// `dirs`, or, when `path` is given, the directory holding the four files
/// (`train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-...`). Both get
/// the same class count.
pub fn load_images(
    name: &str,
    path: Option<&Path>,
    dirs: &DataDirs,
) -> Result<(Tabular, Tabular), DataError> {
    let parts = [
        (Role::TrainImages, "train", "images", 3),
        (Role::TrainLabels, "train", "labels", 1),
        (Role::TestImages, "t10k", "images", 3),
        (Role::TestLabels, "t10k", "labels", 1),
    ];
    let mut files = Vec::with_capacity(4);
    let label = match path {
        Some(dir) => {
            let dir = locate::explicit(dir)?;
            for (_, split, part, dims) in parts {
                let tried: Vec<_> = idx_names(split, part, dims)
                    .into_iter()
                    .map(|n| dir.join(n))
                    .collect();
                match tried.iter().find(|p| p.is_file()) {
                    Some(p) => files.push(p.clone()),
                    None => {
                        let list: Vec<_> = tried.iter().map(|p| p.display().to_string()).collect();
                        return Err(DataError::NotFound {
                            message: format!(
                                "`{}` (given with --data) must be a directory holding the four                                  IDX files; {split} {part} not found, looked for: {}",
                                dir.display(),
                                list.join(", ")
                            ),
                            looked: tried,
                        });
                    }
                }
            }
            file_name(&dir)
        }
        None => {
            let d = catalog::find_kind(name, Kind::Images).ok_or_else(|| {
                unknown(
                    Kind::Images,
                    name,
                    "; to use your own IDX files pass --data DIR",
                )
            })?;
            for (role, ..) in parts {
                let f = d
                    .file(role)
                    .ok_or_else(|| unknown(Kind::Images, name, ""))?;
                files.push(locate::locate(d, f, dirs)?);
            }
            d.name.to_string()
        }
    };
    let mut train = idx::load_pair(&files[0], &files[1], &label, Subsample::All)?;
    let mut test = idx::load_pair(
        &files[2],
        &files[3],
        &format!("{label} (test)"),
        Subsample::All,
    )?;
    // Padding or cropping test images to the training size would score the model on images
    // it cannot see whole.
    if train.image_shape != test.image_shape {
        let shape = |t: &Tabular| {
            t.image_shape
                .map_or("?".into(), |[_, h, w]| format!("{h}x{w}"))
        };
        return Err(DataError::Mismatch {
            reason: format!(
                "{} holds {} images but {} holds {} images; the test images must have the \
                 training images' size",
                files[0].display(),
                shape(&train),
                files[2].display(),
                shape(&test)
            ),
        });
    }
    let seen = train.class_counts();
    if let Some((row, &class)) = test
        .y
        .iter()
        .enumerate()
        .find(|&(_, &c)| seen.get(c as usize).is_none_or(|&n| n == 0))
    {
        return Err(unseen_class(&files[3], &files[1], &class.to_string(), row));
    }
    let k = train.n_classes.max(test.n_classes);
    for t in [&mut train, &mut test] {
        t.n_classes = k;
        t.class_names = (0..k).map(|c| c.to_string()).collect();
    }
    Ok((train, test))
}

/// Loads a text corpus: the mirror corpus `name` found through `dirs`, or the file `path`.
pub fn load_text(
    name: &str,
    path: Option<&Path>,
    dirs: &DataDirs,
) -> Result<TextCorpus, DataError> {
    if let Some(path) = path {
        let p = locate::explicit(path)?;
        return text::read_file(&p, &file_name(path));
    }
    let d = catalog::find_kind(name, Kind::Text).ok_or_else(|| {
        unknown(
            Kind::Text,
            name,
            "; to use your own text file pass --data PATH",
        )
    })?;
    let f = d
        .file(Role::Corpus)
        .ok_or_else(|| unknown(Kind::Text, name, ""))?;
    text::read_file(&locate::locate(d, f, dirs)?, d.name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(n_rows: usize, n_features: usize) -> Tabular {
        Tabular {
            name: "t".into(),
            n_rows,
            n_features,
            x: Features::F32((0..n_rows * n_features).map(|v| v as f32 * 0.5).collect()),
            y: (0..n_rows as u32).map(|r| r % 3).collect(),
            n_classes: 3,
            class_names: vec!["a".into(), "b".into(), "c".into()],
            image_shape: Some([1, 1, n_features]),
        }
    }

    #[test]
    fn splitting_off_rows_in_place_gives_the_two_subsets() {
        for (n, held) in [
            (10, vec![]),
            (10, vec![0]),
            (10, vec![9]),
            (10, vec![2, 3, 7]),
            (10, (0..10).collect::<Vec<_>>()),
            (1, vec![0]),
            (0, vec![]),
        ] {
            let t = table(n, 3);
            let kept: Vec<usize> = (0..n).filter(|i| !held.contains(i)).collect();
            let (a, b) = t.clone().split_off_rows(&held);
            assert_eq!(a, t.subset(&kept), "kept rows, held {held:?}");
            assert_eq!(b, t.subset(&held), "held rows {held:?}");
        }
        // The split the tasks make (a seeded hold-out) on a wide table, held as `f32` and as
        // bytes.
        let t = table(500, 7);
        let bytes = (0..500 * 7).map(|v| (v % 251) as u8).collect();
        let b = Tabular {
            x: Features::U8(ByteValues::unit_scaled(bytes)),
            ..t.clone()
        };
        let (kept, held) = split::holdout(500, 0.1, 3);
        for t in [t, b] {
            let (a, b) = t.clone().split_off_rows(&held);
            assert_eq!((a, b), (t.subset(&kept), t.subset(&held)));
        }
    }

    #[test]
    #[should_panic(expected = "sorted")]
    fn unsorted_held_rows_are_refused() {
        table(4, 1).split_off_rows(&[2, 1]);
    }
}
