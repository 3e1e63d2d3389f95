//! Outgoing webhooks (`--webhook URL`, repeatable): every incident open and close is POSTed as
//! JSON (the incident, plus a Slack-compatible `text`), retried with exponential backoff a
//! bounded number of times. Deliveries run in their own tasks, fed from the live broadcast, so
//! nothing here can slow ingest or detection.

use crate::store::StoredIncident;
use crate::AppState;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;

/// Attempts per delivery (the first plus retries).
const ATTEMPTS: u32 = 5;
/// Wait before the first retry; doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Per-attempt deadline.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The webhook body: the incident's fields plus `event` and a one-line `text`.
pub fn body(i: &StoredIncident) -> serde_json::Value {
    let event = if i.is_open() { "incident_opened" } else { "incident_closed" };
    let scope = i.asn.map_or(i.country.clone(), |a| format!("{} (AS{a})", i.country));
    let text = match &i.ended_at {
        None => format!("Vantage: {} {} in {scope} since {} (peak failure rate {:.0}%)", i.platform, i.state, i.started_at, i.peak_failure_rate * 100.0),
        Some(end) if i.end_reason == Some(vantage_detect::EndReason::NoData) => {
            format!("Vantage: {} in {scope}: {} since {} ended at {end} for lack of data (the reports stopped)", i.platform, i.state, i.started_at)
        }
        Some(end) => format!("Vantage: {} in {scope} back to normal at {end} ({} since {})", i.platform, i.state, i.started_at),
    };
    let mut v = serde_json::to_value(i).expect("incidents serialize");
    v["event"] = event.into();
    v["text"] = text.into();
    v
}

/// Sends every incident event to every URL until the broadcast closes.
pub async fn run(c: AppState) {
    if c.config.webhooks.is_empty() {
        return;
    }
    let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => return tracing::error!(error = %e, "webhooks disabled: no HTTP client"),
    };
    let mut rx = c.live.events.subscribe();
    loop {
        let ev = match rx.recv().await {
            Ok(ev) => ev,
            Err(RecvError::Lagged(n)) => {
                tracing::warn!(missed = n, "webhook sender fell behind; some events were not sent");
                continue;
            }
            Err(RecvError::Closed) => return,
        };
        let Some(incident) = &ev.incident else { continue };
        let body = body(incident);
        for url in &c.config.webhooks {
            tokio::spawn(deliver(client.clone(), url.clone(), body.clone()));
        }
    }
}

/// POSTs `body` to `url`, retrying failures and non-2xx answers with exponential backoff.
async fn deliver(client: reqwest::Client, url: String, body: serde_json::Value) {
    let mut wait = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        match client.post(&url).json(&body).send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => tracing::warn!(%url, status = r.status().as_u16(), attempt, "webhook refused"),
            Err(e) => tracing::warn!(%url, error = %e, attempt, "webhook failed"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    tracing::error!(%url, "webhook given up after {ATTEMPTS} attempts");
}
