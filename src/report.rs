//! Building the report (docs/protocol.md §1): serde structs, handed to JS by serde-wasm-bindgen.

use crate::js::{self, get};
use crate::measure::Measured;
use crate::wire::{family, timing, CONTROL_ID, MAX_MS, VERSION};
use alloc::string::String;
use alloc::vec::Vec;
use serde::ser::{Serialize, SerializeMap, Serializer};
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
    /// Fetch with `mode: "cors"` (the list's `mode`): the status is readable and CORP cannot
    /// block it, but the host must send `Access-Control-Allow-Origin`.
    pub cors: bool,
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

/// A measurement as the wire has it (docs/protocol.md §1), serialised by serde-wasm-bindgen.
struct WireMeasurement<'a> {
    /// Target id.
    target: &'a str,
    /// Outcome wire name.
    outcome: &'static str,
    /// Milliseconds, clamped and rounded to 0.1.
    ms: f64,
    /// Readable status, with `http_error` only.
    status: Option<f64>,
    /// Phases where Timing-Allow-Origin exposes them.
    phases: Option<WirePhases>,
    /// Transfer size where Timing-Allow-Origin exposes it.
    bytes: Option<f64>,
    /// Which clock gave `ms`: `rt` or `now`.
    timing: &'static str,
}

/// Connection phases in ms; a phase the entry lacks (TLS on a plain or reused connection) is left out.
struct WirePhases {
    /// Name lookup.
    dns: Option<f64>,
    /// TCP connect (TLS included).
    connect: Option<f64>,
    /// TLS handshake.
    tls: Option<f64>,
    /// Request sent to first response byte.
    ttfb: Option<f64>,
    /// First to last response byte.
    transfer: Option<f64>,
}

impl<'a> WireMeasurement<'a> {
    fn new(target: &'a str, m: &Measured) -> Self {
        let phase = |v: f64| if v.is_nan() { None } else { Some(ms(v)) };
        WireMeasurement {
            target,
            outcome: m.outcome.as_str(),
            ms: ms(m.ms),
            status: m.status.map(f64::from),
            phases: m.phases.map(|p| WirePhases {
                dns: phase(p[0]),
                connect: phase(p[1]),
                tls: phase(p[2]),
                ttfb: phase(p[3]),
                transfer: phase(p[4]),
            }),
            bytes: m.bytes.map(|b| (b as u64) as f64),
            timing: if m.from_resource_timing { timing::RESOURCE_TIMING } else { timing::NOW },
        }
    }
}

/// Browser family and major version.
struct WireBrowser {
    /// Family wire name.
    family: &'static str,
    /// Major version.
    major: f64,
}

/// What `navigator.connection` says (every member optional).
#[derive(Default)]
struct WireNet {
    /// Connection type (`wifi`, `cellular`, ...).
    kind: Option<String>,
    /// Effective type (`4g`, ...).
    effective: Option<String>,
    /// Round-trip estimate.
    rtt_ms: Option<f64>,
    /// Bandwidth estimate, kbit/s.
    downlink_kbps: Option<f64>,
    /// Data saver.
    save_data: Option<bool>,
}

/// The report (docs/protocol.md §1).
struct WireReport<'a> {
    /// Protocol version.
    v: f64,
    /// Random idempotency key, one per run (every partial report of it carries the same).
    id: &'a str,
    /// The snippet's site key.
    site: &'a str,
    /// This widget's version.
    widget: &'static str,
    /// The measured target list's version.
    targets_version: &'a str,
    /// 0 here; worker.js recomputes it on a retry.
    age_s: f64,
    /// From `navigator.userAgent`.
    browser: Option<WireBrowser>,
    /// From `navigator.connection`.
    net: Option<WireNet>,
    /// The control measurement.
    control: WireMeasurement<'a>,
    /// The targets measured so far, in list order.
    measurements: Vec<WireMeasurement<'a>>,
}

fn net(c: &JsValue) -> Option<WireNet> {
    if !c.is_object() {
        return None;
    }
    let non_negative = |k: &str, scale: f64| get(c, k).as_f64().filter(|v| *v >= 0.0).map(|v| v * scale);
    Some(WireNet {
        kind: get(c, "type").as_string(),
        effective: get(c, "effectiveType").as_string(),
        rtt_ms: non_negative("rtt", 1.0),
        downlink_kbps: non_negative("downlink", 1000.0),
        save_data: get(c, "saveData").as_bool(),
    })
}

/// The report as a JSON string (a JS string value): the run's `id`, `age_s` 0, `browser` from
/// `navigator.userAgent`, `net` from `navigator.connection` where present (both exist on a
/// worker's navigator too). Built as a serde struct, handed to JS by serde-wasm-bindgen
/// (serialise only) and written by `JSON.stringify`.
pub fn report_json(id: &str, site: &str, version: &str, control: &Measured, done: &[(&str, &Measured)]) -> JsValue {
    let nav = get(&js::global(), "navigator");
    let r = WireReport {
        v: VERSION as f64,
        id,
        site,
        widget: env!("CARGO_PKG_VERSION"),
        targets_version: version,
        age_s: 0.0,
        browser: get(&nav, "userAgent").as_string().map(|ua| {
            let (family, major) = browser(&ua);
            WireBrowser { family, major: major as f64 }
        }),
        net: net(&get(&nav, "connection")),
        control: WireMeasurement::new(CONTROL_ID, control),
        measurements: done.iter().map(|(id, m)| WireMeasurement::new(id, m)).collect(),
    };
    match r.serialize(&serde_wasm_bindgen::Serializer::new().serialize_maps_as_objects(true)) {
        Ok(v) => js::stringify(&v),
        Err(_) => JsValue::UNDEFINED,
    }
}

// The wire structs serialise as maps with `&str` keys, by hand rather than `#[derive(Serialize)]`:
// serde-wasm-bindgen turns a derived struct's field names into JS strings through a per-thread
// cache (a `HashMap`), about 0.9 KiB gzipped of wasm that a map's keys do not need. `None` is
// left out, as the wire wants. Every number is an `f64` and every string a `&str` (JSON writes
// 451.0 as 451): each other type would be one more copy of serde's generic entry code.

/// Writes `key: value` into `map` unless `value` is `None`.
fn entry<M: SerializeMap, T: Serialize>(map: &mut M, key: &str, value: &Option<T>) -> Result<(), M::Error> {
    match value {
        Some(v) => map.serialize_entry(key, v),
        None => Ok(()),
    }
}

impl Serialize for WireMeasurement<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("target", self.target)?;
        m.serialize_entry("outcome", self.outcome)?;
        m.serialize_entry("ms", &self.ms)?;
        entry(&mut m, "status", &self.status)?;
        entry(&mut m, "phases", &self.phases)?;
        entry(&mut m, "bytes", &self.bytes)?;
        m.serialize_entry("timing", self.timing)?;
        m.end()
    }
}

impl Serialize for WirePhases {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for (k, v) in
            [("dns", &self.dns), ("connect", &self.connect), ("tls", &self.tls), ("ttfb", &self.ttfb), ("transfer", &self.transfer)]
        {
            entry(&mut m, k, v)?;
        }
        m.end()
    }
}

impl Serialize for WireBrowser {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("family", self.family)?;
        m.serialize_entry("major", &self.major)?;
        m.end()
    }
}

impl Serialize for WireNet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        entry(&mut m, "type", &self.kind.as_deref())?;
        entry(&mut m, "effective", &self.effective.as_deref())?;
        entry(&mut m, "rtt_ms", &self.rtt_ms)?;
        entry(&mut m, "downlink_kbps", &self.downlink_kbps)?;
        entry(&mut m, "save_data", &self.save_data)?;
        m.end()
    }
}

impl Serialize for WireReport<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("v", &self.v)?;
        m.serialize_entry("id", self.id)?;
        m.serialize_entry("site", self.site)?;
        m.serialize_entry("widget", self.widget)?;
        m.serialize_entry("targets_version", self.targets_version)?;
        m.serialize_entry("age_s", &self.age_s)?;
        entry(&mut m, "browser", &self.browser)?;
        entry(&mut m, "net", &self.net)?;
        m.serialize_entry("control", &self.control)?;
        m.serialize_entry("measurements", &self.measurements)?;
        m.end()
    }
}
