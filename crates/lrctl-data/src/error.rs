//! The data layer's error type. Every variant names the file it is about and, for content
//! errors, where in the file (line and field, or byte offset) the problem is.

use std::path::PathBuf;

/// Longest token echoed back in an error message (random bytes could be megabytes long).
const MAX_TOKEN_CHARS: usize = 40;

/// Anything that can go wrong while finding, reading or parsing a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A gzip stream is corrupt or ends early (a truncated download is never a short dataset).
    #[error(
        "{}: corrupt or truncated gzip stream (failed after {decompressed} decompressed bytes): \
         {source}",
        .path.display()
    )]
    Gzip {
        /// The file.
        path: PathBuf,
        /// Decompressed bytes produced before the failure.
        decompressed: u64,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },
    /// A text line (LIBSVM) could not be parsed.
    #[error("{}, line {line}, field {field} (`{token}`): {reason}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number (of the decompressed text).
        line: usize,
        /// 1-based whitespace-separated field number on that line (the label is field 1).
        field: usize,
        /// The offending token, shortened if long.
        token: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A binary file (IDX) is malformed at a byte offset.
    #[error("{}, byte offset {offset}: {reason}", .path.display())]
    Binary {
        /// The file.
        path: PathBuf,
        /// Byte offset (of the decompressed content) where the problem is.
        offset: u64,
        /// What is wrong.
        reason: String,
    },
    /// Two files that belong together disagree (e.g. image and label counts).
    #[error("{reason}")]
    Mismatch {
        /// What disagrees, naming both files.
        reason: String,
    },
    /// The file holds no examples.
    #[error("{}: no examples found ({what})", .path.display())]
    Empty {
        /// The file.
        path: PathBuf,
        /// What was expected.
        what: String,
    },
    /// The dense matrix would be unreasonably large (usually a corrupt feature index).
    #[error(
        "{}: {rows} rows x {features} features is too large to hold densely (limit {limit} \
         values); is a feature index corrupt?",
        .path.display()
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Rows.
        rows: usize,
        /// Features (highest index).
        features: usize,
        /// The limit on `rows * features`.
        limit: usize,
    },
    /// A data file was not found anywhere it was looked for.
    #[error("{message}")]
    NotFound {
        /// Every path that was tried, in order.
        looked: Vec<PathBuf>,
        /// The full explanation: what was missing, where it was looked for, how to provide it.
        message: String,
    },
    /// The dataset name is not known.
    #[error("unknown {kind} dataset `{name}`; known: {known}{hint}")]
    UnknownDataset {
        /// Kind of dataset (`LIBSVM`, `image`, `text`, `embedded`).
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The known names, comma-separated.
        known: String,
        /// How to use a file of one's own instead, if possible.
        hint: String,
    },
    /// A file's SHA-256 differs from the pinned one.
    #[error("{}: SHA-256 is {actual}, expected {expected} (corrupt or different file)", .path.display())]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Pinned digest (lowercase hex).
        expected: String,
        /// Digest of the file (lowercase hex).
        actual: String,
    },
    /// A download failed (connection, HTTP status, or a transfer that broke off).
    #[error("cannot download {url}: {reason}")]
    Download {
        /// What was being downloaded.
        url: String,
        /// What went wrong, and what was kept for the next attempt.
        reason: String,
    },
    /// A downloaded file is not the pinned one; it was deleted, never used.
    #[error(
        "downloaded {url}, but it is not the expected file: SHA-256 {actual}, expected {expected} \
         (the mirror's bytes); {content}; the download was deleted. Check the source, or use a \
         mirror (LRCTL_DATA_URL) or a local copy (--data-dir)"
    )]
    DownloadChecksum {
        /// Where it came from.
        url: String,
        /// Pinned SHA-256 of the file's bytes (lowercase hex).
        expected: String,
        /// SHA-256 of the downloaded bytes (lowercase hex).
        actual: String,
        /// The content check, in words: the SHA-256 of the decompressed content and the pinned
        /// one, or that the content is not a valid gzip stream.
        content: String,
    },
}

/// Renders a token for an error message: lossy UTF-8, control characters escaped, shortened.
pub(crate) fn show_token(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_TOKEN_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_and_binary_tokens_are_shortened_and_escaped() {
        let long = vec![b'x'; 500];
        let shown = show_token(&long);
        assert_eq!(shown.chars().count(), MAX_TOKEN_CHARS + 1);
        assert!(shown.ends_with('…'));
        assert_eq!(show_token(b"a\tb\xff"), "a\\tb\u{fffd}");
    }
}
