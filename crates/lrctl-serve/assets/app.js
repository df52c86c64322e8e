// lrctl dashboard. Every element is built with textContent and attributes, never from
// markup strings: study, task and method names are shown, never parsed as HTML. Numbers come
// from the server (lrctl-report's analysis); nothing statistical is computed here.
"use strict";

const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];
const CELL_PAGE = 300; // cells listed per page (the server filters and pages)
const QUANTITIES = [
  ["train_loss", "training loss", false],
  ["eval_metric", "validation metric", false],
  ["lr", "controller lr", true],
  ["effective_lr", "optimizer effective lr", true],
];

// What a test (or a curious user) can read: points drawn per chart, renders, errors.
window.lrctl = { renders: 0, points: {}, ready: false, errors: [], charts: [], stats: false };
window.addEventListener("error", (e) => {
  const t = e.target && e.target !== window ? ` (${e.target.src || e.target.href || e.target.tagName})` : "";
  window.lrctl.errors.push(`${e.message || "failed to load"}${t}`);
}, true);
window.addEventListener("unhandledrejection", (e) => window.lrctl.errors.push(`unhandled: ${e.reason}`));
document.addEventListener("securitypolicyviolation", (e) => window.lrctl.errors.push(`CSP: ${e.violatedDirective} ${e.blockedURI}`));

let page = { stop: () => {} };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function link(href, text) { return el("a", { href }, text); }
function enc(s) { return encodeURIComponent(s); }
function fmt(x, digits) {
  if (x === null || x === undefined || Number.isNaN(x)) return "–";
  if (typeof x !== "number") return String(x);
  const a = Math.abs(x);
  if (a !== 0 && (a < 1e-3 || a >= 1e5)) return x.toExponential(digits || 3);
  return x.toFixed(digits === undefined ? 4 : digits);
}
function duration(s) {
  if (s === null || s === undefined) return "–";
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}
function status(text) { document.getElementById("status").textContent = text; }

async function api(path) {
  const r = await fetch(path, { credentials: "same-origin" });
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

// Follows a study (or all studies) through server-sent events; calls `onChange` on each change.
function follow(study, onChange) {
  const url = study === null ? "/api/events" : `/api/events?study=${enc(study)}`;
  const es = new EventSource(url);
  es.addEventListener("change", () => { status(`live · updated ${new Date().toLocaleTimeString()}`); onChange(); });
  es.onerror = () => status("live · reconnecting…");
  return () => es.close();
}

function progressBar(p) {
  const total = Math.max(1, p.queued + p.running + p.done);
  const bar = el("div", { class: "bar", title: `queued ${p.queued}, running ${p.running}, finished ${p.finished}, diverged ${p.diverged}, failed ${p.failed}` });
  for (const [cls, n] of [["f", p.finished], ["d", p.diverged], ["x", p.failed], ["r", p.running], ["q", p.queued]]) {
    const s = el("span", { class: cls });
    s.style.width = `${(100 * n) / total}%`;
    bar.append(s);
  }
  return bar;
}

function progressText(p) {
  return `${p.done}/${p.queued + p.running + p.done} done · ${p.running} running · ${p.queued} queued · ${p.finished} finished · ${p.diverged} diverged · ${p.failed} failed`;
}

function table(head, rows) {
  const t = el("table", {}, el("thead", {}, el("tr", {}, ...head.map((h) => el("th", {}, h)))));
  const b = el("tbody");
  for (const r of rows) b.append(el("tr", {}, ...r.map((c) => (c instanceof Node && c.tagName === "TD" ? c : el("td", {}, c)))));
  t.append(b);
  return t;
}
function num(x, d) { return el("td", { class: "num" }, fmt(x, d)); }

// ---- studies -------------------------------------------------------------------------------

async function studiesPage(main) {
  const render = async () => {
    const d = await api("/api/studies");
    const rows = d.studies.map((s) => [
      link(`#/study/${enc(s.name)}`, s.name),
      progressBar(s.progress),
      progressText(s.progress),
      String(s.workers.length),
      duration(s.eta_seconds),
    ]);
    const workers = d.studies.flatMap((s) => s.workers.map((w) => [s.name, w.worker, link(`#/cell/${w.cell}`, `${w.task} · ${w.method} · seed ${w.seed}`), String(w.attempt), w.heartbeat_at || "–", w.expired ? "expired" : w.lease_expires_at]));
    main.replaceChildren(
      el("h1", {}, "Studies"),
      d.studies.length ? table(["study", "progress", "", "workers", "ETA"], rows) : el("p", { class: "muted" }, "No studies in this store yet."),
      el("h2", {}, "Workers and leases"),
      workers.length ? table(["study", "worker", "cell", "attempt", "heartbeat", "lease until"], workers) : el("p", { class: "muted" }, "No cell is running."),
    );
    markRendered();
  };
  await render();
  return follow(null, render);
}

// ---- charts ----------------------------------------------------------------------------------

// Aligns series with different x onto one sorted x (uPlot's data layout), null where absent.
function align(seriesList, withBand) {
  const xs = new Set();
  for (const s of seriesList) for (const x of s.x) xs.add(x);
  const x = Array.from(xs).sort((a, b) => a - b);
  const at = new Map(x.map((v, i) => [v, i]));
  const cols = [x];
  for (const s of seriesList) {
    const parts = withBand && s.lo ? [s.y, s.lo, s.hi] : [s.y];
    for (const p of parts) {
      const col = new Array(x.length).fill(null);
      s.x.forEach((v, i) => { const y = p[i]; col[at.get(v)] = Number.isFinite(y) ? y : null; });
      cols.push(col);
    }
  }
  return cols;
}

function colourOf(methods, m) { return PALETTE[Math.max(0, methods.indexOf(m)) % PALETTE.length]; }

function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

function makeChart(box, title, seriesList, methods, opts) {
  const band = opts.mode === "mean";
  const data = align(seriesList, band);
  const series = [{ label: "step" }];
  const bands = [];
  seriesList.forEach((s) => {
    const c = colourOf(methods, s.method);
    const name = s.seed === null || s.seed === undefined ? s.method : `${s.method} · seed ${s.seed}`;
    const main = series.length;
    series.push({ label: name + (s.partial ? " (partial)" : ""), stroke: c, width: 1.5, spanGaps: true, show: !opts.hidden.has(s.method), dash: s.partial ? [6, 3] : undefined });
    if (band && s.lo) {
      // `class` goes to the series' legend row, which app.css hides: the band is drawn, not listed.
      series.push({ label: `${s.method} −SE`, class: "lrctl-band", stroke: alpha(c, 0.25), width: 0.5, spanGaps: true, show: !opts.hidden.has(s.method) });
      series.push({ label: `${s.method} +SE`, class: "lrctl-band", stroke: alpha(c, 0.25), width: 0.5, spanGaps: true, show: !opts.hidden.has(s.method) });
      bands.push({ series: [main + 2, main + 1], fill: alpha(c, 0.12) });
    }
  });
  const width = Math.max(320, Math.min(box.clientWidth || 560, 900));
  const u = new uPlot({
    title,
    width,
    height: 260,
    series,
    bands,
    scales: { x: { time: false }, y: opts.log ? { distr: 3 } : {} },
    axes: [{ label: "step", space: 60, values: ticks }, { values: ticks, size: 56 }],
    cursor: { drag: { x: true, y: true, uni: 30 } },
    legend: { live: true },
  }, data, box);
  u.lrctlMethods = seriesList.map((s) => s.method);
  return u;
}

// Tick labels short enough not to collide (50k, 1.2M; 3 significant digits, so the ticks of a
// log axis spanning less than a decade stay distinct: 0.0005, 0.00075, 0.001).
function compact(v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "";
  const a = Math.abs(v);
  if (a >= 1e6) return `${+(v / 1e6).toPrecision(3)}M`;
  if (a >= 1e4) return `${+(v / 1e3).toPrecision(3)}k`;
  if (a !== 0 && a < 1e-3) return v.toExponential(1);
  return `${+v.toPrecision(3)}`;
}
function ticks(_u, splits) {
  return splits.map(compact);
}

// ---- study -----------------------------------------------------------------------------------

async function studyPage(main, name) {
  const state = { task: null, mode: "mean", logLoss: false, hidden: new Set(), charts: [], cellFilter: "", cellOffset: 0, stopped: false };
  const head = el("div");
  const controls = el("div", { class: "controls" });
  const tasksBox = el("div", { class: "tasks" });
  const methodsBox = el("div", { class: "controls methods" });
  const charts = el("div", { class: "charts" });
  const stats = el("div");
  const cells = el("div");
  main.replaceChildren(head, tasksBox, controls, methodsBox, charts, el("h2", {}, "Results"), stats, el("h2", {}, "Cells"), cells);

  let study = null;
  // The server filters and pages the cells: a study may have tens of thousands.
  const loadStudy = async () => {
    study = await api(`/api/study?study=${enc(name)}&filter=${enc(state.cellFilter)}&offset=${state.cellOffset}&limit=${CELL_PAGE}`);
    head.replaceChildren(
      el("h1", {}, study.name),
      el("div", { class: "controls" }, progressBar(study.progress), progressText(study.progress), ` · ETA ${duration(study.eta_seconds)} · ${study.workers.length} worker(s)`),
      ...study.left_out.map((l) => el("p", { class: "muted" }, l)),
    );
    if (state.task === null && study.tasks.length) state.task = study.tasks[0].name;
    tasksBox.replaceChildren("Task: ", ...study.tasks.map((t) => el("button", { class: t.name === state.task ? "on" : "", onclick: () => { state.task = t.name; loadStudy(); loadCurves(true); } }, t.name)));
    methodsBox.replaceChildren("Methods: ", ...study.methods.map((m) => {
      const box = el("input", { type: "checkbox", "data-method": m });
      box.checked = !state.hidden.has(m);
      box.addEventListener("change", () => { if (box.checked) state.hidden.delete(m); else state.hidden.add(m); applyHidden(); });
      const sw = el("span", { class: "swatch" });
      sw.style.background = colourOf(study.methods, m);
      return el("label", {}, box, sw, m);
    }));
    renderCells();
  };

  const applyHidden = () => {
    for (const u of state.charts) {
      u.series.forEach((s, i) => {
        if (i === 0) return;
        const m = methodOfSeries(u, i);
        if (m !== null) u.setSeries(i, { show: !state.hidden.has(m) });
      });
    }
  };
  const methodOfSeries = (u, i) => {
    const lab = u.series[i].label || "";
    for (const m of study.methods) if (lab === m || lab.startsWith(`${m} ·`) || lab.startsWith(`${m} (`) || lab.startsWith(`${m} −`) || lab.startsWith(`${m} +`)) return m;
    return null;
  };

  const modeSel = el("select", {}, el("option", { value: "mean" }, "mean ± SE over seeds"), el("option", { value: "seeds" }, "every seed"));
  modeSel.addEventListener("change", () => { state.mode = modeSel.value; loadCurves(true); });
  const logBox = el("input", { type: "checkbox" });
  logBox.addEventListener("change", () => { state.logLoss = logBox.checked; loadCurves(true); });
  controls.replaceChildren(el("label", {}, "Curves: ", modeSel), el("label", {}, logBox, " log scale for loss and metric"), el("span", { class: "muted" }, "drag to zoom, double-click to reset; hover for values"));

  let zoomed = false;
  const loadCurves = async (rebuild) => {
    if (state.task === null) { charts.replaceChildren(el("p", { class: "muted" }, "No cells yet.")); return; }
    const width = Math.max(200, Math.min(1200, Math.round(charts.clientWidth / 2) || 600));
    const d = await api(`/api/study/curves?study=${enc(name)}&task=${enc(state.task)}&width=${width}&mode=${state.mode}`);
    const same = !rebuild && state.charts.length === QUANTITIES.length && QUANTITIES.every(([q], i) => {
      const u = state.charts[i];
      const labels = d.quantities[q].map((s) => s.method + (s.seed ?? ""));
      return u.lrctlKey === labels.join("\u0000");
    });
    if (same) {
      QUANTITIES.forEach(([q], i) => state.charts[i].setData(align(d.quantities[q], state.mode === "mean"), !zoomed));
    } else {
      for (const u of state.charts) u.destroy();
      state.charts = [];
      zoomed = false;
      charts.replaceChildren();
      for (const [q, label, log] of QUANTITIES) {
        const box = el("div", { class: "chart", "data-quantity": q });
        charts.append(box);
        const title = q === "eval_metric" ? `validation ${d.metric}` : label;
        const list = d.quantities[q];
        if (!list.length) { box.append(el("h3", {}, title), el("p", { class: "muted" }, "no points yet")); continue; }
        const u = makeChart(box, title, list, study.methods, { mode: state.mode, log: log || state.logLoss, hidden: state.hidden });
        u.lrctlKey = list.map((s) => s.method + (s.seed ?? "")).join("\u0000");
        u.over.addEventListener("mouseup", () => { zoomed = true; });
        u.over.addEventListener("dblclick", () => { zoomed = false; });
        state.charts.push(u);
      }
    }
    window.lrctl.charts = state.charts;
    for (const [q] of QUANTITIES) window.lrctl.points[q] = d.quantities[q].reduce((n, s) => n + s.n, 0);
    window.lrctl.live = d.live;
    markRendered();
  };

  // The statistics are computed on the server in the background: while they are pending the
  // page shows what it has (an earlier state's numbers, or a note) and asks again shortly.
  let statsAt = 0, statsBusy = false, statsTimer = null;
  const loadStats = async () => {
    if (statsBusy || state.stopped) return;
    statsBusy = true;
    statsAt = Date.now();
    try {
      const a = await api(`/api/study/stats?study=${enc(name)}`);
      if (state.stopped) return;
      if (Array.isArray(a.tasks)) { stats.replaceChildren(...analysisView(a)); window.lrctl.stats = a.pending ? "pending" : "ready"; }
      else stats.replaceChildren(el("p", { class: "muted" }, "Computing the statistics…"));
      clearTimeout(statsTimer);
      if (a.pending) statsTimer = setTimeout(() => loadStats().catch(showError), 1000);
    } finally { statsBusy = false; }
  };

  const filter = el("input", { type: "search", placeholder: "filter cells (task, method, seed, state)" });
  const cellsBody = el("div");
  let filterTimer = null;
  filter.addEventListener("input", () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => { state.cellFilter = filter.value; state.cellOffset = 0; loadStudy().catch(showError); }, 200);
  });
  const turnPage = (delta) => { state.cellOffset = Math.max(0, state.cellOffset + delta); loadStudy().catch(showError); };
  cells.replaceChildren(filter, cellsBody);
  const renderCells = () => {
    const rows = study.cells.map((c) => [
      link(`#/cell/${c.id}`, String(c.id)), c.task, c.method, String(c.seed),
      c.state + (c.outcome ? ` · ${c.outcome}` : "") + (c.partial && c.state !== "done" ? ` · partial curve (${c.partial.n_points} pts)` : ""),
      num(c.test_metric), num(c.final_train_loss), duration(c.cost_seconds),
    ]);
    const from = study.cells_offset, to = from + study.cells.length;
    const pager = el("p", { class: "muted" },
      study.cells_matching ? `cells ${from + 1}–${to} of ${study.cells_matching} ` : "no matching cell ",
      from > 0 ? el("button", { onclick: () => turnPage(-CELL_PAGE) }, "previous") : "",
      to < study.cells_matching ? el("button", { onclick: () => turnPage(CELL_PAGE) }, "next") : "");
    cellsBody.replaceChildren(table(["cell", "task", "method", "seed", "state", "test metric", "final train loss", "cost"], rows), pager);
  };

  await loadStudy();
  await loadCurves(true);
  loadStats().catch(showError);
  const stop = follow(name, async () => {
    await loadStudy();
    await loadCurves(false);
    if (Date.now() - statsAt > 5000) loadStats().catch(showError);
  });
  return () => { state.stopped = true; clearTimeout(statsTimer); clearTimeout(filterTimer); stop(); };
}

function interval(iv) {
  if (!iv) return "–";
  return `${fmt(iv.point ?? iv.estimate ?? iv.mean, 3)} [${fmt(iv.lo ?? iv.low, 3)}, ${fmt(iv.hi ?? iv.high, 3)}]`;
}

// Views of lrctl-report's analysis (the same numbers the static report shows).
function analysisView(a) {
  const out = [];
  for (const t of a.tasks) {
    out.push(el("h3", {}, `${t.name} (${t.metric}, ${t.maximize ? "higher" : "lower"} is better)`));
    out.push(table(["method", "held-out metric", "final train loss", "finished", "diverged", "failed"], t.finals.map((r) => [
      el("span", { class: r.best ? "best" : "" }, r.method + (r.best ? " ★" : "")),
      r.metric ? `${fmt(r.metric.mean)} ± ${fmt(r.metric.se)}` : "–",
      r.train_loss ? `${fmt(r.train_loss.mean)} ± ${fmt(r.train_loss.se)}` : "–",
      `${r.finished}/${r.cells}`, String(r.diverged), String(r.failed),
    ])));
  }
  const x = a.across;
  if (!x) { out.push(el("p", { class: "muted" }, "Across-task statistics appear once cells have held-out scores.")); return out; }
  out.push(el("h3", {}, "Aggregates over tasks (normalised scores, 95% bootstrap intervals)"));
  const agg = x.aggregates;
  const aggNames = Object.keys(agg).filter((k) => Array.isArray(agg[k]));
  out.push(table(["method", ...aggNames], a.methods.map((m, i) => [m, ...aggNames.map((k) => interval(agg[k][i]))])));
  if (Array.isArray(x.improvement) && x.improvement.length) {
    out.push(el("h3", {}, "Probability of improvement P(row beats column)"));
    out.push(table(["", ...a.methods], a.methods.map((m, i) => [m, ...x.improvement[i].map((p) => num(p, 2))])));
  }
  if (x.ranks && Array.isArray(x.ranks.mean)) {
    out.push(el("h3", {}, "Mean rank"));
    out.push(table(["method", "mean rank"], a.methods.map((m, i) => [m, num(x.ranks.mean[i], 2)])));
  }
  out.push(el("h3", {}, "Portfolio and selection"));
  out.push(el("pre", {}, JSON.stringify({ portfolio: x.portfolio, selection: x.selection }, null, 2)));
  if (x.profile) {
    out.push(el("h3", {}, "Performance profile"));
    const box = el("div", { class: "chart" });
    out.push(box);
    requestAnimationFrame(() => profileChart(box, x.profile, a.methods));
  }
  return out;
}

function profileChart(box, p, methods) {
  const taus = p.tau || p.taus || p.thresholds;
  const frac = p.fraction || p.fractions || p.curves;
  if (!Array.isArray(taus) || !Array.isArray(frac)) { box.append(el("pre", {}, JSON.stringify(p, null, 2))); return; }
  const series = [{ label: "τ" }, ...methods.map((m) => ({ label: m, stroke: colourOf(methods, m), width: 1.5 }))];
  const data = [taus, ...frac.map((row) => row.map((v) => (Number.isFinite(v) ? v : null)))];
  new uPlot({ title: "fraction of runs with normalised score > τ", width: Math.max(320, Math.min(box.clientWidth || 560, 900)), height: 240, series, scales: { x: { time: false } } }, data, box);
}

// ---- cell ------------------------------------------------------------------------------------

async function cellPage(main, id) {
  const render = async () => {
    const c = await api(`/api/cell?id=${enc(id)}`);
    const charts = el("div", { class: "charts" });
    main.replaceChildren(
      el("h1", {}, `Cell ${c.id}: ${c.task} · ${c.method} · seed ${c.seed}`),
      el("p", {}, "Study ", c.study === null ? "?" : link(`#/study/${enc(c.study)}`, c.study), ` · ${c.state}`, c.result ? ` · ${c.result.outcome}` : "", c.partial ? el("span", { class: "partial" }, " · partial curve") : "", ` · ${c.curve_points} curve points · attempts ${c.attempts}`),
      charts,
      el("h2", {}, "Result"), el("pre", {}, JSON.stringify(c.result, null, 2)),
      el("h2", {}, "Choice (race / auto)"), el("pre", {}, JSON.stringify(c.selection, null, 2)),
      el("h2", {}, "Tuning"), el("pre", {}, JSON.stringify(c.tuning, null, 2)),
      el("h2", {}, `Tuning trials (${c.trials.length})`),
      table(["trial", "config", "budget", "score", "outcome", "steps", "seconds"], c.trials.map((t) => [String(t.trial), JSON.stringify(t.config), String(t.budget), num(t.score), t.outcome, String(t.steps), num(t.seconds, 1)])),
      el("h2", {}, "Configuration"), el("pre", {}, JSON.stringify({ task: c.task_config, method: c.method_config, config_hash: c.config_hash }, null, 2)),
      el("h2", {}, "Provenance"), el("pre", {}, JSON.stringify(c.provenance, null, 2)),
    );
    for (const [q, label, log] of QUANTITIES) {
      const s = c.curves[q];
      const box = el("div", { class: "chart", "data-quantity": q });
      charts.append(box);
      if (!s.x.length) continue;
      makeChart(box, label, [{ method: c.method, x: s.x, y: s.y, n: s.n, partial: c.partial }], [c.method], { mode: "seeds", log, hidden: new Set() });
      window.lrctl.points[q] = s.n;
    }
    markRendered();
    return c;
  };
  const c = await render();
  return c.study === null ? () => {} : follow(c.study, render);
}

// ---- compare ---------------------------------------------------------------------------------

async function comparePage(main, a, b) {
  const d = await api("/api/studies");
  const pick = (v) => el("select", {}, ...d.studies.map((s) => { const o = el("option", { value: s.name }, s.name); if (s.name === v) o.selected = true; return o; }));
  const sa = pick(a), sb = pick(b);
  const go = el("button", { onclick: () => { location.hash = `#/compare/${enc(sa.value)}/${enc(sb.value)}`; } }, "compare");
  const out = el("div");
  main.replaceChildren(el("h1", {}, "Compare two studies"), el("div", { class: "controls" }, sa, " vs ", sb, go), out);
  if (a && b) {
    const r = await api(`/api/compare?a=${enc(a)}&b=${enc(b)}`);
    out.replaceChildren(el("p", { class: "muted" }, "Methods are named STUDY:method; statistics over the tasks the studies share."), ...analysisView(r.analysis));
  }
  markRendered();
  return () => {};
}

// ---- routing ---------------------------------------------------------------------------------

function markRendered() {
  if (!window.lrctl.ready) window.lrctl.readyAt = performance.now();
  window.lrctl.renders += 1;
  window.lrctl.ready = true;
}
function showError(e) {
  window.lrctl.errors.push(String(e && e.message ? e.message : e));
  status(`error: ${e && e.message ? e.message : e}`);
}

async function route() {
  page.stop();
  page = { stop: () => {} };
  const main = document.getElementById("main");
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  try {
    let stop;
    if (parts[0] === "study" && parts[1] !== undefined) stop = await studyPage(main, parts[1]);
    else if (parts[0] === "cell" && parts[1] !== undefined) stop = await cellPage(main, parts[1]);
    else if (parts[0] === "compare") stop = await comparePage(main, parts[1], parts[2]);
    else stop = await studiesPage(main);
    page.stop = stop || (() => {});
  } catch (e) {
    main.replaceChildren(el("p", { class: "err" }, String(e.message || e)));
    showError(e);
  }
}

window.addEventListener("hashchange", route);
route();
