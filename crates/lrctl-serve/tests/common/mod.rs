//! A live server on 127.0.0.1 (a free port) over a store a test builds, and a small client.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::Path;

use lrctl_study::{RunConfig, StudyFile};

pub const SCRIPT: &str = "<script>alert(1)</script>";
pub const ATTR: &str = "\"'><img src=x onerror=alert(1)>";

/// Starts `lrctl serve` on a free loopback port in a background thread.
pub fn start(store: &str, token: Option<&str>) -> SocketAddr {
    let options = lrctl_serve::ServeOptions {
        store: store.to_string(),
        bind: "127.0.0.1:0".parse().unwrap(),
        token: token.map(str::to_string),
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = lrctl_serve::serve(&options, |b| tx.send(Ok(b.addr)).unwrap());
        if let Err(e) = r {
            let _ = tx.send(Err(e.to_string()));
        }
    });
    rx.recv().unwrap().expect("server starts")
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// GET `path`: status, headers and body.
pub fn get(addr: SocketAddr, path: &str) -> (u16, ureq::http::HeaderMap, String) {
    get_with(addr, path, None)
}

pub fn get_with(
    addr: SocketAddr,
    path: &str,
    cookie: Option<&str>,
) -> (u16, ureq::http::HeaderMap, String) {
    let mut req = agent().get(format!("http://{addr}{path}"));
    if let Some(c) = cookie {
        req = req.header("Cookie", c);
    }
    let mut r = req.call().expect("request");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.body_mut().read_to_string().expect("body");
    (status, headers, body)
}

/// GET a JSON answer that must be 200.
pub fn json(addr: SocketAddr, path: &str) -> serde_json::Value {
    let (status, headers, body) = get(addr, path);
    assert_eq!(status, 200, "{path}: {body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json"),
        "{path}"
    );
    serde_json::from_str(&body).expect("JSON")
}

pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A study of logistic regression on iris (renamed `task`) under adam-fixed and adamw-cosine
/// (the first renamed `method`), `seeds` seeds of `steps` steps.
pub fn study(name: &str, task: &str, method: &str, seeds: u32, steps: u64) -> StudyFile {
    let mut t = lrctl_tasks::registry::find("logreg/iris").unwrap();
    t.name = task.to_string();
    let mut m = lrctl_wrap::find("adam-fixed").unwrap();
    m.spec.name = method.to_string();
    StudyFile {
        name: Some(name.to_string()),
        methods: vec!["adamw-cosine".into()],
        seeds: Some(lrctl_study::spec::Seeds::Count(seeds)),
        steps: Some(steps),
        inline_tasks: vec![t],
        inline_methods: vec![m],
        ..StudyFile::default()
    }
}

/// Runs the study into the store, one job.
pub fn run(store: &Path, file: &StudyFile) -> lrctl_study::RunReport {
    run_at(store.to_str().unwrap(), file)
}

/// Runs the study into the store at `location` (a path or a URL), one job.
pub fn run_at(location: &str, file: &StudyFile) -> lrctl_study::RunReport {
    let study = file.resolve().expect("study resolves");
    let mut cfg = RunConfig::new(lrctl_data::DataDirs::new(None));
    cfg.jobs = 1;
    lrctl_study::run_study(location, &study, &cfg).expect("study runs")
}
