//! `blocked_by_client`: a request the page's Content-Security-Policy refuses. Its own test file,
//! hence its own page: the policy injected here would break the other tests.
#![cfg(target_arch = "wasm32")]

mod common;

use common::{fx, port};
use vantage_widget::{measure_one, Outcome};
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen_test]
async fn csp_refusal_is_blocked_by_client() {
    let doc = web_sys::window().unwrap().document().unwrap();
    let meta = doc.create_element("meta").unwrap();
    meta.set_attribute("http-equiv", "Content-Security-Policy").unwrap();
    meta.set_attribute("content", &format!("connect-src 'self' http://127.0.0.1:{}", port())).unwrap();
    doc.head().unwrap().append_child(&meta).unwrap();

    // Allowed by the policy: still measured normally.
    let m = measure_one(&fx("/fast?csp=allowed"), 5000, false).await;
    assert_eq!(m.outcome, Outcome::Ok, "{m:?}");

    // Same server under another origin (localhost): refused by connect-src before any request.
    let url = format!("http://localhost:{}/fast?csp=refused", port());
    let m = measure_one(&url, 5000, false).await;
    assert_eq!(m.outcome, Outcome::BlockedByClient, "{m:?}");

    // An ordinary network error on an allowed origin is not mistaken for a block.
    let m = measure_one(&fx("/reset"), 5000, false).await;
    assert_eq!(m.outcome, Outcome::Error, "{m:?}");
}
