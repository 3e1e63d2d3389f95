use super::*;

const GOOD: &str = r#"{"v":1,"id":"3f9c1a0e5b7d4c2a9e8f6d5c4b3a2918","site":"drm","widget":"0.1.0",
 "targets_version":"2026-11-28.1","age_s":4,"browser":{"family":"chromium","major":156},
 "net":{"type":"wifi","effective":"4g","rtt_ms":50,"downlink_kbps":10000,"save_data":false},
 "control":{"target":"control.self","outcome":"ok","ms":41.2},
 "measurements":[{"target":"x.favicon","outcome":"ok","ms":182.5,
   "phases":{"dns":12.0,"connect":30.1,"tls":28.0,"ttfb":60.2,"transfer":3.1},"bytes":1150},
  {"target":"youtube.thumb","outcome":"error","ms":3.2},
  {"target":"facebook.static","outcome":"timeout","ms":15000}]}"#;

fn known(t: &str) -> bool {
    ["x.favicon", "youtube.thumb", "facebook.static"].contains(&t)
}

fn err(body: &str) -> ValidationError {
    parse_report(body.as_bytes(), known).unwrap_err()
}

#[test]
fn protocol_example_is_valid() {
    let r = parse_report(GOOD.as_bytes(), known).unwrap();
    assert_eq!(r.measurements.len(), 3);
    assert_eq!(r.measurements[2].outcome, crate::Outcome::Timeout);
}

#[test]
fn out_of_range_ms_names_the_field() {
    let e = err(&GOOD.replace("15000", "120001"));
    assert_eq!(e.field, "measurements[2].ms");
    assert_eq!(e.message, "must be between 0 and 120000");
}

#[test]
fn wrong_type_names_the_field() {
    let e = err(&GOOD.replace(r#""ms":3.2"#, r#""ms":"fast""#));
    assert_eq!(e.field, "measurements[1].ms");
}

#[test]
fn bad_outcome_names_the_field() {
    let e = err(&GOOD.replace(r#""outcome":"error""#, r#""outcome":"censored""#));
    assert_eq!(e.field, "measurements[1].outcome");
}

#[test]
fn unknown_target_refused() {
    let e = err(&GOOD.replace("youtube.thumb", "evil.example"));
    assert_eq!(e.field, "measurements[1].target");
}

#[test]
fn bad_id_and_site() {
    assert_eq!(err(&GOOD.replace("3f9c1a0e5b7d4c2a9e8f6d5c4b3a2918", "3F9C")).field, "id");
    assert_eq!(err(&GOOD.replace(r#""site":"drm""#, r#""site":"<script>""#)).field, "site");
}

#[test]
fn invalid_json_has_empty_field() {
    let e = err("{not json");
    assert_eq!(e.field, "");
    assert!(e.message.starts_with("invalid JSON"), "{e:?}");
    assert_eq!(err(&format!("{GOOD} x")).field, "");
}

#[test]
fn control_must_be_control_self() {
    assert_eq!(err(&GOOD.replace("control.self", "x.favicon")).field, "control.target");
}

/// Regression (cargo-fuzz): an unknown 16 KiB key came back whole in `field` and twice in the
/// message; like an unknown target, it is now cut.
#[test]
fn hostile_keys_and_strings_are_not_echoed_whole() {
    let key = "k".repeat(16_000);
    let e = err(&GOOD.replacen("\"v\":1", &format!("\"{key}\":1,\"v\":1"), 1));
    assert_eq!(e.field, format!("{}...", "k".repeat(128)));
    assert!(e.message.starts_with("unknown field `kkk") && e.message.len() <= 323, "{}", e.message.len());
    let e = err(&GOOD.replacen("\"outcome\":\"error\"", &format!("\"outcome\":\"{key}\""), 1));
    assert_eq!(e.field, "measurements[1].outcome");
    assert!(e.message.starts_with("unknown variant `kkk") && e.message.len() <= 323, "{}", e.message.len());
    let artifact = include_bytes!("../../../../fuzz/seeds/parse_report/regress-long-key.json");
    let e = parse_report(artifact, known).unwrap_err();
    assert!(e.field.len() <= 131 && e.message.len() <= 323, "{e:?}");
}

#[test]
fn timing_source_is_optional_and_only_rt_or_now() {
    let r = parse_report(
        GOOD.replace(r#""ms":3.2"#, r#""ms":3.2,"timing":"now""#).replace(r#""ms":41.2"#, r#""ms":41.2,"timing":"rt""#).as_bytes(),
        known,
    )
    .unwrap();
    assert_eq!(r.control.timing, Some(crate::Timing::ResourceTiming));
    assert_eq!(r.measurements[1].timing, Some(crate::Timing::Now));
    assert_eq!(r.measurements[0].timing, None, "old widgets send no timing");
    let e = err(&GOOD.replace(r#""ms":3.2"#, r#""ms":3.2,"timing":"clock""#));
    assert_eq!(e.field, "measurements[1].timing");
    assert!(e.message.contains("unknown variant"), "{}", e.message);
}

/// The second measurement of GOOD turned into `http_error`, with `status` as given (raw JSON).
fn http_error(status: &str) -> String {
    GOOD.replace(r#""outcome":"error","ms":3.2"#, &format!(r#""outcome":"http_error","ms":3.2{status}"#))
}

#[test]
fn http_error_with_status_is_valid() {
    let r = parse_report(http_error(r#","status":451"#).as_bytes(), known).unwrap();
    assert_eq!(r.measurements[1].outcome, crate::Outcome::HttpError);
    assert_eq!(r.measurements[1].status, Some(451));
}

#[test]
fn http_error_needs_a_status() {
    let e = err(&http_error(""));
    assert_eq!((e.field.as_str(), e.message.as_str()), ("measurements[1].status", "is required when outcome is \"http_error\""));
}

#[test]
fn status_out_of_range_refused() {
    for bad in ["99", "600", "0"] {
        let e = err(&http_error(&format!(r#","status":{bad}"#)));
        assert_eq!((e.field.as_str(), e.message.as_str()), ("measurements[1].status", "must be between 100 and 599"), "{bad}");
    }
    // Beyond u16 or negative: serde refuses it, still naming the field.
    assert_eq!(err(&http_error(r#","status":70000"#)).field, "measurements[1].status");
    assert_eq!(err(&http_error(r#","status":-1"#)).field, "measurements[1].status");
}

#[test]
fn status_refused_without_http_error() {
    let e = err(&GOOD.replace(r#""outcome":"error","ms":3.2"#, r#""outcome":"error","ms":3.2,"status":403"#));
    assert_eq!((e.field.as_str(), e.message.as_str()), ("measurements[1].status", "is allowed only when outcome is \"http_error\""));
    let e = err(&GOOD.replace(r#""outcome":"ok","ms":41.2"#, r#""outcome":"ok","ms":41.2,"status":200"#));
    assert_eq!((e.field.as_str(), e.message.as_str()), ("control.status", "is allowed only when outcome is \"http_error\""));
}

#[test]
fn target_mode_defaults_to_no_cors_and_round_trips() {
    use crate::{FetchMode, Target};
    let t: Target = serde_json::from_str(r#"{"id":"x.favicon","platform":"x","url":"https://x.test/f","timeout_ms":15000}"#).unwrap();
    assert_eq!(t.mode, FetchMode::NoCors);
    let json = serde_json::to_value(&t).unwrap();
    assert_eq!(json["mode"], "no-cors");
    let cors: Target = serde_json::from_value(serde_json::json!({"id":"x.img","platform":"x","url":"https://x.test/i",
        "timeout_ms":15000,"mode":"cors"}))
    .unwrap();
    assert_eq!(cors.mode, FetchMode::Cors);
    assert!(
        serde_json::from_str::<Target>(r#"{"id":"a","platform":"x","url":"https://x.test","timeout_ms":1,"mode":"same-origin"}"#).is_err()
    );
    assert_eq!(FetchMode::from_wire("cors"), Some(FetchMode::Cors));
}

/// The fast decode (no path tracking) and the path-tracking one accept exactly the same bodies:
/// a body the fast one refuses gets the path-tracking refusal, and one it accepts must not be
/// one the other would refuse (it would then pass without the 400 it gets today).
#[test]
fn the_fast_decode_accepts_what_the_path_tracking_decode_accepts() {
    let bodies = [
        GOOD.to_string(),
        format!("{GOOD} x"),
        format!("{GOOD}  \n"),
        "{not json".into(),
        String::new(),
        GOOD.replace(r#""ms":3.2"#, r#""ms":"fast""#),
        GOOD.replace(r#""outcome":"error""#, r#""outcome":"censored""#),
        GOOD.replacen("\"v\":1", "\"extra\":1,\"v\":1", 1),
        GOOD.replacen("\"v\":1,", "", 1),
        GOOD.replace("\"major\":156", "\"major\":-1"),
        GOOD.replace("\"bytes\":1150", "\"bytes\":1150,\"bytes\":1"),
        http_error(r#","status":70000"#),
        GOOD.replace(r#""ms":41.2"#, r#""ms":41.2,"timing":"rt""#),
    ];
    for body in &bodies {
        assert_eq!(decode(body.as_bytes()).is_some(), decode_with_path(body.as_bytes()).is_ok(), "{body}");
    }
    assert!(decode(GOOD.as_bytes()).is_some());
    assert_eq!(decode(GOOD.as_bytes()), decode_with_path(GOOD.as_bytes()).ok());
}
