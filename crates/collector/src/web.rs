//! The router: ingest, the small read endpoints, static files, and the headers every answer gets.

use crate::assets::{built_or_source, Source};
use crate::{ingest, targets::origin_of, AppState};
use axum::extract::{Request, State};
use axum::http::{header, Extensions, HeaderMap, HeaderName, HeaderValue, StatusCode, Version};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::convert::Infallible;
use tower_http::compression::predicate::{DefaultPredicate, Predicate};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use vantage_protocol::TargetList;

/// CSP for our own pages: nothing from elsewhere, never framed.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
/// Cache-Control for `?v=` URLs of static assets: the version in the URL changes when the
/// content does.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Cache-Control of the unversioned loader: a new release reaches every host page in 5 minutes.
const LOADER_CACHE: &str = "public, max-age=300";
/// Cache-Control of answers about one caller or for the operator: never kept by anyone.
const PRIVATE: &str = "private, no-store";
/// File types outside `/v1/` that are static assets (HTML pages are not: they name the assets).
const ASSET_EXTENSIONS: [&str; 11] = ["js", "mjs", "css", "wasm", "svg", "png", "jpg", "webp", "ico", "woff", "woff2"];

/// The whole HTTP surface of the collector.
pub fn app(state: AppState) -> Router {
    // The bytes of static files: compiled in, or the --www / --widget-dir overrides (assets.rs).
    let (www, widget) = (Source::www(&state.config), Source::widget(&state.config));
    if widget == Source::Embedded(crate::assets::Tree::Widget) && !crate::assets::widget_embedded() {
        tracing::warn!("this binary was built before the widget (dist/widget/): /v1/w/ answers 404; run ./build.sh build");
    }
    Router::new()
        // No CORS: only our own frame (same origin) posts reports; see `origin`.
        .route("/v1/reports", post(ingest::post_report))
        .route("/v1/targets", get(targets))
        .route("/v1/ping", get(ping))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics).route_layer(middleware::from_fn_with_state(state.clone(), crate::auth::require_admin)))
        .route(
            "/v1/loader.js",
            built_or_source(&widget, &www, "loader.js")
                .file("loader.js")
                .layer::<_, Infallible>(set_if_absent(header::ACCESS_CONTROL_ALLOW_ORIGIN, "*")),
        )
        .route(
            "/v1/frame.html",
            www.file("frame.html").layer::<_, Infallible>(middleware::map_response_with_state(state.clone(), frame_headers)),
        )
        .route(
            "/check/",
            www.file("check/index.html").layer::<_, Infallible>(middleware::map_response_with_state(state.clone(), check_headers)),
        )
        .route("/v1/frame.js", built_or_source(&widget, &www, "frame.js").file("frame.js"))
        // The measurement worker the frame starts (issue 11). A worker's CSP comes from its own
        // response, not the frame's: it gets the frame's (its requests and the wasm compile).
        .route(
            "/v1/worker.js",
            built_or_source(&widget, &www, "worker.js")
                .file("worker.js")
                .layer::<_, Infallible>(middleware::map_response_with_state(state.clone(), frame_headers)),
        )
        .merge(crate::api::routes())
        .nest_service("/v1/w", widget.tree())
        .fallback_service(www.tree())
        .layer(middleware::from_fn(harden))
        .layer(CompressionLayer::new().compress_when(DefaultPredicate::new().and(not_marked_uncompressed)))
        .layer(middleware::map_response(etag_per_encoding))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// A response extension: an answer too small to gain from compression (ingest's 202), which the
/// compression layer then leaves as it is whatever the client accepts.
#[derive(Clone, Copy)]
pub(crate) struct Uncompressed;

/// The compression layer's own test, plus: not a response marked [`Uncompressed`].
fn not_marked_uncompressed(_: StatusCode, _: Version, _: &HeaderMap, extensions: &Extensions) -> bool {
    extensions.get::<Uncompressed>().is_none()
}

fn set_if_absent(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// The frame's CSP, from the target list in force now (it can be reloaded).
async fn frame_headers(State(c): State<AppState>, mut res: Response) -> Response {
    let csp = frame_csp(&c.targets.read().unwrap_or_else(|e| e.into_inner()).current);
    res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
    res
}

/// The frame may be embedded anywhere and may only talk to us and to the targets it measures.
fn frame_csp(list: &TargetList) -> HeaderValue {
    let csp = format!(
        "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self' {}; worker-src 'self'; base-uri 'none'; form-action 'none'",
        target_origins(list)
    );
    HeaderValue::try_from(csp).expect("target origins are validated header-safe")
}

/// The check page (`/check/`) is our own page like the others, but requests every target.
async fn check_headers(State(c): State<AppState>, mut res: Response) -> Response {
    let origins = target_origins(&c.targets.read().unwrap_or_else(|e| e.into_inner()).current);
    let csp = format!(
        "default-src 'self'; script-src 'self'; connect-src 'self' {origins}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    );
    res.headers_mut()
        .insert(header::CONTENT_SECURITY_POLICY, HeaderValue::try_from(csp).expect("target origins are validated header-safe"));
    res
}

/// The distinct origins of the targets and the control, space-separated, for `connect-src`.
fn target_origins(list: &TargetList) -> String {
    let mut origins: Vec<&str> = list.targets.iter().filter_map(|t| origin_of(&t.url)).collect();
    origins.extend(origin_of(&list.control.url));
    origins.sort_unstable();
    origins.dedup();
    origins.join(" ")
}

/// Whether `path` is a file that never changes under one `?v=`: the loader, the frame's script,
/// the embed script, the widget files, and the scripts, styles, images and fonts of `www/`.
/// Never a route that computes its answer (`/v1/status`, `/v1/chart.svg`, `/metrics`, ...).
fn is_static_asset(path: &str) -> bool {
    if let Some(v1) = path.strip_prefix("/v1/") {
        return matches!(v1, "loader.js" | "frame.js" | "worker.js" | "embed.js") || (v1.starts_with("w/") && !v1.ends_with('/'));
    }
    let file = path.rsplit('/').next().unwrap_or("");
    file.rsplit_once('.').is_some_and(|(name, ext)| !name.is_empty() && ASSET_EXTENSIONS.contains(&ext))
}

/// Headers for every answer: nosniff, no referrer, no cookies, charsets, page CSP, `?v=` caching
/// of static assets (a route's own `Cache-Control` is never replaced).
async fn harden(req: Request, next: Next) -> Response {
    let path = req.uri().path();
    let corp = crate::auth::resource_policy(path);
    let asset = is_static_asset(path);
    let loader = path == "/v1/loader.js";
    let versioned = req.uri().query().is_some_and(|q| q.split('&').any(|p| p.starts_with("v=")));
    let mut res = next.run(req).await;
    // A 304 revalidation carries the same freshness as the 200 it stands for.
    let fresh = res.status().is_success() || res.status() == axum::http::StatusCode::NOT_MODIFIED;
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.remove(header::SET_COOKIE);
    crate::auth::add_policy_headers(h, corp);
    let essence =
        h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(|v| v.split(';').next().unwrap_or("").trim().to_ascii_lowercase());
    match essence.as_deref() {
        Some("text/javascript" | "application/javascript") => {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
        }
        Some("text/html") => {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
                h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PAGE_CSP));
            }
        }
        _ => {}
    }
    if fresh && !h.contains_key(header::CACHE_CONTROL) {
        if asset && versioned {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
        } else if loader {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static(LOADER_CACHE));
        }
    }
    res
}

/// A strong ETag names exact bytes, and a compressed body is other bytes than the plain one:
/// `"hash"` becomes `"hash-gzip"` (or `-br`, ...) when the compression layer encoded the body.
/// `If-None-Match` accepts either form (`api/snapshot.rs`).
async fn etag_per_encoding(mut res: Response) -> Response {
    let h = res.headers_mut();
    let encoding = h.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let tagged = match (encoding, h.get(header::ETAG).and_then(|v| v.to_str().ok())) {
        (Some(enc), Some(tag)) if tag.starts_with('"') && tag.ends_with('"') && tag.len() >= 2 => {
            HeaderValue::try_from(format!("{}-{enc}\"", &tag[..tag.len() - 1])).ok()
        }
        _ => None,
    };
    if let Some(tag) = tagged {
        h.insert(header::ETAG, tag);
    }
    res
}

async fn targets(State(c): State<AppState>) -> Response {
    let list = c.targets.read().unwrap_or_else(|e| e.into_inner()).current.clone();
    let mut res = Json(list).into_response();
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
    res
}

/// The control resource: tiny, never cached, timeable from any origin.
async fn ping() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (HeaderName::from_static("timing-allow-origin"), "*"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        "ok\n",
    )
        .into_response()
}

async fn metrics(State(c): State<AppState>) -> Response {
    let body = c.metrics.render(c.store.stats());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"), (header::CACHE_CONTROL, PRIVATE)], body).into_response()
}
