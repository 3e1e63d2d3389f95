//! Where the static files' bytes come from: the site (`www/`) and the built widget
//! (`dist/widget/`) are compiled into the binary, so `vantage serve` needs no file beside it
//! (the systemd unit, the k8s image). `--www DIR` and `--widget-dir DIR` serve a directory
//! instead, for development (edits show without a rebuild); start-up refuses one that lacks
//! what it must serve. Headers common to every answer are `web::harden`'s job, compression is
//! the router's `CompressionLayer`'s.

use crate::Config;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any_service, get, get_service, MethodRouter};
use rust_embed::{EmbeddedFile, RustEmbed};
use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tower_http::services::{ServeDir, ServeFile};

/// `www/` as it was when this binary was built (build.rs rebuilds it when a file is added).
#[derive(RustEmbed)]
#[folder = "../../www"]
struct EmbeddedWww;

/// `dist/widget/` as `scripts/build-widget.sh` left it when this binary was built; empty when
/// the widget was not built yet (a fresh clone running `cargo test`; build.rs warns).
#[derive(RustEmbed)]
#[folder = "../../dist/widget"]
#[allow_missing = true]
struct EmbeddedWidget;

/// Files a `--www` directory must hold: what every host page and the dashboard load.
pub(crate) const WWW_REQUIRED: [&str; 4] = ["index.html", "frame.html", "loader.js", "frame.js"];
/// Files a `--widget-dir` must hold: the widget itself (its minified loader and frame script
/// are optional: the readable ones in the site stand in).
pub(crate) const WIDGET_REQUIRED: [&str; 2] = ["vantage_widget.js", "vantage_widget_bg.wasm"];

/// The trees compiled into the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tree {
    /// `www/`: pages, loader and frame sources, dashboard, badge, i18n.
    Www,
    /// `dist/widget/`: the wasm, its glue, the minified loader and frame script.
    Widget,
}

impl Tree {
    fn get(self, path: &str) -> Option<EmbeddedFile> {
        match self {
            Tree::Www => EmbeddedWww::get(path),
            Tree::Widget => EmbeddedWidget::get(path),
        }
    }
}

/// Where one tree of static files is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// Compiled into the binary (the default).
    Embedded(Tree),
    /// A directory read at each request (`--www`, `--widget-dir`).
    Dir(PathBuf),
}

impl Source {
    /// The site: `--www`, else the compiled-in `www/`.
    pub(crate) fn www(config: &Config) -> Source {
        config.www.clone().map_or(Source::Embedded(Tree::Www), Source::Dir)
    }

    /// The widget: `--widget-dir`, else the compiled-in `dist/widget/`.
    pub(crate) fn widget(config: &Config) -> Source {
        config.widget_dir.clone().map_or(Source::Embedded(Tree::Widget), Source::Dir)
    }

    /// Whether `name` (a path relative to the tree) is there.
    pub(crate) fn has(&self, name: &str) -> bool {
        match self {
            Source::Embedded(tree) => tree.get(name).is_some(),
            Source::Dir(dir) => dir.join(name).is_file(),
        }
    }

    /// The bytes of `name`, if it is there.
    pub(crate) async fn read(&self, name: &str) -> Option<Cow<'static, [u8]>> {
        match self {
            Source::Embedded(tree) => tree.get(name).map(|f| f.data),
            Source::Dir(dir) => tokio::fs::read(dir.join(name)).await.ok().map(Cow::Owned),
        }
    }

    /// A route answering with the file `name` of this tree.
    pub(crate) fn file<S: Clone + Send + Sync + 'static>(&self, name: &'static str) -> MethodRouter<S> {
        match self {
            Source::Embedded(tree) => {
                let tree = *tree;
                get(move |headers: HeaderMap| async move { serve_embedded(tree, name, &headers) })
            }
            Source::Dir(dir) => get_service(ServeFile::new(dir.join(name))),
        }
    }

    /// A service answering with any file of this tree, by the request's path (`dir/` serves
    /// `dir/index.html`; `dir` redirects to `dir/`, as `ServeDir` does).
    pub(crate) fn tree(&self) -> MethodRouter {
        match self {
            Source::Embedded(tree) => {
                let tree = *tree;
                get(move |req: Request| async move { serve_embedded_path(tree, &req) })
            }
            Source::Dir(dir) => any_service(ServeDir::new(dir)),
        }
    }
}

/// The source `name` is served from: the widget's minified copy (what visitors should get: the
/// byte budgets are measured on it), else the readable one in the site (a binary or a checkout
/// built before the widget).
pub(crate) fn built_or_source<'a>(widget: &'a Source, www: &'a Source, name: &str) -> &'a Source {
    if widget.has(name) {
        widget
    } else {
        www
    }
}

/// Whether the compiled-in widget exists (false in a binary built before `dist/widget/`).
pub(crate) fn widget_embedded() -> bool {
    WIDGET_REQUIRED.iter().all(|f| EmbeddedWidget::get(f).is_some())
}

/// An override directory (`--www`, `--widget-dir`) that cannot serve what it must; the message
/// names the flag, the directory, what is missing and the fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    /// The directory does not exist (or is not a directory).
    #[error("{flag} {}: no such directory; {fix}", dir.display())]
    NoDirectory {
        /// `--www` or `--widget-dir`.
        flag: &'static str,
        /// The directory as given.
        dir: PathBuf,
        /// What to give instead.
        fix: &'static str,
    },
    /// A file the tree must serve is not in it.
    #[error("{flag} {}: {missing} is missing there; {fix}", dir.display())]
    Missing {
        /// `--www` or `--widget-dir`.
        flag: &'static str,
        /// The directory as given.
        dir: PathBuf,
        /// The first required file it lacks.
        missing: &'static str,
        /// What to give instead.
        fix: &'static str,
    },
}

/// Refuses an override directory that lacks a file it must serve, naming the file and the fix.
pub(crate) fn check_overrides(config: &Config) -> Result<(), OverrideError> {
    if let Some(dir) = &config.www {
        check_dir(
            "--www",
            dir,
            &WWW_REQUIRED,
            "give the site's directory (the checkout's www/), or leave --www out to serve the site built into this binary",
        )?;
    }
    if let Some(dir) = &config.widget_dir {
        check_dir(
            "--widget-dir",
            dir,
            &WIDGET_REQUIRED,
            "build the widget with ./build.sh build (it writes dist/widget/) and give that directory, or leave --widget-dir out to serve the widget built into this binary",
        )?;
    }
    Ok(())
}

fn check_dir(flag: &'static str, dir: &Path, required: &[&'static str], fix: &'static str) -> Result<(), OverrideError> {
    if !dir.is_dir() {
        return Err(OverrideError::NoDirectory { flag, dir: dir.into(), fix });
    }
    match required.iter().find(|f| !dir.join(f).is_file()) {
        Some(missing) => Err(OverrideError::Missing { flag, dir: dir.into(), missing, fix }),
        None => Ok(()),
    }
}

/// The file the request's path names in `tree`.
fn serve_embedded_path(tree: Tree, req: &Request) -> Response {
    let Ok(path) = percent_encoding::percent_decode_str(req.uri().path().trim_start_matches('/')).decode_utf8() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if path.is_empty() || path.ends_with('/') {
        return serve_embedded(tree, &format!("{path}index.html"), req.headers());
    }
    if tree.get(&path).is_none() && tree.get(&format!("{path}/index.html")).is_some() {
        let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
        let location = format!("{}/{query}", req.uri().path());
        return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, location)]).into_response();
    }
    serve_embedded(tree, &path, req.headers())
}

/// One compiled-in file with its type, an ETag (its SHA-256) and its Last-Modified; 304 when
/// the client's copy is current; 404 when it is not there.
fn serve_embedded(tree: Tree, path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = tree.get(path) else { return StatusCode::NOT_FOUND.into_response() };
    let etag = format!("\"{}\"", file.metadata.sha256_hash()[..16].iter().map(|b| format!("{b:02x}")).collect::<String>());
    let modified = file.metadata.last_modified().map(|s| UNIX_EPOCH + Duration::from_secs(s));
    let mut res = if is_current(headers, &etag, modified) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut res = Body::from(file.data).into_response();
        let mime = HeaderValue::from_str(file.metadata.mimetype()).unwrap_or(HeaderValue::from_static("application/octet-stream"));
        res.headers_mut().insert(header::CONTENT_TYPE, mime);
        res
    };
    let h = res.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&etag).expect("hex is header-safe"));
    if let Some(m) = modified {
        h.insert(header::LAST_MODIFIED, HeaderValue::from_str(&httpdate::fmt_http_date(m)).expect("an HTTP date is header-safe"));
    }
    res
}

/// Conditional GET: `If-None-Match` decides when present (RFC 9110 §13.2.2), else
/// `If-Modified-Since`. A tag the compression layer suffixed with its encoding (`"hash-gzip"`,
/// the tag of the compressed bytes) names the same file.
fn is_current(headers: &HeaderMap, etag: &str, modified: Option<SystemTime>) -> bool {
    if headers.contains_key(header::IF_NONE_MATCH) {
        return crate::conditional::matching(headers, etag).is_some();
    }
    let since = headers.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok()).and_then(|v| httpdate::parse_http_date(v).ok());
    matches!((since, modified), (Some(since), Some(m)) if m <= since)
}
