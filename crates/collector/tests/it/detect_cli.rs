//! `vantage simulate --store` then `vantage detect` through the real binary: the block the
//! history ends with is found, with the same ids on every run.

use crate::common::*;
use serde_json::Value;

#[test]
fn detect_finds_the_simulated_block_deterministically() {
    let t = TestDir::new();
    let store = format!("sqlite:{}", t.db().display());
    let out = vantage()
        .args(["simulate", "--store", &store, "--days", "0.25", "--end", "2026-11-28T12:00:00Z", "--scenario", "block"])
        .args(["--event-minutes", "20", "--platforms", "x,youtube", "--per-minute", "80"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("wrote"));
    let detect = || {
        let out = vantage()
            .args(["detect", "--store", &store, "--from", "2026-11-28T06:00:00Z", "--to", "2026-11-28T12:00:00Z"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let v = detect();
    let incidents = v["incidents"].as_array().unwrap();
    let country = incidents.iter().find(|i| i["asn"].is_null()).unwrap_or_else(|| panic!("{v}"));
    assert_eq!(
        (country["platform"].as_str(), country["country"].as_str(), country["state"].as_str()),
        (Some("x"), Some("PK"), Some("disrupted"))
    );
    let started = country["started_at"].as_str().unwrap();
    assert!(("2026-11-28T11:40:00Z".."2026-11-28T11:45:00Z").contains(&started), "{started}");
    assert!(incidents.iter().all(|i| i["platform"] == "x"), "youtube stayed normal: {v}");
    assert_eq!(detect(), v, "replays are deterministic");
    let bad = vantage().args(["detect", "--store", &store, "--from", "yesterday", "--to", "2026-11-28T12:00:00Z"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("--from"));
}

/// The targets through the real binaries: `vantage simulate --asn-rate 60` writes one of
/// the scenarios into a store with `vantage-detect`'s generator (60 reports a minute per
/// ASN cell, diurnal, 2% background failures, single-visitor outages), then `vantage detect`
/// replays it. Time to detect is `opened_at` (when a live collector opens the incident) minus
/// the onset `simulate --json` reports; `started_at` is earlier, the first bad window's minute.
mod targets {
    use super::*;
    use vantage_collector::store::rfc3339;

    /// What `simulate --json` said and `detect` found.
    struct Run {
        summary: Value,
        incidents: Vec<Value>,
    }

    impl Run {
        /// Onset in unix minutes.
        fn onset(&self) -> i64 {
            minute(self.summary["onset"].as_str().unwrap())
        }

        /// Minutes from onset to the first matching incident's opening.
        fn ttd(&self, what: &str, pick: impl Fn(&Value) -> bool) -> i64 {
            let i = self.incidents.iter().filter(|i| pick(i)).min_by_key(|i| minute(i["opened_at"].as_str().unwrap()));
            let i = i.unwrap_or_else(|| panic!("no incident for {what}: {:?}", self.incidents));
            let ttd = minute(i["opened_at"].as_str().unwrap()) - self.onset();
            println!(
                "vantage detect: {what}: {} {} opened after {ttd} min (started_at {}, opened_at {}, onset {})",
                i["state"], i["asn"], i["started_at"], i["opened_at"], self.summary["onset"]
            );
            ttd
        }
    }

    fn minute(t: &str) -> i64 {
        rfc3339::parse(t).unwrap().div_euclid(60)
    }

    /// `simulate` then `detect` over the whole history, which ends at `end`.
    fn run(scenario: &str, days: &str, end: &str, event_minutes: &str, seed: &str) -> Run {
        run_with(scenario, days, end, event_minutes, seed, &[])
    }

    /// [`run`] with more `simulate` flags.
    fn run_with(scenario: &str, days: &str, end: &str, event_minutes: &str, seed: &str, more: &[&str]) -> Run {
        let t = TestDir::new();
        let store = format!("sqlite:{}", t.db().display());
        let started = std::time::Instant::now();
        let out = vantage()
            .args(["simulate", "--store", &store, "--scenario", scenario, "--days", days, "--end", end])
            .args(["--event-minutes", event_minutes, "--platforms", "x", "--asn-rate", "60", "--seed", seed, "--json"])
            .args(more)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
        let simulated = started.elapsed();
        let out = vantage().args(["detect", "--store", &store, "--from", summary["from"].as_str().unwrap(), "--to", end]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        println!(
            "{scenario}: {} observations, simulate {:.1} s, detect {:.1} s",
            summary["observations"],
            simulated.as_secs_f64(),
            (started.elapsed() - simulated).as_secs_f64()
        );
        Run { summary, incidents: v["incidents"].as_array().unwrap().clone() }
    }

    /// Before the onset nothing may open.
    fn none_before_onset(r: &Run) {
        let early: Vec<_> = r.incidents.iter().filter(|i| minute(i["opened_at"].as_str().unwrap()) <= r.onset()).collect();
        assert!(early.is_empty(), "opened before onset: {early:?}");
    }

    #[test]
    fn full_block_is_an_open_disrupted_incident_within_3_minutes() {
        let r = run("block", "0.5", "2026-11-28T11:00:00Z", "60", "1");
        none_before_onset(&r);
        let ttd = r.ttd("full block, country", |i| i["asn"].is_null() && i["platform"] == "x" && i["country"] == "PK");
        assert!(ttd <= 3, "{ttd} min");
        let country = r.incidents.iter().find(|i| i["asn"].is_null()).unwrap();
        assert_eq!(country["state"], "disrupted");
        assert!(country["ended_at"].is_null(), "still open at the end of the block: {country}");
    }

    #[test]
    fn half_failure_on_one_asn_is_an_incident_for_it_within_6_minutes() {
        let r = run("asn-half", "0.5", "2026-11-28T11:00:00Z", "60", "2");
        none_before_onset(&r);
        let victim = r.summary["victim_asn"].as_u64().unwrap();
        let ttd = r.ttd(&format!("50% on AS{victim}"), |i| i["asn"] == victim);
        assert!(ttd <= 6, "{ttd} min");
        let others: Vec<_> = r.incidents.iter().filter(|i| i["asn"].as_u64().is_some_and(|a| a != victim)).collect();
        assert!(others.is_empty(), "other ASNs flagged: {others:?}");
        // A country-level incident may follow, but it names the one ASN behind it.
        for c in r.incidents.iter().filter(|i| i["asn"].is_null()) {
            assert_eq!(c["affected_asns"], serde_json::json!([victim]), "{c}");
        }
    }

    #[test]
    fn fivefold_slowdown_reads_degraded_within_6_minutes() {
        let r = run("throttle", "0.5", "2026-11-28T11:00:00Z", "60", "3");
        none_before_onset(&r);
        let ttd = r.ttd("5x slowdown, country", |i| i["asn"].is_null() && i["state"] == "degraded");
        assert!(ttd <= 6, "{ttd} min");
        assert!(r.incidents.iter().all(|i| i["state"] == "degraded"), "{:?}", r.incidents);
    }

    #[test]
    fn fourteen_days_of_normal_traffic_open_no_incident() {
        let started = std::time::Instant::now();
        // One ASN (the busiest of the 14-day mix, 60 a minute): the country cell is that cell, and
        // the history writes in a CI-friendly time (about 1.2 million observations).
        let r = run_with("normal", "14", "2026-11-16T00:00:00Z", "0", "5", &["--asns", "1"]);
        println!("normal, 14 days: {} incidents in {:.1} s", r.incidents.len(), started.elapsed().as_secs_f64());
        assert!(r.summary["onset"].is_null());
        assert!(r.incidents.is_empty(), "false incidents: {:?}", r.incidents);
    }
}
