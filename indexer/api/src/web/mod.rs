//! The web pages: the hosted checkout (`/checkout/{payment}`), the merchant dashboard
//! (`/dashboard`) and the operator pages (`/operator`). Server-rendered Askama templates
//! (checked at compile time, in `templates/`), every text from one message file per language
//! (`web/messages/`), every asset served from the binary under a strict Content-Security-Policy:
//! a page makes no request outside this server. JavaScript only for the live parts (status
//! over server-sent events, the countdown, the wallet); every page reads right without it.

mod checkout;
mod dashboard;
pub mod i18n;
mod operator;
mod session;
pub mod watch;

use crate::{error::ApiError, AppState};
use askama::Template;
use axum::{
    extract::Request,
    http::{header, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::{Html, IntoResponse, Response},
    routing::get,
    Router,
};
pub(crate) use checkout::{code_of, stored_quote as checkout_quote};
pub use i18n::{Lang, Msgs};

/// Every page's routes, with the security headers.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(checkout::routes())
        .merge(dashboard::routes())
        .merge(operator::routes())
        .route("/assets/{name}", get(asset))
        .layer(middleware::from_fn(secure_headers))
}

/// The Content-Security-Policy of every page: nothing but this origin, no inline script or
/// style, no framing, forms only back here.
pub const CSP: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn secure_headers(request: Request, next: Next) -> Response {
    let mut r = next.run(request).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    r
}

/// The assets, compiled in: (name, content type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "kassa.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/static/kassa.css"),
    ),
    (
        "checkout.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/static/checkout.js"),
    ),
    (
        "dashboard.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/static/dashboard.js"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../../assets/icon.svg"),
    ),
];

async fn asset(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, kind, bytes)) => (
            [
                (header::CONTENT_TYPE, *kind),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *bytes,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such asset").into_response(),
    }
}

/// A rendered page, or a plain error page when the template fails (it cannot, short of a bug).
pub(crate) fn page(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => {
            let mut r = (status, Html(html)).into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => {
            tracing::error!("rendering a page: {e}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>The page could not be shown."),
            )
                .into_response()
        }
    }
}

/// A page for an error: what happened and what to do next.
#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    pub t: Msgs,
    pub title: String,
    pub heading: String,
    pub detail: String,
}

/// An API error as a page in `t`'s language (internal details only in the log).
pub(crate) fn error_page(t: Msgs, e: ApiError) -> Response {
    let status = e.status();
    let (heading, detail) = match &e {
        ApiError::NotFound(_) => (t.m("err_not_found"), t.m("err_not_found_help")),
        ApiError::Internal(m) => {
            tracing::error!(request_id = ?crate::error::request_id(), "web page: {m}");
            (t.m("err_failed"), t.m("err_failed_help"))
        }
        ApiError::Unavailable { .. } | ApiError::Upstream(_) | ApiError::Sent { .. } => {
            (t.m("err_failed"), t.m("err_failed_help"))
        }
        other => (t.m("err_refused"), other.to_string()),
    };
    page(
        status,
        &ErrorPage {
            title: heading.clone(),
            heading,
            detail,
            t,
        },
    )
}

/// `amount` base units of a coin with `decimals`, as people read it: at least two decimals,
/// trailing zeros beyond them dropped, thousands grouped ("1,234.50").
pub fn money(amount: u128, decimals: u8) -> String {
    let d = u32::from(decimals);
    let unit = 10u128.pow(d);
    let (whole, frac) = (amount / unit, amount % unit);
    let mut frac = format!("{frac:0width$}", width = d as usize);
    while frac.len() > 2 && frac.ends_with('0') {
        frac.pop();
    }
    while frac.len() < 2 {
        frac.push('0');
    }
    let digits = whole.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{grouped}.{frac}")
}

/// A unix time as `YYYY-MM-DD HH:MM UTC`.
pub fn when(ts: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ts)
        .ok()
        .and_then(|t| {
            t.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| ts.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_reads_as_people_write_it() {
        assert_eq!(money(12_500_000, 6), "12.50");
        assert_eq!(money(1_234_567_891, 6), "1,234.567891");
        assert_eq!(money(0, 6), "0.00");
        assert_eq!(money(5, 0), "5.00");
        assert_eq!(money(1_000_000_000_000_000, 6), "1,000,000,000.00");
        assert_eq!(money(1, 6), "0.000001");
    }
}
