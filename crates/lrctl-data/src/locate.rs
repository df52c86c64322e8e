//! Where data files are looked for, in order:
//!
//! 1. an explicit path (`--data PATH`);
//! 2. the data directory (`--data-dir DIR` or the `LRCTL_DATA_DIR` environment variable), laid
//!    out like the project's mirror (`DIR/libsvm/letter.scale.gz`, `DIR/mnist/...`);
//! 3. the user cache directory, `<cache>/lrctl/data` (e.g. `~/.cache/lrctl/data` on Linux), with
//!    the same layout;
//! 4. when the network is allowed ([`Network::Allowed`]), a download of the file's canonical URL
//!    ([`FileEntry::url`]) into that cache, checked against the pinned digests before it is used
//!    (see [`crate::download`]: `.part` file, resume, identity check, atomic rename).
//!    `LRCTL_DATA_URL=BASE` fetches `BASE/<path>` instead, from a mirror with the project's
//!    layout. The library never downloads unless its caller allows it ([`DataDirs::new`] and
//!    [`DataDirs::only`] are offline; the `lrctl` binary allows it unless `--offline` or
//!    `LRCTL_OFFLINE=1`).
//!
//! When every step fails the error says every place that was looked at, whether a download was
//! tried (and why not), and how to provide the file.
//!
//! In directories both the mirror's file name and its other compression are accepted
//! (`letter.scale.gz` or `letter.scale`), because the readers detect gzip by content.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::catalog::{Dataset, FileEntry};
pub use crate::download::{
    DATA_URL_ENV, DownloadObserver, Network, OFFLINE_ENV, Observer, source_url,
};
use crate::download::{hex, other_compression};
use crate::error::DataError;

/// Environment variable naming the data directory.
pub const DATA_DIR_ENV: &str = "LRCTL_DATA_DIR";

/// The directories searched for dataset files, and whether and how a missing one is
/// downloaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataDirs {
    /// The data directory (`--data-dir` / `LRCTL_DATA_DIR`), searched first.
    pub data_dir: Option<PathBuf>,
    /// The user cache directory, searched second, and where downloads go.
    pub cache_dir: Option<PathBuf>,
    /// Whether a file found nowhere is downloaded into `cache_dir`.
    pub network: Network,
    /// A base URL replacing every file's canonical origin (`LRCTL_DATA_URL`): `<base>/<path>`.
    pub base_url: Option<String>,
    /// Receives the progress of downloads.
    pub observer: Option<Observer>,
}

impl DataDirs {
    /// `data_dir` (from `--data-dir`), else `LRCTL_DATA_DIR` when set, plus the user cache and
    /// the base URL of `LRCTL_DATA_URL`. Offline: allow downloads with
    /// [`DataDirs::with_network`].
    pub fn new(data_dir: Option<PathBuf>) -> DataDirs {
        let data_dir = data_dir.or_else(|| {
            std::env::var_os(DATA_DIR_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        });
        DataDirs {
            data_dir,
            cache_dir: Self::default_cache_dir(),
            network: Network::Offline,
            base_url: std::env::var(DATA_URL_ENV)
                .ok()
                .filter(|v| !v.trim().is_empty()),
            observer: None,
        }
    }

    /// Only `dir`: no environment, no cache, no network (for tests and fully explicit setups).
    pub fn only(dir: impl Into<PathBuf>) -> DataDirs {
        DataDirs {
            data_dir: Some(dir.into()),
            cache_dir: None,
            network: Network::Offline,
            base_url: None,
            observer: None,
        }
    }

    /// The same lookup with the network policy `network`.
    pub fn with_network(self, network: Network) -> DataDirs {
        DataDirs { network, ..self }
    }

    /// The same lookup downloading from `<base>/<path>` instead of the canonical URLs.
    pub fn with_base_url(self, base: impl Into<String>) -> DataDirs {
        DataDirs {
            base_url: Some(base.into()),
            ..self
        }
    }

    /// The same lookup reporting download progress to `observer`.
    pub fn with_observer(self, observer: std::sync::Arc<dyn DownloadObserver>) -> DataDirs {
        DataDirs {
            observer: Some(Observer(observer)),
            ..self
        }
    }

    /// `<user cache dir>/lrctl/data`, if the platform has a cache directory.
    pub fn default_cache_dir() -> Option<PathBuf> {
        dirs::cache_dir().map(|d| d.join("lrctl").join("data"))
    }
}

impl Default for DataDirs {
    /// The standard lookup: `LRCTL_DATA_DIR` (if set) and the user cache.
    fn default() -> DataDirs {
        DataDirs::new(None)
    }
}

/// Every path tried for `file`, in lookup order, with where it comes from.
pub fn candidates(file: &FileEntry, dirs: &DataDirs) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    let roots = [
        (&dirs.data_dir, "data dir: --data-dir / LRCTL_DATA_DIR"),
        (&dirs.cache_dir, "user cache"),
    ];
    for (root, origin) in roots {
        if let Some(root) = root {
            for rel in [file.path.to_string(), other_compression(file.path)] {
                out.push((root.join(rel), origin));
            }
        }
    }
    out
}

/// Finds `file` of `dataset` in `dirs`, downloading it into the cache when `dirs` allows the
/// network, or explains where it was looked for and how to provide it.
pub fn locate(dataset: &Dataset, file: &FileEntry, dirs: &DataDirs) -> Result<PathBuf, DataError> {
    let tried = candidates(file, dirs);
    if let Some((p, _)) = tried.iter().find(|(p, _)| p.is_file()) {
        return Ok(p.clone());
    }
    let url = source_url(file, dirs.base_url.as_deref());
    if dirs.network == Network::Allowed
        && let Some(cache) = &dirs.cache_dir
    {
        return crate::download::fetch(file, &url, cache, dirs.observer.as_ref());
    }
    let mut msg = format!(
        "{} dataset `{}`: file `{}` not found. Looked in:\n",
        dataset.kind.label(),
        dataset.name,
        file.path
    );
    if dirs.data_dir.is_none() {
        msg.push_str("  - (no data dir: neither --data-dir nor LRCTL_DATA_DIR is set)\n");
    }
    for (p, origin) in &tried {
        msg.push_str(&format!("  - {} ({origin})\n", p.display()));
    }
    if dirs.cache_dir.is_none() {
        msg.push_str("  - (no user cache dir on this platform)\n");
    }
    match dirs.network {
        Network::Offline => msg.push_str(&format!(
            "  - download from {url}: not tried, the network is forbidden (offline: --offline, \
             LRCTL_OFFLINE=1, or a caller that does not download); to allow it, run lrctl \
             without --offline and with LRCTL_OFFLINE unset\n"
        )),
        Network::Allowed => msg.push_str(&format!(
            "  - download from {url}: not tried, there is no user cache dir to download into\n"
        )),
    }
    let cache = dirs
        .cache_dir
        .clone()
        .or_else(DataDirs::default_cache_dir)
        .map(|c| c.join(file.path).display().to_string())
        .unwrap_or_else(|| "<cache dir>/lrctl/data/".to_string() + file.path);
    msg.push_str(&format!(
        "To provide it: pass --data-dir DIR or set LRCTL_DATA_DIR=DIR, where DIR/{path} exists \
         (the project's data mirror has this layout); or copy the file to {cache}; or pass \
         --data PATH to use a file directly. Source: {url} (the mirror's copy has SHA-256 {sha}; \
         plain or gzip content is accepted).",
        path = file.path,
        sha = file.sha256,
    ));
    Err(DataError::NotFound {
        looked: tried.into_iter().map(|(p, _)| p).collect(),
        message: msg,
    })
}

/// Checks that an explicitly given path (`--data PATH`) exists.
pub fn explicit(path: &Path) -> Result<PathBuf, DataError> {
    if path.exists() {
        Ok(path.to_path_buf())
    } else {
        Err(DataError::NotFound {
            looked: vec![path.to_path_buf()],
            message: format!(
                "`{}` (given with --data) does not exist; an explicit path is used as is, \
                 without searching --data-dir, LRCTL_DATA_DIR or the user cache",
                path.display()
            ),
        })
    }
}

/// The test file that belongs to a user's LIBSVM training file, if one exists next to it:
/// `PATH.t` (or `.t.gz`), the same with a `.gz` suffix moved (`a.gz` → `a.t`, `a.t.gz`), or
/// `NAME.test` for `NAME.train`.
pub fn test_sibling(train: &Path) -> Option<PathBuf> {
    let s = train.as_os_str().to_str()?;
    let mut names = vec![format!("{s}.t"), format!("{s}.t.gz")];
    if let Some(stem) = s.strip_suffix(".gz") {
        names.push(format!("{stem}.t"));
        names.push(format!("{stem}.t.gz"));
    }
    if let Some(stem) = s.strip_suffix(".train") {
        names.push(format!("{stem}.test"));
    }
    names.into_iter().map(PathBuf::from).find(|p| p.is_file())
}

/// SHA-256 of a file's bytes as stored (not decompressed), lowercase hex.
pub fn sha256_file(path: &Path) -> Result<String, DataError> {
    let io = |source| DataError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Checks a file against an expected SHA-256 (lowercase or uppercase hex).
pub fn verify_sha256(path: &Path, expected: &str) -> Result<(), DataError> {
    let actual = sha256_file(path)?;
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(DataError::Checksum {
            path: path.to_path_buf(),
            expected: expected.to_ascii_lowercase(),
            actual,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    #[test]
    fn missing_file_names_every_place_and_how_to_provide_it() {
        let tmp = tempfile::tempdir().unwrap();
        let dirs = DataDirs {
            data_dir: Some(tmp.path().join("mirror")),
            cache_dir: Some(tmp.path().join("cache")),
            ..DataDirs::only("")
        };
        let d = catalog::find("letter").unwrap();
        let f = d.file(catalog::Role::Train).unwrap();
        let err = locate(d, f, &dirs).unwrap_err();
        let DataError::NotFound { looked, message } = &err else {
            panic!("{err}");
        };
        assert_eq!(looked.len(), 4);
        for p in looked {
            assert!(message.contains(&p.display().to_string()), "{message}");
        }
        for needle in [
            "--data-dir",
            "LRCTL_DATA_DIR",
            "--data PATH",
            "download",
            "network is forbidden",
            "--offline",
            "LRCTL_OFFLINE",
            f.url,
        ] {
            assert!(message.contains(needle), "{needle}: {message}");
        }
    }

    #[test]
    fn finds_the_other_compression_in_the_cache() {
        let tmp = tempfile::tempdir().unwrap();
        let d = catalog::find("letter").unwrap();
        let f = d.file(catalog::Role::Train).unwrap();
        let plain = tmp.path().join("libsvm/letter.scale");
        std::fs::create_dir_all(plain.parent().unwrap()).unwrap();
        std::fs::write(&plain, "1 1:1\n").unwrap();
        let dirs = DataDirs {
            data_dir: None,
            cache_dir: Some(tmp.path().to_path_buf()),
            ..DataDirs::only("")
        };
        assert_eq!(locate(d, f, &dirs).unwrap(), plain);
        let msg = locate(d, f, &DataDirs::only(tmp.path().join("none")))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("no user cache"), "{msg}");
    }

    #[test]
    fn explicit_path_and_test_siblings() {
        let tmp = tempfile::tempdir().unwrap();
        let train = tmp.path().join("my.svm");
        assert!(explicit(&train).unwrap_err().to_string().contains("my.svm"));
        std::fs::write(&train, "1 1:1\n").unwrap();
        assert_eq!(explicit(&train).unwrap(), train);
        assert_eq!(test_sibling(&train), None);
        std::fs::write(tmp.path().join("my.svm.t"), "1 1:1\n").unwrap();
        assert_eq!(test_sibling(&train), Some(tmp.path().join("my.svm.t")));
        let gz = tmp.path().join("b.gz");
        std::fs::write(tmp.path().join("b.t"), "").unwrap();
        assert_eq!(test_sibling(&gz), Some(tmp.path().join("b.t")));
        std::fs::write(tmp.path().join("c.test"), "").unwrap();
        assert_eq!(
            test_sibling(&tmp.path().join("c.train")),
            Some(tmp.path().join("c.test"))
        );
    }

    #[test]
    fn sha256_of_known_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("abc");
        std::fs::write(&p, "abc").unwrap();
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(sha256_file(&p).unwrap(), abc);
        verify_sha256(&p, &abc.to_uppercase()).unwrap();
        let err = verify_sha256(&p, &"0".repeat(64)).unwrap_err().to_string();
        assert!(err.contains("abc") && err.contains(abc), "{err}");
    }
}
