//! The routes, registered with their OpenAPI descriptions in one place: the document served at
//! `/v1/openapi.json` is generated from the same registrations the router is built from, so it
//! cannot list a route that does not exist or miss one that does.

use crate::{compliance, health, read, settlement, solana_pay, webhooks, write, AppState};
use axum::{http::header, response::IntoResponse};
use std::sync::OnceLock;
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Kassa API",
        description = "Escrowed merchant payments on Solana: what the indexer mirrors, transactions for merchants to sign, Solana Pay transaction requests. Amounts are integer strings in base units beside the mint's decimals; times are RFC 3339; errors are RFC 9457 problems.",
        version = "1.0.0"
    ),
    modifiers(&Security),
    components(schemas(
        kassa_sdk::api::types::ChainNotification,
        kassa_sdk::api::types::ChainEventData,
        kassa_sdk::api::types::EndpointNotification,
        kassa_sdk::api::types::X402Notification,
        kassa_sdk::api::types::X402Settlement,
        kassa_sdk::api::types::EndpointEventData
    )),
    tags(
        (name = "merchants", description = "Merchants, their KYB status, policy and balances"),
        (name = "payments", description = "Payments, timelines and the settlement status lookup"),
        (name = "actions", description = "Transactions for a merchant to sign, and submitting them"),
        (name = "pools", description = "Conversion pools"),
        (name = "credit", description = "Credit pools, lines and advances"),
        (name = "transactions", description = "Stored transactions"),
        (name = "keys", description = "Onboarding, accounts and API keys"),
        (name = "webhooks", description = "Webhook endpoints, deliveries and alerts; the notifications themselves are under `webhooks`"),
        (name = "settlement", description = "The ledger, payouts, bank statements, reconciliation and statements of account"),
        (name = "compliance", description = "Screening, sanctions and internal lists, monitoring rules, alerts, the review queue, on-chain compliance actions and the audit log (compliance officers and operators)"),
        (name = "solana-pay", description = "Solana Pay transaction requests (no API key)"),
        (name = "operations", description = "Health, readiness and metrics")
    )
)]
struct Doc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("kassa_sk_…")
                    .description(Some("An API key: Authorization: Bearer <key>"))
                    .build(),
            ),
        );
    }
}

/// The routes that need an API key (and, for POST, an `Idempotency-Key`).
pub fn keyed_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(Doc::openapi())
        .routes(routes!(read::list_merchants))
        .routes(routes!(read::get_merchant))
        .routes(routes!(read::merchant_balances))
        .routes(routes!(read::get_payment_by_order))
        .routes(routes!(read::list_payments, write::create_invoice))
        .routes(routes!(read::get_payment))
        .routes(routes!(read::payment_timeline))
        .routes(routes!(write::create_operator_key))
        .routes(routes!(write::capture))
        .routes(routes!(write::void))
        .routes(routes!(write::refund))
        .routes(routes!(read::settlement_status))
        .routes(routes!(crate::x402::facilitator::get_settlement))
        .routes(routes!(write::submit))
        .routes(routes!(read::get_transaction))
        .routes(routes!(read::list_conversion_pools))
        .routes(routes!(read::get_conversion_pool))
        .routes(routes!(read::list_credit_pools))
        .routes(routes!(read::get_credit_pool))
        .routes(routes!(read::list_credit_lines))
        .routes(routes!(read::get_credit_line))
        .routes(routes!(read::list_advances))
        .routes(routes!(read::get_advance))
        .routes(routes!(write::create_account, write::list_accounts))
        .routes(routes!(write::list_keys, write::issue_key))
        .routes(routes!(write::rotate_key))
        .routes(routes!(write::revoke_key))
        .routes(routes!(webhooks::event_types))
        .routes(routes!(webhooks::list_endpoints, webhooks::create_endpoint))
        .routes(routes!(webhooks::get_endpoint, webhooks::update_endpoint))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::send_test))
        .routes(routes!(webhooks::replay))
        .routes(routes!(webhooks::list_deliveries))
        .routes(routes!(webhooks::get_delivery))
        .routes(routes!(webhooks::redeliver))
        .routes(routes!(webhooks::alerts))
        .routes(routes!(settlement::trial_balance))
        .routes(routes!(settlement::payouts))
        .routes(routes!(settlement::cut_batch))
        .routes(routes!(settlement::import_statement))
        .routes(routes!(settlement::exceptions))
        .routes(routes!(settlement::reconcile))
        .routes(routes!(settlement::merchant_statement))
        .routes(routes!(settlement::create_mass_payout))
        .routes(routes!(settlement::get_mass_payout))
        .routes(routes!(settlement::register_onramp))
        .routes(routes!(settlement::resolve_exception))
        .routes(routes!(settlement::rebook))
        .routes(routes!(compliance::screen_wallet))
        .routes(routes!(compliance::get_lists, compliance::create_list))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(compliance::import_list))
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .routes(routes!(compliance::list_changes))
        .routes(routes!(compliance::add_list_entry))
        .routes(routes!(compliance::remove_list_entry))
        .routes(routes!(compliance::get_rules, compliance::set_rules))
        .routes(routes!(compliance::get_alerts))
        .routes(routes!(compliance::get_cases))
        .routes(routes!(compliance::get_case))
        .routes(routes!(compliance::case_step))
        .routes(routes!(compliance::take_action, compliance::get_actions))
        .routes(routes!(compliance::get_audit))
        .routes(routes!(
            compliance::create_kyb_case,
            compliance::list_kyb_cases
        ))
        .routes(routes!(compliance::get_kyb_case))
        .merge(
            OpenApiRouter::new()
                .routes(routes!(compliance::add_kyb_document))
                .layer(axum::extract::DefaultBodyLimit::disable()),
        )
        .routes(routes!(compliance::decide_kyb_case))
        .routes(routes!(compliance::erase_kyb_case))
        .routes(routes!(
            compliance::get_risk_tables,
            compliance::set_risk_table
        ))
}

/// Routes whose bodies are files (sanctions lists), read up to `ApiConfig::upload_limit`
/// instead of `body_limit`.
pub fn is_upload(method: &axum::http::Method, path: &str) -> bool {
    method == axum::http::Method::POST
        && ((path.starts_with("/v1/compliance/lists/") && path.ends_with("/versions"))
            || (path.starts_with("/v1/compliance/kyb/cases/") && path.ends_with("/documents")))
}

/// The routes without an API key: Solana Pay, health, metrics and the document itself.
pub fn open_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(solana_pay::get_pay, solana_pay::post_pay))
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .routes(routes!(health::metrics))
        .route("/v1/pay/icon.svg", axum::routing::get(solana_pay::icon))
        .route("/v1/openapi.json", axum::routing::get(serve_document))
}

/// The OpenAPI 3.1 document of every route.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut keyed = keyed_routes();
    let doc = keyed.to_openapi();
    let mut open = open_routes();
    let mut doc = doc;
    doc.merge(open.to_openapi());
    doc.webhooks = Some(notifications());
    doc
}

/// The `webhooks` section: every notification a merchant's endpoint can receive, with the
/// schema of its body.
fn notifications() -> utoipa::openapi::path::Paths {
    use utoipa::openapi::{
        content::ContentBuilder,
        path::{HttpMethod, OperationBuilder, PathItem, PathsBuilder},
        request_body::RequestBodyBuilder,
        response::ResponseBuilder,
        Ref, Required,
    };
    let item = |name: &str, schema: &str, summary: String| {
        PathItem::new(
            HttpMethod::Post,
            OperationBuilder::new()
                .operation_id(Some(name.to_string()))
                .summary(Some(summary))
                .description(Some(
                    "Posted to the endpoint's URL with the Standard Webhooks headers \
                     `webhook-id`, `webhook-timestamp` and `webhook-signature`.",
                ))
                .request_body(Some(
                    RequestBodyBuilder::new()
                        .required(Some(Required::True))
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name(schema)))
                                .build(),
                        )
                        .build(),
                ))
                .response(
                    "2XX",
                    ResponseBuilder::new()
                        .description("Accepted; any other answer is retried")
                        .build(),
                ),
        )
    };
    let mut paths = PathsBuilder::new();
    for t in kassa_webhooks::events::TYPES {
        paths = paths
            .path(
                t.name,
                item(
                    t.name,
                    "ChainNotification",
                    format!("{} at confirmed", t.name),
                ),
            )
            .path(
                format!("{}.finalized", t.name),
                item(
                    &format!("{}.finalized", t.name),
                    "ChainNotification",
                    format!("{}: its transaction finalized", t.name),
                ),
            )
            .path(
                format!("{}.reverted", t.name),
                item(
                    &format!("{}.reverted", t.name),
                    "ChainNotification",
                    format!("{}: its transaction was rolled back", t.name),
                ),
            );
    }
    for t in kassa_webhooks::events::SERVICE.iter().copied() {
        let schema = if t == kassa_webhooks::events::X402_SETTLED {
            "X402Notification"
        } else {
            "EndpointNotification"
        };
        paths = paths.path(t, item(t, schema, t.to_string()));
    }
    paths.build()
}

async fn serve_document() -> impl IntoResponse {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| document().to_pretty_json().unwrap_or_default());
    ([(header::CONTENT_TYPE, "application/json")], json.as_str())
}
