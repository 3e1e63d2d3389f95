//! `GET /v1/badge?country=PK&platforms=x,youtube[&lang=ur]`: the live badge page
//! (`www/badge/index.html`, written with the dashboard) that the loader frames inside an
//! article. Its script reads the query itself; here the parameters are only checked.

use super::params::Params;
use crate::error::AppError;
use crate::AppState;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// Any site may frame the badge; the page itself loads and talks only to us.
pub(super) const BADGE_CSP: &str = "default-src 'self'; script-src 'self'; connect-src 'self'; style-src 'self'; \
     img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors *";

/// The handler.
pub(super) async fn badge(State(c): State<AppState>, RawQuery(q): RawQuery) -> Result<Response, AppError> {
    let p = Params::parse(q.as_deref());
    p.required_country("country")?;
    p.platforms("platforms")?;
    p.lang("lang")?;
    let html = crate::assets::Source::www(&c.config)
        .read("badge/index.html")
        .await
        .ok_or(AppError::NotFound("the badge page is not installed"))?;
    let mut res = html.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(BADGE_CSP));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    Ok(res)
}
