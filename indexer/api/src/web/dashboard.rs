//! The merchant dashboard: sign in with an API key; the day's balances and a chart of daily
//! volume per stablecoin; payments with filters, pages and CSV export; a payment's timeline,
//! live; capture, void and refund, whose transactions the merchant's own wallet signs in the
//! browser (Wallet Standard); API keys, webhook endpoints, and the checkout's return and
//! cancel links. Every read and action goes through the same handlers as the HTTP API, as the
//! session's key, so a merchant sees and touches only its own merchant.

use super::{
    checkout::code_of,
    error_page, money, page,
    session::{self, Session},
    watch, when, Lang, Msgs,
};
use crate::{
    auth::Caller,
    error::{ApiError, Json},
    read::{self, PaymentQuery},
    wire::parse_key,
    write, AppState,
};
use askama::Template;
use axum::{
    extract::{ConnectInfo, Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{
        sse::{KeepAlive, Sse},
        IntoResponse, Redirect, Response,
    },
    routing::{get, post},
    Extension, Form, Router,
};
use kassa_sdk::api::types::{
    ApiKey, CaptureRequest, CreateWebhookEndpoint, Payment, RefundRequest, Role, SubmitTransaction,
    TimelineEvent, VoidRequest, WebhookEndpoint,
};
use serde::Deserialize;
use solana_sdk::pubkey::Pubkey;
use std::{collections::BTreeMap, str::FromStr};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dashboard/login", get(login_form).post(login))
        .route("/dashboard/logout", post(logout))
        .route("/dashboard", get(overview))
        .route("/dashboard/payments", get(payments))
        .route("/dashboard/payments.csv", get(payments_csv))
        .route("/dashboard/payments/{address}", get(payment))
        .route("/dashboard/payments/{address}/timeline", get(timeline))
        .route("/dashboard/payments/{address}/events", get(payment_events))
        .route("/dashboard/payments/{address}/{action}", post(act))
        .route("/dashboard/transactions", post(submit))
        .route("/dashboard/keys", get(keys).post(issue_key))
        .route("/dashboard/keys/{id}/revoke", post(revoke_key))
        .route("/dashboard/webhooks", get(webhooks).post(add_webhook))
        .route("/dashboard/settings", get(settings).post(save_settings))
}

/// What every dashboard page's layout needs.
pub struct Chrome {
    pub t: Msgs,
    pub csrf: String,
    pub who: String,
    pub merchant: bool,
}

/// A signed-in merchant, as an extractor: without one, a page answers the sign-in page (other
/// roles: the operator pages).
pub struct SignedIn {
    pub t: Msgs,
    pub s: Session,
    pub m: Pubkey,
    pub c: Chrome,
}

impl axum::extract::FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Response> {
        let t = lang(&parts.headers);
        let (s, m, c) = merchant(state, &parts.headers, t).await?;
        Ok(Self { t, s, m, c })
    }
}

/// A page, or the page of its error, in `t`'s language.
pub(crate) fn render(t: Msgs, page_or_error: Result<impl Template, ApiError>) -> Response {
    match page_or_error {
        Ok(p) => page(StatusCode::OK, &p),
        Err(e) => error_page(t, e),
    }
}

/// The signed-in merchant, or the answer to give instead: the sign-in page for pages, the
/// operator pages for other roles.
async fn merchant(
    state: &AppState,
    headers: &HeaderMap,
    t: Msgs,
) -> Result<(Session, Pubkey, Chrome), Response> {
    let s = match session::current(state, headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(Redirect::to("/dashboard/login").into_response()),
        Err(e) => return Err(error_page(t, e)),
    };
    let Some(m) = s.caller.scope() else {
        return Err(Redirect::to("/operator").into_response());
    };
    let who = account_name(state, s.caller.account).await;
    let chrome = Chrome {
        t,
        csrf: s.csrf.clone(),
        who,
        merchant: true,
    };
    Ok((s, m, chrome))
}

pub(crate) async fn account_name(state: &AppState, account: i64) -> String {
    sqlx::query_scalar("SELECT name FROM api.account WHERE id = $1")
        .bind(account)
        .fetch_optional(&state.pool)
        .await
        .ok()
        .flatten()
        .unwrap_or_default()
}

pub(crate) fn lang(headers: &HeaderMap) -> Msgs {
    Msgs::new(Lang::of_request(None, headers))
}

// ---------------------------------------------------------------------------------------------
// Signing in and out

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    pub t: Msgs,
    pub title: String,
    pub csrf: String,
    pub error: Option<String>,
}

fn login_page(t: Msgs, status: StatusCode, error: Option<String>) -> Response {
    let token = session::secret();
    let mut r = page(
        status,
        &LoginPage {
            title: t.m("db_signin_title"),
            csrf: token.clone(),
            error,
            t,
        },
    );
    session::set_cookie(r.headers_mut(), session::login_cookie(&token));
    r
}

async fn login_form(headers: HeaderMap) -> Response {
    login_page(lang(&headers), StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    api_key: String,
    csrf: String,
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let t = lang(&headers);
    if !session::login_ok(&headers, &form.csrf) {
        return login_page(t, StatusCode::FORBIDDEN, Some(t.m("db_csrf")));
    }
    let caller = match crate::auth::lookup(&state, form.api_key.trim()).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            // Wrong keys count against the client's address, as on the API.
            if state.limits.clients.check_key(&client.ip()).is_err() {
                return error_page(t, ApiError::RateLimited { retry_after: 1 });
            }
            return login_page(t, StatusCode::UNAUTHORIZED, Some(t.m("db_bad_key")));
        }
        Err(e) => return error_page(t, e),
    };
    if caller.role == Role::Consumer {
        return login_page(t, StatusCode::FORBIDDEN, Some(t.m("db_no_pages")));
    }
    let cookie = match session::open(&state, &caller).await {
        Ok(c) => c,
        Err(e) => return error_page(t, e),
    };
    let to = if caller.scope().is_some() {
        "/dashboard"
    } else {
        "/operator"
    };
    let mut r = Redirect::to(to).into_response();
    session::set_cookie(r.headers_mut(), cookie);
    r
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let t = lang(&headers);
    let s = match session::current(&state, &headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return Redirect::to("/dashboard/login").into_response(),
        Err(e) => return error_page(t, e),
    };
    if let Err(e) = session::check(&s, &headers, form.csrf.as_deref()) {
        return error_page(t, e);
    }
    match session::close(&state, &s).await {
        Ok(c) => {
            let mut r = Redirect::to("/dashboard/login").into_response();
            session::set_cookie(r.headers_mut(), c);
            r
        }
        Err(e) => error_page(t, e),
    }
}

// ---------------------------------------------------------------------------------------------
// Overview: balances and daily volume

pub struct BalanceRow {
    pub code: String,
    pub payments: i64,
    pub escrowed: String,
    pub settled: String,
    pub refunded: String,
    pub fees: String,
    pub net: String,
}

#[derive(Template)]
#[template(path = "overview.html")]
pub struct OverviewPage {
    pub t: Msgs,
    pub title: String,
    pub c: Chrome,
    pub balances: Vec<BalanceRow>,
    pub chart: String,
    pub legend: Vec<(String, &'static str)>,
    pub days: i64,
}

const COLOURS: [&str; 4] = ["#1d4ed8", "#b45309", "#047857", "#7c3aed"];
const DAYS: i64 = 14;

fn amount(s: &str) -> u128 {
    s.parse().unwrap_or(0)
}

async fn overview(State(state): State<AppState>, SignedIn { t, s, m, c }: SignedIn) -> Response {
    render(t, overview_page(&state, &s.caller, &m, c).await)
}

async fn overview_page(
    state: &AppState,
    caller: &Caller,
    m: &Pubkey,
    c: Chrome,
) -> Result<OverviewPage, ApiError> {
    let t = c.t;
    let Json(bal) = read::merchant_balances(
        State(state.clone()),
        Extension(caller.clone()),
        crate::error::Path(m.to_string()),
    )
    .await?;
    let mut balances = Vec::new();
    for b in &bal {
        let mint: Pubkey = parse_key("mint", &b.mint)?;
        let d = b.decimals;
        balances.push(BalanceRow {
            code: code_of(state, &mint).await?,
            payments: b.payments,
            escrowed: money(amount(&b.escrowed), d),
            settled: money(amount(&b.settled), d),
            refunded: money(amount(&b.refunded), d),
            fees: money(amount(&b.fees), d),
            net: money(amount(&b.net), d),
        });
    }
    // Daily volume (what customers paid, by the day the invoice opened), per stablecoin.
    let now = state.watch.chain_now(state).await;
    let today = now.div_euclid(86_400);
    let rows: Vec<(i64, Vec<u8>, rust_decimal::Decimal)> = sqlx::query_as(
        "SELECT opened_at / 86400 AS day, mint, sum(authorized)
         FROM chain.payment
         WHERE merchant = $1 AND opened_at >= $2 AND authorized > 0
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .bind(&m.to_bytes()[..])
    .bind((today - DAYS + 1) * 86_400)
    .fetch_all(&state.reads)
    .await?;
    let mut coins: BTreeMap<Vec<u8>, (String, u8)> = BTreeMap::new();
    for (_, mint, _) in &rows {
        if !coins.contains_key(mint) {
            let k = Pubkey::try_from(mint.as_slice())
                .map_err(|_| ApiError::Internal("mint is not 32 bytes".into()))?;
            coins.insert(
                mint.clone(),
                (code_of(state, &k).await?, state.mint(&k).await?.decimals),
            );
        }
    }
    let legend: Vec<(String, &'static str)> = coins
        .values()
        .enumerate()
        .map(|(i, (code, _))| (code.clone(), COLOURS[i % COLOURS.len()]))
        .collect();
    let series: Vec<(i64, usize, f64, String)> = rows
        .iter()
        .filter_map(|(day, mint, sum)| {
            let i = coins.keys().position(|k| k == mint)?;
            let (code, d) = &coins[mint];
            let units = sum
                .checked_div(rust_decimal::Decimal::from(10u64.pow(u32::from(*d))))
                .unwrap_or_default();
            let label = format!(
                "{} {}: {} {code}",
                when(day * 86_400).get(..10).unwrap_or_default(),
                code,
                money(
                    rust_decimal::prelude::ToPrimitive::to_u128(sum).unwrap_or(0),
                    *d
                )
            );
            Some((
                *day - (today - DAYS + 1),
                i,
                rust_decimal::prelude::ToPrimitive::to_f64(&units).unwrap_or(0.0),
                label,
            ))
        })
        .collect();
    Ok(OverviewPage {
        title: t.m("db_overview"),
        chart: chart(&series, coins.len().max(1), today - DAYS + 1, &t),
        legend,
        balances,
        days: DAYS,
        c,
        t,
    })
}

/// A bar chart of daily volume as SVG: one group per day, one bar per coin, each bar titled
/// with its day, coin and amount (read by screen readers and shown on hover). Drawing only:
/// the amounts in the titles are exact, the bar heights are rounded.
fn chart(series: &[(i64, usize, f64, String)], coins: usize, first_day: i64, t: &Msgs) -> String {
    const W: f64 = 700.0;
    const H: f64 = 220.0;
    const PAD: f64 = 30.0;
    let max = series.iter().map(|s| s.2).fold(0.0, f64::max).max(1.0);
    let group = (W - PAD) / DAYS as f64;
    let bar = (group - 6.0) / coins as f64;
    let mut svg = format!(
        "<svg class=\"chart\" viewBox=\"0 0 {W} {}\" role=\"img\" aria-label=\"{}\">",
        H + 20.0,
        t.m("db_volume").replace('"', "&quot;")
    );
    svg.push_str(&format!(
        "<line x1=\"{PAD}\" y1=\"{H}\" x2=\"{W}\" y2=\"{H}\" stroke=\"#6b7280\"/>"
    ));
    svg.push_str(&format!(
        "<text x=\"0\" y=\"12\" font-size=\"11\" fill=\"#374151\">{max:.0}</text>"
    ));
    // Every other day's date under the axis.
    for d in (0..DAYS).step_by(2) {
        let x = PAD + d as f64 * group + group / 2.0;
        let date = when((first_day + d) * 86_400);
        svg.push_str(&format!(
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#374151\">{}</text>",
            H + 15.0,
            date.get(5..10).unwrap_or_default()
        ));
    }
    svg.push_str(&format!(
        "<text x=\"0\" y=\"{H}\" font-size=\"11\" fill=\"#374151\">0</text>"
    ));
    for (day, coin, value, label) in series {
        let h = (value / max * (H - 20.0)).max(1.0);
        let x = PAD + *day as f64 * group + 3.0 + *coin as f64 * bar;
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{}</title></rect>",
            H - h,
            (bar - 1.0).max(1.0),
            COLOURS[coin % COLOURS.len()],
            label.replace('&', "&amp;").replace('<', "&lt;")
        ));
    }
    svg.push_str("</svg>");
    svg
}

// ---------------------------------------------------------------------------------------------
// Payments

pub struct PaymentRow {
    pub address: String,
    pub order: String,
    pub status: String,
    pub amount: String,
    pub code: String,
    pub captured: String,
    pub opened: String,
}

#[derive(Template)]
#[template(path = "payments.html")]
pub struct PaymentsPage {
    pub t: Msgs,
    pub title: String,
    pub c: Chrome,
    pub rows: Vec<PaymentRow>,
    pub statuses: Vec<&'static str>,
    pub status: String,
    pub from: String,
    pub to: String,
    pub order: String,
    pub next: Option<String>,
    pub first: bool,
    pub csv: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct Filters {
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    order: Option<String>,
    cursor: Option<String>,
}

impl Filters {
    fn clean(v: &Option<String>) -> Option<String> {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
    }

    /// The API query: dates (`YYYY-MM-DD`) as the start of that day, `to` inclusive.
    fn query(&self, limit: i64) -> Result<PaymentQuery, ApiError> {
        let day = |field: &str, d: &str, next: bool| -> Result<String, ApiError> {
            let date =
                time::Date::parse(d, time::macros::format_description!("[year]-[month]-[day]"))
                    .map_err(|_| {
                        ApiError::bad(
                            "invalid-date",
                            format!("{field} {d:?} is not a date (YYYY-MM-DD)"),
                        )
                    })?;
            let date = if next {
                date.next_day().unwrap_or(date)
            } else {
                date
            };
            Ok(format!("{date}T00:00:00Z"))
        };
        Ok(PaymentQuery {
            status: Self::clean(&self.status),
            from: Self::clean(&self.from)
                .map(|d| day("from", &d, false))
                .transpose()?,
            to: Self::clean(&self.to)
                .map(|d| day("to", &d, true))
                .transpose()?,
            cursor: Self::clean(&self.cursor),
            limit: Some(limit),
            ..PaymentQuery::default()
        })
    }

    fn url(&self, path: &str, cursor: Option<&str>) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("status", &self.status),
            ("from", &self.from),
            ("to", &self.to),
            ("order", &self.order),
        ] {
            if let Some(v) = Self::clean(v) {
                parts.push(format!("{k}={}", urlencode(&v)));
            }
        }
        if let Some(c) = cursor {
            parts.push(format!("cursor={}", urlencode(c)));
        }
        if parts.is_empty() {
            path.to_string()
        } else {
            format!("{path}?{}", parts.join("&"))
        }
    }
}

/// An RFC 3339 time as the pages show times (`2026-11-30 20:09:47 UTC`).
fn stamp(rfc3339: &str) -> String {
    rfc3339.replace('T', " ").replace('Z', " UTC")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn row_of(state: &AppState, p: &Payment) -> Result<PaymentRow, ApiError> {
    let mint: Pubkey = parse_key("mint", &p.mint)?;
    Ok(PaymentRow {
        address: p.address.clone(),
        order: p.order_id.clone(),
        status: p.status.clone(),
        amount: money(amount(&p.amount), p.decimals),
        code: code_of(state, &mint).await?,
        captured: money(amount(&p.captured), p.decimals),
        opened: stamp(&p.opened_at),
    })
}

/// One page of the caller's payments with `f`, or the payment of one order id.
async fn find(
    state: &AppState,
    caller: &Caller,
    m: &Pubkey,
    f: &Filters,
    limit: i64,
) -> Result<(Vec<Payment>, Option<String>), ApiError> {
    if let Some(order) = Filters::clean(&f.order) {
        let found = read::get_payment_by_order(
            State(state.clone()),
            Extension(caller.clone()),
            crate::error::Path((m.to_string(), order)),
        )
        .await;
        return match found {
            Ok(Json(p)) => Ok((vec![p], None)),
            Err(ApiError::NotFound(_)) => Ok((vec![], None)),
            Err(e) => Err(e),
        };
    }
    let Json(page) = read::list_payments(
        State(state.clone()),
        Extension(caller.clone()),
        crate::error::Query(f.query(limit)?),
    )
    .await?;
    Ok((page.data, page.next_cursor))
}

async fn payments(
    State(state): State<AppState>,
    SignedIn { t, s, m, c }: SignedIn,
    Query(f): Query<Filters>,
) -> Response {
    let result = async {
        let (data, next) = find(&state, &s.caller, &m, &f, 25).await?;
        let mut rows = Vec::with_capacity(data.len());
        for p in &data {
            rows.push(row_of(&state, p).await?);
        }
        Ok::<_, ApiError>(PaymentsPage {
            title: t.m("db_payments"),
            rows,
            statuses: read::STATUSES.to_vec(),
            status: Filters::clean(&f.status).unwrap_or_default(),
            from: Filters::clean(&f.from).unwrap_or_default(),
            to: Filters::clean(&f.to).unwrap_or_default(),
            order: Filters::clean(&f.order).unwrap_or_default(),
            next: next.map(|n| f.url("/dashboard/payments", Some(&n))),
            first: f.cursor.is_none(),
            csv: f.url("/dashboard/payments.csv", None),
            c,
            t,
        })
    }
    .await;
    render(t, result)
}

/// A CSV field: quoted when it must be, and never read as a formula by a spreadsheet.
fn csv_field(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// Every payment matching the filters as CSV (amounts in units of the coin, exact).
async fn payments_csv(
    State(state): State<AppState>,
    SignedIn { t, s, m, c: _ }: SignedIn,
    Query(mut f): Query<Filters>,
) -> Response {
    const MAX_ROWS: usize = 100_000;
    let result = async {
        let mut out = String::from(
            "payment,order_id,status,currency,amount,authorized,captured,refunded,fees,to_merchant,payer,opened_at,status_at\n",
        );
        let mut rows = 0;
        f.cursor = None;
        loop {
            let (data, next) = find(&state, &s.caller, &m, &f, 200).await?;
            for p in &data {
                let mint: Pubkey = parse_key("mint", &p.mint)?;
                let code = code_of(&state, &mint).await?;
                let d = p.decimals;
                let plain = |v: &str| money(amount(v), d).replace(',', "");
                let fields = [
                    p.address.clone(),
                    p.order_id.clone(),
                    p.status.clone(),
                    code,
                    plain(&p.amount),
                    plain(&p.authorized),
                    plain(&p.captured),
                    plain(&p.refunded),
                    plain(&p.fees),
                    plain(&p.to_merchant),
                    p.payer.clone().unwrap_or_default(),
                    p.opened_at.clone(),
                    p.status_at.clone(),
                ];
                out.push_str(
                    &fields
                        .iter()
                        .map(|x| csv_field(x))
                        .collect::<Vec<_>>()
                        .join(","),
                );
                out.push('\n');
                rows += 1;
            }
            match next {
                Some(n) if rows < MAX_ROWS => f.cursor = Some(n),
                _ => break,
            }
        }
        Ok::<_, ApiError>(out)
    }
    .await;
    match result {
        Ok(csv) => (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"kassa-payments.csv\"",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            csv,
        )
            .into_response(),
        Err(e) => error_page(t, e),
    }
}

pub struct EventRow {
    pub seq: i64,
    pub name: String,
    pub at: String,
    pub commitment: String,
    pub signature: String,
}

#[derive(Template)]
#[template(path = "payment.html")]
pub struct PaymentPage {
    pub t: Msgs,
    pub title: String,
    pub c: Chrome,
    pub p: PaymentRow,
    pub fields: Vec<(String, String)>,
    pub events: Vec<EventRow>,
    pub can_capture: bool,
    pub can_void: bool,
    pub can_refund: bool,
    pub checkout: String,
    /// The payment's coin, for the amount field of capture and refund.
    pub code: String,
}

#[derive(Template)]
#[template(path = "timeline.html")]
pub struct TimelineFragment {
    pub t: Msgs,
    pub events: Vec<EventRow>,
}

async fn events_of(
    state: &AppState,
    caller: &Caller,
    address: &str,
) -> Result<Vec<EventRow>, ApiError> {
    let Json(tl) = read::payment_timeline(
        State(state.clone()),
        Extension(caller.clone()),
        crate::error::Path(address.to_string()),
    )
    .await?;
    Ok(tl.iter().map(event_row).collect())
}

fn event_row(e: &TimelineEvent) -> EventRow {
    EventRow {
        seq: e.seq,
        name: e.name.clone(),
        at: stamp(&e.at),
        commitment: serde_json::to_value(e.commitment)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        signature: e.signature.clone(),
    }
}

async fn payment(
    State(state): State<AppState>,
    SignedIn { t, s, m: _, c }: SignedIn,
    Path(address): Path<String>,
) -> Response {
    let result = async {
        let Json(p) = read::get_payment(
            State(state.clone()),
            Extension(s.caller.clone()),
            crate::error::Path(address.clone()),
        )
        .await?;
        let events = events_of(&state, &s.caller, &address).await?;
        let d = p.decimals;
        let code = code_of(&state, &parse_key("mint", &p.mint)?).await?;
        let coin = |v: &str| format!("{} {code}", money(amount(v), d));
        let mut fields = vec![
            (t.m("db_f_amount"), coin(&p.amount)),
            (t.m("db_f_authorized"), coin(&p.authorized)),
            (t.m("db_f_captured"), coin(&p.captured)),
            (t.m("db_f_refunded"), coin(&p.refunded)),
            (t.m("db_f_fees"), coin(&p.fees)),
        ];
        if let (Some(m), Some(a)) = (&p.input_mint, &p.input_amount) {
            let mint = parse_key("input_mint", m)?;
            let paid_in = state.mint(&mint).await?.decimals;
            fields.push((
                t.m("db_f_paid_in"),
                format!(
                    "{} {}",
                    money(amount(a), paid_in),
                    code_of(&state, &mint).await?
                ),
            ));
        }
        fields.push((t.m("db_f_payer"), p.payer.clone().unwrap_or_default()));
        fields.push((t.m("db_f_expires"), stamp(&p.expires_at)));
        let authorized = amount(&p.authorized);
        let (captured, released, refunded) = (
            amount(&p.captured),
            amount(&p.released),
            amount(&p.refunded),
        );
        let escrow = authorized.saturating_sub(captured + released);
        Ok::<_, ApiError>(PaymentPage {
            title: format!("{} {}", t.m("db_payment"), p.order_id),
            can_capture: p.status == "authorized" && escrow > 0,
            can_void: p.status == "authorized" && escrow > 0,
            can_refund: captured > refunded && matches!(p.status.as_str(), "captured" | "refunded"),
            code,
            checkout: format!("/checkout/{}", p.address),
            p: row_of(&state, &p).await?,
            fields,
            events,
            c,
            t,
        })
    }
    .await;
    render(t, result)
}

/// The timeline as an HTML fragment (what the page swaps in when the payment changes).
async fn timeline(
    State(state): State<AppState>,
    SignedIn { t, s, m: _, c: _ }: SignedIn,
    Path(address): Path<String>,
) -> Response {
    match events_of(&state, &s.caller, &address).await {
        Ok(events) => page(StatusCode::OK, &TimelineFragment { t, events }),
        Err(e) => error_page(t, e),
    }
}

/// Server-sent events: `status` whenever the payment's mirrored state changes.
async fn payment_events(
    State(state): State<AppState>,
    SignedIn { t, s, m: _, c: _ }: SignedIn,
    Path(address): Path<String>,
) -> Response {
    let result = async {
        let row = read::payment_row(&state, &s.caller, &address).await?;
        let pda: Vec<u8> = crate::wire::get(&row, "address")?;
        let pda = <[u8; 32]>::try_from(pda.as_slice())
            .map_err(|_| ApiError::Internal("address".into()))?;
        let now = watch::read_one(&state.reads, &pda).await?;
        Ok::<_, ApiError>(state.watch.subscribe(&state.reads, pda, now))
    }
    .await;
    match result {
        Ok(rx) => Sse::new(changes(rx))
            .keep_alive(KeepAlive::default())
            .into_response(),
        Err(e) => error_page(t, e),
    }
}

/// Every change of a watched payment as a `status` event, until the page goes away.
fn changes(
    rx: tokio::sync::watch::Receiver<watch::Snapshot>,
) -> impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>
{
    futures_util::stream::unfold((rx, true), |(mut rx, first)| async move {
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let s = rx.borrow_and_update().clone();
        let data = format!(
            "{{\"status\":\"{}\",\"seq\":{},\"finalized\":{}}}",
            s.status, s.seq, s.finalized
        );
        Some((
            Ok(axum::response::sse::Event::default()
                .event("status")
                .data(data)),
            (rx, false),
        ))
    })
}

/// The session of a script's request, with its CSRF token checked (errors as problems, for the
/// script to show).
async fn script_session(state: &AppState, headers: &HeaderMap) -> Result<Session, ApiError> {
    let s = session::current(state, headers)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the session ended: sign in again".into()))?;
    session::check(&s, headers, None)?;
    Ok(s)
}

/// Capture, void or refund: answers the transaction for the merchant's wallet to sign (JSON,
/// for the page's script; the CSRF token in `x-csrf-token`).
async fn act(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((address, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    let t = lang(&headers);
    let s = match script_session(&state, &headers).await {
        Ok(s) => s,
        Err(e) => return json_error(e),
    };
    let body: Option<serde_json::Value> = serde_json::from_slice(&body).ok();
    // The page sends amounts as people write them ("12.5"); the API takes base units.
    let amount = match body
        .as_ref()
        .and_then(|b| b.get("amount"))
        .and_then(|a| a.as_str())
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        None => None,
        Some(a) => match base_units(&state, &s.caller, &address, a).await {
            Ok(units) => Some(units),
            Err(e) => return json_error(e),
        },
    };
    let (st, caller, path) = (
        State(state.clone()),
        Extension(s.caller.clone()),
        crate::error::Path(address),
    );
    let prepared = match action.as_str() {
        "capture" => {
            write::capture(
                st,
                caller,
                path,
                Json(CaptureRequest {
                    amount,
                    signer: None,
                }),
            )
            .await
        }
        "void" => write::void(st, caller, path, Json(VoidRequest { signer: None })).await,
        "refund" => write::refund(st, caller, path, Json(RefundRequest { amount })).await,
        _ => {
            let _ = t;
            Err(ApiError::NotFound(format!("no action {action}")))
        }
    };
    match prepared {
        Ok(Json(p)) => Json(p).into_response(),
        Err(e) => json_error(e),
    }
}

/// `text` (a decimal amount of the payment's coin) in base units, exactly: more decimals than
/// the coin has are refused, not rounded.
async fn base_units(
    state: &AppState,
    caller: &Caller,
    address: &str,
    text: &str,
) -> Result<String, ApiError> {
    let row = read::payment_row(state, caller, address).await?;
    let mint: Vec<u8> = crate::wire::get(&row, "mint")?;
    let d = state.decimals_of(&mint).await?;
    let ui = kassa_sdk::solana_pay::UiAmount::from_str(text.replace(',', "").as_str()).map_err(
        |_| {
            ApiError::bad(
                "invalid-amount",
                format!("amount {text:?} is not a number like 12.50"),
            )
        },
    )?;
    let units = ui.to_base_units(d).map_err(|_| {
        ApiError::bad(
            "invalid-amount",
            format!("amount {text:?} has more than {d} decimals"),
        )
    })?;
    Ok(units.to_string())
}

/// The signed transaction from the wallet, sent and confirmed.
async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let s = match script_session(&state, &headers).await {
        Ok(s) => s,
        Err(e) => return json_error(e),
    };
    let Ok(body) = serde_json::from_slice::<SubmitTransaction>(&body) else {
        return json_error(ApiError::bad(
            "invalid-body",
            "the body must be JSON: {\"transaction\": \"<base64>\"}",
        ));
    };
    match write::submit(
        State(state.clone()),
        Extension(s.caller.clone()),
        Json(body),
    )
    .await
    {
        Ok(Json(r)) => Json(r).into_response(),
        Err(e) => json_error(e),
    }
}

fn json_error(e: ApiError) -> Response {
    e.into_response()
}

// ---------------------------------------------------------------------------------------------
// Keys, webhooks, checkout links

#[derive(Template)]
#[template(path = "keys.html")]
pub struct KeysPage {
    pub t: Msgs,
    pub title: String,
    pub c: Chrome,
    pub keys: Vec<ApiKey>,
    pub current: String,
    pub new_secret: Option<String>,
}

async fn keys_page(
    state: &AppState,
    s: &Session,
    c: Chrome,
    new_secret: Option<String>,
) -> Result<KeysPage, ApiError> {
    let t = c.t;
    let Json(keys) = write::list_keys(
        State(state.clone()),
        Extension(s.caller.clone()),
        crate::error::Path(s.caller.account),
    )
    .await?;
    Ok(KeysPage {
        title: t.m("db_keys"),
        keys,
        current: s.caller.key_id.clone(),
        new_secret,
        c,
        t,
    })
}

async fn keys(State(state): State<AppState>, SignedIn { t, s, m: _, c }: SignedIn) -> Response {
    render(t, keys_page(&state, &s, c, None).await)
}

async fn issue_key(
    State(state): State<AppState>,
    SignedIn { t, s, m: _, c }: SignedIn,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(e) = session::check(&s, &headers, form.csrf.as_deref()) {
        return error_page(t, e);
    }
    let result = async {
        let (_, _, Json(new)) = write::issue_key(
            State(state.clone()),
            Extension(s.caller.clone()),
            crate::error::Path(s.caller.account),
        )
        .await?;
        keys_page(&state, &s, c, Some(new.secret)).await
    }
    .await;
    render(t, result)
}

async fn revoke_key(
    State(state): State<AppState>,
    SignedIn { t, s, m: _, c: _ }: SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(e) = session::check(&s, &headers, form.csrf.as_deref()) {
        return error_page(t, e);
    }
    if id == s.caller.key_id {
        return error_page(
            t,
            ApiError::unprocessable(
                "own-key",
                "this session signed in with that key: sign in with another before revoking it",
            ),
        );
    }
    match write::revoke_key(
        State(state.clone()),
        Extension(s.caller.clone()),
        crate::error::Path(id),
    )
    .await
    {
        Ok(_) => Redirect::to("/dashboard/keys").into_response(),
        Err(e) => error_page(t, e),
    }
}

#[derive(Template)]
#[template(path = "webhooks.html")]
pub struct WebhooksPage {
    pub t: Msgs,
    pub title: String,
    pub c: Chrome,
    pub endpoints: Vec<WebhookEndpoint>,
    pub new_secret: Option<String>,
    pub available: bool,
}

async fn webhooks_page(
    state: &AppState,
    s: &Session,
    c: Chrome,
    new_secret: Option<String>,
) -> Result<WebhooksPage, ApiError> {
    let t = c.t;
    let available = state.webhooks.is_some();
    let endpoints = if available {
        crate::webhooks::list_endpoints(State(state.clone()), Extension(s.caller.clone()))
            .await?
            .0
    } else {
        Vec::new()
    };
    Ok(WebhooksPage {
        title: t.m("db_webhooks"),
        endpoints,
        new_secret,
        available,
        c,
        t,
    })
}

async fn webhooks(State(state): State<AppState>, SignedIn { t, s, m: _, c }: SignedIn) -> Response {
    render(t, webhooks_page(&state, &s, c, None).await)
}

#[derive(Deserialize)]
pub struct WebhookForm {
    csrf: Option<String>,
    url: String,
    description: Option<String>,
}

async fn add_webhook(
    State(state): State<AppState>,
    SignedIn { t, s, m: _, c }: SignedIn,
    headers: HeaderMap,
    Form(form): Form<WebhookForm>,
) -> Response {
    if let Err(e) = session::check(&s, &headers, form.csrf.as_deref()) {
        return error_page(t, e);
    }
    let result = async {
        let (_, _, Json(created)) = crate::webhooks::create_endpoint(
            State(state.clone()),
            Extension(s.caller.clone()),
            Json(CreateWebhookEndpoint {
                url: form.url.trim().to_string(),
                description: form.description.filter(|d| !d.trim().is_empty()),
                event_types: None,
                confirmed: None,
                merchant: None,
            }),
        )
        .await?;
        webhooks_page(&state, &s, c, Some(created.secret)).await
    }
    .await;
    render(t, result)
}

#[derive(Template)]
#[template(path = "settings.html")]
pub struct SettingsPage {
    pub t: Msgs,
    pub title: String,
    pub c: Chrome,
    pub return_url: String,
    pub cancel_url: String,
    pub saved: bool,
}

async fn settings_page(
    state: &AppState,
    m: &Pubkey,
    c: Chrome,
    saved: bool,
) -> Result<SettingsPage, ApiError> {
    let t = c.t;
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT return_url, cancel_url FROM api.checkout_setting WHERE merchant = $1",
    )
    .bind(&m.to_bytes()[..])
    .fetch_optional(&state.pool)
    .await?;
    let (r, cancel) = row.unwrap_or_default();
    Ok(SettingsPage {
        title: t.m("db_settings"),
        return_url: r.unwrap_or_default(),
        cancel_url: cancel.unwrap_or_default(),
        saved,
        c,
        t,
    })
}

async fn settings(State(state): State<AppState>, SignedIn { t, s: _, m, c }: SignedIn) -> Response {
    render(t, settings_page(&state, &m, c, false).await)
}

#[derive(Deserialize)]
pub struct SettingsForm {
    csrf: Option<String>,
    return_url: String,
    cancel_url: String,
}

/// An https URL without spaces, or nothing.
fn site_url(field: &str, v: &str) -> Result<Option<String>, ApiError> {
    let v = v.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let ok = v.len() <= 2000
        && v.strip_prefix("https://")
            .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
        && !v.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(Some(v.to_string()))
    } else {
        Err(ApiError::bad(
            "invalid-url",
            format!("{field} must be an https URL of your own site (at most 2,000 characters)"),
        ))
    }
}

async fn save_settings(
    State(state): State<AppState>,
    SignedIn { t, s, m, c }: SignedIn,
    headers: HeaderMap,
    Form(form): Form<SettingsForm>,
) -> Response {
    if let Err(e) = session::check(&s, &headers, form.csrf.as_deref()) {
        return error_page(t, e);
    }
    let result = async {
        let r = site_url("the return link", &form.return_url)?;
        let cancel = site_url("the cancel link", &form.cancel_url)?;
        sqlx::query(
            "INSERT INTO api.checkout_setting (merchant, return_url, cancel_url) VALUES ($1, $2, $3)
             ON CONFLICT (merchant) DO UPDATE
             SET return_url = excluded.return_url, cancel_url = excluded.cancel_url, updated_at = now()",
        )
        .bind(&m.to_bytes()[..])
        .bind(r)
        .bind(cancel)
        .execute(&state.pool)
        .await?;
        settings_page(&state, &m, c, true).await
    }
    .await;
    render(t, result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_keep_themselves_across_pages_and_dates_are_whole_days() {
        let f = Filters {
            status: Some("captured".into()),
            from: Some("2026-11-01".into()),
            to: Some("2026-11-30".into()),
            order: Some(" ".into()),
            cursor: Some("old".into()),
        };
        // The next page keeps the filters, swaps the cursor, and drops empty fields.
        assert_eq!(
            f.url("/dashboard/payments", Some("c/1+2")),
            "/dashboard/payments?status=captured&from=2026-11-01&to=2026-11-30&cursor=c%2F1%2B2"
        );
        assert_eq!(
            f.url("/dashboard/payments.csv", None),
            "/dashboard/payments.csv?status=captured&from=2026-11-01&to=2026-11-30"
        );
        let q = f.query(25).unwrap();
        assert_eq!(q.from.as_deref(), Some("2026-11-01T00:00:00Z"));
        // `to` is inclusive: payments opened on the 30th are in.
        assert_eq!(q.to.as_deref(), Some("2026-12-01T00:00:00Z"));
        assert_eq!(q.cursor.as_deref(), Some("old"));
        assert_eq!(q.limit, Some(25));
        let bad = Filters {
            from: Some("30/11/2026".into()),
            ..Filters::default()
        };
        let e = bad.query(25).unwrap_err().to_string();
        assert!(e.contains("from") && e.contains("YYYY-MM-DD"), "{e}");
        assert_eq!(
            Filters::default().url("/dashboard/payments", None),
            "/dashboard/payments"
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_never_formulas() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
    }

    #[test]
    fn only_https_links_of_a_site_are_taken() {
        assert_eq!(
            site_url("return", " https://shop.example/thanks ").unwrap(),
            Some("https://shop.example/thanks".into())
        );
        assert_eq!(site_url("return", "").unwrap(), None);
        for bad in [
            "http://shop.example/",
            "javascript:alert(1)",
            "https:///path",
            "https://",
            "https://shop.example/a b",
        ] {
            assert!(site_url("return", bad).is_err(), "{bad}");
        }
    }
}
