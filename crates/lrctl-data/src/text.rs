//! Byte-level text corpora (plain or gzip).

use std::path::Path;

use crate::TextCorpus;
use crate::error::DataError;
use crate::read::read_bytes;

/// Reads a text corpus as raw bytes (no encoding is assumed: models see bytes). An empty file
/// is an error: nothing can be trained on it.
pub fn read_file(path: &Path, name: &str) -> Result<TextCorpus, DataError> {
    let bytes = read_bytes(path)?;
    if bytes.is_empty() {
        return Err(DataError::Empty {
            path: path.to_path_buf(),
            what: "the text corpus has no bytes".into(),
        });
    }
    Ok(TextCorpus {
        name: name.to_string(),
        bytes,
    })
}

impl TextCorpus {
    /// Number of lines: `\n` characters, plus one for a last line without a newline.
    pub fn n_lines(&self) -> usize {
        let newlines = self.bytes.iter().filter(|&&b| b == b'\n').count();
        newlines + usize::from(self.bytes.last().is_some_and(|&b| b != b'\n'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_count() {
        let c = |s: &str| TextCorpus {
            name: "t".into(),
            bytes: s.as_bytes().to_vec(),
        };
        assert_eq!(c("a\nb\n").n_lines(), 2);
        assert_eq!(c("a\nb").n_lines(), 2);
        assert_eq!(c("").n_lines(), 0);
    }
}
