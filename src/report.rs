//! Building the report (docs/protocol.md §1) as a JS object, serialised by `JSON.stringify`.

use crate::js::{self, get, set};
use crate::measure::Measured;
use crate::wire::{family, CONTROL_ID, MAX_MS, VERSION};
use alloc::string::String;
use js_sys::{Array, Object};
use wasm_bindgen::JsValue;

/// One entry of the target list, as the widget uses it.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// Target id (`control.self` for the control).
    pub id: String,
    /// URL as listed (absolute, or a path on the collector's origin).
    pub url: String,
    /// Deadline.
    pub timeout_ms: u32,
    /// Append a random query parameter.
    pub cache_bust: bool,
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// `n` random bytes from `crypto.getRandomValues`, as `2n` lowercase hex chars.
pub fn random_hex(n: usize) -> String {
    let mut buf = [0u8; 16];
    let buf = &mut buf[..n.min(16)];
    js::get_random_values(buf);
    let mut s = String::with_capacity(2 * buf.len());
    for b in buf.iter() {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Clamps to 0..=120000 and rounds to 0.1 ms.
fn ms(x: f64) -> f64 {
    let x = if x > 0.0 { x } else { 0.0 };
    let x = if x > MAX_MS { MAX_MS } else { x };
    ((x * 10.0 + 0.5) as u64) as f64 / 10.0
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle).map(|i| i + needle.len())
}

fn major(ua: &[u8], key: &[u8]) -> Option<u32> {
    let mut i = find(ua, key)?;
    let mut v = 0u32;
    while let Some(d @ b'0'..=b'9') = ua.get(i) {
        v = (v * 10 + (d - b'0') as u32).min(1000);
        i += 1;
    }
    Some(v)
}

/// Browser family and major version from a user agent string; deliberately coarse.
pub fn browser(ua: &str) -> (&'static str, u32) {
    let ua = ua.as_bytes();
    let ios = find(ua, b"iPhone").or(find(ua, b"iPad")).is_some();
    if !ios {
        if let Some(v) = major(ua, b"Firefox/") {
            return (family::FIREFOX, v);
        }
        if let Some(v) = major(ua, b"Chrome/").or(major(ua, b"Chromium/")) {
            return (family::CHROMIUM, v);
        }
    }
    if ios || find(ua, b"Safari/").is_some() {
        return (family::SAFARI, major(ua, b"Version/").unwrap_or(0));
    }
    (family::OTHER, 0)
}

fn measurement(target: &str, m: &Measured) -> Object {
    let o = Object::new();
    set(&o, "target", &target.into());
    set(&o, "outcome", &m.outcome.as_str().into());
    set(&o, "ms", &ms(m.ms).into());
    if let Some(p) = &m.phases {
        let ph = Object::new();
        for (k, v) in ["dns", "connect", "tls", "ttfb", "transfer"].iter().zip(p.iter()) {
            if !v.is_nan() {
                set(&ph, k, &ms(*v).into());
            }
        }
        set(&o, "phases", &ph);
    }
    if let Some(b) = m.bytes {
        set(&o, "bytes", &((b as u64) as f64).into());
    }
    o
}

/// The report as a JSON string (a JS string value): fresh random `id`, `age_s` 0, `browser` from
/// `navigator.userAgent`, `net` from `navigator.connection` where present.
pub fn report_json(site: &str, version: &str, control: &Measured, done: &[(&str, &Measured)]) -> JsValue {
    let r = Object::new();
    set(&r, "v", &(VERSION as f64).into());
    set(&r, "id", &random_hex(16).into());
    set(&r, "site", &site.into());
    set(&r, "widget", &env!("CARGO_PKG_VERSION").into());
    set(&r, "targets_version", &version.into());
    set(&r, "age_s", &0.0.into());
    let nav = get(&js::global(), "navigator");
    if let Some(ua) = get(&nav, "userAgent").as_string() {
        let (family, major) = browser(&ua);
        let b = Object::new();
        set(&b, "family", &family.into());
        set(&b, "major", &(major as f64).into());
        set(&r, "browser", &b);
    }
    let c = get(&nav, "connection");
    if c.is_object() {
        let n = Object::new();
        for (from, to) in [("type", "type"), ("effectiveType", "effective")] {
            let v = get(&c, from);
            if v.is_string() {
                set(&n, to, &v);
            }
        }
        for (from, to, k) in [("rtt", "rtt_ms", 1.0), ("downlink", "downlink_kbps", 1000.0)] {
            if let Some(v) = get(&c, from).as_f64() {
                if v >= 0.0 {
                    set(&n, to, &(v * k).into());
                }
            }
        }
        let v = get(&c, "saveData");
        if v.as_bool().is_some() {
            set(&n, "save_data", &v);
        }
        set(&r, "net", &n);
    }
    set(&r, "control", &measurement(CONTROL_ID, control));
    let list = Array::new();
    for (id, m) in done {
        list.push(&measurement(id, m));
    }
    set(&r, "measurements", &list);
    js::stringify(&r)
}
