//! The hosted checkout: `/checkout/{payment}`. The merchant, the amount and order, a countdown
//! to expiry, the Solana Pay transaction-request URL as a QR code drawn on the server (SVG) and
//! as an "open in wallet" link, and the status, live over server-sent events (and right on
//! reload without JavaScript). A customer holding another stablecoin asks for a quote: the
//! exact amount and rate, locked for [`crate::ApiConfig::quote_lock`] (never longer than a
//! blockhash lives); the transaction request built within the lock carries the quoted amount as
//! its `max_in`, and after the lock the page asks for a fresh quote.

use super::{error_page, money, page, watch, when, Lang, Msgs};
use crate::{error::ApiError, wire::get, AppState};
use anchor_lang::AccountDeserialize;
use askama::Template;
use axum::{
    extract::{ConnectInfo, Path, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Redirect, Response,
    },
    routing::{get as get_route, post},
    Form, Router,
};
use futures_util::stream::{self, Stream};
use kassa_sdk::{
    payments::MintRef,
    solana_pay::{payment_link, TransactionRequest},
};
use rand::RngCore;
use rust_decimal::Decimal;
use serde::Deserialize;
use solana_sdk::pubkey::Pubkey;
use std::{convert::Infallible, time::Duration};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/checkout/{payment}", get_route(show))
        .route("/checkout/{payment}/quote", post(quote))
        .route("/checkout/{payment}/events", get_route(events))
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    lang: Option<String>,
    quote: Option<String>,
}

/// A stablecoin the customer may pay in instead.
pub struct Coin {
    pub mint: String,
    pub code: String,
}

/// A locked quote as the page shows it.
pub struct QuoteView {
    pub id: String,
    pub coin: String,
    pub amount: String,
    pub rate: String,
    pub seconds_left: i64,
    pub expired: bool,
    pub link: String,
    pub qr: String,
}

#[derive(Template)]
#[template(path = "checkout.html")]
pub struct CheckoutPage {
    pub t: Msgs,
    pub title: String,
    pub self_path: String,
    pub payment: String,
    pub merchant: String,
    pub amount: String,
    pub code: String,
    pub order: String,
    pub phase: &'static str,
    pub expires_at: String,
    pub seconds_left: i64,
    pub link: String,
    pub qr: String,
    pub coins: Vec<Coin>,
    pub quote: Option<QuoteView>,
    pub return_link: Option<String>,
    pub cancel_link: Option<String>,
}

impl CheckoutPage {
    fn heading(&self) -> String {
        self.t.m(&format!("co_{}", self.phase))
    }
    fn help(&self) -> String {
        self.t.m(&format!("co_{}_help", self.phase))
    }
    fn open(&self) -> bool {
        self.phase == "waiting"
    }
    fn done(&self) -> bool {
        matches!(self.phase, "paid" | "finalized")
    }
    /// Is `coin` the one the customer last asked a quote in (preselected for a fresh one)?
    fn quoted(&self, coin: &Coin) -> bool {
        self.quote.as_ref().is_some_and(|q| q.coin == coin.code)
    }
}

/// What the page needs of a payment, from the mirror.
pub(crate) struct Invoice {
    pub pda: Pubkey,
    pub merchant: Pubkey,
    pub name: String,
    pub mint: Pubkey,
    pub decimals: u8,
    pub code: String,
    pub amount: u64,
    pub order: String,
    pub expires_at: i64,
}

/// The currency code of `mint` (from `settlement.currency`), or its address shortened.
pub(crate) async fn code_of(state: &AppState, mint: &Pubkey) -> Result<String, ApiError> {
    if let Some(code) = state.codes.read().ok().and_then(|c| c.get(mint).cloned()) {
        return Ok(code);
    }
    let code: Option<String> =
        sqlx::query_scalar("SELECT code FROM settlement.currency WHERE mint = $1")
            .bind(&mint.to_bytes()[..])
            .fetch_optional(&state.reads)
            .await?;
    // Settlement refuses to change a mint's code once set, so a code found is kept; a mint
    // without one is asked again next time (it may get one).
    if let (Some(c), Ok(mut codes)) = (&code, state.codes.write()) {
        codes.insert(*mint, c.clone());
    }
    Ok(code.unwrap_or_else(|| {
        let m = mint.to_string();
        format!("{}…", &m[..6])
    }))
}

pub(crate) async fn invoice(state: &AppState, pda: &Pubkey) -> Result<Invoice, ApiError> {
    let row = sqlx::query(
        "SELECT p.merchant, p.mint, p.amount, p.order_id, p.expires_at, a.name
         FROM chain.payment p LEFT JOIN api.account a ON a.merchant = p.merchant
         WHERE p.address = $1",
    )
    .bind(&pda.to_bytes()[..])
    .fetch_optional(&state.reads)
    .await?
    .ok_or_else(|| ApiError::NotFound("no such invoice".into()))?;
    let key = |c: &str| -> Result<Pubkey, ApiError> {
        Pubkey::try_from(get::<Vec<u8>>(&row, c)?.as_slice())
            .map_err(|_| ApiError::Internal(format!("{c} is not 32 bytes")))
    };
    let (merchant, mint) = (key("merchant")?, key("mint")?);
    let amount: Decimal = get(&row, "amount")?;
    let name: Option<String> = get(&row, "name")?;
    Ok(Invoice {
        pda: *pda,
        merchant,
        name: name.unwrap_or_else(|| {
            let m = merchant.to_string();
            format!("Kassa merchant {}…", &m[..6])
        }),
        mint,
        decimals: state.mint(&mint).await?.decimals,
        code: code_of(state, &mint).await?,
        amount: rust_decimal::prelude::ToPrimitive::to_u64(&amount)
            .ok_or_else(|| ApiError::Internal("an amount is not a u64".into()))?,
        order: crate::read::order_text(&get::<String>(&row, "order_id")?),
        expires_at: get(&row, "expires_at")?,
    })
}

/// The page's language, and a `Set-Cookie` when `?lang=` chose one.
fn language(q: &PageQuery, headers: &HeaderMap) -> (Msgs, Option<HeaderValue>) {
    let lang = Lang::of_request(q.lang.as_deref(), headers);
    let set = q.lang.as_deref().and_then(Lang::parse).and_then(|l| {
        HeaderValue::from_str(&format!(
            "kassa_lang={}; Path=/; Max-Age=31536000; SameSite=Lax; Secure",
            l.tag()
        ))
        .ok()
    });
    (Msgs::new(lang), set)
}

/// The Solana Pay URL (`solana:…`) and its QR code as SVG.
pub(crate) fn qr(request: &TransactionRequest, t: &Msgs) -> (String, String) {
    let url = request.to_string();
    let svg = match qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M)
    {
        Ok(code) => code
            .render::<qrcode::render::svg::Color>()
            .min_dimensions(264, 264)
            .quiet_zone(true)
            .build(),
        Err(e) => {
            tracing::error!("QR code of {url}: {e}");
            String::new()
        }
    };
    // Named for screen readers; the SVG carries no text of its own.
    let svg = svg.replacen(
        "<svg ",
        &format!(
            "<svg role=\"img\" aria-label=\"{}\" ",
            t.m("co_qr_alt").replace('"', "&quot;")
        ),
        1,
    );
    // The XML declaration has no place inside HTML.
    let svg = match svg.find("<svg") {
        Some(i) => svg[i..].to_string(),
        None => svg,
    };
    (url, svg)
}

/// The return or cancel link of the merchant's checkout settings, with the payment and order.
fn back_link(base: Option<String>, inv: &Invoice) -> Option<String> {
    let base = base?;
    let sep = if base.contains('?') { '&' } else { '?' };
    let order: String = inv
        .order
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    Some(format!("{base}{sep}payment={}&order_id={order}", inv.pda))
}

async fn show(
    State(state): State<AppState>,
    Path(payment): Path<String>,
    Query(q): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    let (t, set_lang) = language(&q, &headers);
    let mut r = match render(&state, &payment, &q, t).await {
        Ok(p) => page(StatusCode::OK, &p),
        Err(e) => error_page(t, e),
    };
    if let Some(c) = set_lang {
        r.headers_mut().append(header::SET_COOKIE, c);
    }
    r
}

async fn render(
    state: &AppState,
    payment: &str,
    q: &PageQuery,
    t: Msgs,
) -> Result<CheckoutPage, ApiError> {
    let pda: Pubkey = payment
        .parse()
        .map_err(|_| ApiError::NotFound("no such invoice".into()))?;
    let inv = invoice(state, &pda).await?;
    let snap = watch::read_one(&state.reads, &pda.to_bytes()).await?;
    // The chain's clock decides expiry (a local node's may be warped).
    let now = state.watch.chain_now(state).await;
    let phase = snap.phase(now >= inv.expires_at);
    let base = state.config.public_url.trim_end_matches('/');
    let request =
        payment_link(base, &pda).map_err(|e| ApiError::Internal(format!("payment link: {e}")))?;
    let (link, qr_svg) = qr(&request, &t);
    let settings: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT return_url, cancel_url FROM api.checkout_setting WHERE merchant = $1",
    )
    .bind(&inv.merchant.to_bytes()[..])
    .fetch_optional(&state.reads)
    .await?;
    let (return_url, cancel_url) = settings.unwrap_or_default();
    let coins = if phase == "waiting" {
        coins(state, &inv).await?
    } else {
        Vec::new()
    };
    let quote = match (&q.quote, phase) {
        (Some(id), "waiting") => quote_view(state, &inv, id, base, &t).await?,
        _ => None,
    };
    Ok(CheckoutPage {
        title: t.f("co_title", "merchant", &inv.name),
        self_path: format!("/checkout/{pda}"),
        payment: pda.to_string(),
        merchant: inv.name.clone(),
        amount: money(u128::from(inv.amount), inv.decimals),
        code: inv.code.clone(),
        order: inv.order.clone(),
        phase,
        expires_at: when(inv.expires_at),
        seconds_left: (inv.expires_at - now).max(0),
        link,
        qr: qr_svg,
        coins,
        quote,
        // Both are on the page (the script shows the one that fits when the status changes).
        return_link: back_link(return_url, &inv),
        cancel_link: back_link(cancel_url, &inv),
        t,
    })
}

/// The stablecoins with an unpaused pool against the invoice's mint.
async fn coins(state: &AppState, inv: &Invoice) -> Result<Vec<Coin>, ApiError> {
    let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
        "SELECT CASE WHEN mint_a = $1 THEN mint_b ELSE mint_a END
         FROM chain.conversion_pool WHERE (mint_a = $1 OR mint_b = $1) AND NOT paused
         ORDER BY 1",
    )
    .bind(&inv.mint.to_bytes()[..])
    .fetch_all(&state.reads)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for (m,) in rows {
        let mint = Pubkey::try_from(m.as_slice())
            .map_err(|_| ApiError::Internal("a pool mint is not 32 bytes".into()))?;
        out.push(Coin {
            mint: mint.to_string(),
            code: code_of(state, &mint).await?,
        });
    }
    out.sort_by(|a, b| a.code.cmp(&b.code));
    Ok(out)
}

/// A stored quote.
pub(crate) struct Quote {
    pub input_mint: Pubkey,
    pub pool: Pubkey,
    pub amount_in: u64,
    pub seconds_left: i64,
}

/// Quote `id` for `payment` (expired or not), if it is that payment's.
pub(crate) async fn stored_quote(
    state: &AppState,
    payment: &Pubkey,
    id: &str,
) -> Result<Option<Quote>, ApiError> {
    let row: Option<(Vec<u8>, Vec<u8>, i64, f64)> = sqlx::query_as(
        "SELECT input_mint, pool, amount_in::bigint,
                extract(epoch FROM expires_at - now())::float8
         FROM api.checkout_quote WHERE checkout_quote_id = $1 AND payment = $2",
    )
    .bind(id)
    .bind(&payment.to_bytes()[..])
    .fetch_optional(&state.pool)
    .await?;
    let Some((mint, pool, amount_in, left)) = row else {
        return Ok(None);
    };
    let key = |b: Vec<u8>| {
        Pubkey::try_from(b.as_slice()).map_err(|_| ApiError::Internal("quote key".into()))
    };
    Ok(Some(Quote {
        input_mint: key(mint)?,
        pool: key(pool)?,
        amount_in: u64::try_from(amount_in).map_err(|_| ApiError::Internal("quote".into()))?,
        // Whole seconds left, rounded down: a quote with 0.5 s left is shown as expired.
        seconds_left: left.floor() as i64,
    }))
}

async fn quote_view(
    state: &AppState,
    inv: &Invoice,
    id: &str,
    base: &str,
    t: &Msgs,
) -> Result<Option<QuoteView>, ApiError> {
    let Some(q) = stored_quote(state, &inv.pda, id).await? else {
        return Ok(None);
    };
    let info = state.mint(&q.input_mint).await?;
    let coin = code_of(state, &q.input_mint).await?;
    // Rate: invoice coins per paid coin, 6 decimals, rounded down (what one unit buys).
    let paid = Decimal::from_i128_with_scale(i128::from(q.amount_in), u32::from(info.decimals));
    let owed = Decimal::from_i128_with_scale(i128::from(inv.amount), u32::from(inv.decimals));
    let rate = owed
        .checked_div(paid)
        .map(|r| r.round_dp_with_strategy(6, rust_decimal::RoundingStrategy::ToZero))
        .unwrap_or_default();
    let request = TransactionRequest::new(format!("{base}/v1/pay/{}?quote={id}", inv.pda))
        .map_err(|e| ApiError::Internal(format!("quote link: {e}")))?;
    let (link, qr_svg) = qr(&request, t);
    Ok(Some(QuoteView {
        id: id.to_string(),
        coin,
        amount: money(u128::from(q.amount_in), info.decimals),
        rate: rate.normalize().to_string(),
        seconds_left: q.seconds_left.max(0),
        expired: q.seconds_left <= 0,
        link,
        qr: qr_svg,
    }))
}

#[derive(Deserialize)]
pub struct QuoteForm {
    mint: String,
    lang: Option<String>,
}

/// Prices the invoice in another stablecoin from the pool's state read now from the chain, and
/// locks the price.
async fn quote(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    Path(payment): Path<String>,
    headers: HeaderMap,
    Form(form): Form<QuoteForm>,
) -> Response {
    let lang = form
        .lang
        .as_deref()
        .and_then(Lang::parse)
        .unwrap_or_else(|| Lang::of_request(None, &headers));
    let t = Msgs::new(lang);
    // Each quote is a row: a client asks at the rate the Solana Pay routes allow it.
    if state.limits.clients.check_key(&client.ip()).is_err() {
        return error_page(t, ApiError::RateLimited { retry_after: 1 });
    }
    match make_quote(&state, &payment, &form.mint).await {
        Ok(id) => Redirect::to(&format!("/checkout/{payment}?quote={id}")).into_response(),
        Err(e) => error_page(t, e),
    }
}

/// Makes and stores a quote; answers its id.
pub(crate) async fn make_quote(
    state: &AppState,
    payment: &str,
    input: &str,
) -> Result<String, ApiError> {
    let pda: Pubkey = payment
        .parse()
        .map_err(|_| ApiError::NotFound("no such invoice".into()))?;
    let inv = invoice(state, &pda).await?;
    let input: Pubkey = input
        .parse()
        .map_err(|_| ApiError::bad("invalid-mint", "the stablecoin is not a mint address"))?;
    if input == inv.mint {
        return Err(ApiError::unprocessable(
            "same-coin",
            "the invoice is already in this stablecoin: pay it directly",
        ));
    }
    let (a, b) = (
        state.mint(&inv.mint).await?.token_program,
        state.mint(&input).await?.token_program,
    );
    let refs = (
        MintRef::new(inv.mint, a).map_err(|e| ApiError::Internal(e.to_string()))?,
        MintRef::new(input, b).map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    let pool_ref = kassa_sdk::convert::Convert::default().pool(refs.0, refs.1);
    let account = state
        .rpc
        .get_account(&pool_ref.address)
        .await
        .map_err(|_| {
            ApiError::unprocessable(
                "no-conversion",
                "this stablecoin cannot be converted to the invoice's",
            )
        })?;
    let pool = kassa_convert::state::Pool::try_deserialize(&mut account.data.as_slice())
        .map_err(|e| ApiError::Internal(format!("pool {}: {e}", pool_ref.address)))?;
    if pool.paused {
        return Err(ApiError::unprocessable(
            "conversion-paused",
            "conversion from this stablecoin is paused; pay in another",
        ));
    }
    let now = state.chain_now().await?;
    let a_to_b = input == pool.mint_a;
    let (reserve_in, reserve_out) = pool.reserves(a_to_b);
    let swap = kassa_convert::math::stableswap::swap_exact_out(
        pool.curve(a_to_b, now),
        pool.fees(),
        reserve_in,
        reserve_out,
        inv.amount,
    )
    .map_err(|e| {
        ApiError::unprocessable(
            "no-quote",
            format!("the pool cannot convert this amount now: {e:?}"),
        )
    })?;
    let mut bytes = [0u8; 12];
    rand::rng().fill_bytes(&mut bytes);
    let id: String = std::iter::once("q_".to_string())
        .chain(bytes.iter().map(|b| format!("{b:02x}")))
        .collect();
    let lock = state.config.quote_lock.min(Duration::from_secs(60));
    sqlx::query(
        "INSERT INTO api.checkout_quote
             (checkout_quote_id, payment, input_mint, pool, amount_in, amount_out, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(secs => $7))",
    )
    .bind(&id)
    .bind(&pda.to_bytes()[..])
    .bind(&input.to_bytes()[..])
    .bind(&pool_ref.address.to_bytes()[..])
    .bind(Decimal::from(swap.amount_in))
    .bind(Decimal::from(inv.amount))
    .bind(lock.as_secs_f64())
    .execute(&state.pool)
    .await?;
    // Expired quotes are kept a day (for a wallet that asks late, and for support), then go.
    if bytes[0] == 0 {
        sqlx::query("DELETE FROM api.checkout_quote WHERE expires_at < now() - interval '1 day'")
            .execute(&state.pool)
            .await?;
    }
    Ok(id)
}

/// Server-sent events: `status` with the phase whenever the mirrored payment changes (and
/// `expired` when its deadline passes unpaid).
async fn events(
    State(state): State<AppState>,
    Path(payment): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, Response> {
    let t = Msgs::new(Lang::En);
    let pda: Pubkey = payment
        .parse()
        .map_err(|_| error_page(t, ApiError::NotFound("no such invoice".into())))?;
    let inv = invoice(&state, &pda).await.map_err(|e| error_page(t, e))?;
    let now_snap = watch::read_one(&state.reads, &pda.to_bytes())
        .await
        .map_err(|e| error_page(t, e.into()))?;
    let chain_now = state.watch.chain_now(&state).await;
    let deadline = tokio::time::Instant::now()
        + Duration::from_secs(u64::try_from(inv.expires_at - chain_now).unwrap_or(0));
    let rx = state
        .watch
        .subscribe(&state.reads, pda.to_bytes(), now_snap.clone());
    Ok(Sse::new(status_stream(rx, deadline)).keep_alive(KeepAlive::default()))
}

/// The phases of a watched payment as events: the current one first, then each change.
pub(crate) fn status_stream(
    rx: tokio::sync::watch::Receiver<watch::Snapshot>,
    deadline: tokio::time::Instant,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(
        (rx, deadline, None::<&'static str>),
        |(mut rx, deadline, last)| async move {
            loop {
                let snap = rx.borrow_and_update().clone();
                let phase = snap.phase(tokio::time::Instant::now() >= deadline);
                if last != Some(phase) {
                    let data = format!(
                        "{{\"phase\":\"{phase}\",\"status\":\"{}\",\"seq\":{}}}",
                        snap.status, snap.seq
                    );
                    let event = Event::default().event("status").data(data);
                    return Some((Ok(event), (rx, deadline, Some(phase))));
                }
                if matches!(phase, "finalized" | "expired" | "cancelled") {
                    // Nothing more will change on this page; the stream ends.
                    return None;
                }
                tokio::select! {
                    changed = rx.changed() => if changed.is_err() { return None },
                    _ = tokio::time::sleep_until(deadline), if tokio::time::Instant::now() < deadline => {}
                }
            }
        },
    )
}
