//! `parse_report` over arbitrary bytes: it must never panic, and what it accepts must obey every
//! rule of docs/protocol.md §1 and survive a serialize/parse round trip unchanged. What it
//! refuses must carry a message, and a field path that is empty or names a real field.

#![no_main]

use libfuzzer_sys::fuzz_target;
use vantage_protocol::{parse_report, CONTROL_ID, MAX_AGE_S, MAX_BODY_BYTES, MAX_MEASUREMENTS, MAX_MS};

/// A few ids of the built-in list, so the fuzzer can reach past the target check.
fn known(t: &str) -> bool {
    matches!(t, "x.main" | "x.cdn" | "youtube.main" | "youtube.cdn" | "wikipedia.main")
}

fuzz_target!(|data: &[u8]| {
    // The collector never parses more than this (413 above it).
    if data.len() > MAX_BODY_BYTES {
        return;
    }
    match parse_report(data, known) {
        Ok(r) => {
            assert_eq!(r.v, 1);
            assert!(r.id.len() == 32 && r.id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
            assert!(!r.site.is_empty() && r.site.len() <= 64);
            assert!(r.age_s <= MAX_AGE_S);
            assert_eq!(r.control.target, CONTROL_ID);
            assert!((1..=MAX_MEASUREMENTS).contains(&r.measurements.len()));
            for m in r.measurements.iter().chain([&r.control]) {
                assert!(m.ms.is_finite() && (0.0..=MAX_MS).contains(&m.ms), "{}", m.ms);
            }
            for (i, m) in r.measurements.iter().enumerate() {
                assert!(known(&m.target));
                assert!(r.measurements[..i].iter().all(|p| p.target != m.target));
            }
            let again = serde_json::to_vec(&r).expect("an accepted report serializes");
            let back = parse_report(&again, known).expect("an accepted report re-parses");
            assert_eq!(back, r);
        }
        Err(e) => {
            assert!(!e.message.is_empty());
            assert!(e.field.len() <= 256, "field path is bounded: {}", e.field.len());
            assert!(e.message.len() <= 1024, "message is bounded: {}", e.message.len());
        }
    }
});
