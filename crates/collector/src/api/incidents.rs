//! `GET /v1/incidents` (JSON) and `GET /v1/incidents.atom` (the same, as an Atom feed).

use super::params::Params;
use super::{blocking, with_type, xml_escape};
use crate::error::AppError;
use crate::live::publish::Body;
use crate::store::{Incident, IncidentFilter};
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use std::fmt::Write;
use std::sync::Arc;
use vantage_detect::EndReason;

/// Most incidents one answer lists (newest first).
const LIMIT: usize = 500;

async fn load(c: &AppState, q: Option<&str>) -> Result<Vec<Incident>, AppError> {
    let p = Params::parse(q);
    let filter =
        IncidentFilter { country: p.country("country")?, platform: p.platform("platform")?, open_only: p.flag("open")?, limit: LIMIT };
    let store = c.store.clone();
    blocking(move || store.incidents(&filter)).await
}

/// The JSON list, read from the store once per publication tick and query (a crowd of
/// dashboards opening at once costs one read a tick), cacheable like the status.
pub(super) async fn list(State(c): State<AppState>, RawQuery(q): RawQuery, headers: HeaderMap) -> Result<Response, AppError> {
    let key = format!("{}{}", crate::live::INCIDENT_ANSWERS, q.as_deref().unwrap_or(""));
    let body = match c.live.made(&key) {
        Some(body) => body,
        None => {
            let begun = c.live.tick();
            let incidents = load(&c, q.as_deref()).await?;
            let body = Arc::new(Body::new(&serde_json::json!({"incidents": incidents}), begun.0));
            c.live.keep(key, body.clone(), begun);
            body
        }
    };
    Ok(super::snapshot::answer(&c, &body, &headers))
}

/// The Atom feed: one entry per incident, updated when it closes.
pub(super) async fn atom(State(c): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, AppError> {
    let incidents = load(&c, q.as_deref()).await?;
    let updated =
        incidents.iter().map(|i| i.ended_at.as_deref().unwrap_or(&i.started_at)).max().unwrap_or("1970-01-01T00:00:00Z").to_string();
    Ok(with_type(feed(&incidents, &updated).into_response(), Some("application/atom+xml; charset=utf-8"), 60))
}

fn feed(incidents: &[Incident], updated: &str) -> String {
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n");
    let _ = write!(
        x,
        "<id>urn:vantage:incidents</id>\n<title>Vantage: detected disruptions</title>\n<updated>{}</updated>\n\
         <author><name>Vantage</name></author>\n<link rel=\"self\" href=\"/v1/incidents.atom\"/>\n",
        xml_escape(updated)
    );
    for i in incidents {
        let scope = match i.asn {
            Some(a) => format!("{} (AS{a})", i.country),
            None => i.country.to_string(),
        };
        let title = format!("{}: {} in {scope}", i.platform, i.state);
        let when = match (&i.ended_at, i.end_reason) {
            (Some(end), Some(EndReason::NoData)) => format!("from {} to {end} (ended: no data, the reports stopped)", i.started_at),
            (Some(end), _) => format!("from {} to {end} (ended: recovered)", i.started_at),
            (None, _) => format!("since {} (ongoing)", i.started_at),
        };
        let mut summary = format!(
            "{} {when}; peak failure rate {:.0}% (usually {:.0}%), {} reports from {} networks in {} ASNs, {} of them failing; confidence {:.2}.",
            title,
            i.peak_failure_rate * 100.0,
            i.baseline_failure_rate * 100.0,
            i.reports,
            i.networks,
            i.asns,
            i.failing_networks,
            i.confidence
        );
        if i.cross_country {
            summary.push_str(" Failing far more here than in other countries.");
        }
        if !i.suspicious_asns.is_empty() {
            let list: Vec<String> = i.suspicious_asns.iter().map(|a| format!("AS{a}")).collect();
            let _ = write!(summary, " Suspicious surge of ok reports from {} (not trusted).", list.join(", "));
        }
        let _ = write!(
            x,
            "<entry>\n<id>urn:vantage:incident:{}</id>\n<title>{}</title>\n<published>{}</published>\n<updated>{}</updated>\n\
             <link href=\"/v1/incidents?country={}&amp;platform={}\"/>\n<summary>{}</summary>\n</entry>\n",
            xml_escape(&i.id),
            xml_escape(&title),
            xml_escape(&i.started_at),
            xml_escape(i.ended_at.as_deref().unwrap_or(&i.started_at)),
            xml_escape(i.country.as_str()),
            xml_escape(i.platform.as_str()),
            xml_escape(&summary)
        );
    }
    x.push_str("</feed>\n");
    x
}
