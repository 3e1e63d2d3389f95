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
pub async fn chart(State(c): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, AppError> {
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
    let query = SeriesQuery { platform: platform.clone(), country: country.clone(), asn, from, to, step };
    let thresholds = crate::store::publish::Thresholds { min_reports: cfg.min_reports, min_networks: cfg.min_networks };
    let req = SeriesRequest { query, thresholds, settled_end: crate::store::publish::settled_end(now) };
    let store = c.store.clone();
    let points = blocking(move || compute(store.as_ref(), &req)).await?;
    let scope = asn.map_or(country.clone(), |a| format!("{country} AS{a}"));
    let title = format!("{platform} in {scope}: last {hours} h");
    let mut res = with_type(render(&title, &points).into_response(), Some("image/svg+xml; charset=utf-8"), 60);
    res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CHART_CSP));
    Ok(res)
}

/// For the chart opened as a document (as an `<img>` no script ever runs): nothing may load or
/// run; inline style stays allowed so the drawing renders however a viewer applies it. It may
/// still be embedded anywhere (CORP `cross-origin`).
pub const CHART_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'";

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

/// The SVG document.
pub fn render(title: &str, points: &[Point]) -> String {
    let (top0, top1, bot0, bot1) = (40.0, 150.0, 190.0, 290.0);
    let max_ms = points.iter().filter_map(|p| p.median_ms).fold(100.0f64, f64::max) * 1.1;
    let rate_y = |v: f64| top1 - (top1 - top0) * v.clamp(0.0, 1.0);
    let ms_y = |v: f64| bot1 - (bot1 - bot0) * (v / max_ms).clamp(0.0, 1.0);
    let rate = path(points, |p| p.success_rate, rate_y);
    let ms = path(points, |p| p.median_ms, ms_y);
    let first = points.first().map_or("", |p| p.t.as_str());
    let last = points.last().map_or("", |p| p.t.as_str());
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{t}\">\n\
         <title>{t}</title>\n<rect width=\"{W}\" height=\"{H}\" fill=\"#ffffff\"/>\n\
         <g font-family=\"system-ui, sans-serif\" font-size=\"12\" fill=\"#333333\">\n\
         <text x=\"{LEFT}\" y=\"22\" font-size=\"15\" font-weight=\"600\">{t}</text>\n\
         <text x=\"{LEFT}\" y=\"{a}\">success rate</text>\n<text x=\"{LEFT}\" y=\"{b}\">median time</text>\n\
         <text x=\"{l}\" y=\"{top0}\" text-anchor=\"end\">100%</text>\n<text x=\"{l}\" y=\"{top1}\" text-anchor=\"end\">0%</text>\n\
         <text x=\"{l}\" y=\"{bot0}\" text-anchor=\"end\">{m} ms</text>\n<text x=\"{l}\" y=\"{bot1}\" text-anchor=\"end\">0</text>\n\
         <text x=\"{LEFT}\" y=\"310\">{f}</text>\n<text x=\"{r}\" y=\"310\" text-anchor=\"end\">{e}</text>\n</g>\n\
         <g fill=\"none\" stroke=\"#dddddd\">\n<line x1=\"{LEFT}\" y1=\"{top1}\" x2=\"{r}\" y2=\"{top1}\"/>\n\
         <line x1=\"{LEFT}\" y1=\"{bot1}\" x2=\"{r}\" y2=\"{bot1}\"/>\n</g>\n\
         <path d=\"{rate}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\"/>\n\
         <path d=\"{ms}\" fill=\"none\" stroke=\"#d62728\" stroke-width=\"2\"/>\n</svg>\n",
        t = xml_escape(title),
        a = top0 - 6.0 + 20.0,
        b = bot0 - 6.0 + 20.0,
        l = LEFT - 6.0,
        m = max_ms.round(),
        f = xml_escape(first),
        e = xml_escape(last),
        r = W - RIGHT,
    );
    s
}
