//! Outgoing webhooks (`--webhook URL`, repeatable): every incident open and close is POSTed as
//! JSON (the incident, plus a Slack-compatible `text`), retried with exponential backoff a
//! bounded number of times. Deliveries run in their own tasks, fed from the live path's queue of
//! stored opens and closes, so nothing here can slow ingest or detection. Logs name a hook by
//! index and host only: its URL is a secret.

use crate::store::Incident;
use crate::AppState;
use std::time::Duration;

/// Attempts per delivery (the first plus retries).
const ATTEMPTS: u32 = 5;
/// Wait before the first retry; doubled each time.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Per-attempt deadline.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The webhook body: the incident's fields plus `event` and a one-line `text`.
pub fn body(i: &Incident) -> serde_json::Value {
    let event = if i.is_open() { "incident_opened" } else { "incident_closed" };
    let scope = i.asn.map_or(i.country.to_string(), |a| format!("{} (AS{a})", i.country));
    let text = match &i.ended_at {
        None => format!(
            "Vantage: {} {} in {scope} since {} (peak failure rate {:.0}%)",
            i.platform,
            i.state,
            i.started_at,
            i.peak_failure_rate * 100.0
        ),
        Some(end) if i.end_reason == Some(vantage_detect::EndReason::NoData) => {
            format!(
                "Vantage: {} in {scope}: {} since {} ended at {end} for lack of data (the reports stopped)",
                i.platform, i.state, i.started_at
            )
        }
        Some(end) => format!("Vantage: {} in {scope} back to normal at {end} ({} since {})", i.platform, i.state, i.started_at),
    };
    let mut v = serde_json::to_value(i).expect("incidents serialize");
    v["event"] = event.into();
    v["text"] = text.into();
    v
}

/// Where a hook goes, as logs may show it: its index among the `--webhook` flags and its host.
/// The path and query often carry the secret (Slack, Discord, Teams URLs), so they are never
/// written anywhere.
pub(crate) fn redacted(index: usize, url: &str) -> String {
    let host = reqwest::Url::parse(url).ok().and_then(|u| {
        let host = u.host_str()?.to_string();
        Some(match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host,
        })
    });
    format!("#{index} ({})", host.as_deref().unwrap_or("unparsable URL"))
}

/// Sends every stored incident open and close to every URL, in order, until the server stops.
pub(crate) async fn run(c: AppState) {
    let Some(mut queue) = c.live.take_incident_queue() else { return };
    if c.config.webhooks.is_empty() {
        return;
    }
    let client = match reqwest::Client::builder().timeout(TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => return tracing::error!(error = %e, "webhooks disabled: no HTTP client"),
    };
    while let Some(incident) = queue.recv().await {
        let body = body(&incident);
        for (index, url) in c.config.webhooks.iter().enumerate() {
            tokio::spawn(deliver(client.clone(), index, url.clone(), body.clone()));
        }
    }
}

/// POSTs `body` to `url`, retrying failures and non-2xx answers with exponential backoff.
async fn deliver(client: reqwest::Client, index: usize, url: String, body: serde_json::Value) {
    let hook = redacted(index, &url);
    let mut wait = FIRST_BACKOFF;
    for attempt in 1..=ATTEMPTS {
        match client.post(&url).json(&body).send().await {
            Ok(r) if r.status().is_success() => return,
            Ok(r) => tracing::warn!(%hook, status = r.status().as_u16(), attempt, "webhook refused"),
            // reqwest's errors name the full URL: strip it.
            Err(e) => tracing::warn!(%hook, error = %e.without_url(), attempt, "webhook failed"),
        }
        if attempt < ATTEMPTS {
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
    }
    tracing::error!(%hook, "webhook given up after {ATTEMPTS} attempts");
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_redacted_hook_shows_the_host_never_the_path_or_query() {
        let r = super::redacted(1, "https://hooks.slack.com:8443/services/T000/B000/XXXXSECRET?token=abc");
        assert_eq!(r, "#1 (hooks.slack.com:8443)");
        assert_eq!(super::redacted(0, "not a url/SECRET"), "#0 (unparsable URL)");
    }
}
