//! Self-contained SVG charts, written by hand: goodput against checkpoint interval, and the
//! lost-time breakdown as one stacked bar.

use std::fmt::Write;

use crate::report::Report;

const W: f64 = 720.0;
const H: f64 = 300.0;
const COLORS: [&str; 6] = [
    "#4c9a2a", "#d1495b", "#edae49", "#00798c", "#8e7dbe", "#6c757d",
];

/// Both charts, stacked, as one `<svg>` document.
#[must_use]
pub fn charts(report: &Report) -> String {
    let mut s = String::new();
    let total_h = 2.0 * H + 40.0;
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{total_h}" viewBox="0 0 {W} {total_h}" font-family="sans-serif" font-size="12">"#
    );
    s.push_str(&curve(report, 0.0));
    s.push_str(&breakdown(report, H + 40.0));
    s.push_str("</svg>\n");
    s
}

fn esc(t: &str) -> String {
    t.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Goodput (y) against interval in minutes (x, log scale), with Young, Daly and the chosen one.
fn curve(r: &Report, top: f64) -> String {
    let mut s = String::new();
    let (x0, x1, y0, y1) = (60.0, W - 20.0, top + H - 40.0, top + 30.0);
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" font-size="14">Goodput vs checkpoint interval ({} GPUs, {} seeds)</text>"#,
        x0,
        top + 18.0,
        r.gpus,
        r.seeds
    );
    let pts = &r.curve;
    if pts.is_empty() {
        let _ = write!(
            s,
            r#"<text x="{x0}" y="{}">no curve: run with --checkpoint-interval auto or --svg</text>"#,
            top + 60.0
        );
        return s;
    }
    let mut xs: Vec<f64> = pts.iter().map(|p| p.interval_s).collect();
    xs.extend([
        r.young_interval_s,
        r.daly_interval_s,
        r.checkpoint_interval_s,
    ]);
    let xs: Vec<f64> = xs
        .into_iter()
        .filter(|x| *x > 0.0 && x.is_finite())
        .collect();
    let (lx, hx) = xs.iter().fold((f64::MAX, f64::MIN), |(a, b), x| {
        (a.min(x.ln()), b.max(x.ln()))
    });
    let (ly, hy) = pts.iter().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(p.goodput), b.max(p.goodput))
    });
    let pad = ((hy - ly) * 0.1).max(0.002);
    let (ly, hy) = (ly - pad, hy + pad);
    let sx = |x: f64| x0 + (x.ln() - lx) / (hx - lx).max(1e-9) * (x1 - x0);
    let sy = |y: f64| y0 - (y - ly) / (hy - ly).max(1e-9) * (y0 - y1);
    let _ = write!(
        s,
        r##"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/><line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="#333"/>"##
    );
    for i in 0..=4 {
        let y = ly + (hy - ly) * f64::from(i) / 4.0;
        let _ = write!(
            s,
            r##"<text x="{}" y="{}" text-anchor="end">{:.1}%</text><line x1="{x0}" y1="{}" x2="{x1}" y2="{}" stroke="#eee"/>"##,
            x0 - 4.0,
            sy(y) + 4.0,
            y * 100.0,
            sy(y),
            sy(y)
        );
    }
    for i in 0..=4 {
        let lx_i = lx + (hx - lx) * f64::from(i) / 4.0;
        let _ = write!(
            s,
            r#"<text x="{}" y="{}" text-anchor="middle">{:.0} min</text>"#,
            sx(lx_i.exp()),
            y0 + 16.0,
            lx_i.exp() / 60.0
        );
    }
    let path: Vec<String> = pts
        .iter()
        .map(|p| format!("{:.1},{:.1}", sx(p.interval_s), sy(p.goodput)))
        .collect();
    let _ = write!(
        s,
        r##"<polyline points="{}" fill="none" stroke="#00798c" stroke-width="2"/>"##,
        path.join(" ")
    );
    for p in pts {
        let _ = write!(
            s,
            r##"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="#00798c"/>"##,
            sx(p.interval_s),
            sy(p.goodput)
        );
    }
    for (name, x, color) in [
        ("Young", r.young_interval_s, "#d1495b"),
        ("Daly", r.daly_interval_s, "#edae49"),
        ("chosen", r.checkpoint_interval_s, "#4c9a2a"),
    ] {
        if x > 0.0 && x.is_finite() {
            let px = sx(x);
            let _ = write!(
                s,
                r#"<line x1="{px:.1}" y1="{y0}" x2="{px:.1}" y2="{y1}" stroke="{color}" stroke-dasharray="4 3"/><text x="{:.1}" y="{}" fill="{color}">{name} {:.0} min</text>"#,
                px + 3.0,
                y1 + 12.0
                    + if name == "Daly" {
                        14.0
                    } else if name == "chosen" {
                        28.0
                    } else {
                        0.0
                    },
                x / 60.0
            );
        }
    }
    let _ = write!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">checkpoint interval (log scale)</text>"#,
        (x0 + x1) / 2.0,
        y0 + 32.0
    );
    s
}

/// One stacked bar: productive time and each lost part, as shares of wall time.
fn breakdown(r: &Report, top: f64) -> String {
    let mut s = String::new();
    let (x0, x1) = (60.0, W - 20.0);
    let _ = write!(
        s,
        r#"<text x="{x0}" y="{}" font-size="14">Where the wall time went (mean of {} seeds; goodput {:.2}% ± {:.2})</text>"#,
        top + 18.0,
        r.seeds,
        r.goodput.mean * 100.0,
        r.goodput.ci95 * 100.0
    );
    let wall = r.wall_s.max(1e-9);
    let mut parts: Vec<(String, f64)> = vec![("productive".to_owned(), r.productive_s)];
    parts.extend(r.lost_s.iter().map(|(k, v)| (k.replace('_', " "), *v)));
    let mut x = x0;
    let (y, h) = (top + 40.0, 40.0);
    for (i, (name, v)) in parts.iter().enumerate() {
        let w = v / wall * (x1 - x0);
        let color = COLORS[i % COLORS.len()];
        let _ = write!(
            s,
            r#"<rect x="{x:.2}" y="{y}" width="{w:.2}" height="{h}" fill="{color}"><title>{}: {:.2}%</title></rect>"#,
            esc(name),
            v / wall * 100.0
        );
        x += w;
        let ly = y + h + 24.0 + 18.0 * i as f64;
        let _ = write!(
            s,
            r#"<rect x="{x0}" y="{}" width="12" height="12" fill="{color}"/><text x="{}" y="{}">{}: {:.2}% ({:.1} h)</text>"#,
            ly - 10.0,
            x0 + 18.0,
            ly,
            esc(name),
            v / wall * 100.0,
            v / 3600.0
        );
    }
    s
}

/// An HTML page with the charts and the text report.
#[must_use]
pub fn html(report: &Report, text: &str) -> String {
    format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>trainyard sim</title></head>\n<body style=\"font-family:sans-serif\">\n<h1>trainyard sim</h1>\n{}\n<pre>{}</pre>\n</body></html>\n",
        charts(report),
        esc(text)
    )
}
