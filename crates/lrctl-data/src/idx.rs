//! IDX, the binary format of MNIST and Fashion-MNIST (plain or gzip).
//!
//! Layout: a 4-byte magic number `0x00 0x00 TYPE NDIMS`, then `NDIMS` big-endian `u32` sizes,
//! then the data in row-major order. Only unsigned bytes (`TYPE = 0x08`) occur in the MNIST
//! family and only those are read. The file length must match the header exactly: a short
//! file is a truncated download and a long one is not what its header says.

use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::read::read_bytes;
use crate::split::Subsample;
use crate::{ByteValues, Features, Tabular};

/// Magic number of unsigned-byte images (3 dimensions: count, rows, columns).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of unsigned-byte labels (1 dimension: count).
pub const LABELS_MAGIC: u32 = 0x0000_0801;

/// Type byte of unsigned bytes.
const TYPE_U8: u8 = 0x08;

/// A parsed unsigned-byte IDX array.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Where it was read from.
    pub path: PathBuf,
    /// The dimension sizes, outermost first.
    pub dims: Vec<usize>,
    /// The whole decompressed file; the data starts at `header_len`.
    bytes: Vec<u8>,
    header_len: usize,
}

impl IdxArray {
    /// The data bytes, row-major.
    pub fn data(&self) -> &[u8] {
        &self.bytes[self.header_len..]
    }

    /// The magic number, `0x0000_08NN` with `NN` the number of dimensions.
    pub fn magic(&self) -> u32 {
        0x0800 | self.dims.len() as u32
    }
}

fn binary_err(path: &Path, offset: usize, reason: String) -> DataError {
    DataError::Binary {
        path: path.to_path_buf(),
        offset: offset as u64,
        reason,
    }
}

/// Parses IDX bytes (already decompressed); `path` only names the source in errors.
pub fn parse(bytes: Vec<u8>, path: &Path) -> Result<IdxArray, DataError> {
    if bytes.len() < 4 {
        return Err(binary_err(
            path,
            bytes.len(),
            format!(
                "file ends after {} bytes, inside the 4-byte magic number",
                bytes.len()
            ),
        ));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    if bytes[0] != 0 || bytes[1] != 0 || bytes[2] != TYPE_U8 || bytes[3] == 0 {
        return Err(binary_err(
            path,
            0,
            format!(
                "bad magic number 0x{magic:08x}: expected 0x{IMAGES_MAGIC:08x} (images) or \
                 0x{LABELS_MAGIC:08x} (labels), i.e. unsigned-byte IDX"
            ),
        ));
    }
    let n_dims = bytes[3] as usize;
    let header_len = 4 + 4 * n_dims;
    if bytes.len() < header_len {
        return Err(binary_err(
            path,
            bytes.len(),
            format!(
                "file ends inside the header: {n_dims} dimension sizes need {header_len} bytes"
            ),
        ));
    }
    let dims: Vec<usize> = bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let shape = dims
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("x");
    let expected = dims
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .and_then(|n| n.checked_add(header_len))
        .ok_or_else(|| binary_err(path, 4, format!("dimensions {shape} overflow")))?;
    if bytes.len() < expected {
        return Err(binary_err(
            path,
            bytes.len(),
            format!(
                "file is truncated: the header ({shape}) needs {expected} bytes but the file \
                 ends at byte offset {}, {} bytes short",
                bytes.len(),
                expected - bytes.len()
            ),
        ));
    }
    if bytes.len() > expected {
        return Err(binary_err(
            path,
            expected,
            format!(
                "{} unexpected bytes after the data: the header ({shape}) says the file ends \
                 at byte offset {expected}, but it is {} bytes long",
                bytes.len() - expected,
                bytes.len()
            ),
        ));
    }
    Ok(IdxArray {
        path: path.to_path_buf(),
        dims,
        bytes,
        header_len,
    })
}

/// Reads and parses an IDX file (plain or gzip).
pub fn read_file(path: &Path) -> Result<IdxArray, DataError> {
    parse(read_bytes(path)?, path)
}

fn expect_magic(a: &IdxArray, magic: u32, what: &str) -> Result<(), DataError> {
    if a.magic() == magic {
        Ok(())
    } else {
        Err(binary_err(
            &a.path,
            0,
            format!(
                "magic number 0x{:08x} ({} dimensions), but {what} need 0x{magic:08x}",
                a.magic(),
                a.dims.len()
            ),
        ))
    }
}

/// Reads an images file (magic `0x00000803`: count x height x width).
pub fn read_images(path: &Path) -> Result<IdxArray, DataError> {
    let a = read_file(path)?;
    expect_magic(&a, IMAGES_MAGIC, "images")?;
    Ok(a)
}

/// Reads a labels file (magic `0x00000801`: count).
pub fn read_labels(path: &Path) -> Result<IdxArray, DataError> {
    let a = read_file(path)?;
    expect_magic(&a, LABELS_MAGIC, "labels")?;
    Ok(a)
}

/// Loads an images file and its labels file as a [`Tabular`]: pixels scaled to `[0, 1]`,
/// `image_shape = [1, height, width]`, `n_classes = 1 + highest label`, class names `"0"`,
/// `"1"`, .... The two files must hold the same number of examples.
pub fn load_pair(
    images: &Path,
    labels: &Path,
    name: &str,
    subsample: Subsample,
) -> Result<Tabular, DataError> {
    let img = read_images(images)?;
    let lab = read_labels(labels)?;
    let (n, h, w) = (img.dims[0], img.dims[1], img.dims[2]);
    if lab.dims[0] != n {
        return Err(DataError::Mismatch {
            reason: format!(
                "{} holds {n} images but {} holds {} labels",
                images.display(),
                labels.display(),
                lab.dims[0]
            ),
        });
    }
    if n == 0 {
        return Err(DataError::Empty {
            path: images.to_path_buf(),
            what: "the header says 0 images".into(),
        });
    }
    if h == 0 || w == 0 {
        return Err(binary_err(
            images,
            8,
            format!("the header says the images are {h}x{w} pixels; an image needs at least one"),
        ));
    }
    let n_classes = lab
        .data()
        .iter()
        .copied()
        .max()
        .map_or(0, |m| m as usize + 1);
    let rows = subsample.indices(n);
    let f = h * w;
    // Pixels stay bytes (a quarter of `f32`'s memory), decoded to `b / 255` when rows are
    // read. All rows: the file's buffer becomes the pixel buffer (the header shifted out in
    // place) instead of being copied.
    let bytes = if rows.len() == n {
        let mut bytes = img.bytes;
        bytes.drain(..img.header_len);
        bytes
    } else {
        let pixels = img.data();
        let mut bytes = Vec::with_capacity(rows.len() * f);
        for &r in &rows {
            bytes.extend_from_slice(&pixels[r * f..(r + 1) * f]);
        }
        bytes
    };
    let y: Vec<u32> = rows.iter().map(|&r| u32::from(lab.data()[r])).collect();
    Ok(Tabular {
        name: name.to_string(),
        n_rows: rows.len(),
        n_features: f,
        x: Features::U8(ByteValues::unit_scaled(bytes)),
        y,
        n_classes,
        class_names: (0..n_classes).map(|c| c.to_string()).collect(),
        image_shape: Some([1, h, w]),
    })
}

/// Builds the bytes of an unsigned-byte IDX file (for tests and for writing fixtures).
pub fn encode(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, TYPE_U8, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_shape() {
        let a = parse(
            encode(&[2, 2, 3], &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255]),
            Path::new("i"),
        )
        .unwrap();
        assert_eq!(a.dims, vec![2, 2, 3]);
        assert_eq!(a.magic(), IMAGES_MAGIC);
        assert_eq!(a.data()[11], 255);
    }

    #[test]
    fn length_must_match_exactly() {
        let p = Path::new("short.idx");
        let short = parse(encode(&[3], &[1, 2]), p).unwrap_err().to_string();
        assert!(
            short.contains("short.idx") && short.contains("byte offset 10"),
            "{short}"
        );
        let long = parse(encode(&[1], &[1, 2]), p).unwrap_err().to_string();
        assert!(
            long.contains("byte offset 9") && long.contains("1 unexpected"),
            "{long}"
        );
        let header = parse(vec![0, 0, 8, 3, 0, 0], p).unwrap_err().to_string();
        assert!(header.contains("inside the header"), "{header}");
    }

    #[test]
    fn bad_magic_and_type_are_rejected() {
        let p = Path::new("m.idx");
        for bytes in [
            vec![1, 0, 8, 1, 0, 0, 0, 0],
            vec![0, 0, 0x0d, 1, 0, 0, 0, 0],
            vec![0, 0, 8, 0],
            vec![0x1f],
        ] {
            let e = parse(bytes, p).unwrap_err().to_string();
            assert!(e.contains("m.idx") && e.contains("byte offset"), "{e}");
        }
    }

    #[test]
    fn images_without_pixels_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let (images, labels) = (dir.path().join("i"), dir.path().join("l"));
        for (h, w) in [(0, 0), (0, 5), (5, 0)] {
            std::fs::write(&images, encode(&[2, h, w], &[])).unwrap();
            std::fs::write(&labels, encode(&[2], &[0, 1])).unwrap();
            let e = load_pair(&images, &labels, "x", Subsample::All)
                .unwrap_err()
                .to_string();
            assert!(e.contains(&format!("{h}x{w} pixels")), "{e}");
        }
    }

    #[test]
    fn dimension_overflow_is_an_error() {
        let e = parse(encode(&[u32::MAX, u32::MAX, u32::MAX], &[]), Path::new("o"));
        assert!(e.is_err());
    }
}
