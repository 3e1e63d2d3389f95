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
    /// `transferSize` when Timing-Allow-Origin exposes it.
    pub bytes: Option<f64>,
    /// Whether `ms` came from a Resource Timing entry (else from `performance.now()`).
    pub from_resource_timing: bool,
}

impl Measured {
    /// An `error` that never reached the network (e.g. an unparsable URL).
    pub fn failed() -> Measured {
        Measured { outcome: Outcome::Error, ms: 0.0, phases: None, bytes: None, from_resource_timing: false }
    }
}

/// URLs refused by a Content-Security-Policy (`securitypolicyviolation` events seen so far).
static BLOCKED: Cell<Vec<String>> = Cell::new(Vec::new());
static LISTENING: Cell<bool> = Cell::new(false);

/// Starts recording `securitypolicyviolation` events (once per page).
pub fn listen_for_violations() {
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

/// Resolves `url` against the current document (a path such as `/v1/ping` lands on our origin)
/// and normalises it the way Resource Timing names entries.
pub fn resolve(url: &str) -> Option<String> {
    let base = js::string(&get(&js::global(), "location"), "href")?;
    web_sys::Url::new_with_base(url, &base).ok().map(|u| u.href())
}

/// Times one request to `url` (absolute, or a path on our own origin) with a deadline.
///
/// The request: `fetch(url, {mode: "no-cors", cache: "no-store", credentials: "omit",
/// referrerPolicy: "no-referrer", signal})`, where `signal` belongs to an `AbortController`
/// that a timer aborts after `timeout_ms`.
///
/// Outcomes:
/// * `ok`: the fetch promise resolved (response headers arrived, whatever the status);
/// * `timeout`: it rejected and our deadline had aborted it;
/// * `blocked_by_client`: it rejected before the deadline AND, by the time the rejection is
///   handled plus up to two task turns, the page saw a `securitypolicyviolation` event whose
///   `blockedURI` is this URL (or its origin). That is the one case where the browser tells a
///   page that it refused the request itself, before any network activity. Content blockers,
///   tracking protection and CORP refusals are indistinguishable from network errors to a page
///   and stay `error`;
/// * `error`: any other rejection before the deadline.
///
/// Time: `responseEnd - startTime` of the Resource Timing entry for exactly this URL that started
/// during this call (waiting up to four task turns for it to appear; a same-origin body is read
/// to its end first, since browsers add the entry only then), with phases and `transferSize` where `requestStart` is non-zero
/// (Timing-Allow-Origin); else the `performance.now()` difference around the fetch promise.
pub async fn measure_one(url: &str, timeout_ms: u32) -> Measured {
    let Some(href) = resolve(url) else {
        return Measured::failed();
    };
    listen_for_violations();
    let Ok(ctrl) = web_sys::AbortController::new() else {
        return Measured::failed();
    };
    let signal = ctrl.signal();
    let init = Object::new();
    set(&init, "mode", &"no-cors".into());
    set(&init, "cache", &"no-store".into());
    set(&init, "credentials", &"omit".into());
    set(&init, "referrerPolicy", &"no-referrer".into());
    set(&init, "signal", &signal);
    let abort: Function = get(&ctrl, "abort").unchecked_into::<Function>().bind0(&ctrl);
    js::set_timeout(&abort, timeout_ms as f64);

    let t0 = js::now();
    let result = JsFuture::from(js::fetch(&href, &init)).await;
    let t1 = js::now();

    let outcome = match result {
        Ok(resp) => {
            // Browsers add the Resource Timing entry only once the body has been read to its end
            // (whatwg/fetch#1813): read it where the page may (same-origin, e.g. the control).
            // An opaque (cross-origin no-cors) body cannot be read: Chromium then never adds an
            // entry, and the time comes from performance.now().
            if get(&resp, "type") != "opaque" {
                if let Ok(f) = get(&resp, "arrayBuffer").dyn_into::<Function>() {
                    if let Ok(p) = f.call0(&resp) {
                        let _ = JsFuture::from(js_sys::Promise::resolve(&p)).await;
                    }
                }
            }
            Outcome::Ok
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
    let mut m = Measured { outcome, ms: t1 - t0, phases: None, bytes: None, from_resource_timing: false };
    if outcome != Outcome::Timeout {
        // The entry may appear a task or two after the promise settles (Gecko).
        for _ in 0..4 {
            if let Some(e) = entry(&href, t0) {
                apply_entry(&mut m, &e);
                break;
            }
            if outcome != Outcome::Ok {
                break;
            }
            js::sleep(0.0).await;
        }
    }
    m
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
