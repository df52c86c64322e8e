//! Downloads into the user cache, against an in-process HTTP server on 127.0.0.1 that serves
//! the data mirror's files (and misbehaves on purpose): a clean download, a corrupted file, a
//! connection dropped mid-file (resumed with a `Range` request), a server ignoring `Range`, and
//! offline mode. Nothing here reaches beyond 127.0.0.1.

#[path = "common/http.rs"]
mod http;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use http::{Mode, Server};
use lrctl_data::catalog::{self, Role};
use lrctl_data::locate::{self, DownloadObserver};
use lrctl_data::{DataDirs, DataError, Network, load_libsvm, load_text};
use sha2::{Digest, Sha256};

/// The data mirror, or `None` (the test is skipped) when it is absent, unless
/// `LRCTL_REQUIRE_MIRROR=1` (CI) makes that a failure.
fn mirror(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("LRCTL_DATA_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let found = dir.join("MANIFEST.tsv").is_file();
    assert!(
        found || std::env::var("LRCTL_REQUIRE_MIRROR").as_deref() != Ok("1"),
        "{test}: LRCTL_REQUIRE_MIRROR=1 but the data mirror is not at {}",
        dir.display()
    );
    if !found {
        eprintln!("{test}: skipped, no data mirror (set LRCTL_DATA_DIR)");
    }
    found.then_some(dir)
}

/// A lookup with nothing but an empty cache in `cache`, downloading from `server`.
fn downloading(cache: &Path, server: &Server) -> DataDirs {
    DataDirs {
        data_dir: None,
        cache_dir: Some(cache.to_path_buf()),
        ..DataDirs::only("")
    }
    .with_network(Network::Allowed)
    .with_base_url(server.base_url())
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Records what a download reports.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    last: Mutex<(u64, Option<u64>)>,
}

impl DownloadObserver for Recorder {
    fn started(&self, url: &str, dest: &Path, done: u64, total: Option<u64>) {
        self.events
            .lock()
            .unwrap()
            .push(format!("start {url} {} {done} {total:?}", dest.display()));
    }
    fn progress(&self, done: u64, total: Option<u64>) {
        *self.last.lock().unwrap() = (done, total);
    }
    fn finished(&self) {
        self.events.lock().unwrap().push("finished".into());
    }
}

#[test]
fn a_clean_download_lands_in_the_cache_verified_and_loads() {
    let Some(mirror) = mirror("clean download") else {
        return;
    };
    let server = Server::start(mirror.clone(), Mode::Normal);
    let cache = tempfile::tempdir().unwrap();
    let recorder = Arc::new(Recorder::default());
    let dirs = downloading(cache.path(), &server).with_observer(recorder.clone());
    let splits = load_libsvm("letter", None, &dirs).unwrap_or_else(|e| panic!("{e}"));
    let d = catalog::find("letter").unwrap();
    assert_eq!(splits.train.n_rows, d.file(Role::Train).unwrap().rows);
    assert_eq!(
        splits.test.as_ref().unwrap().n_rows,
        d.file(Role::Test).unwrap().rows
    );
    for f in d.files {
        let p = cache.path().join(f.path);
        locate::verify_sha256(&p, f.sha256).unwrap();
        assert!(!cache.path().join(format!("{}.part", f.path)).exists());
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|s| s.status == 200 && s.range.is_none()));
    let events = recorder.events.lock().unwrap().clone();
    let train = d.file(Role::Train).unwrap();
    assert!(
        events[0].starts_with(&format!(
            "start {}libsvm/letter.scale.gz {} 0 Some({})",
            server.base_url(),
            cache.path().join(train.path).display(),
            train.bytes
        )),
        "{events:?}"
    );
    assert_eq!(events.iter().filter(|e| *e == "finished").count(), 2);
    let test = d.file(Role::Test).unwrap();
    assert_eq!(
        *recorder.last.lock().unwrap(),
        (test.bytes, Some(test.bytes))
    );

    // Found in the cache from now on: no more requests.
    load_libsvm("letter", None, &dirs).unwrap();
    assert_eq!(server.seen().len(), 2);
}

#[test]
fn a_corrupted_download_is_refused_naming_the_url_and_both_hashes() {
    let Some(mirror) = mirror("corrupted download") else {
        return;
    };
    let server = Server::start(mirror.clone(), Mode::Corrupt);
    let cache = tempfile::tempdir().unwrap();
    let dirs = downloading(cache.path(), &server);
    let f = catalog::find("iris").unwrap().file(Role::Train).unwrap();
    let err = load_libsvm("iris", None, &dirs).unwrap_err();
    let mut bytes = std::fs::read(mirror.join(f.path)).unwrap();
    let at = http::corrupt_at(bytes.len());
    bytes[at] ^= 0x01;
    let actual = sha256(&bytes);
    let url = format!("{}{}", server.base_url(), f.path);
    let DataError::DownloadChecksum {
        url: u,
        expected,
        actual: a,
        ..
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((u, expected, a), (&url, &f.sha256.to_string(), &actual));
    let msg = err.to_string();
    for needle in [url.as_str(), f.sha256, actual.as_str(), f.content_sha256] {
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
    // Nothing left behind: not under its name, not under the other, not as a part.
    for rel in [
        f.path.to_string(),
        format!("{}.gz", f.path),
        format!("{}.part", f.path),
    ] {
        assert!(!cache.path().join(&rel).exists(), "{rel}");
    }
}

#[test]
fn a_dropped_connection_leaves_a_part_that_the_next_attempt_resumes() {
    let Some(mirror) = mirror("dropped connection") else {
        return;
    };
    let server = Server::start(mirror.clone(), Mode::DropFirst);
    let cache = tempfile::tempdir().unwrap();
    let dirs = downloading(cache.path(), &server);
    let f = catalog::find("tinyshakespeare").unwrap().files[0];
    let part = cache.path().join(format!("{}.part", f.path));

    let err = load_text("tinyshakespeare", None, &dirs).unwrap_err();
    assert!(matches!(err, DataError::Download { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("{}{}", server.base_url(), f.path)),
        "{msg}"
    );
    assert!(msg.contains("resume"), "{msg}");
    let kept = std::fs::metadata(&part).unwrap().len();
    assert!(kept > 0 && kept < f.bytes, "{kept}");
    assert!(!cache.path().join(f.path).exists());

    let corpus = load_text("tinyshakespeare", None, &dirs).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(corpus.bytes.len() as u64, f.bytes);
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[1].range.as_deref(),
        Some(format!("bytes={kept}-").as_str())
    );
    assert_eq!(seen[1].status, 206);
    locate::verify_sha256(&cache.path().join(f.path), f.sha256).unwrap();
    assert!(!part.exists());
}

#[test]
fn a_server_ignoring_range_restarts_the_download_cleanly() {
    let Some(mirror) = mirror("ignored range") else {
        return;
    };
    let server = Server::start(mirror.clone(), Mode::IgnoreRange);
    let cache = tempfile::tempdir().unwrap();
    let dirs = downloading(cache.path(), &server);
    let f = catalog::find("wine").unwrap().files[0];
    // A partial file whose bytes are not even the file's: appending the whole file to it
    // would be caught, restarting overwrites it.
    let part = cache.path().join(format!("{}.part", f.path));
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, b"garbage that is not the start of wine.scale").unwrap();

    let s = load_libsvm("wine", None, &dirs).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.train.n_rows, f.rows);
    let seen = server.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].status, 200);
    assert!(seen[0].range.is_some());
    locate::verify_sha256(&cache.path().join(f.path), f.sha256).unwrap();
    assert!(!part.exists());
}

#[test]
fn a_plain_download_of_a_gzip_entry_is_kept_under_the_plain_name() {
    let Some(mirror) = mirror("plain download") else {
        return;
    };
    // A server whose `libsvm/a9a.gz` holds the plain text, as the canonical source serves it.
    let served = tempfile::tempdir().unwrap();
    let f = catalog::find("a9a").unwrap().file(Role::Train).unwrap();
    let plain = lrctl_data::read::read_bytes(&mirror.join(f.path)).unwrap();
    std::fs::create_dir_all(served.path().join("libsvm")).unwrap();
    std::fs::write(served.path().join(f.path), &plain).unwrap();
    std::fs::copy(
        mirror.join("libsvm/a9a.t"),
        served.path().join("libsvm/a9a.t"),
    )
    .unwrap();
    let server = Server::start(served.path().to_path_buf(), Mode::Normal);
    let cache = tempfile::tempdir().unwrap();
    let dirs = downloading(cache.path(), &server);
    let s = load_libsvm("a9a", None, &dirs).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.train.n_rows, f.rows);
    assert_eq!(
        std::fs::read(cache.path().join("libsvm/a9a")).unwrap(),
        plain
    );
    assert!(!cache.path().join(f.path).exists());
}

#[test]
fn offline_never_connects_and_says_so() {
    let Some(mirror) = mirror("offline") else {
        return;
    };
    let server = Server::start(mirror, Mode::Normal);
    let cache = tempfile::tempdir().unwrap();
    let dirs = downloading(cache.path(), &server).with_network(Network::Offline);
    let err = load_libsvm("iris", None, &dirs).unwrap_err();
    let DataError::NotFound { looked, message } = &err else {
        panic!("{err}");
    };
    for p in looked {
        assert!(message.contains(&p.display().to_string()), "{message}");
    }
    for needle in [
        "network is forbidden",
        "--offline",
        "LRCTL_OFFLINE",
        &format!("{}libsvm/iris.scale", server.base_url()),
    ] {
        assert!(message.contains(needle), "{needle}: {message}");
    }
    // The library's own lookups are offline too.
    assert_eq!(DataDirs::only("x").network, Network::Offline);
    assert_eq!(DataDirs::new(None).network, Network::Offline);
    assert!(server.seen().is_empty(), "{:?}", server.seen());
}

#[test]
fn a_dead_server_is_a_download_error_naming_the_url() {
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let cache = tempfile::tempdir().unwrap();
    let dirs = DataDirs {
        data_dir: None,
        cache_dir: Some(cache.path().to_path_buf()),
        ..DataDirs::only("")
    }
    .with_network(Network::Allowed)
    .with_base_url(format!("http://127.0.0.1:{port}"));
    let err = load_libsvm("iris", None, &dirs).unwrap_err();
    assert!(matches!(err, DataError::Download { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("http://127.0.0.1:{port}/libsvm/iris.scale")),
        "{msg}"
    );
    assert!(!cache.path().join("libsvm/iris.scale").exists());
}
