//! How a dataset's feature values are held: as `f32`, or as one byte per value decoded to
//! `f32` only when rows are read (images: 1 byte per pixel instead of 4, so Fashion-MNIST's
//! 60 000 training images take 47 MiB instead of 188 MiB).
//!
//! Decoding goes through a lookup table of the `f32` each byte stands for, so a byte row reads
//! back exactly the `f32` values an all-`f32` dataset would hold: the table starts as the
//! reader's scaling (`b / 255` for pixels) and a [`Normalizer`](crate::Normalizer) applied to
//! byte rows rewrites the table (one per column then) with the same arithmetic it applies to
//! `f32` values, instead of the values.

use std::borrow::Cow;
use std::sync::Arc;

/// Number of values a byte can take: one table entry each.
const BYTE_VALUES: usize = 256;

/// Row-major feature values of a [`Tabular`](crate::Tabular).
#[derive(Debug, Clone, PartialEq)]
pub enum Features {
    /// The values themselves (LIBSVM, embedded and synthetic data).
    F32(Vec<f32>),
    /// One byte per value, decoded on reading (images).
    U8(ByteValues),
}

/// Bytes and the `f32` each stands for, per column or shared by all columns.
#[derive(Debug, Clone, PartialEq)]
pub struct ByteValues {
    bytes: Vec<u8>,
    /// 256 entries shared by every column, or 256 per column (column `j`'s at `j * 256`).
    /// Shared between the subsets of one dataset: the same table decodes all of them.
    table: Arc<[f32]>,
}

impl ByteValues {
    /// Bytes that stand for `b / 255` (pixels scaled to `[0, 1]`, as the IDX reader scales
    /// them: an `f32` division, exact to the nearest `f32`).
    pub fn unit_scaled(bytes: Vec<u8>) -> ByteValues {
        let table = (0..=255u8).map(|b| f32::from(b) / 255.0).collect();
        ByteValues { bytes, table }
    }

    /// The stored bytes, row-major.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Decodes `src`, the bytes of consecutive whole rows of `n_features` values, into `out`.
    fn decode(&self, src: &[u8], n_features: usize, out: &mut [f32]) {
        let t = &self.table[..];
        if t.len() == BYTE_VALUES || n_features == 0 {
            for (o, &b) in out.iter_mut().zip(src) {
                *o = t[usize::from(b)];
            }
        } else {
            for (orow, srow) in out
                .chunks_exact_mut(n_features)
                .zip(src.chunks_exact(n_features))
            {
                for ((o, &b), col) in orow.iter_mut().zip(srow).zip(t.chunks_exact(BYTE_VALUES)) {
                    *o = col[usize::from(b)];
                }
            }
        }
    }

    /// Rewrites what each byte stands for: column `j`'s value `v` becomes `map(j, v)`, for
    /// `n_features` columns.
    pub(crate) fn remap(&mut self, n_features: usize, map: impl Fn(usize, f32) -> f32) {
        let shared = self.table.len() == BYTE_VALUES;
        let table: Vec<f32> = (0..n_features)
            .flat_map(|j| {
                let col = if shared {
                    &self.table[..]
                } else {
                    &self.table[j * BYTE_VALUES..(j + 1) * BYTE_VALUES]
                };
                let map = &map;
                col.iter().map(move |&v| map(j, v))
            })
            .collect();
        self.table = table.into();
    }
}

impl From<Vec<f32>> for Features {
    fn from(x: Vec<f32>) -> Features {
        Features::F32(x)
    }
}

impl FromIterator<f32> for Features {
    fn from_iter<I: IntoIterator<Item = f32>>(values: I) -> Features {
        Features::F32(values.into_iter().collect())
    }
}

impl Features {
    /// Number of values (rows × features).
    pub fn len(&self) -> usize {
        match self {
            Features::F32(x) => x.len(),
            Features::U8(b) => b.bytes.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values `range` (indices into the row-major values, whole rows of `n_features`):
    /// borrowed when held as `f32`, decoded otherwise.
    ///
    /// # Panics
    /// If the range is out of bounds.
    pub fn values(&self, range: std::ops::Range<usize>, n_features: usize) -> Cow<'_, [f32]> {
        match self {
            Features::F32(x) => Cow::Borrowed(&x[range]),
            Features::U8(b) => {
                let mut out = vec![0f32; range.len()];
                b.decode(&b.bytes[range], n_features, &mut out);
                Cow::Owned(out)
            }
        }
    }

    /// Appends the rows `idx` (in that order, repeats allowed) as `f32` to `out`.
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn gather_rows(&self, idx: &[usize], n_features: usize, out: &mut Vec<f32>) {
        let f = n_features;
        match self {
            Features::F32(x) => {
                for &i in idx {
                    out.extend_from_slice(&x[i * f..(i + 1) * f]);
                }
            }
            Features::U8(b) => {
                out.reserve(idx.len() * f);
                if let Ok(t) = <&[f32; BYTE_VALUES]>::try_from(&b.table[..]) {
                    // The common case (no normalisation): one lookup per value, no bounds
                    // checks and no zero-fill first.
                    for &i in idx {
                        let src = &b.bytes[i * f..(i + 1) * f];
                        out.extend(src.iter().map(|&v| t[usize::from(v)]));
                    }
                    return;
                }
                let start = out.len();
                out.resize(start + idx.len() * f, 0.0);
                for (&i, dst) in idx.iter().zip(out[start..].chunks_exact_mut(f.max(1))) {
                    b.decode(&b.bytes[i * f..(i + 1) * f], f, dst);
                }
            }
        }
    }

    /// The rows `idx` in the same storage (bytes stay bytes).
    pub(crate) fn subset(&self, idx: &[usize], n_features: usize) -> Features {
        let f = n_features;
        match self {
            Features::F32(_) => {
                let mut x = Vec::with_capacity(idx.len() * f);
                self.gather_rows(idx, f, &mut x);
                Features::F32(x)
            }
            Features::U8(b) => {
                let mut bytes = Vec::with_capacity(idx.len() * f);
                for &i in idx {
                    bytes.extend_from_slice(&b.bytes[i * f..(i + 1) * f]);
                }
                Features::U8(ByteValues {
                    bytes,
                    table: Arc::clone(&b.table),
                })
            }
        }
    }

    /// Copies the values `src` to start at `dest` within the buffer (as `copy_within`).
    pub(crate) fn copy_within(&mut self, src: std::ops::Range<usize>, dest: usize) {
        match self {
            Features::F32(x) => x.copy_within(src, dest),
            Features::U8(b) => b.bytes.copy_within(src, dest),
        }
    }

    /// Keeps the first `len` values.
    pub(crate) fn truncate(&mut self, len: usize) {
        match self {
            Features::F32(x) => x.truncate(len),
            Features::U8(b) => b.bytes.truncate(len),
        }
    }

    /// Calls `f` with each row's `f32` values in turn (decoded into one reused buffer for
    /// bytes).
    pub fn for_each_row(&self, n_features: usize, mut f: impl FnMut(&[f32])) {
        let n = n_features;
        if n == 0 {
            return;
        }
        match self {
            Features::F32(x) => x.chunks_exact(n).for_each(f),
            Features::U8(b) => {
                let mut row = vec![0f32; n];
                for src in b.bytes.chunks_exact(n) {
                    b.decode(src, n, &mut row);
                    f(&row);
                }
            }
        }
    }

    /// Number of values that are `0.0` (or `-0.0`).
    pub fn zeros(&self, n_features: usize) -> usize {
        if let Features::U8(b) = self
            && b.table.len() == BYTE_VALUES
        {
            return b
                .bytes
                .iter()
                .filter(|&&v| b.table[usize::from(v)] == 0.0)
                .count();
        }
        let mut zeros = 0;
        self.for_each_row(n_features, |row| {
            zeros += row.iter().filter(|&&v| v == 0.0).count();
        });
        zeros
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;
    use crate::{Normalization, Tabular, split};

    fn table(x: Features, n_rows: usize, n_features: usize) -> Tabular {
        Tabular {
            name: "t".into(),
            n_rows,
            n_features,
            x,
            y: (0..n_rows as u32).map(|r| r % 2).collect(),
            n_classes: 2,
            class_names: vec!["0".into(), "1".into()],
            image_shape: Some([1, 1, n_features]),
        }
    }

    /// Bit patterns, so `-0.0 != 0.0` and NaNs compare.
    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|v| v.to_bits()).collect()
    }

    /// Reads every row of `t` in every way the trainers do.
    fn read_all(t: &Tabular) -> [Vec<u32>; 4] {
        let n = t.n_rows;
        let by_row: Vec<f32> = (0..n).flat_map(|i| t.row(i).into_owned()).collect();
        let mut gathered = vec![7.0];
        let idx: Vec<usize> = (0..n).rev().chain(0..n).collect();
        t.gather_rows(&idx, &mut gathered);
        let mut each = Vec::new();
        t.for_each_row(|r| each.extend_from_slice(r));
        let chunks: Vec<f32> = (0..n)
            .step_by(3)
            .flat_map(|s| t.rows(s..(s + 3).min(n)).into_owned())
            .collect();
        [bits(&by_row), bits(&gathered), bits(&each), bits(&chunks)]
    }

    #[test]
    fn byte_rows_decode_to_the_f32_rows_bit_for_bit() {
        let (n, f) = (40, 6);
        let mut rng = ChaCha8Rng::seed_from_u64(24);
        let mut bytes: Vec<u8> = (0..n * f).map(|_| rng.random()).collect();
        // Column 1 constant (standardising only centres it), column 4 all zero (unit-L2
        // leaves it), and both ends of the byte range.
        for r in 0..n {
            bytes[r * f + 1] = 200;
            bytes[r * f + 4] = 0;
        }
        bytes[0] = 255;
        bytes[2] = 0;
        // The all-f32 path as the IDX reader had it: `b / 255` per pixel, then the normaliser
        // rewriting the values.
        let old = table(
            Features::F32(bytes.iter().map(|&b| f32::from(b) / 255.0).collect()),
            n,
            f,
        );
        let new = table(Features::U8(ByteValues::unit_scaled(bytes)), n, f);
        assert_eq!(old.values().len(), new.x.len());
        assert_eq!(read_all(&old), read_all(&new), "unnormalised");
        let (kept, held) = split::holdout(n, 0.25, 5);
        for norm in [
            Normalization::None,
            Normalization::UnitL2,
            Normalization::Standardize,
        ] {
            // As the tasks do: split in place, fit on the kept rows, apply to both parts.
            let (mut a_old, mut b_old) = old.clone().split_off_rows(&held);
            let (mut a_new, mut b_new) = new.clone().split_off_rows(&held);
            assert!(matches!(a_new.x, Features::U8(_)), "bytes stay bytes");
            assert_eq!(a_new.n_rows, kept.len());
            let fitted = norm.fit(&a_old);
            assert_eq!(fitted, norm.fit(&a_new), "{norm}: the same statistics");
            for t in [&mut a_old, &mut b_old] {
                fitted.apply(t);
            }
            for t in [&mut a_new, &mut b_new] {
                fitted.apply(t);
            }
            assert_eq!(read_all(&a_old), read_all(&a_new), "{norm}: training rows");
            assert_eq!(read_all(&b_old), read_all(&b_new), "{norm}: held-out rows");
            let sub = [3, 0, 3];
            assert_eq!(
                read_all(&a_old.subset(&sub)),
                read_all(&a_new.subset(&sub)),
                "{norm}: a subset"
            );
            assert_eq!(a_old.x.zeros(f), a_new.x.zeros(f), "{norm}: zeros");
            // A second transform composes exactly too, and one fitted on fewer columns
            // leaves the others as they were.
            let narrow = Normalization::Standardize.fit(&table(
                Features::F32(a_old.values()[..a_old.n_rows * f].to_vec()),
                a_old.n_rows,
                f,
            ));
            let narrow = crate::Normalizer {
                shift: narrow.shift[..4].to_vec(),
                divisor: narrow.divisor[..4].to_vec(),
            };
            narrow.apply(&mut a_old);
            narrow.apply(&mut a_new);
            assert_eq!(
                read_all(&a_old),
                read_all(&a_new),
                "{norm}: then a narrower one"
            );
        }
    }

    #[test]
    fn widening_byte_rows_gives_f32_rows_with_zero_columns() {
        let t = table(
            Features::U8(ByteValues::unit_scaled(vec![0, 51, 255, 102])),
            2,
            2,
        );
        let w = t.clone().with_features(3);
        assert_eq!(w.x, Features::F32(vec![0.0, 0.2, 0.0, 1.0, 0.4, 0.0]));
        assert_eq!(*t.clone().with_features(1).values(), [0.0, 1.0]);
        assert_eq!(t.x.zeros(2), 1);
    }
}
