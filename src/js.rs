//! Every JavaScript function the widget imports, in one place.
//!
//! Each distinct import costs a stub in the generated glue, so the widget keeps this list short
//! and reaches everything else through `Reflect.get` (one import for all property reads).

use alloc::string::String;
use js_sys::{Function, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

#[wasm_bindgen]
extern "C" {
    /// `fetch(url, init)` on the global object.
    #[wasm_bindgen(js_name = fetch)]
    pub fn fetch(url: &str, init: &Object) -> Promise;

    /// `setTimeout(f, ms)`.
    #[wasm_bindgen(js_name = setTimeout)]
    pub fn set_timeout(f: &Function, ms: f64);

    /// `addEventListener(type, f)` on the global object (the worker's global scope, or `window`).
    #[wasm_bindgen(js_name = addEventListener)]
    pub fn add_listener(kind: &str, f: &Function);

    /// `performance.now()`.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    pub fn now() -> f64;

    /// `performance.getEntriesByName(name)`: an array of entries.
    #[wasm_bindgen(js_namespace = performance, js_name = getEntriesByName)]
    pub fn entries_by_name(name: &str) -> js_sys::Array;

    /// `performance.clearResourceTimings()`.
    #[wasm_bindgen(js_namespace = performance, js_name = clearResourceTimings)]
    pub fn clear_resource_timings();

    /// `performance.setResourceTimingBufferSize(n)`.
    #[wasm_bindgen(js_namespace = performance, js_name = setResourceTimingBufferSize)]
    pub fn set_resource_timing_buffer_size(n: u32);

    /// `crypto.getRandomValues(buf)`.
    #[wasm_bindgen(js_namespace = crypto, js_name = getRandomValues)]
    pub fn get_random_values(buf: &mut [u8]);

    /// `JSON.stringify(v)`.
    #[wasm_bindgen(js_namespace = JSON, js_name = stringify)]
    pub fn stringify(v: &JsValue) -> JsValue;

    /// A `PerformanceObserver`: tells when new Resource Timing entries exist.
    pub type PerformanceObserver;

    /// `new PerformanceObserver(callback)`; throws where the API is missing (caught).
    #[wasm_bindgen(constructor, catch)]
    pub fn new(callback: &Function) -> Result<PerformanceObserver, JsValue>;

    /// `observer.observe(options)`.
    #[wasm_bindgen(method, catch)]
    pub fn observe(this: &PerformanceObserver, options: &Object) -> Result<(), JsValue>;

    /// `observer.disconnect()`.
    #[wasm_bindgen(method)]
    pub fn disconnect(this: &PerformanceObserver);

    /// `Reflect.get(target, key)`; throws on a non-object target (caught).
    #[wasm_bindgen(js_namespace = Reflect, js_name = get, catch)]
    fn reflect_get(target: &JsValue, key: &str) -> Result<JsValue, JsValue>;

    /// `Reflect.set(target, key, value)`.
    #[wasm_bindgen(js_namespace = Reflect, js_name = set)]
    fn reflect_set(target: &JsValue, key: &str, value: &JsValue) -> bool;

}

/// `target[key]`, or `undefined` when `target` is not an object.
pub fn get(target: &JsValue, key: &str) -> JsValue {
    reflect_get(target, key).unwrap_or(JsValue::UNDEFINED)
}

/// `target[key] = value`.
pub fn set(target: &JsValue, key: &str, value: &JsValue) {
    reflect_set(target, key, value);
}

/// `target.method()`, or `undefined` when it is missing or throws.
pub fn call0(target: &JsValue, method: &str) -> JsValue {
    get(target, method).dyn_ref::<Function>().and_then(|f| f.call0(target).ok()).unwrap_or(JsValue::UNDEFINED)
}

/// `target[key]` as a number, or NaN.
pub fn num(target: &JsValue, key: &str) -> f64 {
    get(target, key).as_f64().unwrap_or(f64::NAN)
}

/// `target[key]` as a string, if it is one.
pub fn string(target: &JsValue, key: &str) -> Option<String> {
    get(target, key).as_string()
}

/// The global object: the measurement worker's `DedicatedWorkerGlobalScope` (or `window` in a
/// page, e.g. the CSP test).
pub fn global() -> JsValue {
    js_sys::global().into()
}

/// A promise that resolves after `ms` (a macrotask turn for 0).
pub async fn sleep(ms: f64) {
    let p = Promise::new(&mut |resolve, _reject| set_timeout(&resolve, ms));
    let _ = wasm_bindgen_futures::JsFuture::from(p).await;
}
