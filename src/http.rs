//! The widget's own HTTP, through gloo-net: fetching the target list and delivering the report.
//! (The timed requests stay on raw `fetch` in [`crate::measure`]: they need `no-cors`, an abort
//! timer and the exact URL for Resource Timing, and must add nothing between the two clocks.)

use gloo_net::http::Request;
use wasm_bindgen::prelude::*;

/// `GET url` (the collector's `/v1/targets`), parsed; `undefined` on a network error, a non-2xx
/// answer or invalid JSON. The text is parsed by `JSON.parse`, not serde: serde-wasm-bindgen's
/// `from_value` would cost about 15 KiB.
pub async fn targets(url: String) -> JsValue {
    let Ok(res) = Request::get(&url).send().await else { return JsValue::UNDEFINED };
    if !res.ok() {
        return JsValue::UNDEFINED;
    }
    match res.text().await {
        Ok(text) => js_sys::JSON::parse(&text).unwrap_or(JsValue::UNDEFINED),
        Err(_) => JsValue::UNDEFINED,
    }
}

/// JS: `deliver(url, report) -> Promise<boolean>`: `POST url` with the report as a text/plain
/// body. `true` when the sender is done with this report: stored (2xx), or refused for good (a
/// 4xx other than 429: invalid, resending cannot help). `false` keeps it queued: a network
/// error, 429 or 5xx.
#[wasm_bindgen]
pub async fn deliver(url: String, report: String) -> bool {
    let Ok(req) = Request::post(&url).body(report) else { return false };
    match req.send().await {
        Ok(res) => done_with(res.status()),
        Err(_) => false,
    }
}

/// Whether an answer with `status` ends a report's delivery (see [`deliver`]).
pub fn done_with(status: u16) -> bool {
    (200..300).contains(&status) || ((400..500).contains(&status) && status != 429)
}
