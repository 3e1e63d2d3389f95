//! The Vantage widget: WebAssembly that times requests to social platforms from a visitor's
//! browser, next to a control request to the collector's own origin, and builds one report
//! (docs/protocol.md §1).
//!
//! It runs in a dedicated Worker (`www/worker.js`) that the frame starts: compiled, instantiated
//! and timed off the host's and the frame's main thread.
//!
//! JavaScript API (what `www/worker.js` uses, from the `--target web` glue):
//! * `measure(targetsUrl, site, progress) -> Promise<string | undefined>`: fetches the target
//!   list (`GET targetsUrl`, gloo-net), measures the control first, then the targets (at most 3
//!   at once) and resolves to the report as a JSON string (`age_s` 0), or `undefined` when there
//!   is no list or it has no usable target. After each target, `progress` (a function, or
//!   `undefined`) gets the report of what has completed so far: the frame keeps the latest for
//!   `pagehide`, since it cannot ask a worker synchronously. [`run_list`] is the same run on a
//!   list already parsed.
//! * `deliver(url, report) -> Promise<boolean>`: posts the report (gloo-net, [`http`]).
//!
//! Size matters (every sampled visitor downloads this): no `format!`, no serde deserialising, a
//! bump allocator, and every JS import listed in [`js`].

#![warn(missing_docs)]

extern crate alloc;

mod alloc_bump;
pub mod http;
pub mod js;
mod measure;
mod report;
mod state;
pub mod wire;

pub use measure::{measure_one, resolve, Measured};
pub use report::{browser, random_hex, report_json, Target};
pub use wire::Outcome;

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::future::Future;
use core::pin::Pin;
use core::task::Poll;
use js::{get, num, string};
use state::Cell;
use wasm_bindgen::prelude::*;
use wire::{is_valid_target_id, MAX_MEASUREMENTS, MAX_MS};

/// Requests in flight at once during a run.
pub const PARALLEL: usize = 3;

/// The run in progress: what the progress reports describe.
struct Run {
    /// The snippet's site key, for the report.
    site: String,
    /// The target list's version, for the report.
    version: String,
    /// The control's measurement once finished: no report without it.
    control: Option<Measured>,
    /// Per target, in list order: its measurement once finished.
    done: Vec<Option<Measured>>,
    /// The targets being measured, in list order.
    targets: Vec<Target>,
    /// Called with each partial report (`undefined` for none).
    progress: JsValue,
    /// The report id, one for the whole run: every partial report and the final one carry it, so
    /// the collector (idempotent on `id`) stores the run once however many of them reach it (the
    /// worker queues each as it grows, the frame beacons the latest on pagehide).
    id: String,
}

static RUN: Cell<Option<Run>> = Cell::new(None);

/// Reads the target list (`GET /v1/targets`, already parsed): `(version, control, targets)`.
/// Targets with an invalid id or no URL are skipped; at most 64 are kept.
pub fn read_list(list: &JsValue) -> Option<(String, Target, Vec<Target>)> {
    let version = string(list, "version")?;
    let c = get(list, "control");
    let control = Target {
        id: String::from(wire::CONTROL_ID),
        url: string(&c, "url")?,
        timeout_ms: timeout(&c, 5000),
        cache_bust: get(&c, "cache_bust").as_bool().unwrap_or(true),
        cors: false,
    };
    let arr: js_sys::Array = get(list, "targets").dyn_into().ok()?;
    let mut targets = Vec::new();
    for t in arr.iter() {
        if targets.len() == MAX_MEASUREMENTS {
            break;
        }
        if let (Some(id), Some(url)) = (string(&t, "id"), string(&t, "url")) {
            if is_valid_target_id(&id) && !targets.iter().any(|x: &Target| x.id == id) {
                let cache_bust = get(&t, "cache_bust").as_bool().unwrap_or(true);
                let cors = get(&t, "mode") == "cors";
                targets.push(Target { id, url, timeout_ms: timeout(&t, 15000), cache_bust, cors });
            }
        }
    }
    if targets.is_empty() {
        return None;
    }
    Some((version, control, targets))
}

fn timeout(o: &JsValue, default: u32) -> u32 {
    let t = num(o, "timeout_ms");
    if (1.0..=MAX_MS).contains(&t) {
        t as u32
    } else {
        default
    }
}

/// The URL actually requested for `t`: resolved against our origin, plus `_vt=<random>` when
/// `cache_bust` is set.
pub fn request_url(t: &Target) -> Option<String> {
    let mut u = resolve(&t.url)?;
    if t.cache_bust {
        u.push(if u.as_bytes().contains(&b'?') { '&' } else { '?' });
        u.push_str("_vt=");
        u.push_str(&report::random_hex(4));
    }
    Some(u)
}

async fn measure_target(t: &Target) -> Measured {
    match request_url(t) {
        Some(u) => measure_one(&u, t.timeout_ms, t.cors).await,
        None => Measured::failed(),
    }
}

/// Measures a whole target list and returns the report JSON (`age_s` 0); see the crate docs.
pub async fn run_list(list: &JsValue, site: &str, progress: JsValue) -> Option<JsValue> {
    let (version, control, targets) = read_list(list)?;
    js::clear_resource_timings();
    js::set_resource_timing_buffer_size(500);
    measure::listen_for_violations();
    let n = targets.len();
    let id = report::random_hex(16);
    RUN.replace(Some(Run {
        site: site.into(),
        version,
        control: None,
        done: targets.iter().map(|_| None).collect(),
        targets,
        progress,
        id,
    }));

    let c = measure_target(&control).await;
    RUN.with(|r| r.as_mut().map(|r| r.control = Some(c)));

    let next = core::cell::Cell::new(0usize);
    let worker = || async {
        loop {
            let i = next.get();
            if i >= n {
                break;
            }
            next.set(i + 1);
            let Some(t) = RUN.with(|r| r.as_ref().map(|r| r.targets[i].clone())) else { break };
            let m = measure_target(&t).await;
            RUN.with(|r| r.as_mut().and_then(|r| r.done.get_mut(i)).map(|d| *d = Some(m)));
            if let (Some(report), Some(f)) = (current_report(), RUN.with(|r| r.as_ref().map(|r| r.progress.clone()))) {
                if let Some(f) = f.dyn_ref::<js_sys::Function>() {
                    let _ = f.call1(&JsValue::UNDEFINED, &report);
                }
            }
        }
    };
    let mut workers: Vec<Pin<Box<dyn Future<Output = ()> + '_>>> = Vec::new();
    for _ in 0..PARALLEL.min(n) {
        workers.push(Box::pin(worker()));
    }
    let mut finished = [false; PARALLEL];
    core::future::poll_fn(|cx| {
        let mut all = true;
        for (w, f) in workers.iter_mut().zip(finished.iter_mut()) {
            if !*f {
                *f = w.as_mut().poll(cx).is_ready();
                all &= *f;
            }
        }
        if all {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    let out = current_report();
    RUN.replace(None);
    out
}

/// The report of the run in progress (control plus completed targets, in list order).
fn current_report() -> Option<JsValue> {
    RUN.with(|r| {
        let r = r.as_mut()?;
        let control = r.control.as_ref()?;
        let ms: Vec<(&str, &Measured)> =
            r.targets.iter().zip(r.done.iter()).filter_map(|(t, d)| Some((t.id.as_str(), d.as_ref()?))).collect();
        if ms.is_empty() {
            return None;
        }
        Some(report_json(&r.id, &r.site, &r.version, control, &ms))
    })
}

/// JS: `measure(targetsUrl, site, progress)`; see the crate docs. One export for the whole run:
/// each exported `async fn` costs its own future-to-promise glue.
#[wasm_bindgen]
pub async fn measure(targets_url: String, site: String, progress: JsValue) -> JsValue {
    let list = http::targets(targets_url).await;
    run_list(&list, &site, progress).await.unwrap_or(JsValue::UNDEFINED)
}
