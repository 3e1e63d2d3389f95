//! Malformed reports, table-driven: each answer's exact status, `error`, `field` and `message`
//! (docs/protocol.md §1), and the store exactly as it was after all of them.

use crate::common::*;
use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};

/// One refused request and the answer it must get.
struct Case {
    name: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    /// `Some` for 400 (`""` when the body as a whole is bad); `None`: the answer has no `field`.
    field: Option<&'static str>,
    message: String,
}

const ID: &str = "0123456789abcdef0123456789abcdef";

/// The valid base report as a JSON value.
fn base() -> Value {
    serde_json::from_str(&report(ID)).unwrap()
}

/// The base report changed by `edit`, serialized.
fn with(edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v = base();
    edit(&mut v);
    serde_json::to_vec(&v).unwrap()
}

fn bad(name: &'static str, body: Vec<u8>, field: &'static str, message: &str) -> Case {
    let message = if field.is_empty() { message.to_string() } else { format!("{field}: {message}") };
    Case { name, content_type: Some("text/plain;charset=UTF-8"), body, status: 400, field: Some(field), message }
}

fn media(name: &'static str, content_type: Option<&'static str>) -> Case {
    Case {
        name,
        content_type,
        body: report(ID).into_bytes(),
        status: 415,
        field: None,
        message: "send text/plain or application/json".into(),
    }
}

fn measurement(target: &str) -> Value {
    json!({"target": target, "outcome": "ok", "ms": 1})
}

const TOP_FIELDS: &str =
    "expected one of `v`, `id`, `site`, `widget`, `targets_version`, `age_s`, `browser`, `net`, `control`, `measurements`";
/// A 10 KiB unknown key is echoed as its first 128 characters (a cargo-fuzz finding).
const HOSTILE_FIELD: &str =
    "kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk...";
const RANGE_MS: &str = "must be between 0 and 120000";
const SITE: &str = "must be 1 to 64 characters of [a-z0-9_-]";
const VERSION: &str = "must be 1 to 32 printable characters";
const SHORT: &str = "must be at most 16 characters of [A-Za-z0-9-]";
const NUMBER: &str = "must be a number between 0 and 1000000000";
const HEX: &str = "must be 32 lowercase hex characters";
const OUTCOMES: &str = "expected one of `ok`, `error`, `timeout`, `blocked_by_client`, `http_error`";

fn cases() -> Vec<Case> {
    let valid = report(ID);
    let mut padded_invalid = valid.replacen("\"v\":1", "\"v\":2", 1).into_bytes();
    padded_invalid.resize(vantage_protocol::MAX_BODY_BYTES, b' ');
    let mut too_large = valid.clone().into_bytes();
    too_large.resize(vantage_protocol::MAX_BODY_BYTES + 1, b' ');
    let mut invalid_utf8 = valid.replacen("\"drm\"", "\"dr\u{1}\"", 1).into_bytes();
    let at = invalid_utf8.iter().position(|b| *b == 1).unwrap();
    invalid_utf8[at] = 0xff;
    let too_large_msg = format!("body over {} bytes", vantage_protocol::MAX_BODY_BYTES);
    vec![
        // --- the body as a whole
        bad("empty body", vec![], "", "invalid JSON: EOF while parsing a value"),
        bad("not JSON", b"{not json".to_vec(), "", "invalid JSON: key must be a string"),
        bad("truncated", valid.as_bytes()[..valid.len() / 2].to_vec(), "", "invalid JSON: EOF while parsing a string"),
        bad("trailing garbage", format!("{valid} x").into_bytes(), "", "invalid JSON: trailing characters after the report"),
        bad("two reports", format!("{valid}{valid}").into_bytes(), "", "invalid JSON: trailing characters after the report"),
        bad("null", b"null".to_vec(), "", "invalid type: null, expected struct Report"),
        bad("string", b"\"report\"".to_vec(), "", "invalid type: string \"report\", expected struct Report"),
        bad("array", b"[]".to_vec(), "", "invalid length 0, expected struct Report with 10 elements"),
        bad("byte order mark", format!("\u{feff}{valid}").into_bytes(), "", "invalid JSON: expected value"),
        bad("invalid UTF-8", invalid_utf8, "", "invalid JSON: invalid unicode code point"),
        bad(
            "unpaired surrogate",
            valid.replacen("\"drm\"", "\"\\ud800\"", 1).into_bytes(),
            "",
            "invalid JSON: unexpected end of hex escape",
        ),
        bad("unknown field", with(|v| v["ip"] = json!("203.0.113.9")), "ip", &format!("unknown field `ip`, {TOP_FIELDS}")),
        bad(
            "hostile key is cut",
            with(|v| v["k".repeat(10_000)] = json!(1)),
            HOSTILE_FIELD,
            &format!("unknown field `{}...", "k".repeat(305)),
        ),
        bad(
            "duplicate field",
            valid.replacen("\"site\":\"drm\"", "\"site\":\"drm\",\"site\":\"drm\"", 1).into_bytes(),
            "",
            "duplicate field `site`",
        ),
        bad("number out of range", valid.replacen("182.5", "1e400", 1).into_bytes(), "", "invalid JSON: number out of range"),
        bad("exactly 16 KiB is parsed, not 413", padded_invalid, "v", "must be 1"),
        // --- v
        bad("v 2", with(|v| v["v"] = json!(2)), "v", "must be 1"),
        bad("v 0", with(|v| v["v"] = json!(0)), "v", "must be 1"),
        bad("v 256", with(|v| v["v"] = json!(256)), "v", "invalid value: integer `256`, expected u8"),
        bad("v string", with(|v| v["v"] = json!("1")), "v", "invalid type: string \"1\", expected u8"),
        bad("v negative", with(|v| v["v"] = json!(-1)), "v", "invalid value: integer `-1`, expected u8"),
        bad("v missing", with(|v| drop(v.as_object_mut().unwrap().remove("v"))), "", "missing field `v`"),
        // --- id
        bad("id uppercase", with(|v| v["id"] = json!(ID.to_uppercase())), "id", HEX),
        bad("id 31 chars", with(|v| v["id"] = json!(&ID[1..])), "id", HEX),
        bad("id 33 chars", with(|v| v["id"] = json!(format!("{ID}0"))), "id", HEX),
        bad("id not hex", with(|v| v["id"] = json!(ID.replace('a', "g"))), "id", HEX),
        bad("id number", with(|v| v["id"] = json!(123)), "id", "invalid type: integer `123`, expected a string"),
        bad("id missing", with(|v| drop(v.as_object_mut().unwrap().remove("id"))), "", "missing field `id`"),
        // --- site, widget, targets_version, age_s
        bad("site empty", with(|v| v["site"] = json!("")), "site", SITE),
        bad("site 65 chars", with(|v| v["site"] = json!("a".repeat(65))), "site", SITE),
        bad("site markup", with(|v| v["site"] = json!("<script>")), "site", SITE),
        bad("site uppercase", with(|v| v["site"] = json!("DRM")), "site", SITE),
        bad("widget empty", with(|v| v["widget"] = json!("")), "widget", VERSION),
        bad("widget 33 chars", with(|v| v["widget"] = json!("1".repeat(33))), "widget", VERSION),
        bad("widget control char", with(|v| v["widget"] = json!("0.1\u{7}")), "widget", VERSION),
        bad("targets_version empty", with(|v| v["targets_version"] = json!("")), "targets_version", VERSION),
        bad("targets_version newline", with(|v| v["targets_version"] = json!("2026\n")), "targets_version", VERSION),
        bad("age_s over a day", with(|v| v["age_s"] = json!(86_401)), "age_s", "must be between 0 and 86400"),
        bad("age_s negative", with(|v| v["age_s"] = json!(-1)), "age_s", "invalid value: integer `-1`, expected u32"),
        bad("age_s fraction", with(|v| v["age_s"] = json!(4.5)), "age_s", "invalid type: floating point `4.5`, expected u32"),
        // --- browser, net
        bad(
            "browser family",
            with(|v| v["browser"]["family"] = json!("netscape")),
            "browser.family",
            "unknown variant `netscape`, expected one of `chromium`, `firefox`, `safari`, `other`",
        ),
        bad("browser major", with(|v| v["browser"]["major"] = json!(1001)), "browser.major", "must be between 0 and 1000"),
        bad("browser major missing", with(|v| v["browser"] = json!({"family": "firefox"})), "browser", "missing field `major`"),
        bad(
            "browser extra field",
            with(|v| v["browser"]["ua"] = json!("Mozilla/5.0")),
            "browser.ua",
            "unknown field `ua`, expected `family` or `major`",
        ),
        bad("net type space", with(|v| v["net"]["type"] = json!("wi fi")), "net.type", SHORT),
        bad("net effective long", with(|v| v["net"]["effective"] = json!("4".repeat(17))), "net.effective", SHORT),
        bad("net rtt negative", with(|v| v["net"]["rtt_ms"] = json!(-1)), "net.rtt_ms", NUMBER),
        bad("net downlink huge", with(|v| v["net"]["downlink_kbps"] = json!(1e10)), "net.downlink_kbps", NUMBER),
        bad(
            "net save_data string",
            with(|v| v["net"]["save_data"] = json!("yes")),
            "net.save_data",
            "invalid type: string \"yes\", expected a boolean",
        ),
        // --- control
        bad("control not control.self", with(|v| v["control"]["target"] = json!("x.main")), "control.target", "must be \"control.self\""),
        bad("control ms negative", with(|v| v["control"]["ms"] = json!(-0.5)), "control.ms", RANGE_MS),
        bad(
            "control outcome",
            with(|v| v["control"]["outcome"] = json!("maybe")),
            "control.outcome",
            &format!("unknown variant `maybe`, {OUTCOMES}"),
        ),
        bad("control missing", with(|v| drop(v.as_object_mut().unwrap().remove("control"))), "", "missing field `control`"),
        // --- measurements
        bad("measurements empty", with(|v| v["measurements"] = json!([])), "measurements", "must hold between 1 and 64 entries"),
        bad(
            "65 measurements",
            with(|v| v["measurements"] = Value::Array(vec![measurement("x.main"); 65])),
            "measurements",
            "must hold between 1 and 64 entries",
        ),
        bad("measurements an object", with(|v| v["measurements"] = json!({})), "measurements", "invalid type: map, expected a sequence"),
        bad(
            "unknown target",
            with(|v| v["measurements"][1]["target"] = json!("myspace.main")),
            "measurements[1].target",
            "unknown target \"myspace.main\": not in the current or previous target list",
        ),
        bad(
            "unknown target echo is cut",
            with(|v| v["measurements"][0]["target"] = json!("z".repeat(5000))),
            "measurements[0].target",
            &format!("unknown target \"{}\": not in the current or previous target list", "z".repeat(64)),
        ),
        bad(
            "target twice",
            with(|v| v["measurements"][1]["target"] = json!("x.main")),
            "measurements[1].target",
            "appears twice in one report",
        ),
        bad(
            "control as a measurement",
            with(|v| v["measurements"][0]["target"] = json!("control.self")),
            "measurements[0].target",
            "unknown target \"control.self\": not in the current or previous target list",
        ),
        bad("ms over 2 minutes", with(|v| v["measurements"][0]["ms"] = json!(120_001)), "measurements[0].ms", RANGE_MS),
        bad("ms negative", with(|v| v["measurements"][1]["ms"] = json!(-1)), "measurements[1].ms", RANGE_MS),
        bad(
            "ms string",
            with(|v| v["measurements"][1]["ms"] = json!("fast")),
            "measurements[1].ms",
            "invalid type: string \"fast\", expected f64",
        ),
        bad("ms null", with(|v| v["measurements"][0]["ms"] = Value::Null), "measurements[0].ms", "invalid type: null, expected f64"),
        bad(
            "outcome unknown",
            with(|v| v["measurements"][0]["outcome"] = json!("censored")),
            "measurements[0].outcome",
            &format!("unknown variant `censored`, {OUTCOMES}"),
        ),
        bad(
            "outcome missing",
            with(|v| drop(v["measurements"][0].as_object_mut().unwrap().remove("outcome"))),
            "measurements[0]",
            "missing field `outcome`",
        ),
        bad("phase negative", with(|v| v["measurements"][0]["phases"] = json!({"dns": -1})), "measurements[0].phases.dns", RANGE_MS),
        bad(
            "phase too long",
            with(|v| v["measurements"][1]["phases"] = json!({"ttfb": 120_000.5})),
            "measurements[1].phases.ttfb",
            RANGE_MS,
        ),
        bad(
            "phase unknown",
            with(|v| v["measurements"][0]["phases"] = json!({"ssl": 1})),
            "measurements[0].phases.ssl",
            "unknown field `ssl`, expected one of `dns`, `connect`, `tls`, `ttfb`, `transfer`",
        ),
        bad(
            "bytes too many",
            with(|v| v["measurements"][0]["bytes"] = json!(100_000_001)),
            "measurements[0].bytes",
            "must be at most 100000000",
        ),
        bad(
            "bytes negative",
            with(|v| v["measurements"][0]["bytes"] = json!(-5)),
            "measurements[0].bytes",
            "invalid value: integer `-5`, expected u64",
        ),
        bad(
            "measurement extra field",
            with(|v| v["measurements"][0]["code"] = json!(200)),
            "measurements[0].code",
            "unknown field `code`, expected one of `target`, `outcome`, `ms`, `phases`, `bytes`, `status`, `timing`",
        ),
        // --- `status` belongs to `http_error` alone
        bad(
            "status on ok",
            with(|v| v["measurements"][0]["status"] = json!(200)),
            "measurements[0].status",
            "is allowed only when outcome is \"http_error\"",
        ),
        bad(
            "status on the control",
            with(|v| v["control"]["status"] = json!(403)),
            "control.status",
            "is allowed only when outcome is \"http_error\"",
        ),
        bad(
            "http_error without status",
            with(|v| v["measurements"][0]["outcome"] = json!("http_error")),
            "measurements[0].status",
            "is required when outcome is \"http_error\"",
        ),
        bad(
            "http_error status too high",
            with(|v| v["measurements"][0] = json!({"target": "x.main", "outcome": "http_error", "ms": 9, "status": 600})),
            "measurements[0].status",
            "must be between 100 and 599",
        ),
        bad(
            "http_error status beyond u16",
            with(|v| v["measurements"][0] = json!({"target": "x.main", "outcome": "http_error", "ms": 9, "status": 70000})),
            "measurements[0].status",
            "invalid value: integer `70000`, expected u16",
        ),
        // --- 413
        Case {
            name: "over 16 KiB",
            content_type: Some("text/plain"),
            body: too_large,
            status: 413,
            field: None,
            message: too_large_msg.clone(),
        },
        // --- 415
        media("form", Some("application/x-www-form-urlencoded")),
        media("multipart", Some("multipart/form-data; boundary=x")),
        media("html", Some("text/html")),
        media("json-patch", Some("application/json-patch+json")),
        media("no content type", None),
        Case {
            name: "wrong type beats too large",
            content_type: Some("image/png"),
            body: vec![b'x'; 20_000],
            status: 415,
            field: None,
            message: "send text/plain or application/json".into(),
        },
    ]
}

#[tokio::test]
async fn malformed_reports_get_their_exact_answer_and_store_nothing() {
    let t = TestDir::new();
    let (router, _state) = router(t.config());
    for n in 0..3 {
        assert_eq!(oneshot(&router, post(report(&id(4000 + n)), "text/plain")).await.status, 202);
    }
    let before = counts(&t);
    assert_eq!(before, (6, 3));

    let cases = cases();
    assert!(cases.len() >= 50, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let mut req = Request::post("/v1/reports");
        if let Some(ct) = c.content_type {
            req = req.header("content-type", ct);
        }
        let a = oneshot(&router, req.body(Body::from(c.body.clone())).unwrap()).await;
        let body: Value = serde_json::from_slice(&a.body).unwrap_or(Value::Null);
        let error = match c.status {
            400 => "invalid_report",
            413 => "too_large",
            _ => "unsupported_media_type",
        };
        let want = (c.status, Some(error), c.field, Some(c.message.as_str()));
        let got = (a.status.as_u16(), body["error"].as_str(), body.get("field").and_then(Value::as_str), body["message"].as_str());
        if want != got || !a.header("content-type").starts_with("application/json") {
            failures.push(format!("{}:\n   want {want:?}\n    got {got:?} {}", c.name, String::from_utf8_lossy(&a.body)));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases answered wrongly:\n{}", failures.len(), cases.len(), failures.join("\n"));
    assert_eq!(counts(&t), before, "refused reports changed the store");

    let metrics = String::from_utf8(oneshot(&router, get("/metrics")).await.body).unwrap();
    for status in [400, 413, 415] {
        let n = cases.iter().filter(|c| c.status == status).count();
        let line = format!("vantage_reports_rejected_total{{status=\"{status}\"}} {n}\n");
        assert!(metrics.contains(&line), "{line}{metrics}");
    }
}

/// (observation rows, report ids) in the store.
fn counts(t: &TestDir) -> (i64, i64) {
    let conn = rusqlite::Connection::open(t.db()).unwrap();
    let reports = conn.query_row("SELECT count(*) FROM reports", [], |r| r.get(0)).unwrap();
    (rows(&t.db(), ""), reports)
}
