//! Pictures drawn on the server as SVG: the dashboard's charts and the
//! picture of a flow (widgets as boxes, lines as labelled arrows, an
//! execution's path highlighted).
//!
//! Every text that reaches the SVG goes through [`escape`]; colours are
//! presentation attributes, not inline styles, so the pages' CSP holds; each
//! picture has a `<title>` and `role="img"` for screen readers, and the pages
//! show the same numbers as text beside it.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::fmt::Write as _;

/// `text` safe inside SVG/HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// At most `n` characters of `text`, with an ellipsis when cut.
fn clip(text: &str, n: usize) -> String {
    if text.chars().count() <= n {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(n.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// The colour of an execution or delivery status (dark enough for text contrast).
pub fn status_colour(status: &str) -> &'static str {
    match status {
        "completed" | "delivered" => "#1b7f3b",
        "failed" => "#b3261e",
        "running" | "pending" => "#1f5fbf",
        _ => "#555555",
    }
}

/// Stacked bars of counts per minute over `minutes` minutes from `start`
/// (unix ms): `counts` is (minute start, status, count).
pub fn per_minute_chart(
    title: &str,
    start: i64,
    minutes: usize,
    counts: &[(i64, String, i64)],
) -> String {
    let (w, h, pad) = (minutes as f64, 160.0, 20.0);
    let mut stacks: BTreeMap<usize, Vec<(&str, i64)>> = BTreeMap::new();
    for (minute, status, n) in counts {
        let i = ((minute - start) / 60_000).clamp(0, minutes as i64 - 1) as usize;
        stacks.entry(i).or_default().push((status, *n));
    }
    let max = stacks
        .values()
        .map(|s| s.iter().map(|(_, n)| n).sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let mut svg = format!(
        r##"<svg class="chart" viewBox="0 0 {w} {}" preserveAspectRatio="none" role="img" aria-labelledby="per-minute-title"><title id="per-minute-title">{}</title><rect x="0" y="0" width="{w}" height="{}" fill="#f7f7f9"/>"##,
        h + pad,
        escape(title),
        h + pad
    );
    for (i, stack) in &stacks {
        let mut y = h + pad;
        for (status, n) in stack {
            let bar = (*n as f64) / max * h;
            y -= bar;
            let _ = write!(
                svg,
                // 3 minutes wide, so a lone minute is visible among 1440.
                r#"<rect x="{}" y="{y:.2}" width="3" height="{bar:.2}" fill="{}"/>"#,
                i.saturating_sub(1),
                status_colour(status)
            );
        }
    }
    let _ = write!(
        svg,
        r##"<line x1="0" y1="{y}" x2="{w}" y2="{y}" stroke="#888888" stroke-width="1"/></svg>"##,
        y = h + pad
    );
    svg
}

/// Horizontal bars: (label, value, colour), with the value written as `unit`.
pub fn bar_chart(id: &str, title: &str, bars: &[(String, f64, &str)], unit: &str) -> String {
    let (label_w, bar_w, row) = (220.0, 320.0, 28.0);
    let height = (bars.len().max(1) as f64) * row + 8.0;
    let max = bars.iter().map(|b| b.1).fold(0.0_f64, f64::max).max(1e-9);
    let mut svg = format!(
        r#"<svg class="bars" viewBox="0 0 {} {height}" role="img" aria-labelledby="{id}-title"><title id="{id}-title">{}</title>"#,
        label_w + bar_w + 110.0,
        escape(title)
    );
    if bars.is_empty() {
        svg.push_str(r##"<text x="4" y="20" fill="#333333" font-size="14">nothing yet</text>"##);
    }
    for (i, (label, value, colour)) in bars.iter().enumerate() {
        let y = i as f64 * row + 4.0;
        let len = value / max * bar_w;
        let _ = write!(
            svg,
            r##"<text x="{x}" y="{ty}" text-anchor="end" fill="#1a1a1a" font-size="13">{label}</text><rect x="{bx}" y="{y}" width="{len:.2}" height="{bh}" fill="{colour}"/><text x="{vx:.2}" y="{ty}" fill="#1a1a1a" font-size="13">{value} {unit}</text>"##,
            x = label_w - 6.0,
            ty = y + 15.0,
            label = escape(&clip(label, 28)),
            bx = label_w,
            bh = row - 8.0,
            vx = label_w + len + 6.0,
            value = (value * 100.0).round() / 100.0,
            unit = escape(unit),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A widget of a flow document as the picture needs it.
struct Node {
    id: String,
    kind: String,
    /// (label, target) of each output line that leads somewhere.
    lines: Vec<(usize, String, String)>,
}

/// The labels of a widget's output lines, by its type.
fn line_label(kind: &str, widget: &serde_json::Value, i: usize) -> String {
    match kind {
        "webhook" | "internal_webhook" => ["success", "failed"].get(i).unwrap_or(&"?").to_string(),
        "condition" => {
            let cases = widget["cases"].as_array().map(Vec::as_slice).unwrap_or(&[]);
            match cases.get(i) {
                Some(case) => {
                    let w = &case["when"];
                    let value = w["value"].as_str().unwrap_or_default();
                    let text = format!(
                        "{} {} {}",
                        w["var"].as_str().unwrap_or_default(),
                        w["op"].as_str().unwrap_or_default(),
                        value
                    );
                    clip(text.trim(), 24)
                }
                None => "otherwise".to_owned(),
            }
        }
        _ => "next".to_owned(),
    }
}

/// What of an execution to highlight: the widgets it ran and the lines it took.
#[derive(Default)]
pub struct Path {
    pub widgets: BTreeSet<String>,
    /// (widget, line index).
    pub lines: BTreeSet<(String, usize)>,
    /// Widgets a validation error names, with its message: marked in red,
    /// the message written under the box.
    pub invalid: BTreeMap<String, String>,
}

impl Path {
    /// The path of an execution's trace (`[{widget, line}, …]`).
    pub fn of_trace(trace: &serde_json::Value) -> Path {
        let mut path = Path::default();
        for step in trace.as_array().map(Vec::as_slice).unwrap_or(&[]) {
            let Some(widget) = step["widget"].as_str() else {
                continue;
            };
            path.widgets.insert(widget.to_owned());
            if let Some(line) = step["line"].as_u64() {
                path.lines.insert((widget.to_owned(), line as usize));
            }
        }
        path
    }
}

/// The picture of a flow document (`{start, widgets: {id: {type, lines}}}`),
/// laid out in layers by distance from the roots; `path` is highlighted.
pub fn flow_picture(document: &serde_json::Value, path: &Path) -> String {
    let empty = serde_json::Map::new();
    let widgets = document["widgets"].as_object().unwrap_or(&empty);
    let nodes: Vec<Node> = widgets
        .iter()
        .map(|(id, w)| {
            let kind = w["type"].as_str().unwrap_or("?").to_owned();
            let lines = w["lines"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .enumerate()
                .filter_map(|(i, t)| {
                    t.as_str()
                        .map(|t| (i, line_label(&kind, w, i), t.to_owned()))
                })
                .collect();
            Node {
                id: id.clone(),
                kind,
                lines,
            }
        })
        .collect();
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    // Layers: breadth-first from the roots, in the order start, on_complete,
    // on_remote_hangup; widgets no root reaches go in a last layer.
    let mut layer: Vec<Option<usize>> = vec![None; nodes.len()];
    let mut queue = VecDeque::new();
    for root in ["start", "on_complete", "on_remote_hangup"] {
        if let Some(&i) = document[root].as_str().and_then(|r| index.get(r))
            && layer[i].is_none()
        {
            layer[i] = Some(0);
            queue.push_back(i);
        }
    }
    while let Some(i) = queue.pop_front() {
        for (_, _, target) in &nodes[i].lines {
            if let Some(&j) = index.get(target.as_str())
                && layer[j].is_none()
            {
                layer[j] = Some(layer[i].unwrap_or(0) + 1);
                queue.push_back(j);
            }
        }
    }
    let deepest = layer.iter().flatten().max().copied().map_or(0, |d| d + 1);
    let mut rows: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, l) in layer.iter().enumerate() {
        rows.entry(l.unwrap_or(deepest)).or_default().push(i);
    }
    let (bw, bh, gx, gy, margin) = (170.0, 50.0, 50.0, 90.0, 30.0);
    let widest = rows.values().map(Vec::len).max().unwrap_or(1) as f64;
    let width = widest * (bw + gx) + 2.0 * margin;
    let height = rows.len().max(1) as f64 * (bh + gy) + margin;
    let mut pos = vec![(0.0, 0.0); nodes.len()];
    for (r, (_, members)) in rows.iter().enumerate() {
        let row_w = members.len() as f64 * (bw + gx) - gx;
        let x0 = (width - row_w) / 2.0;
        for (k, &i) in members.iter().enumerate() {
            pos[i] = (x0 + k as f64 * (bw + gx), margin + r as f64 * (bh + gy));
        }
    }
    let mut svg = format!(
        r##"<svg class="flow" viewBox="0 0 {width} {height}" role="img" aria-labelledby="flow-title"><title id="flow-title">Picture of the flow: {} widgets</title><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555555"/></marker><marker id="arrow-hot" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#c25e00"/></marker></defs>"##,
        nodes.len()
    );
    // Arrows first, so boxes sit on top of them.
    for (i, node) in nodes.iter().enumerate() {
        let n_lines = node.lines.len().max(1) as f64;
        for (k, (line, label, target)) in node.lines.iter().enumerate() {
            let Some(&j) = index.get(target.as_str()) else {
                continue;
            };
            let hot = path.lines.contains(&(node.id.clone(), *line));
            let (sx, sy) = (
                pos[i].0 + bw * (k as f64 + 1.0) / (n_lines + 1.0),
                pos[i].1 + bh,
            );
            let (tx, ty) = (pos[j].0 + bw / 2.0, pos[j].1);
            let (stroke, marker, sw) = if hot {
                ("#c25e00", "arrow-hot", 3)
            } else {
                ("#555555", "arrow", 1)
            };
            let d = if ty > sy {
                format!(
                    "M{sx:.1},{sy:.1} C{sx:.1},{:.1} {tx:.1},{:.1} {tx:.1},{ty:.1}",
                    sy + gy / 2.0,
                    ty - gy / 2.0
                )
            } else {
                // Back to an earlier layer: around the right side.
                let side = width - margin / 2.0;
                format!(
                    "M{sx:.1},{sy:.1} C{side:.1},{:.1} {side:.1},{:.1} {tx:.1},{ty:.1}",
                    sy + gy / 2.0,
                    ty - gy / 2.0
                )
            };
            let (lx, ly) = ((sx + tx) / 2.0, (sy + ty) / 2.0);
            let _ = write!(
                svg,
                r##"<g class="line{}" data-from="{}" data-line="{line}"><path d="{d}" fill="none" stroke="{stroke}" stroke-width="{sw}" marker-end="url(#{marker})"/><text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" fill="#1a1a1a" font-size="12" stroke="#ffffff" stroke-width="3" paint-order="stroke">{}</text></g>"##,
                if hot { " taken" } else { "" },
                escape(&node.id),
                escape(label)
            );
        }
    }
    for (i, node) in nodes.iter().enumerate() {
        let hot = path.widgets.contains(&node.id);
        let bad = path.invalid.get(&node.id);
        let (x, y) = pos[i];
        let root = ["start", "on_complete", "on_remote_hangup"]
            .into_iter()
            .find(|r| document[*r].as_str() == Some(node.id.as_str()));
        let _ = write!(
            svg,
            r##"<g class="widget{}" data-widget="{}"><rect x="{x:.1}" y="{y:.1}" width="{bw}" height="{bh}" rx="8" fill="{}" stroke="{}" stroke-width="{}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#1a1a1a" font-size="14" font-weight="bold">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#333333" font-size="12">{}</text></g>"##,
            match (hot, bad) {
                (_, Some(_)) => " invalid",
                (true, _) => " ran",
                _ => "",
            },
            escape(&node.id),
            match (hot, bad) {
                (_, Some(_)) => "#fdecea",
                (true, _) => "#ffe9cc",
                _ => "#ffffff",
            },
            match (hot, bad) {
                (_, Some(_)) => "#b3261e",
                (true, _) => "#c25e00",
                _ => "#444444",
            },
            if hot || bad.is_some() { 3 } else { 1 },
            x + bw / 2.0,
            y + 21.0,
            escape(&clip(&node.id, 20)),
            x + bw / 2.0,
            y + 39.0,
            escape(&match root {
                Some(r) => format!("{} · {r}", node.kind),
                None => node.kind.clone(),
            }),
        );
    }
    // The errors last, so no arrow crosses them.
    for (i, node) in nodes.iter().enumerate() {
        if let Some(message) = path.invalid.get(&node.id) {
            let (x, y) = pos[i];
            let _ = write!(
                svg,
                r##"<text class="widget-error-text" x="{:.1}" y="{:.1}" text-anchor="middle" fill="#8c1d18" font-size="12" font-weight="bold" stroke="#ffffff" stroke-width="3" paint-order="stroke">{}</text>"##,
                x + bw / 2.0,
                y + bh + 15.0,
                escape(&clip(message, 34))
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_escapes_names_and_highlights_the_path() {
        let doc = serde_json::json!({
            "start": "a<b",
            "widgets": {
                "a<b": {"type": "webhook", "lines": ["ok", null]},
                "ok": {"type": "store_variable", "lines": [null]}
            }
        });
        let trace =
            serde_json::json!([{"widget": "a<b", "line": 0}, {"widget": "ok", "line": null}]);
        let svg = flow_picture(&doc, &Path::of_trace(&trace));
        assert!(!svg.contains("a<b"), "{svg}");
        assert!(svg.contains("a&lt;b"));
        assert!(svg.contains(r#"class="line taken""#));
        assert!(svg.contains(">success<"));
        assert_eq!(svg.matches(r#"class="widget ran""#).count(), 2);
    }

    #[test]
    fn charts_escape_their_labels() {
        let svg = bar_chart("x", "t", &[("<i>".into(), 2.0, "#000000")], "ms");
        assert!(svg.contains("&lt;i&gt;") && !svg.contains("<i>"));
        let svg = per_minute_chart("t", 0, 10, &[(60_000, "failed".into(), 3)]);
        assert!(svg.contains("#b3261e"));
    }
}
