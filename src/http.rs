//! The widget's own HTTP, through gloo-net: fetching the target list and delivering the report.
//! (The timed requests stay on raw `fetch` in [`crate::measure`]: they need `no-cors`, an abort
//! timer and the exact URL for Resource Timing, and must add nothing between the two clocks.)
//!
//! The requests are built as `web_sys::Request`s and handed to gloo-net's `Request::from`: its
//! `RequestBuilder` (headers, query parameters, `http::Method`, `format!`) cost about 1.6 KiB
//! gzipped of wasm that two fixed requests do not need; sending and reading stay gloo-net's.

use gloo_net::http::Request;
use wasm_bindgen::prelude::*;

/// `GET url` (the collector's `/v1/targets`), parsed; `undefined` on a network error, a non-2xx
/// answer or invalid JSON. The text is parsed by `JSON.parse`, not serde: serde-wasm-bindgen's
/// `from_value` would cost about 15 KiB.
pub async fn targets(url: String) -> JsValue {
    let Ok(raw) = web_sys::Request::new_with_str(&url) else { return JsValue::UNDEFINED };
    let Ok(res) = Request::from(raw).send().await else { return JsValue::UNDEFINED };
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
    let init = web_sys::RequestInit::new();
    init.set_method("POST");
    init.set_body(&report.into());
    let Ok(raw) = web_sys::Request::new_with_str_and_init(&url, &init) else { return false };
    match Request::from(raw).send().await {
        Ok(res) => done_with(res.status()),
        Err(_) => false,
    }
}

/// Whether an answer with `status` ends a report's delivery (see [`deliver`]).
pub fn done_with(status: u16) -> bool {
    (200..300).contains(&status) || ((400..500).contains(&status) && status != 429)
}
