//! Shared helpers for the browser tests (run by scripts/test-widget.sh).
#![allow(dead_code)]

/// Port of the fixture server (`vantage-testkit fixtures`), fixed at compile time.
// Not `env!`: that would fail to compile (and so fail clippy and `cargo check`) wherever the
// fixture server is not running; this way only the browser tests need it, and say how to get it.
#[allow(clippy::option_env_unwrap)]
pub(crate) fn port() -> &'static str {
    option_env!("VANTAGE_FIXTURE_PORT").expect("VANTAGE_FIXTURE_PORT unset: run scripts/test-widget.sh")
}

/// `http://127.0.0.1:PORT{path}` on the fixture server.
pub(crate) fn fx(path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", port())
}

/// Whether this is Firefox (some cases differ by browser).
pub(crate) fn is_firefox() -> bool {
    let nav = vantage_widget::js::get(&vantage_widget::js::global(), "navigator");
    vantage_widget::js::string(&nav, "userAgent").unwrap_or_default().contains("Firefox/")
}
