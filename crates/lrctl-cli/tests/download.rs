//! `lrctl` downloads a missing dataset into the user cache, showing where from and to, unless
//! `--offline` or `LRCTL_OFFLINE=1` forbids the network. The server is lrctl-data's test
//! server on 127.0.0.1 serving the data mirror; nothing here reaches the internet.

mod common;
#[path = "../../lrctl-data/tests/common/http.rs"]
mod http;

use std::path::Path;
use std::process::Output;

use common::{lrctl, mirror};
use http::{Mode, Server};

/// `lrctl train` of the iris task with an empty cache under `home`, downloading from `server`
/// (network allowed unless `extra` or `offline_env` forbid it).
fn train(home: &Path, server: &Server, extra: &[&str], offline_env: bool) -> Output {
    let mut c = lrctl();
    c.current_dir(home)
        .env_remove("LRCTL_DATA_DIR")
        .env_remove("LRCTL_OFFLINE")
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("LRCTL_DATA_URL", server.base_url());
    if offline_env {
        c.env("LRCTL_OFFLINE", "1");
    }
    c.args(extra)
        .args([
            "train",
            "--task",
            "libsvm/iris",
            "--method",
            "adam-fixed",
            "--steps",
            "2",
        ])
        .output()
        .expect("lrctl runs")
}

#[test]
fn a_missing_dataset_is_downloaded_into_the_cache_unless_offline() {
    let Some(mirror) = mirror() else {
        eprintln!("skipped: no data mirror (set LRCTL_DATA_DIR)");
        return;
    };
    let server = Server::start(mirror, Mode::Normal);

    // Offline, by flag (before or after the command) or environment: no request at all.
    for (extra, env) in [(&["--offline"][..], false), (&[][..], true)] {
        let home = tempfile::tempdir().unwrap();
        let out = train(home.path(), &server, extra, env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains("network is forbidden"), "{err}");
        assert!(err.contains("LRCTL_OFFLINE"), "{err}");
        assert!(err.contains("user cache"), "{err}");
    }
    assert!(server.seen().is_empty(), "{:?}", server.seen());

    let home = tempfile::tempdir().unwrap();
    let out = train(home.path(), &server, &[], false);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let dest = home.path().join("cache/lrctl/data/libsvm/iris.scale");
    let line = format!(
        "downloading {}libsvm/iris.scale → {}",
        server.base_url(),
        dest.display()
    );
    assert_eq!(err.matches(&line).count(), 1, "{err}");
    assert!(dest.is_file());
    assert_eq!(server.seen().len(), 1);

    // Cached now: no download, even offline.
    let out = train(home.path(), &server, &["--offline"], false);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("downloading"));
    assert_eq!(server.seen().len(), 1);
}
