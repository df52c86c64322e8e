//! The API against a live server on 127.0.0.1, over stores built here: every route, names
//! that are markup, the token, passwords, and a server beside a study that is running.

mod common;

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::{ATTR, SCRIPT, enc, get, get_with, json, run, start, study};

#[test]
fn every_route_answers_and_names_stay_data() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    let name = format!("study {SCRIPT}");
    run(&db, &study(&name, SCRIPT, ATTR, 2, 120));
    run(&db, &study("other", SCRIPT, "plain", 2, 120));
    let addr = start(db.to_str().unwrap(), None);

    let studies = json(addr, "/api/studies");
    let s = &studies["studies"][0];
    assert_eq!(
        s["name"],
        name.as_str(),
        "names come back exactly, as JSON strings"
    );
    assert_eq!(s["progress"]["finished"], 4);
    assert_eq!(s["total"], 4);

    let q = enc(&name);
    let st = json(addr, &format!("/api/study?study={q}"));
    assert_eq!(st["tasks"][0]["name"], SCRIPT);
    assert!(st["methods"].as_array().unwrap().iter().any(|m| m == ATTR));
    assert_eq!(st["cells"].as_array().unwrap().len(), 4);
    assert_eq!(st["cells_matching"], 4);
    let cell_id = st["cells"][0]["id"].as_i64().unwrap();
    // Counts per task × method.
    let summary = st["summary"].as_array().unwrap();
    assert_eq!(summary.len(), 2);
    assert!(
        summary
            .iter()
            .all(|s| s["task"] == SCRIPT && s["cells"] == 2 && s["finished"] == 2)
    );

    // The cell list is filtered and paged on the server.
    let ids = |v: &serde_json::Value| -> Vec<i64> {
        v["cells"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_i64().unwrap())
            .collect()
    };
    let first = json(addr, &format!("/api/study?study={q}&limit=3"));
    let rest = json(addr, &format!("/api/study?study={q}&offset=3&limit=3"));
    assert_eq!(
        (
            first["cells_matching"].clone(),
            rest["cells_matching"].clone()
        ),
        (4.into(), 4.into())
    );
    let (first, rest) = (ids(&first), ids(&rest));
    assert_eq!(first.len(), 3);
    assert_eq!([first, rest].concat(), ids(&st), "pages partition the list");
    let cosine = json(addr, &format!("/api/study?study={q}&filter=ADAMW"));
    assert_eq!(cosine["cells_matching"], 2, "the filter ignores case");
    assert!(
        cosine["cells"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["method"] == "adamw-cosine")
    );
    let seed = json(
        addr,
        &format!(
            "/api/study?study={q}&filter={}",
            enc("cosine 1 done finished")
        ),
    );
    assert_eq!(
        seed["cells_matching"], 1,
        "task, method, seed, state and outcome"
    );
    assert_eq!(
        json(
            addr,
            &format!("/api/study?study={q}&filter=nothing-like-it")
        )["cells_matching"],
        0
    );

    // Curves: mean ± SE per method and per seed, thinned to the width asked for.
    let t = enc(SCRIPT);
    for (mode, traces) in [("mean", 2), ("seeds", 4)] {
        let c = json(
            addr,
            &format!("/api/study/curves?study={q}&task={t}&width=10&mode={mode}"),
        );
        for quantity in ["train_loss", "lr", "effective_lr"] {
            let list = c["quantities"][quantity].as_array().unwrap();
            assert_eq!(list.len(), traces, "{mode} {quantity}");
            for s in list {
                let x = s["x"].as_array().unwrap();
                assert!(
                    x.len() <= 10 && x.len() >= 3,
                    "{mode} {quantity}: {}",
                    x.len()
                );
                assert!(s["n"].as_u64().unwrap() > 10, "thinned from more points");
                assert_eq!(s["partial"], false);
            }
        }
        if mode == "mean" {
            assert!(c["quantities"]["train_loss"][0]["lo"].is_array());
        }
    }

    // The report's statistics, computed by lrctl-report in the background, as JSON: pending
    // at first (nothing asked for 50 resamples before), then ready and cached.
    let path = format!("/api/study/stats?study={q}&reps=50");
    let first = json(addr, &path);
    assert_eq!(first["pending"], true, "{first}");
    assert_eq!(first["study"], name.as_str());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let stats = loop {
        let v = json(addr, &path);
        if v["pending"] == false {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "still pending: {v}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(stats["study"], name.as_str());
    assert!(stats["across"]["aggregates"]["iqm"].is_array(), "{stats}");
    assert!(stats["tasks"][0]["finals"].is_array());
    assert_eq!(
        json(addr, &format!("/api/study/stats?study={q}&reps=50")),
        stats
    );

    let cell = json(addr, &format!("/api/cell?id={cell_id}"));
    assert_eq!(cell["task"], SCRIPT);
    assert_eq!(cell["study"], name.as_str());
    assert!(cell["curve_points"].as_u64().unwrap() > 0);
    assert!(cell["provenance"]["lrctl_version"].is_string());
    assert_eq!(cell["partial"], false);

    let cmp = json(addr, &format!("/api/compare?a={q}&b=other&reps=50"));
    let methods = cmp["analysis"]["methods"].as_array().unwrap();
    assert!(
        methods
            .iter()
            .any(|m| m == format!("{name}:{ATTR}").as_str())
    );
    assert!(methods.iter().any(|m| m == "other:plain"));

    // Unknown names are 404 with a JSON message; the message is data too.
    let (status, _, body) = get(addr, &format!("/api/study?study={}", enc(ATTR)));
    assert_eq!(status, 404);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["error"].as_str().unwrap().contains(ATTR));
    assert_eq!(get(addr, "/api/cell?id=999999").0, 404);
    assert_eq!(get(addr, "/api/nothing").0, 404);

    // The page is a fixed shell: no data in it, scripts only from the server.
    let (status, headers, page) = get(addr, "/");
    assert_eq!(status, 200);
    assert!(!page.contains("alert"), "the shell carries no data");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let (status, _, js) = get(addr, "/assets/app.js");
    assert_eq!(status, 200);
    assert!(
        !js.contains("innerHTML") && !js.contains("insertAdjacentHTML") && !js.contains("eval("),
        "the script builds the DOM with textContent only"
    );
    for asset in [
        "/assets/uPlot.iife.min.js",
        "/assets/uPlot.min.css",
        "/assets/app.css",
    ] {
        assert_eq!(get(addr, asset).0, 200, "{asset}");
    }
}

#[test]
fn a_token_guards_every_route_and_passwords_never_show() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("s.db");
    run(&db, &study("t", "task", "m", 1, 30));
    let token = "s3cret-token-0123456789";
    let addr = start(db.to_str().unwrap(), Some(token));
    for path in ["/", "/api/studies", "/assets/app.js", "/api/events"] {
        let (status, _, body) = get(addr, path);
        assert_eq!(status, 401, "{path}");
        assert!(!body.contains(token));
    }
    assert_eq!(get(addr, "/?token=wrong-token-0123456789").0, 401);
    let (status, headers, _) = get(addr, &format!("/?token={token}"));
    assert_eq!(status, 200);
    let cookie = headers["set-cookie"].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    let pair = cookie.split(';').next().unwrap();
    assert_eq!(get_with(addr, "/api/studies", Some(pair)).0, 200);

    // Any other address needs a token.
    let open = lrctl_serve::ServeOptions {
        store: db.to_str().unwrap().into(),
        bind: "0.0.0.0:0".parse().unwrap(),
        token: None,
    };
    let e = lrctl_serve::serve(&open, |_| panic!("must not start")).unwrap_err();
    assert!(e.to_string().contains("--token"), "{e}");

    // A store URL's password appears in no error.
    let pg = lrctl_serve::ServeOptions {
        store: "postgres://lrctl:hunter2@127.0.0.1:9/lrctl".into(),
        bind: "127.0.0.1:0".parse().unwrap(),
        token: None,
    };
    let e = lrctl_serve::serve(&pg, |_| panic!("must not start")).unwrap_err();
    let msg = e.to_string();
    assert!(!msg.contains("hunter2") && msg.contains("***"), "{msg}");
}

/// `lrctl serve` beside `lrctl run` on one SQLite file: the run completes without a lock
/// error, the server answers throughout, pages hear of changes, and running cells' curves
/// are visible before they finish.
#[test]
fn a_server_beside_a_running_study() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("live.db");
    // A first, tiny run creates the store, so the server can open it.
    run(&db, &study("live", "iris", "fixed", 1, 10));
    let addr = start(db.to_str().unwrap(), None);

    // Events: count `change` events of the study while it runs.
    let changes = Arc::new(AtomicUsize::new(0));
    {
        let changes = Arc::clone(&changes);
        let url = format!("http://{addr}/api/events?study=live");
        std::thread::spawn(move || {
            let r = common::agent().get(&url).call().unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let reader = std::io::BufReader::new(r.into_body().into_reader());
            for line in reader.lines() {
                if line.unwrap() == "event: change" {
                    changes.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
    let done = Arc::new(AtomicBool::new(false));
    let runner = {
        let db = db.clone();
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let report = run(&db, &study("live", "iris", "fixed", 2, 4000));
            done.store(true, Ordering::SeqCst);
            report
        })
    };
    let mut partial_points = Vec::new();
    let mut polls = 0;
    while !done.load(Ordering::SeqCst) {
        let st = json(addr, "/api/study?study=live");
        for c in st["cells"].as_array().unwrap() {
            if c["state"] == "running" && c["partial"].is_object() {
                partial_points.push(c["partial"]["n_points"].as_u64().unwrap());
            }
        }
        let c = json(addr, "/api/study/curves?study=live&task=iris&width=50");
        assert!(c["quantities"]["train_loss"].is_array());
        polls += 1;
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let report = runner.join().expect("the run completes");
    assert!(polls > 0);
    let st = json(addr, "/api/study?study=live");
    assert_eq!(
        st["progress"]["finished"], 4,
        "{report:?} {}",
        st["progress"]
    );
    assert!(
        st["cells"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["partial"].is_null()),
        "finished cells keep no partial curve"
    );
    assert!(
        !partial_points.is_empty(),
        "a running cell's curve was visible before it finished"
    );
    // The initial event and at least one change while the study ran.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while changes.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(changes.load(Ordering::SeqCst) >= 2);
}

/// The same API over a PostgreSQL store (`LRCTL_TEST_POSTGRES`, an admin URL; skipped without).
#[test]
fn a_postgres_store_is_served() {
    let admin = match std::env::var("LRCTL_TEST_POSTGRES") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var_os("LRCTL_REQUIRE_POSTGRES").is_none(),
                "LRCTL_REQUIRE_POSTGRES is set but LRCTL_TEST_POSTGRES is not"
            );
            eprintln!("skipped: set LRCTL_TEST_POSTGRES=postgres://… to serve a PostgreSQL store");
            return;
        }
    };
    let name = format!("lrctl_serve_test_{}", std::process::id());
    let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
    c.execute(&format!("DROP DATABASE IF EXISTS {name}"), &[])
        .unwrap();
    c.execute(&format!("CREATE DATABASE {name}"), &[]).unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    run_at_url(&url);
    let addr = start(&url, None);
    let studies = json(addr, "/api/studies");
    assert_eq!(studies["studies"][0]["progress"]["finished"], 4);
    let curves = json(addr, "/api/study/curves?study=pg&task=iris&width=20");
    assert_eq!(
        curves["quantities"]["train_loss"].as_array().unwrap().len(),
        2
    );
    let st = json(addr, "/api/study?study=pg");
    let id = st["cells"][0]["id"].as_i64().unwrap();
    assert!(
        json(addr, &format!("/api/cell?id={id}"))["curve_points"]
            .as_u64()
            .unwrap()
            > 0
    );
    c.execute(&format!("DROP DATABASE {name} WITH (FORCE)"), &[])
        .unwrap();
}

fn run_at_url(url: &str) {
    common::run_at(url, &study("pg", "iris", "fixed", 2, 60));
}

/// The study page and the curves read only the columns and the task they show; what they
/// answer is what the full rows give (`Snapshot::from_cells` / `Snapshot::read`, as before):
/// tasks with their metrics, methods, seeds, cells left out for an older configuration, the
/// cell list with its numbers, counts, and every curve point.
#[test]
fn narrow_reads_answer_what_the_full_rows_give() {
    use lrctl_store::{
        CellResult, CellSet, ClaimFilter, CurvePointRow, NewCell, Outcome, SqliteStore, Store,
    };
    use lrctl_study::snapshot::Snapshot;

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("narrow.db");
    let mut s = SqliteStore::open(&db).unwrap();
    let study = s
        .upsert_study("narrow", r#"{"methods":[{"name":"m2"},{"name":"m1"}]}"#)
        .unwrap();
    let task = |reg: &str, name: &str| {
        let mut t = lrctl_tasks::registry::find(reg).unwrap();
        t.name = name.to_string();
        serde_json::to_string(&t).unwrap()
    };
    let (a, b) = (task("logreg/iris", "a"), task("lm/tinyshakespeare", "b"));
    let cell = |t: &str, cfg: &str, m: &str, seed: u64, hash: &str| NewCell {
        task: t.into(),
        method: m.into(),
        seed,
        config_hash: hash.into(),
        task_config: cfg.into(),
        method_config: "{}".into(),
    };
    let mut cells = Vec::new();
    for (t, cfg) in [("a", &a), ("b", &b)] {
        for m in ["m1", "m2"] {
            for seed in 0..3 {
                cells.push(cell(t, cfg, m, seed, "h1"));
            }
        }
    }
    s.add_cells(study, &cells).unwrap();
    // One seed of (a, m1) changes configuration: its other seeds are left out.
    s.add_cells(study, &[cell("a", &a, "m1", 0, "h2")]).unwrap();
    let prov = s
        .put_provenance(&lrctl_store::Provenance {
            lrctl_version: "test".into(),
            git_commit: None,
            config_hash: "test".into(),
            machine: "test".into(),
            backend: "none".into(),
        })
        .unwrap();
    let hour = std::time::Duration::from_secs(3600);
    let mut k = 0u64;
    // All but one cell done (finished, diverged or failed), with curves of varying lengths.
    let total = s.cells(study, CellSet::Current).unwrap().len();
    for _ in 0..total - 1 {
        let lease = s
            .claim(&ClaimFilter::study(study), "w", hour)
            .unwrap()
            .unwrap()
            .lease;
        k += 1;
        let n = 5 + (k % 4) * 3;
        let curve: Vec<CurvePointRow> = (0..n)
            .map(|i| CurvePointRow {
                step: (i + 1) * 10,
                epoch: i as f64,
                train_loss: 1.0 / (i as f64 + k as f64),
                lr: 1e-3 * (k as f64),
                effective_lr: 1e-3 / (i as f64 + 1.0),
                grad_norm: 1.0,
                wall_seconds: i as f64,
                eval_loss: (i % 2 == 1).then_some(0.5),
                eval_metric: (i % 2 == 1).then_some(0.1 * k as f64),
            })
            .collect();
        let mut r = CellResult::failed(String::new());
        r.outcome = [Outcome::Finished, Outcome::Diverged, Outcome::Failed][(k % 3) as usize];
        r.reason = None;
        r.steps = n * 10;
        r.total_steps = 60;
        r.final_train_loss = Some(0.25 * k as f64);
        r.validation_metric = Some(0.5 + k as f64);
        r.test_metric = (!k.is_multiple_of(5)).then_some(0.75 * k as f64);
        r.cost_seconds = 1.5 * k as f64;
        r.provenance = prov;
        s.finish(&lease, &r, &curve).unwrap();
    }
    let running = s
        .claim(&ClaimFilter::study(study), "w2", hour)
        .unwrap()
        .unwrap();
    assert!(
        s.claim(&ClaimFilter::study(study), "w3", hour)
            .unwrap()
            .is_none()
    );
    drop(s);

    let addr = start(db.to_str().unwrap(), None);
    let mut s = SqliteStore::open(&db).unwrap();
    let row = s.study("narrow").unwrap().unwrap();
    let full = Snapshot::read(&mut s, row.clone()).unwrap();
    assert!(!full.left_out.is_empty());

    let st = json(addr, "/api/study?study=narrow&limit=5000");
    let tasks: Vec<serde_json::Value> = full
        .tasks
        .iter()
        .map(|t| serde_json::json!({ "name": t.name, "metric": t.metric, "maximize": t.maximize }))
        .collect();
    assert_eq!(st["tasks"], serde_json::json!(tasks));
    assert_ne!(st["tasks"][0]["metric"], st["tasks"][1]["metric"]);
    assert_eq!(st["methods"], serde_json::json!(full.methods));
    assert_eq!(st["methods"], serde_json::json!(["m2", "m1"]));
    assert_eq!(st["seeds"], serde_json::json!(full.seeds));
    let left: Vec<String> = full.left_out.iter().map(ToString::to_string).collect();
    assert_eq!(st["left_out"], serde_json::json!(left));
    let listed = st["cells"].as_array().unwrap();
    assert_eq!(listed.len(), full.cells.len());
    for (got, c) in listed.iter().zip(&full.cells) {
        let r = c.result.as_ref();
        let want = serde_json::json!({
            "id": c.id, "task": c.task, "method": c.method, "seed": c.seed, "state": c.state,
            "outcome": r.map(|r| r.outcome), "attempts": c.attempts, "worker": c.worker,
            "test_metric": r.and_then(|r| r.test_metric),
            "validation_metric": r.and_then(|r| r.validation_metric),
            "final_train_loss": r.and_then(|r| r.final_train_loss),
            "steps": r.map(|r| r.steps), "total_steps": r.map(|r| r.total_steps),
            "cost_seconds": r.map(|r| r.cost_seconds), "partial": null,
        });
        assert_eq!(got, &want);
    }
    assert_eq!(st["workers"][0]["cell"], running.lease.cell.0);
    // Over every current cell, those left out included (as before).
    let costs: Vec<f64> = s
        .cells(row.id, CellSet::Current)
        .unwrap()
        .iter()
        .filter_map(|c| c.result.as_ref().map(|r| r.cost_seconds))
        .collect();
    let eta = costs.iter().sum::<f64>() / costs.len() as f64;
    assert_eq!(st["eta_seconds"].as_f64(), Some(eta));

    // Curves: every point of the mean over seeds, per method, as the report computes it.
    for t in &full.tasks {
        let c = json(
            addr,
            &format!("/api/study/curves?study=narrow&task={}&width=20000", t.name),
        );
        assert_eq!(c["metric"], t.metric);
        assert_eq!(c["methods"], serde_json::json!(full.methods));
        let traces = c["quantities"]["train_loss"].as_array().unwrap();
        let mut n = 0;
        for m in &full.methods {
            let want = full.mean_curve(&t.name, m, |p| Some(p.train_loss), None);
            let Some(got) = traces.iter().find(|s| s["method"] == m.as_str()) else {
                assert!(want.is_empty());
                continue;
            };
            let xs: Vec<f64> = want.iter().map(|p| p.0).collect();
            let ys: Vec<f64> = want.iter().map(|p| p.1).collect();
            assert_eq!(got["x"], serde_json::json!(xs), "{} {m}", t.name);
            assert_eq!(got["y"], serde_json::json!(ys), "{} {m}", t.name);
            n += 1;
        }
        assert_eq!(n, traces.len());
        let seeds = json(
            addr,
            &format!(
                "/api/study/curves?study=narrow&task={}&width=20000&mode=seeds",
                t.name
            ),
        );
        let cells: Vec<i64> = seeds["quantities"]["lr"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["cell"].as_i64().unwrap())
            .collect();
        let mut want: Vec<i64> = Vec::new();
        for m in &full.methods {
            want.extend(
                full.cells_of(&t.name, m)
                    .filter(|c| full.curves.contains_key(&c.id))
                    .map(|c| c.id.0),
            );
        }
        assert_eq!(cells, want, "{}", t.name);
    }
}
