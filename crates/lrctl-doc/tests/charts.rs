//! Structural tests of the SVG charts: well-formed, escaped, with data marks,
//! robust to NaN/inf/empty input.

use lrctl_doc::{
    ColorScale, Heatmap, Interval, IntervalChart, IntervalPanel, LineChart, LineSeries,
    PALETTE_HEX, ProfileChart, Scatter, ScatterPoint, heatmap, interval_chart, line_chart,
    profile_chart, scatter,
};

/// Checks that `svg` is one well-formed `<svg>` element: balanced tags, no
/// raw `<` or stray `&` in text, no NaN/inf leaking into attributes.
fn assert_well_formed(svg: &str) {
    let s = svg.trim();
    assert!(
        s.starts_with("<svg"),
        "does not start with <svg: {}",
        &s[..s.len().min(80)]
    );
    assert!(s.ends_with("</svg>"), "does not end with </svg>");
    assert!(s.contains("viewBox=\"0 0 "), "no viewBox");
    let mut stack: Vec<String> = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('<') {
        check_text(&rest[..i]);
        let end = rest[i..]
            .find('>')
            .map(|j| i + j)
            .expect("unterminated tag");
        let tag = &rest[i + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            let open = stack
                .pop()
                .unwrap_or_else(|| panic!("closing </{name}> without opening"));
            assert_eq!(open, name.trim(), "mismatched tags");
        } else {
            let name: String = tag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(!name.is_empty(), "bad tag <{tag}>");
            assert_eq!(
                tag.matches('"').count() % 2,
                0,
                "unbalanced quotes in <{tag}>"
            );
            let attrs_text = &tag[name.len()..];
            check_text(&attrs_text.replace('"', ""));
            for bad in ["NaN", "inf"] {
                assert!(
                    !attrs_text
                        .split('"')
                        .skip(1)
                        .step_by(2)
                        .any(|v| v.contains(bad)),
                    "{bad} in attributes of <{tag}>"
                );
            }
            if !tag.ends_with('/') {
                stack.push(name);
            }
        }
        rest = &rest[end + 1..];
        if stack.is_empty() {
            assert!(rest.trim().is_empty(), "content after the root element");
        }
    }
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
}

/// Text must not contain raw markup characters; `&` must start an entity.
fn check_text(t: &str) {
    assert!(!t.contains('>'), "raw '>' in text: {t}");
    for (i, _) in t.match_indices('&') {
        let tail = &t[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#"]
                .iter()
                .any(|e| tail.starts_with(e)),
            "stray '&' in text: {tail}"
        );
    }
}

const SHAPES: [&str; 6] = [
    "<polyline",
    "<polygon",
    "<circle",
    "<rect",
    "<path",
    "<line",
];

/// Opening tags of shape elements.
fn shapes(svg: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for sh in SHAPES {
        for (i, _) in svg.match_indices(sh) {
            let end = svg[i..].find('>').map_or(svg.len(), |j| i + j);
            let after = svg[i + sh.len()..].chars().next();
            if after.is_some_and(|c| c == ' ' || c == '/' || c == '>') {
                out.push(&svg[i..end]);
            }
        }
    }
    out
}

/// Shape elements drawn in one of the (non-black, non-yellow) series colours:
/// these are data marks (lines, bands, markers, CI bars) or legend samples.
fn palette_marks(svg: &str) -> usize {
    shapes(svg)
        .iter()
        .filter(|t| {
            PALETTE_HEX[..6]
                .iter()
                .any(|c| t.contains(&format!("\"{c}\"")))
        })
        .count()
}

fn count_with(svg: &str, elem: &str, colour: &str) -> usize {
    shapes(svg)
        .iter()
        .filter(|t| t.starts_with(elem) && t.contains(&format!("stroke=\"{colour}\"")))
        .count()
}

fn steps(n: usize) -> Vec<f64> {
    (0..n).map(|i| i as f64 * 10.0).collect()
}

fn curve(n: usize, scale: f64) -> Vec<f64> {
    (0..n)
        .map(|i| scale * (1.0 + (-(i as f64) / 20.0).exp()))
        .collect()
}

fn learning_curves() -> LineChart {
    let n = 60;
    let mut c = LineChart::new("Validation loss", "training step", "loss (nats)");
    for k in 0..3 {
        let y = curve(n, 1.0 + k as f64 * 0.2);
        let lo = y.iter().map(|v| v - 0.05).collect();
        let hi = y.iter().map(|v| v + 0.05).collect();
        c = c.series(LineSeries::new(format!("method {k}"), steps(n), y).with_band(lo, hi));
    }
    c
}

#[test]
fn line_chart_draws_lines_bands_and_markers() {
    let svg = line_chart(&learning_curves());
    assert_well_formed(&svg);
    let empty = line_chart(&LineChart::new(
        "Validation loss",
        "training step",
        "loss (nats)",
    ));
    assert_well_formed(&empty);
    assert!(empty.contains("no data"));
    assert!(!svg.contains("no data"));
    assert_eq!(palette_marks(&empty), 0);
    // 3 lines + 3 bands + markers + legend entries.
    assert!(
        palette_marks(&svg) >= 3 * 3,
        "only {} marks",
        palette_marks(&svg)
    );
    assert!(shapes(&svg).len() > shapes(&empty).len() + 9);
    // Bands are translucent filled polygons in the series colours.
    let bands = shapes(&svg)
        .iter()
        .filter(|t| t.starts_with("<polygon") && t.contains("opacity=\"0.2\""))
        .count();
    assert_eq!(bands, 3);
    // Axis labels and legend are present.
    for text in ["training step", "loss (nats)", "method 0", "method 2"] {
        assert!(svg.contains(text), "missing {text}");
    }
    // A style index overrides the position: series 0 drawn in colour 5.
    let c = LineChart::new("t", "x", "y")
        .series(LineSeries::new("a", steps(5), curve(5, 1.0)).with_style(5));
    let svg = line_chart(&c);
    assert!(count_with(&svg, "<polyline", PALETTE_HEX[5]) >= 1);
    assert_eq!(count_with(&svg, "<polyline", PALETTE_HEX[0]), 0);
}

#[test]
fn nan_values_break_lines_and_are_never_written() {
    let n = 40;
    let clean = LineChart::new("t", "step", "loss").series(LineSeries::new(
        "solid",
        steps(n),
        curve(n, 1.0),
    ));
    let mut y = curve(n, 1.0);
    y[20] = f64::NAN;
    y[21] = f64::INFINITY;
    let gappy = LineChart::new("t", "step", "loss").series(LineSeries::new("solid", steps(n), y));
    let (a, b) = (line_chart(&clean), line_chart(&gappy));
    assert_well_formed(&a);
    assert_well_formed(&b);
    // Style 0 is solid: one polyline for the data plus one legend sample;
    // the gap splits the data line in two.
    let blue = PALETTE_HEX[0];
    assert_eq!(count_with(&a, "<polyline", blue), 2);
    assert_eq!(count_with(&b, "<polyline", blue), 3);

    // All values unusable -> "no data", no marks.
    let all_nan = LineChart::new("t", "x", "y").series(LineSeries::new(
        "nan",
        vec![f64::NAN; 5],
        vec![f64::NAN; 5],
    ));
    let svg = line_chart(&all_nan);
    assert_well_formed(&svg);
    assert!(svg.contains("no data"));
    assert_eq!(palette_marks(&svg), 0);
}

#[test]
fn log_axes_skip_non_positive_values() {
    let y = vec![1e-3, 0.0, -1.0, 5e-4, f64::NAN, 1e-5, 1e-6];
    let x = steps(y.len());
    let lo: Vec<f64> = y.iter().map(|v| v - 1e-3).collect(); // partly negative: clipped
    let hi: Vec<f64> = y.iter().map(|v| v * 2.0).collect();
    let c = LineChart::new("Effective LR", "step", "learning rate")
        .log_y(true)
        .series(LineSeries::new("lr", x, y).with_band(lo, hi));
    let svg = line_chart(&c);
    assert_well_formed(&svg);
    assert!(palette_marks(&svg) >= 3);
    assert!(svg.contains("1e-"), "log tick labels expected");
    // Only non-positive data on a log axis -> no data.
    let c = LineChart::new("t", "x", "y")
        .log_y(true)
        .series(LineSeries::new("z", vec![1.0, 2.0], vec![0.0, -3.0]));
    assert!(line_chart(&c).contains("no data"));
}

#[test]
fn heatmap_cells_values_and_na() {
    let rows = vec!["a".to_string(), "b".to_string(), "c".to_string()];
    let cols: Vec<String> = (0..4).map(|i| format!("task {i}")).collect();
    let values = vec![
        vec![1.0, 2.0, 3.0, 4.0],
        vec![2.5, f64::NAN, 1.5, 3.5],
        vec![3.0, 1.0], // ragged: two missing cells
    ];
    let mut hm = Heatmap::new("Ranks", rows.clone(), cols.clone(), values);
    hm.value_label = "rank (1 = best)".into();
    let svg = heatmap(&hm);
    assert_well_formed(&svg);
    let empty = heatmap(&Heatmap::new("Ranks", vec![], vec![], vec![]));
    assert_well_formed(&empty);
    assert!(empty.contains("no data"));
    let rects = |s: &str| shapes(s).iter().filter(|t| t.starts_with("<rect")).count();
    // 12 cells + colour-bar steps.
    assert!(rects(&svg) >= rects(&empty) + 12, "{} rects", rects(&svg));
    assert_eq!(svg.matches(">\nn/a\n<").count(), 3, "three n/a cells");
    for v in ["1.50", "3.50", "4.00", "task 3", "rank (1 = best)"] {
        assert!(svg.contains(v), "missing {v}");
    }
    // Diverging scale and fixed range; all-NaN matrix still draws n/a cells.
    hm.scale = ColorScale::Diverging { center: 2.5 };
    hm.range = Some((0.0, 5.0));
    hm.decimals = Some(1);
    let svg = heatmap(&hm);
    assert_well_formed(&svg);
    assert!(svg.contains("2.5"));
    let all_nan = heatmap(&Heatmap::new("x", rows, cols, vec![vec![f64::NAN; 4]; 3]));
    assert_well_formed(&all_nan);
    assert_eq!(all_nan.matches(">\nn/a\n<").count(), 12);
}

#[test]
fn heatmap_many_columns_rotates_labels() {
    let cols: Vec<String> = (0..20)
        .map(|i| format!("a-rather-long-task-name-{i}"))
        .collect();
    let hm = Heatmap::new(
        "wide",
        vec!["m".into()],
        cols,
        vec![(0..20).map(|i| i as f64).collect()],
    );
    let svg = heatmap(&hm);
    assert_well_formed(&svg);
    assert!(svg.contains("rotate(270"));
}

fn intervals() -> IntervalChart {
    let labels: Vec<String> = ["adam", "sgd", "pbt"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let panel = |t: &str, base: f64| {
        IntervalPanel::new(
            t,
            "score",
            (0..3)
                .map(|i| {
                    Interval::new(
                        base + i as f64 * 0.1,
                        base + i as f64 * 0.1 - 0.05,
                        base + i as f64 * 0.1 + 0.05,
                    )
                })
                .collect(),
        )
    };
    IntervalChart::new("Aggregates", labels)
        .panel(panel("IQM", 0.5))
        .panel(panel("Optimality gap", 0.2))
}

#[test]
fn interval_chart_draws_points_and_bars_per_panel() {
    let svg = interval_chart(&intervals());
    assert_well_formed(&svg);
    let empty = interval_chart(&IntervalChart::new("Aggregates", vec![]));
    assert_well_formed(&empty);
    assert!(empty.contains("no data"));
    // Per panel and method: marker + bar + two caps.
    assert!(palette_marks(&svg) >= 2 * 3 * 4, "{}", palette_marks(&svg));
    for t in ["IQM", "Optimality gap", "adam", "pbt", "score"] {
        assert!(svg.contains(t), "missing {t}");
    }
    // Missing intervals show n/a; NaN bounds drop only the bar.
    let mut c = intervals();
    c.panels[0].intervals[1] = Interval::new(f64::NAN, f64::NAN, f64::NAN);
    c.panels[0].intervals[2] = Interval::new(0.7, f64::NAN, 0.8);
    c.panels[1].intervals.truncate(1);
    c.panels[1].reference = Some(0.0);
    let svg = interval_chart(&c);
    assert_well_formed(&svg);
    assert_eq!(svg.matches(">\nn/a\n<").count(), 3);
}

#[test]
fn profile_chart_draws_steps() {
    let tau: Vec<f64> = (0..10).map(|i| 1.0 + i as f64 * 0.25).collect();
    let mut p = ProfileChart::new("Performance profile", "τ", "fraction of tasks");
    p.series.push(LineSeries::new(
        "a",
        tau.clone(),
        (0..10).map(|i| i as f64 / 10.0).collect(),
    ));
    p.series.push(LineSeries::new(
        "b",
        tau.iter().rev().copied().collect(),
        (0..10).map(|i| 1.0 - i as f64 / 10.0).collect(),
    ));
    let svg = profile_chart(&p);
    assert_well_formed(&svg);
    let empty = profile_chart(&ProfileChart::new(
        "Performance profile",
        "τ",
        "fraction of tasks",
    ));
    assert!(empty.contains("no data"));
    // The solid step line of series 0: 10 points -> 1 + 2*9 + 1 vertices.
    let blue = PALETTE_HEX[0];
    let line = shapes(&svg)
        .into_iter()
        .filter(|t| t.starts_with("<polyline") && t.contains(&format!("stroke=\"{blue}\"")))
        .map(|t| {
            t.split("points=\"")
                .nth(1)
                .unwrap_or("")
                .split_whitespace()
                .count()
        })
        .max()
        .unwrap();
    assert!(line >= 19, "step polyline has {line} points");
    assert!(palette_marks(&svg) > palette_marks(&empty) + 4);
    // Cost profile on a log x axis.
    p.log_x = true;
    assert_well_formed(&profile_chart(&p));
}

#[test]
fn scatter_draws_labelled_points() {
    let mut s = Scatter::new("Cost vs quality", "cost (s)", "accuracy (%)");
    s.points.push(ScatterPoint::new("adam", 10.0, 90.0));
    s.points.push(ScatterPoint::new("sgd", 100.0, 92.0));
    let mut p = ScatterPoint::new("pbt", 1000.0, 93.0);
    p.y_interval = Some((92.0, 94.0));
    p.x_interval = Some((800.0, 1200.0));
    s.points.push(p);
    s.points.push(ScatterPoint::new("zero cost", 0.0, 91.0)); // not on a log axis
    s.points.push(ScatterPoint::new("nan", f64::NAN, 91.0));
    let svg = scatter(&s);
    assert_well_formed(&svg);
    for t in ["adam", "sgd", "pbt", "cost (s)", "accuracy (%)"] {
        assert!(svg.contains(t), "missing {t}");
    }
    assert!(!svg.contains("zero cost"));
    assert!(palette_marks(&svg) >= 3 + 2);
    let empty = scatter(&Scatter::new("Cost vs quality", "cost (s)", "accuracy (%)"));
    assert!(empty.contains("no data"));
    assert_eq!(palette_marks(&empty), 0);
}

#[test]
fn labels_are_escaped_in_every_chart() {
    let nasty = "a<b & c>\"d\"";
    let escaped = "a&lt;b &amp; c&gt;&quot;d&quot;";
    let mut lc = learning_curves();
    lc.title = nasty.into();
    lc.x_label = nasty.into();
    lc.series[0].name = nasty.into();
    let mut hm = Heatmap::new(
        nasty,
        vec![nasty.into()],
        vec![nasty.into()],
        vec![vec![1.0]],
    );
    hm.value_label = nasty.into();
    let mut ic = intervals();
    ic.labels[0] = nasty.into();
    ic.panels[0].title = nasty.into();
    let mut pc = ProfileChart::new(nasty, nasty, nasty);
    pc.series
        .push(LineSeries::new(nasty, vec![1.0, 2.0], vec![0.5, 1.0]));
    let mut sc = Scatter::new(nasty, nasty, nasty);
    sc.points.push(ScatterPoint::new(nasty, 1.0, 1.0));
    for svg in [
        line_chart(&lc),
        heatmap(&hm),
        interval_chart(&ic),
        profile_chart(&pc),
        scatter(&sc),
    ] {
        assert_well_formed(&svg);
        assert!(svg.contains(escaped), "escaped label missing");
        assert!(!svg.contains(nasty), "raw label leaked");
    }
}

#[test]
fn hostile_inputs_never_panic() {
    let weird = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        0.0,
        -0.0,
        1e308,
        -1e308,
        5e-324,
        f64::MIN_POSITIVE,
    ];
    let mut charts = Vec::new();
    for &w in &weird {
        for log in [false, true] {
            let c = LineChart {
                title: String::new(),
                x_label: String::new(),
                y_label: String::new(),
                log_x: log,
                log_y: log,
                series: vec![
                    LineSeries::new("", vec![w, 1.0, 2.0], vec![1.0, w, w])
                        .with_band(vec![w], vec![w, w, w, w]),
                    LineSeries::new("single", vec![3.0], vec![3.0]),
                    LineSeries::new("flat", vec![1.0, 1.0], vec![2.0, 2.0]),
                ],
                size: Some((1, 1)),
            };
            charts.push(line_chart(&c));
            let mut p = ProfileChart::new("p", "x", "y");
            p.log_x = log;
            p.series = c.series.clone();
            charts.push(profile_chart(&p));
            let mut s = Scatter::new("s", "x", "y");
            s.log_x = log;
            s.log_y = log;
            let mut pt = ScatterPoint::new("w", w, 1.0);
            pt.x_interval = Some((w, -w));
            pt.y_interval = Some((w, w));
            s.points = vec![pt, ScatterPoint::new("o", 1.0, 1.0)];
            s.size = Some((100_000, 0));
            charts.push(scatter(&s));
        }
        let mut hm = Heatmap::new(
            "h",
            vec![String::new(); 2],
            vec![],
            vec![vec![w, 1.0], vec![], vec![w]],
        );
        hm.range = Some((w, -w));
        hm.decimals = Some(400);
        hm.size = Some((5, 5));
        charts.push(heatmap(&hm));
        hm.scale = ColorScale::Diverging { center: w };
        charts.push(heatmap(&hm));
        let mut ic = IntervalChart::new("i", vec!["a".into(), "b".into()]);
        ic.panels.push(IntervalPanel::new(
            "",
            "",
            vec![Interval::new(w, -w, w), Interval::new(1.0, 0.0, 2.0)],
        ));
        ic.panels.push(IntervalPanel::new("p", "x", vec![]));
        ic.panels[0].reference = Some(w);
        ic.styles = vec![usize::MAX];
        charts.push(interval_chart(&ic));
    }
    for svg in &charts {
        assert_well_formed(svg);
        // Handled by the chart code itself, not by the panic/error fallback.
        assert!(!svg.contains("could not be rendered"));
    }
}

#[test]
fn many_series_cycle_styles_and_wrap_legend() {
    let mut c = LineChart::new("many", "x", "y");
    for k in 0..12 {
        c = c.series(LineSeries::new(
            format!("a fairly long method name {k}"),
            steps(10),
            curve(10, 1.0 + k as f64),
        ));
    }
    let svg = line_chart(&c);
    assert_well_formed(&svg);
    for k in 0..12 {
        assert!(svg.contains(&format!("a fairly long method name {k}")));
    }
    // Dashed styles are drawn as several short segments.
    assert!(count_with(&svg, "<polyline", PALETTE_HEX[1]) > 5);
}

#[test]
fn scatter_labels_of_nearby_points_do_not_overlap() {
    let mut s = Scatter::new("Cost vs quality", "cost (s)", "score");
    for (i, name) in ["adam-fixed", "plateau-adamw", "cawr-default", "cocob"]
        .iter()
        .enumerate()
    {
        // All within a pixel or two of each other.
        s.points.push(ScatterPoint::new(
            *name,
            10.0 + i as f64 * 0.01,
            0.9 + i as f64 * 1e-4,
        ));
    }
    s.points.push(ScatterPoint::new("far", 1000.0, 0.1));
    let svg = scatter(&s);
    assert_well_formed(&svg);
    // The (x, y) of each label's <text> element.
    let at = |label: &str| -> (f64, f64) {
        let end = svg
            .find(&format!(">\n{label}\n</text>"))
            .or_else(|| svg.find(&format!(">{label}</text>")))
            .expect(label);
        let start = svg[..end].rfind("<text").unwrap();
        let tag = &svg[start..end];
        let attr = |a: &str| -> f64 {
            let i = tag.find(&format!(" {a}=\"")).unwrap() + a.len() + 3;
            tag[i..].split('"').next().unwrap().parse().unwrap()
        };
        (attr("x"), attr("y"))
    };
    let labels = ["adam-fixed", "plateau-adamw", "cawr-default", "cocob"];
    for (i, a) in labels.iter().enumerate() {
        for b in &labels[i + 1..] {
            let (pa, pb) = (at(a), at(b));
            let same_side = (pa.0 - pb.0).abs() < 1.0;
            assert!(
                !same_side || (pa.1 - pb.1).abs() >= 13.0,
                "{a} at {pa:?} and {b} at {pb:?} overlap"
            );
        }
    }
}
