//! The operator pages: the compliance review queue (officers and operators), and payouts with
//! the settlement exceptions (operators). Each form calls the same handler as the HTTP API, as
//! the signed-in officer, with the session's CSRF token.

use super::{
    dashboard::{account_name, lang, render, Chrome},
    error_page, money,
    session::{self, Session},
    Msgs,
};
use crate::{
    compliance::{case_step, CaseStep},
    error::{ApiError, Json},
    settlement::{resolve_exception, ResolveException},
    AppState,
};
use askama::Template;
use axum::{
    extract::{Path, State},
    http::HeaderMap,
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
    Extension, Form, Router,
};
use kassa_compliance::cases::Case;
use kassa_sdk::api::types::Role;
use kassa_settlement::{payout::Payout, statement::Exception};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/operator", get(queue))
        .route("/operator/cases/{id}", post(work_case))
        .route("/operator/exceptions/resolve", post(resolve))
}

pub struct PayoutRow {
    pub p: Payout,
    pub amount: String,
}

pub struct ExceptionRow {
    pub e: Exception,
    pub amount: String,
}

#[derive(Template)]
#[template(path = "operator.html")]
pub struct OperatorPage {
    pub t: Msgs,
    pub title: String,
    pub c: Chrome,
    pub me: i64,
    pub cases: Vec<Case>,
    pub settlement: bool,
    pub payouts: Vec<PayoutRow>,
    pub exceptions: Vec<ExceptionRow>,
    pub booking: Vec<(String, String, String)>,
}

impl OperatorPage {
    fn mine(&self, case: &Case) -> bool {
        case.assignee == Some(self.me)
    }
}

/// The signed-in officer or operator, or the answer to give instead.
async fn officer(
    state: &AppState,
    headers: &HeaderMap,
    t: Msgs,
) -> Result<(Session, Chrome), Response> {
    let s = match session::current(state, headers).await {
        Ok(Some(s)) => s,
        Ok(None) => return Err(Redirect::to("/dashboard/login").into_response()),
        Err(e) => return Err(error_page(t, e)),
    };
    if !matches!(s.caller.role, Role::Operator | Role::Compliance) {
        return Err(Redirect::to("/dashboard").into_response());
    }
    let chrome = Chrome {
        t,
        csrf: s.csrf.clone(),
        who: account_name(state, s.caller.account).await,
        merchant: false,
    };
    Ok((s, chrome))
}

async fn queue(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let t = lang(&headers);
    let (s, c) = match officer(&state, &headers, t).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let result = async {
        let cases = kassa_compliance::cases::list(&state.reads, None, None, None, 100)
            .await
            .map_err(ApiError::from)?;
        let settlement = s.caller.role == Role::Operator;
        let (mut payouts, mut exceptions, mut booking) = (Vec::new(), Vec::new(), Vec::new());
        if settlement {
            for p in kassa_settlement::payout::list(&state.reads, None)
                .await
                .map_err(ApiError::from)?
                .into_iter()
                .take(100)
            {
                payouts.push(PayoutRow {
                    amount: money(u128::try_from(p.amount).unwrap_or(0), 2),
                    p,
                });
            }
            for e in kassa_settlement::statement::open_exceptions(&state.pool)
                .await
                .map_err(ApiError::from)?
            {
                exceptions.push(ExceptionRow {
                    amount: money(u128::try_from(e.amount).unwrap_or(0), 2),
                    e,
                });
            }
            for (sig, _, _, phase, reason) in kassa_settlement::book::open_exceptions(&state.pool)
                .await
                .map_err(ApiError::from)?
            {
                booking.push((sig.to_string(), phase, reason));
            }
        }
        Ok::<_, ApiError>(OperatorPage {
            title: t.m("op_title"),
            me: s.caller.account,
            cases,
            settlement,
            payouts,
            exceptions,
            booking,
            c,
            t,
        })
    }
    .await;
    render(t, result)
}

#[derive(Deserialize)]
pub struct CaseForm {
    csrf: Option<String>,
    step: String,
    text: Option<String>,
    disposition: Option<String>,
}

async fn work_case(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<i64>,
    Form(form): Form<CaseForm>,
) -> Response {
    let t = lang(&headers);
    let (s, _) = match officer(&state, &headers, t).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(e) = session::check(&s, &headers, form.csrf.as_deref()) {
        return error_page(t, e);
    }
    let step = CaseStep {
        assignee: (form.step == "assign").then_some(s.caller.account),
        step: form.step,
        text: form.text.filter(|x| !x.trim().is_empty()),
        disposition: form.disposition.filter(|x| !x.is_empty()),
    };
    match case_step(
        State(state.clone()),
        Extension(s.caller.clone()),
        crate::error::Path(id),
        Json(step),
    )
    .await
    {
        Ok(_) => Redirect::to("/operator").into_response(),
        Err(e) => error_page(t, e),
    }
}

#[derive(Deserialize)]
pub struct ResolveForm {
    csrf: Option<String>,
    bank_account: String,
    statement: String,
    line: i32,
    note: String,
    account: Option<String>,
}

async fn resolve(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<ResolveForm>,
) -> Response {
    let t = lang(&headers);
    let (s, _) = match officer(&state, &headers, t).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    if let Err(e) = session::check(&s, &headers, form.csrf.as_deref()) {
        return error_page(t, e);
    }
    match resolve_exception(
        State(state.clone()),
        Extension(s.caller.clone()),
        Json(ResolveException {
            bank_account: form.bank_account,
            statement: form.statement,
            line: form.line,
            note: form.note,
            account: form.account.filter(|a| !a.trim().is_empty()),
        }),
    )
    .await
    {
        Ok(_) => Redirect::to("/operator").into_response(),
        Err(e) => error_page(t, e),
    }
}
