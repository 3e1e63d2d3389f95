//! The widget in real headless Chromium: `tests/e2e/bench-widget.mjs` (playwright-core) drives
//! the browser; this side starts the collector and the fixture server in process, points the
//! target list at `/delay/{50,200,1000}` fixtures, and turns the script's JSON into figures.

use crate::report::{Figure, Goal};
use crate::util::{self, Server};
use anyhow::Context;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

/// The environment variable naming another build's files to measure (see `run`).
const WIDGET_FROM: &str = "VANTAGE_BENCH_WIDGET_FROM";

/// Target id -> injected delay (ms). Two targets a delay: six timed requests a visit.
const DELAYS: [(&str, &str, u32); 6] = [
    ("x.main", "x", 50),
    ("x.cdn", "x", 50),
    ("youtube.main", "youtube", 200),
    ("youtube.cdn", "youtube", 200),
    ("facebook.main", "facebook", 1000),
    ("facebook.cdn", "facebook", 1000),
];

/// The target list: each URL names the fixture server's port, so that Firefox (which resolves the
/// `.test` hosts to 127.0.0.1 through a preference) reaches it too; Chromium's
/// --host-resolver-rules map host and port alike.
fn target_list(fixture_port: u16) -> String {
    let mut t = String::from("version = \"bench.1\"\n\n[control]\nurl = \"/v1/ping\"\ntimeout_ms = 5000\n");
    for (id, platform, ms) in DELAYS {
        t.push_str(&format!(
            "\n[[target]]\nid = \"{id}\"\nplatform = \"{platform}\"\nurl = \"http://{platform}.test:{fixture_port}/delay/{ms}\"\ntimeout_ms = 5000\n"
        ));
    }
    t
}

/// gzip -9 sizes of what is served: (loader.js, everything after it), as build-widget.sh counts.
fn gzip_sizes(root: &std::path::Path) -> anyhow::Result<(f64, f64)> {
    let gz = |p: &str| -> anyhow::Result<f64> {
        let out = Command::new("gzip").args(["-9", "-c"]).arg(root.join(p)).output().context("gzip")?;
        if !out.status.success() {
            anyhow::bail!("gzip {p}: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(out.stdout.len() as f64)
    };
    // The collector serves the minified loader and frame script from dist/widget when the build
    // wrote them (it does), so those are what visitors download.
    let after = [
        "www/frame.html",
        "dist/widget/frame.js",
        "dist/widget/worker.js",
        "dist/widget/vantage_widget.js",
        "dist/widget/vantage_widget_bg.wasm",
    ];
    Ok((gz("dist/widget/loader.js")?, after.iter().map(|p| gz(p)).sum::<anyhow::Result<f64>>()?))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

pub(crate) fn run(smoke: bool, figures: &mut Vec<Figure>) -> anyhow::Result<()> {
    let root = util::root();
    let script = root.join("tests/e2e/bench-widget.mjs");
    if !root.join("tests/e2e/node_modules/playwright-core").exists() {
        anyhow::bail!("tests/e2e/node_modules/playwright-core is missing: run ./build.sh setup");
    }
    if !root.join("dist/widget/vantage_widget_bg.wasm").exists() {
        anyhow::bail!("dist/widget is not built: run scripts/build-widget.sh (or ./build.sh build)");
    }
    let dir = tempfile::Builder::new().prefix("vantage-bench-widget-").tempdir()?;
    let fixtures = Server::fixtures()?;
    let mut config = util::collector_config(dir.path().join("vantage.db"));
    // Another build's files (a directory holding `www/` and `dist/widget/`, e.g. a copy of the
    // previous commit's), served from disk: old and new builds can then be measured alternately by
    // one binary, whose compiled-in files are this checkout's.
    let served = match std::env::var_os(WIDGET_FROM) {
        Some(from) => {
            let from = std::path::PathBuf::from(from);
            config.www = Some(from.join("www"));
            config.widget_dir = Some(from.join("dist/widget"));
            from
        }
        None => root.clone(),
    };
    config.targets = vantage_collector::targets::parse_targets(&target_list(fixtures.addr.port()), "bench targets")?;
    let collector = Server::collector(config)?;
    let mut hosts: Vec<String> = DELAYS.iter().map(|d| format!("{}.test", d.1)).collect();
    hosts.dedup();
    let visits = if smoke { 1 } else { 10 };

    // Four variants once a round, the two phone ones twice, and a Firefox visit.
    let pb = util::bar(9 * visits as u64, "widget");
    pb.set_message("starting Chromium");
    let mut child = Command::new("node")
        .arg(&script)
        .args(["--origin", &format!("http://{}", collector.addr)])
        .args(["--fixtures-port", &fixtures.addr.port().to_string()])
        .args(["--visits", &visits.to_string()])
        .args(["--test-hosts", &hosts.join(",")])
        .args(["--warmup", if smoke { "0" } else { "1" }])
        .current_dir(root.join("tests/e2e"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot run node")?;
    let mut stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let mut err_text = String::new();
    for line in BufReader::new(stderr).lines().map_while(Result::ok) {
        if line.starts_with("visit ") {
            pb.inc(1);
            pb.set_message(line.clone());
        }
        err_text.push_str(&line);
        err_text.push('\n');
    }
    let mut out = String::new();
    stdout.read_to_string(&mut out)?;
    let status = child.wait()?;
    pb.finish_and_clear();
    drop(fixtures);
    collector.stop()?;
    if !status.success() {
        anyhow::bail!(
            "bench-widget.mjs failed ({status}):\n{}",
            err_text.lines().rev().take(20).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let j: Value =
        serde_json::from_str(out.trim().lines().last().unwrap_or("")).with_context(|| format!("bench-widget.mjs output: {out}"))?;

    let reports = j["sampled_reports"].as_u64().unwrap_or(0);
    if reports == 0 {
        anyhow::bail!("no sampled visit posted a report: {j}");
    }
    let files = |k: &str| {
        j["bytes"][k]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|x| {
                        format!(
                            "{} {} B{}",
                            x["path"].as_str().unwrap_or("?"),
                            x["body"],
                            x["encoding"].as_str().map(|e| format!(" {e}")).unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let (loader_gz, after_gz) = gzip_sizes(&served)?;
    figures.push(
        Figure::new("widget", "widget.gzip_sampled", "gzip -9 bytes a sampled visitor downloads", "B", loader_gz + after_gz)
            .goal(Goal::at_most(1024.0 + 24_576.0))
            .note(format!(
                "loader {loader_gz} B + frame.html, frame.js, worker.js, widget js and wasm {after_gz} B (scripts/build-widget.sh's budget counts the part after the loader: {after_gz} B of 24576, stretch goal 20480); the /v1/targets answer not included"
            )),
    );
    figures.push(
        Figure::new("widget", "widget.gzip_not_sampled", "gzip -9 bytes a non-sampled visitor downloads (loader.js)", "B", loader_gz)
            .goal(Goal::at_most(1024.0)),
    );
    figures.push(
        Figure::new("widget", "widget.bytes_sampled", "bytes a sampled visitor downloads for the widget, as Chromium received them", "B", f(&j["bytes"]["sampled"]))
            .note(format!(
                "response bodies as transferred by Chromium (cold cache): {}; with headers {} B; measured platform requests and the control ping not counted",
                files("sampled_files"),
                j["bytes"]["sampled_with_headers"]
            )),
    );
    figures.push(
        Figure::new(
            "widget",
            "widget.bytes_not_sampled",
            "bytes a non-sampled visitor downloads, as Chromium received them",
            "B",
            f(&j["bytes"]["not_sampled"]),
        )
        .note(files("not_sampled_files")),
    );
    let mt = &j["main_thread_ms"];
    let (sampled, none, not_sampled) = (f(&mt["sampled"]), f(&mt["none"]), f(&mt["not_sampled"]));
    // The noise of a difference of two medians: the two 95 % notches added in quadrature.
    let noise = |a: &str, b: &str| f(&mt["noise"][a]).hypot(f(&mt["noise"][b]));
    figures.push(added_main_thread_ms(
        "widget.main_thread_ms",
        "renderer main-thread time the widget adds to the host page",
        (sampled, none),
        format!(
            "median CDP TaskDuration, sampled visit {sampled:.1} ms minus the same page without the snippet {none:.1} ms (the baseline column); host and frame share one renderer (same origin: worst case); noise of the difference ±{:.1} ms; script time {:.1} vs {:.1} ms",
            noise("sampled", "none"),
            f(&mt["script_sampled"]),
            f(&mt["script_none"])
        ),
    ));
    figures.push(
        Figure::new("widget", "widget.main_thread_ms_cross_site", "host renderer main-thread time added when the host is another site", "ms", f(&mt["sampled_xsite"]) - none)
            .baseline(none)
            .note(format!("host on localhost (another site), frame at the collector: site isolation gives the frame its own process; {} of {visits} visits reported", j["sampled_xsite_reports"])),
    );
    figures.push(
        Figure::new(
            "widget",
            "widget.main_thread_ms_not_sampled",
            "main-thread time of the loader alone (not sampled)",
            "ms",
            not_sampled - none,
        )
        .baseline(none),
    );
    let (phone, phone_none) = (f(&mt["phone_sampled"]), f(&mt["phone_none"]));
    figures.push(added_main_thread_ms(
        "widget.main_thread_ms_phone",
        "host main-thread time added on a phone-like Chromium (same process, CPU 4x)",
        (phone, phone_none),
        format!(
            "median CDP TaskDuration with --disable-site-isolation-trials and CPU throttling {}x, same-origin host: sampled {phone:.1} ms minus the same page without the snippet {phone_none:.1} ms, {} visits each, interleaved; noise of the difference ±{:.1} ms; {} of them reported",
            j["phone_cpu_slowdown"], j["phone_visits"], noise("phone_sampled", "phone_none"), j["phone_reports"]
        ),
    ));
    let lt = &j["long_tasks"];
    figures.push(
        Figure::new(
            "widget",
            "widget.long_tasks_phone",
            "long tasks (>50 ms) in phone-like sampled visits, any frame",
            "tasks",
            f(&lt["phone_sampled"]),
        )
        .baseline(f(&lt["phone_none"]))
        .goal(Goal::at_most(0.0))
        .note(format!(
            "same process, CPU 4x, {} visits; baseline: the page without the snippet; first ones: {}",
            j["phone_visits"], lt["phone_list"]
        )),
    );
    figures.push(
        Figure::new("widget", "widget.long_tasks", "long tasks (>50 ms) in sampled visits, any frame", "tasks", f(&lt["sampled"]))
            .baseline(f(&lt["none"]))
            .goal(Goal::at_most(0.0))
            .note(format!(
                "PerformanceObserver longtask in every frame, {visits} visits; baseline: the page without the snippet; first ones: {}",
                lt["list"]
            )),
    );
    figures.push(
        Figure::new(
            "widget",
            "widget.requests_before_load",
            "widget requests started before the host's load event",
            "requests",
            f(&j["requests_before_load"]),
        )
        .goal(Goal::at_most(0.0))
        .note(format!(
            "absolute Resource Timing starts of every frame vs the host's loadEventStart; the loader script itself excluded; {}",
            j["requests_before_load_list"]
        )),
    );

    // Timing accuracy: the widget's ms against the injected delay, and node's own timing of the
    // same fixture URLs as the baseline (the floor of any client on this machine).
    let node: Vec<f64> = j["node_reference"].as_array().into_iter().flatten().map(|r| f(&r["ms"]) - f(&r["delay"])).collect();
    timing_figures(figures, &j["measurements"], &node, "", "")?;
    timing_figures(figures, &j["phone_measurements"], &node, "_phone", ", phone-like Chromium (same process, CPU 4x)")?;
    timing_figures(figures, &j["firefox_measurements"], &node, "_firefox", ", Firefox (Debian's firefox-esr through WebDriver)")?;
    Ok(())
}

/// The main-thread time a sampled visit adds over the same page without the snippet (the
/// baseline), against the 5 ms goal.
fn added_main_thread_ms(key: &str, name: &str, (sampled, none): (f64, f64), note: String) -> Figure {
    Figure::new("widget", key, name, "ms", sampled - none).baseline(none).goal(Goal::at_most(5.0)).note(note)
}

/// Timing error figures (median and p95 of |ms - injected delay|) for one set of measurements,
/// against node's timing of the same URLs; the note says how many `ms` came from Resource Timing.
fn timing_figures(figures: &mut Vec<Figure>, ms: &Value, node: &[f64], suffix: &str, what: &str) -> anyhow::Result<()> {
    let delay_of = |t: &str| DELAYS.iter().find(|d| d.0 == t).map(|d| d.2 as f64);
    let mut errs = Vec::new();
    let (mut not_ok, mut from_rt) = (0, 0);
    for m in ms.as_array().into_iter().flatten() {
        let Some(d) = delay_of(m["target"].as_str().unwrap_or("")) else { continue };
        if m["outcome"] != "ok" {
            not_ok += 1;
            continue;
        }
        from_rt += usize::from(m["timing"] == "rt");
        errs.push(f(&m["ms"]) - d);
    }
    if errs.is_empty() {
        anyhow::bail!("no timed measurement{what}");
    }
    let abs = |v: &[f64]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
    let signed = util::median(&errs);
    let split = error_split(ms);
    figures.push(
        Figure::new(
            "widget",
            &format!("widget.timing_err_median{suffix}"),
            &format!("timing error vs injected delay, median |error|{what}"),
            "ms",
            util::median(&abs(&errs)),
        )
        .baseline(util::median(&abs(node)))
        .goal(Goal::at_most(3.0))
        .note(format!(
            "{} timed requests to /delay/50, /delay/200, /delay/1000 on the fixture server ({not_ok} not ok, {from_rt} timed by Resource Timing), signed median {signed:+.1} ms{split}; baseline: node's http.get of the same URLs ({} requests)",
            errs.len(),
            node.len()
        )),
    );
    figures.push(
        Figure::new(
            "widget",
            &format!("widget.timing_err_p95{suffix}"),
            &format!("timing error vs injected delay, p95 |error|{what}"),
            "ms",
            util::percentile(&abs(&errs), 95.0),
        )
        .baseline(util::percentile(&abs(node), 95.0))
        .goal(Goal::at_most(10.0)),
    );
    Ok(())
}

/// Where the error sits, from the phases the reports carry (the fixture sends
/// `Timing-Allow-Origin`): medians of ttfb minus the injected delay, transfer, dns, connect, and
/// the rest of `ms` (before the connection: the browser's queueing, resolver and socket pool).
/// Empty when no measurement has phases (Firefox reports none for `no-cors` targets).
fn error_split(ms: &Value) -> String {
    let delay_of = |t: &str| DELAYS.iter().find(|d| d.0 == t).map(|d| d.2 as f64);
    let mut parts: [Vec<f64>; 5] = Default::default();
    for m in ms.as_array().into_iter().flatten().filter(|m| m["outcome"] == "ok") {
        let p = &m["phases"];
        let Some(d) = delay_of(m["target"].as_str().unwrap_or("")).filter(|_| p.is_object()) else { continue };
        let phase = |k: &str| p[k].as_f64().unwrap_or(0.0);
        let named = [phase("ttfb") - d, phase("transfer"), phase("dns"), phase("connect")];
        for (v, x) in parts.iter_mut().zip(named) {
            v.push(x);
        }
        parts[4].push(f(&m["ms"]) - d - named.iter().sum::<f64>());
    }
    let n = parts[0].len();
    if n == 0 {
        return String::new();
    }
    let [ttfb, transfer, dns, connect, rest] = parts.map(|v| util::median(&v));
    format!(
        " (medians over {n} with phases: ttfb - delay {ttfb:+.1}, transfer {transfer:.1}, dns {dns:.1}, connect {connect:.1}, the rest (queueing, resolver, socket pool, gaps) {rest:.1} ms)"
    )
}
