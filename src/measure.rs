//! Timing one request: the heart of the widget.

use crate::js::{self, get, num, set};
use crate::state::Cell;
use crate::wire::Outcome;
use alloc::string::String;
use alloc::vec::Vec;
use js_sys::{Function, Object};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// One timed request, as the report carries it.
#[derive(Clone, Debug, PartialEq)]
pub struct Measured {
    /// How the request ended.
    pub outcome: Outcome,
    /// Milliseconds from request start to completion or failure.
    pub ms: f64,
    /// `[dns, connect, tls, ttfb, transfer]` in ms when Timing-Allow-Origin exposes them
    /// (`tls` is NaN on a plain-http or reused connection: left out of the report).
    pub phases: Option<[f64; 5]>,
    /// The readable HTTP status of a cors response, with `http_error` only: a block page's 403 or
    /// 451 is evidence that a `no-cors` request can never show.
    pub status: Option<u16>,
    /// `transferSize` when Timing-Allow-Origin exposes it.
    pub bytes: Option<f64>,
    /// Whether `ms` came from a Resource Timing entry (else from `performance.now()`).
    pub from_resource_timing: bool,
}

impl Measured {
    /// An `error` that never reached the network (e.g. an unparsable URL).
    pub fn failed() -> Measured {
        Measured { outcome: Outcome::Error, ms: 0.0, status: None, phases: None, bytes: None, from_resource_timing: false }
    }
}

/// URLs refused by a Content-Security-Policy (`securitypolicyviolation` events seen so far; in
/// the measurement worker they fire on its global scope, under the worker script's own CSP).
static BLOCKED: Cell<Vec<String>> = Cell::new(Vec::new());
static LISTENING: Cell<bool> = Cell::new(false);

/// Starts recording `securitypolicyviolation` events (once per global scope).
pub(crate) fn listen_for_violations() {
    if LISTENING.replace(true) {
        return;
    }
    let f = Closure::<dyn FnMut(JsValue)>::new(|e: JsValue| {
        if let Some(uri) = get(&e, "blockedURI").as_string() {
            BLOCKED.with(|b| b.push(uri));
        }
    });
    js::add_listener("securitypolicyviolation", f.as_ref().unchecked_ref());
    f.forget();
}

/// Whether a CSP refused `url`. Browsers report `blockedURI` as the full URL, or only its origin
/// where they strip cross-origin paths; both are accepted.
fn was_blocked(url: &str) -> bool {
    BLOCKED.with(|b| {
        b.iter().any(|u| {
            !u.is_empty()
                && (u == url
                    || (url.starts_with(u.as_str())
                        && matches!(url.as_bytes().get(u.len()), Some(b'/') | None)
                        && u.as_bytes().windows(3).any(|w| w == b"://")))
        })
    })
}

/// Resolves `url` against the current global's location (the worker script's, or the document's:
/// a path such as `/v1/ping` lands on our origin) and normalises it the way Resource Timing names
/// entries.
pub fn resolve(url: &str) -> Option<String> {
    let base = js::string(&get(&js::global(), "location"), "href")?;
    web_sys::Url::new_with_base(url, &base).ok().map(|u| u.href())
}

/// How long to wait, once the fetch has settled, for the request's Resource Timing entry. The
/// entry appears when the body has finished loading, a little after the promise resolves; in a
/// worker nothing else delays it, so a short deadline loses almost nothing and bounds the run.
pub(crate) const ENTRY_WAIT_MS: f64 = 1000.0;

/// Times one request to `url` (absolute, or a path on our own origin) with a deadline.
///
/// The request: `fetch(url, {mode, cache: "no-store", credentials: "omit", referrerPolicy:
/// "no-referrer", signal})`, `mode` being `cors` when `cors` is set, else `no-cors`, and `signal`
/// belonging to an `AbortController` that a timer aborts after `timeout_ms`.
///
/// Outcomes:
/// * `ok`: the fetch promise resolved (response headers arrived; for a no-cors request whatever
///   the status, which the browser hides; for a cors request a 2xx or 3xx);
/// * `http_error` with `status`: a cors request resolved with a readable 4xx or 5xx;
/// * `timeout`: it rejected and our deadline had aborted it;
/// * `blocked_by_client`: it rejected before the deadline AND, by the time the rejection is
///   handled plus up to two task turns, the global scope saw a `securitypolicyviolation` event
///   whose `blockedURI` is this URL (or its origin). That is the one case where the browser tells
///   a script that it refused the request itself, before any network activity. Content blockers,
///   tracking protection, CORP refusals and a cors host without `Access-Control-Allow-Origin`
///   are indistinguishable from network errors to a script and stay `error`;
/// * `error`: any other rejection before the deadline.
///
/// Time: `responseEnd - startTime` of the Resource Timing entry for exactly this URL that started
/// during this call, awaited with a `PerformanceObserver` for up to `ENTRY_WAIT_MS` (a readable
/// body, same-origin or cors, is read to its end first), with phases and `transferSize` where
/// `requestStart` is non-zero (Timing-Allow-Origin); else the `performance.now()` difference
/// around the fetch promise. `from_resource_timing` says which.
pub async fn measure_one(url: &str, timeout_ms: u32, cors: bool) -> Measured {
    let Some(href) = resolve(url) else {
        return Measured::failed();
    };
    listen_for_violations();
    let Ok(ctrl) = web_sys::AbortController::new() else {
        return Measured::failed();
    };
    let signal = ctrl.signal();
    let init = Object::new();
    set(&init, "mode", &(if cors { "cors" } else { "no-cors" }).into());
    set(&init, "cache", &"no-store".into());
    set(&init, "credentials", &"omit".into());
    set(&init, "referrerPolicy", &"no-referrer".into());
    set(&init, "signal", &signal);
    let abort: Function = get(&ctrl, "abort").unchecked_into::<Function>().bind0(&ctrl);
    js::set_timeout(&abort, timeout_ms as f64);

    let t0 = js::now();
    let result = JsFuture::from(js::fetch(&href, &init)).await;
    let t1 = js::now();

    let mut status = None;
    let outcome = match result {
        Ok(resp) => {
            // Browsers add the Resource Timing entry only once the body has been read to its end
            // (whatwg/fetch#1813). A readable body (same-origin, or cors) is read here. An opaque
            // one (no-cors, cross-origin) reads as empty, but in Chromium 156 reading a *clone*
            // drains the hidden body, and the entry, phases included, then exists; without that
            // it never appears (checked: not after 2.5 s, in a page or a worker).
            let body = if get(&resp, "type") == "opaque" { js::call0(&resp, "clone") } else { resp.clone() };
            let read = js::call0(&body, "arrayBuffer");
            if read.is_object() {
                let _ = JsFuture::from(js_sys::Promise::resolve(&read)).await;
            }
            let code = num(&resp, "status");
            if cors && code >= 400.0 {
                status = Some(code as u16);
                Outcome::HttpError
            } else {
                Outcome::Ok
            }
        }
        Err(_) if signal.aborted() => Outcome::Timeout,
        Err(_) => {
            let mut o = Outcome::Error;
            for _ in 0..3 {
                if was_blocked(&href) {
                    o = Outcome::BlockedByClient;
                    break;
                }
                js::sleep(0.0).await;
            }
            o
        }
    };
    let mut m = Measured { outcome, ms: t1 - t0, status, phases: None, bytes: None, from_resource_timing: false };
    let e = match outcome {
        Outcome::Ok | Outcome::HttpError => await_entry(&href, t0).await,
        // Some browsers (Gecko) add entries for failed requests too; none is awaited.
        Outcome::Error | Outcome::BlockedByClient => entry(&href, t0),
        Outcome::Timeout => None,
    };
    if let Some(e) = e {
        apply_entry(&mut m, &e);
    }
    m
}

/// The entry for `href` started at or after `t0`, waiting for it with a `PerformanceObserver`
/// (woken by each new resource entry) for at most [`ENTRY_WAIT_MS`].
async fn await_entry(href: &str, t0: f64) -> Option<JsValue> {
    let until = js::now() + ENTRY_WAIT_MS;
    loop {
        if let Some(e) = entry(href, t0) {
            return Some(e);
        }
        let left = until - js::now();
        if left <= 0.0 {
            return None;
        }
        // `resolve` is both the observer's callback and the deadline timer's: no Rust closure.
        let mut observer = None;
        let woken = js_sys::Promise::new(&mut |resolve, _| {
            js::set_timeout(&resolve, left);
            if let Ok(o) = js::PerformanceObserver::new(&resolve) {
                let options = Object::new();
                set(&options, "type", &"resource".into());
                if o.observe(&options).is_ok() {
                    observer = Some(o);
                }
            }
        });
        let _ = JsFuture::from(woken).await;
        if let Some(o) = observer {
            o.disconnect();
        }
    }
}

/// The last Resource Timing entry named `href` that started at or after `t0`.
fn entry(href: &str, t0: f64) -> Option<JsValue> {
    let list = js::entries_by_name(href);
    let mut i = list.length();
    while i > 0 {
        i -= 1;
        let e = list.get(i);
        if num(&e, "startTime") >= t0 - 1.0 && num(&e, "responseEnd") > 0.0 {
            return Some(e);
        }
    }
    None
}

fn apply_entry(m: &mut Measured, e: &JsValue) {
    let start = num(e, "startTime");
    let end = num(e, "responseEnd");
    // One comparison that is also true when either bound is NaN (a missing timing): written out
    // as is_nan checks it costs the wasm about 20 bytes, and every byte ships to visitors.
    #[allow(clippy::neg_cmp_op_on_partial_ord)]
    if !(end >= start) {
        return;
    }
    m.ms = end - start;
    m.from_resource_timing = true;
    let req = num(e, "requestStart");
    if req > 0.0 {
        let d = |a: &str, b: &str| num(e, b) - num(e, a);
        let sec = num(e, "secureConnectionStart");
        let tls = if sec > 0.0 { num(e, "connectEnd") - sec } else { f64::NAN };
        m.phases = Some([
            d("domainLookupStart", "domainLookupEnd"),
            d("connectStart", "connectEnd"),
            tls,
            d("requestStart", "responseStart"),
            d("responseStart", "responseEnd"),
        ]);
        let bytes = num(e, "transferSize");
        if bytes >= 0.0 {
            m.bytes = Some(bytes);
        }
    }
}
