//! The dashboard in headless Chromium, driven over WebDriver (Debian's `chromium-driver`):
//! a study page opened while the study runs gains curve points without a reload, a method
//! toggles off, a drag zooms, no console or resource error, a screenshot that is not blank.
//!
//! Runs only with `LRCTL_BROWSER_TEST=1` (CI sets it and installs chromium and
//! chromium-driver); otherwise it prints "skipped" and passes. `LRCTL_BROWSER_OUT=<dir>` keeps
//! the screenshot there.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fantoccini::actions::{InputSource, MOUSE_BUTTON_LEFT, MouseActions, PointerAction};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn eval(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.expect("script runs")
}

/// Polls `script` until it returns true or `limit` passes; returns whether it did.
async fn until(c: &Client, script: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if eval(c, script).await == Value::Bool(true) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    false
}

/// Counts pixels that differ from the first one (a blank page has none).
fn non_background_pixels(png_bytes: &[u8]) -> usize {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    let channels = info.color_type.samples();
    let px = &buf[..info.buffer_size()];
    let first = &px[..channels];
    px.chunks(channels).filter(|p| p != &first).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_study_in_headless_chromium() {
    if std::env::var("LRCTL_BROWSER_TEST").as_deref() != Ok("1") {
        println!("skipped: set LRCTL_BROWSER_TEST=1 (needs chromium and chromium-driver)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    common::run(&db, &common::study("live", "iris", "fixed", 1, 10));
    let addr = common::start(db.to_str().unwrap(), None);

    // A study long enough to watch, cancelled when the test is done.
    let cancel = Arc::new(AtomicBool::new(false));
    let runner = {
        let (db, cancel) = (db.clone(), Arc::clone(&cancel));
        std::thread::spawn(move || {
            let study = common::study("live", "iris", "fixed", 2, 3_000_000)
                .resolve()
                .unwrap();
            let mut cfg = lrctl_study::RunConfig::new(lrctl_data::DataDirs::new(None));
            cfg.jobs = 1;
            cfg.cancel = cancel;
            lrctl_study::run_study(db.to_str().unwrap(), &study, &cfg).map_err(|e| e.to_string())
        })
    };

    let port = free_port();
    let driver = Driver(
        Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt-get install chromium-driver)"),
    );
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "chromedriver did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let caps = json!({
        "goog:chromeOptions": {
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1400,1800", "--no-first-run", "--disable-extensions"]
        }
    });
    let Value::Object(caps) = caps else {
        unreachable!()
    };
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a WebDriver session");

    c.goto(&format!("http://{addr}/#/study/live"))
        .await
        .unwrap();
    assert!(
        until(
            &c,
            "return window.lrctl && window.lrctl.ready && window.lrctl.charts.length === 4",
            Duration::from_secs(60)
        )
        .await,
        "the study page renders its four charts: {}",
        eval(&c, "return JSON.stringify(window.lrctl)").await
    );
    // Mean ± SE: the band's lines are drawn but not listed in the legend.
    assert!(
        until(
            &c,
            "const rows = [...document.querySelectorAll('.u-legend tr.lrctl-band')]; \
             return rows.length > 0 && rows.every(r => r.offsetParent === null) && \
             document.querySelectorAll('.u-legend tr.u-series:not(.lrctl-band)').length > 0",
            Duration::from_secs(5)
        )
        .await,
        "band series are hidden from the legend"
    );
    // The statistics, computed in the background, are drawn when ready.
    assert!(
        until(
            &c,
            "return window.lrctl.stats !== false && document.querySelectorAll('h3').length > 0",
            Duration::from_secs(60)
        )
        .await,
        "the statistics appear"
    );
    // Live: the curve gains points while the page stays loaded.
    assert!(
        until(
            &c,
            "return (window.lrctl.points.train_loss || 0) > 0",
            Duration::from_secs(30)
        )
        .await,
        "a running cell's curve appears"
    );
    let first = eval(&c, "return window.lrctl.points.train_loss")
        .await
        .as_u64()
        .unwrap();
    let script = format!("return window.lrctl.points.train_loss > {first}");
    assert!(
        until(&c, &script, Duration::from_secs(20)).await,
        "the curve gains points without a reload (stuck at {first})"
    );
    assert_eq!(
        eval(
            &c,
            "return performance.getEntriesByType('navigation').length"
        )
        .await,
        json!(1)
    );

    // The page as it stands, curves drawn.
    let shot = c.screenshot().await.unwrap();
    if let Some(out) = std::env::var_os("LRCTL_BROWSER_OUT") {
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(std::path::Path::new(&out).join("serve-study.png"), &shot).unwrap();
    }
    assert!(
        non_background_pixels(&shot) > 10_000,
        "the screenshot is not blank"
    );

    // Toggle a method off: its series are hidden in every chart.
    let boxes = c
        .find_all(Locator::Css("input[data-method]"))
        .await
        .unwrap();
    assert_eq!(boxes.len(), 2, "one toggle per method");
    let method = boxes[0].attr("data-method").await.unwrap().unwrap();
    boxes[0].click().await.unwrap();
    let hidden = format!(
        "return window.lrctl.charts.every(u => u.series.slice(1).filter(s => s.label.startsWith({m})).every(s => !s.show))",
        m = json!(method)
    );
    assert!(
        until(&c, &hidden, Duration::from_secs(5)).await,
        "{method} hidden"
    );

    // Zoom: drag across the middle of the first chart.
    let span = "const u = window.lrctl.charts[0]; return u.scales.x.max - u.scales.x.min";
    let before = eval(&c, span).await.as_f64().unwrap();
    let over = c.find(Locator::Css(".u-over")).await.unwrap();
    let drag = MouseActions::new("mouse".into())
        .then(PointerAction::MoveToElement {
            element: over.clone(),
            duration: None,
            x: -100.0,
            y: 0.0,
        })
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .then(PointerAction::MoveToElement {
            element: over,
            duration: Some(Duration::from_millis(200)),
            x: 60.0,
            y: 20.0,
        })
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    c.perform_actions(drag).await.unwrap();
    let zoomed = format!(
        "const u = window.lrctl.charts[0]; return (u.scales.x.max - u.scales.x.min) < {before} * 0.9"
    );
    assert!(
        until(&c, &zoomed, Duration::from_secs(5)).await,
        "the drag zoomed in"
    );

    let errors = eval(&c, "return window.lrctl.errors").await;
    assert_eq!(errors, json!([]), "no console or resource errors");

    c.close().await.unwrap();
    drop(driver);
    cancel.store(true, Ordering::SeqCst);
    let report = runner.join().unwrap().expect("the run stops cleanly");
    assert!(report.interrupted);
}

/// Not a check: with `LRCTL_SERVE_BENCH_URL=http://HOST:PORT/#/study/NAME` (and
/// `LRCTL_BROWSER_TEST=1`), prints how long that page took to its first meaningful render
/// (charts and table drawn, `window.lrctl.readyAt`, from navigation start), for the README's
/// benchmark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_render_time() {
    let (Ok("1"), Ok(url)) = (
        std::env::var("LRCTL_BROWSER_TEST").as_deref(),
        std::env::var("LRCTL_SERVE_BENCH_URL"),
    ) else {
        println!("skipped: set LRCTL_BROWSER_TEST=1 and LRCTL_SERVE_BENCH_URL");
        return;
    };
    let port = free_port();
    let _driver = Driver(
        Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs"),
    );
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        std::thread::sleep(Duration::from_millis(100));
    }
    let Value::Object(caps) = json!({ "goog:chromeOptions": { "args": [
        "--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1400,1800"] } })
    else {
        unreachable!()
    };
    let c = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .unwrap();
    for run in 0..3 {
        c.goto("about:blank").await.unwrap();
        c.goto(&url).await.unwrap();
        assert!(
            until(
                &c,
                "return !!(window.lrctl && window.lrctl.ready)",
                Duration::from_secs(120)
            )
            .await
        );
        let t = eval(&c, "return window.lrctl.readyAt").await;
        println!("first meaningful render, load {run}: {t} ms");
    }
    c.close().await.unwrap();
}
