//! Reading a whole file into memory, transparently decompressing gzip.

use std::io::Read;
use std::path::Path;

use flate2::read::MultiGzDecoder;

use crate::error::DataError;

/// The two bytes every gzip member starts with.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Whether `bytes` start like a gzip stream. Detection is by content, not by the `.gz` suffix,
/// so renamed or suffix-less compressed files work too.
pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&GZIP_MAGIC)
}

/// Reads `path` completely, decompressing it if it is gzip. A corrupt or truncated gzip stream
/// is an error, never a silently shortened result.
pub fn read_bytes(path: &Path) -> Result<Vec<u8>, DataError> {
    let raw = std::fs::read(path).map_err(|source| DataError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode(raw, path)
}

/// Decompresses `raw` if it is gzip (all members), otherwise returns it unchanged. `path` only
/// names the source in errors.
pub fn decode(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>, DataError> {
    if !is_gzip(&raw) {
        return Ok(raw);
    }
    // The trailer's ISIZE (size mod 2^32) is a good capacity hint; bounded because a corrupt
    // trailer must not trigger a huge allocation.
    let hint = raw
        .len()
        .checked_sub(4)
        .and_then(|at| raw.get(at..))
        .and_then(|t| t.try_into().ok())
        .map(|t: [u8; 4]| u32::from_le_bytes(t) as usize)
        .unwrap_or(0)
        .min(raw.len().saturating_mul(64));
    let mut out = Vec::with_capacity(hint);
    // MultiGzDecoder checks each member's CRC and length, so truncation is detected.
    match MultiGzDecoder::new(raw.as_slice()).read_to_end(&mut out) {
        Ok(_) => Ok(out),
        Err(source) => Err(DataError::Gzip {
            path: path.to_path_buf(),
            decompressed: out.len() as u64,
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::Compression;
    use flate2::write::GzEncoder;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn plain_bytes_pass_through_and_gzip_is_detected_by_magic() {
        let p = Path::new("x");
        assert_eq!(decode(b"1 1:2\n".to_vec(), p).unwrap(), b"1 1:2\n");
        let data: Vec<u8> = (0..10_000u32).flat_map(|i| i.to_le_bytes()).collect();
        assert_eq!(decode(gz(&data), p).unwrap(), data);
    }

    #[test]
    fn concatenated_members_are_all_read() {
        let mut both = gz(b"first\n");
        both.extend(gz(b"second\n"));
        assert_eq!(decode(both, Path::new("x")).unwrap(), b"first\nsecond\n");
    }

    #[test]
    fn every_truncation_is_an_error() {
        let data: Vec<u8> = (0..5_000u32)
            .flat_map(|i| (i * 7919).to_le_bytes())
            .collect();
        let full = gz(&data);
        for cut in 2..full.len() {
            let err = decode(full[..cut].to_vec(), Path::new("cut.gz")).unwrap_err();
            let msg = err.to_string();
            assert!(
                msg.contains("cut.gz") && msg.contains("gzip"),
                "{cut}: {msg}"
            );
        }
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let mut bytes = gz(b"1 1:1\n");
        bytes.extend_from_slice(b"junk");
        assert!(matches!(
            decode(bytes, Path::new("g.gz")),
            Err(DataError::Gzip { .. })
        ));
    }
}
