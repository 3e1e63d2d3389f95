//! `GET /v1/chart.svg?platform=x&country=PK[&asn=N]&hours=24`: success rate (top) and median
//! time (bottom) as a small hand-written SVG; every text is escaped, points under k reports or
//! m networks leave gaps.

use super::params::Params;
use super::series::{compute, step_at_least, Point, SeriesRequest};
use super::{blocking, with_type, xml_escape};
use crate::error::AppError;
use crate::store::SeriesQuery;
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::fmt::Write;

/// Image size and plot margins (px).
const W: f64 = 720.0;
const H: f64 = 320.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
/// Points drawn at most (the step grows with the range).
const MAX_POINTS: i64 = 240;

/// The handler.
pub(super) async fn chart(State(c): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, AppError> {
    let p = Params::parse(q.as_deref());
    let platform = p.required_platform("platform")?;
    let country = p.required_country("country")?;
    let asn = p.asn("asn")?;
    let hours = p.int("hours", 1, 720, 24)?;
    // The same published buckets as /v1/timeseries: an allowed step, aligned to the epoch.
    let step = step_at_least(((hours * 60) + MAX_POINTS - 1) / MAX_POINTS);
    let now = c.clock.now();
    let to = (now.div_euclid(60) + step).div_euclid(step) * step;
    let from = to - (hours * 60 + step - 1) / step * step;
    let cfg = &c.config.detect;
    let query = SeriesQuery { platform: platform.clone(), country, asn, from, to, step };
    let thresholds = crate::store::publish::Thresholds { min_reports: cfg.min_reports, min_networks: cfg.min_networks };
    let req = SeriesRequest { query, thresholds, settled_end: crate::store::publish::settled_end(now) };
    let store = c.store.clone();
    let points = blocking(move || compute(store.as_ref(), &req)).await?;
    let scope = asn.map_or(country.to_string(), |a| format!("{country} AS{a}"));
    let title = format!("{platform} in {scope}: last {hours} h");
    let mut res = with_type(render(&title, &points, from, step).into_response(), Some("image/svg+xml; charset=utf-8"), 60);
    res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CHART_CSP));
    Ok(res)
}

/// For the chart opened as a document (as an `<img>` no script ever runs): nothing may load or
/// run; inline style stays allowed so the drawing renders however a viewer applies it. It may
/// still be embedded anywhere (CORP `cross-origin`).
pub(super) const CHART_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

/// A polyline path through `(i, value)` that breaks where the value is missing.
fn path(points: &[Point], value: impl Fn(&Point) -> Option<f64>, y: impl Fn(f64) -> f64) -> String {
    let n = points.len().max(2) as f64 - 1.0;
    let mut d = String::new();
    let mut pen = false;
    for (i, p) in points.iter().enumerate() {
        match value(p) {
            Some(v) => {
                let x = LEFT + (W - LEFT - RIGHT) * i as f64 / n;
                let _ = write!(d, "{}{x:.1},{:.1} ", if pen { "L" } else { "M" }, y(v));
                pen = true;
            }
            None => pen = false,
        }
    }
    d.trim_end().to_string()
}

/// Minutes between two time-axis ticks for a chart spanning `span` minutes: four to eight ticks.
fn tick_every(span: i64) -> i64 {
    match span {
        ..=360 => 60,
        361..=1440 => 360,
        1441..=4320 => 720,
        4321..=10080 => 1440,
        _ => 10080,
    }
}

/// A tick's label: the UTC time of day, or the UTC date ("12-05") once ticks are a day or more apart.
fn tick_label(minute: i64, every: i64) -> String {
    let Ok(at) = time::OffsetDateTime::from_unix_timestamp(minute * 60) else { return String::new() };
    if every >= 1440 {
        format!("{:02}-{:02}", at.month() as u8, at.day())
    } else {
        format!("{:02}:{:02}", at.hour(), at.minute())
    }
}

/// The SVG document: `points` are the buckets from minute `from`, `step` minutes apart. Axes: success
/// (0, 50, 100 %) and median time (0, half, top, in ms) with gridlines, and time ticks on the UTC
/// grid, the zone named under them (an image has no reader's locale or zone to follow).
pub(super) fn render(title: &str, points: &[Point], from: i64, step: i64) -> String {
    let (top0, top1, bot0, bot1) = (40.0, 150.0, 190.0, 290.0);
    let max_ms = points.iter().filter_map(|p| p.median_ms).fold(100.0f64, f64::max) * 1.1;
    let rate_y = |v: f64| top1 - (top1 - top0) * v.clamp(0.0, 1.0);
    let ms_y = |v: f64| bot1 - (bot1 - bot0) * (v / max_ms).clamp(0.0, 1.0);
    let rate = path(points, |p| p.success_rate, rate_y);
    let ms = path(points, |p| p.median_ms, ms_y);
    let (l, r) = (LEFT - 6.0, W - RIGHT);
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{t}\">\n\
         <title>{t}</title>\n<rect width=\"{W}\" height=\"{H}\" fill=\"#ffffff\"/>\n\
         <g font-family=\"system-ui, sans-serif\" font-size=\"12\" fill=\"#333333\">\n\
         <text x=\"{LEFT}\" y=\"22\" font-size=\"15\" font-weight=\"600\">{t}</text>\n\
         <text x=\"{r}\" y=\"{a}\" text-anchor=\"end\">success rate</text>\n<text x=\"{r}\" y=\"{b}\" text-anchor=\"end\">median time</text>\n",
        t = xml_escape(title),
        a = top0 - 6.0,
        b = bot0 - 6.0,
    );
    let mut grid = String::new();
    for (v, text) in [(1.0, "100%"), (0.5, "50%"), (0.0, "0%")] {
        let _ = writeln!(s, "<text x=\"{l}\" y=\"{:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\">{text}</text>", rate_y(v));
        let _ = writeln!(grid, "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{r}\" y2=\"{y:.1}\"/>", y = rate_y(v));
    }
    for v in [max_ms, max_ms / 2.0, 0.0] {
        let _ =
            writeln!(s, "<text x=\"{l}\" y=\"{:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\">{} ms</text>", ms_y(v), v.round());
        let _ = writeln!(grid, "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{r}\" y2=\"{y:.1}\"/>", y = ms_y(v));
    }
    // Ticks at the bucket positions `path` draws: bucket i at LEFT + plot width x i / (n - 1).
    let n = points.len().max(2) as i64 - 1;
    let span = n * step;
    let every = tick_every(span);
    let x = |minute: i64| LEFT + (W - LEFT - RIGHT) * (minute - from) as f64 / span.max(1) as f64;
    let mut tick = (from + every - 1).div_euclid(every) * every;
    while tick <= from + span {
        let tx = x(tick);
        // Labels too close to an edge would run off the image.
        if tx - LEFT >= 16.0 && r - tx >= 16.0 {
            let _ = writeln!(s, "<text x=\"{tx:.1}\" y=\"306\" text-anchor=\"middle\">{}</text>", tick_label(tick, every));
            let _ = writeln!(grid, "<line x1=\"{tx:.1}\" y1=\"{top0}\" x2=\"{tx:.1}\" y2=\"{bot1}\"/>");
        }
        tick += every;
    }
    let _ = write!(
        s,
        "<text x=\"{l}\" y=\"306\" text-anchor=\"end\">UTC</text>\n</g>\n<g fill=\"none\" stroke=\"#e4e4e4\">\n{grid}</g>\n\
         <path d=\"{rate}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n\
         <path d=\"{ms}\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n</svg>\n"
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::series::PointState;

    fn point(minute: i64, rate: Option<f64>) -> Point {
        let t = time::OffsetDateTime::from_unix_timestamp(minute * 60).unwrap();
        Point {
            t: t.format(&time::format_description::well_known::Rfc3339).unwrap(),
            state: PointState::Published,
            reports: rate.map(|_| 20),
            networks: rate.map(|_| 5),
            success_rate: rate,
            median_ms: rate.map(|r| 400.0 * r),
            p90_ms: None,
        }
    }

    #[test]
    fn a_day_has_value_axes_and_utc_time_ticks_every_six_hours() {
        // 2026-12-05 00:00 UTC, 96 buckets of 15 minutes: ticks at 06:00, 12:00 and 18:00.
        let from = 1_796_428_800 / 60;
        let points: Vec<Point> = (0..96).map(|i| point(from + i * 15, Some(0.9))).collect();
        let svg = render("x in PK: last 24 h", &points, from, 15);
        for label in [">100%<", ">50%<", ">0%<", ">396 ms<", ">198 ms<", ">0 ms<", ">06:00<", ">12:00<", ">18:00<", ">UTC<"] {
            assert!(svg.contains(label), "{label} missing:\n{svg}");
        }
        assert!(!svg.contains(">00:00<"), "a tick on the left edge would run off the image");
        // 12:00 is bucket 48 of 95 intervals, drawn where the path puts that bucket.
        let x = LEFT + (W - LEFT - RIGHT) * 48.0 / 95.0;
        assert!(svg.contains(&format!("<text x=\"{x:.1}\" y=\"306\" text-anchor=\"middle\">12:00</text>")), "{svg}");
    }

    #[test]
    fn a_month_ticks_dates() {
        let from = 1_796_428_800 / 60;
        let points: Vec<Point> = (0..180).map(|i| point(from + i * 240, if i % 7 == 0 { None } else { Some(0.5) })).collect();
        let svg = render("x in PK: last 720 h", &points, from, 240);
        // Weekly ticks fall on the epoch's weekday grid (Thursdays, 00:00 UTC).
        assert!(svg.contains(">12-10<") && svg.contains(">12-17<") && !svg.contains(":00<"), "{svg}");
    }
}
