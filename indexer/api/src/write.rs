//! What changes things: transactions for a merchant to sign (the server never holds a
//! merchant's authority key), submitting a signed transaction, and onboarding (accounts and
//! keys). Each transaction is built with `kassa-sdk` and checked against the program's own
//! rules first, so a call the program would refuse is a `422` naming the program's error.

use crate::{
    auth::{self, Caller},
    error::{ApiError, ApiResult, Json, NoReplay, Path},
    read::payment_row,
    wire::{get, parse_amount, parse_key},
    AppState,
};
use anchor_lang::{prelude::Pubkey, AccountDeserialize};
use axum::{extract::State, http::StatusCode, Extension};
use base64::{engine::general_purpose::STANDARD, Engine};
use kassa_payments::state::{Config, Merchant, Payment};
use kassa_sdk::{
    api::types::{
        Account, ApiKey, CaptureRequest, Commitment, CreateAccount, CreateInvoice,
        CreateOperatorKey, CreatedAccount, NewApiKey, PreparedTransaction, RefundRequest, Role,
        RotateKey, SubmitTransaction, Submitted, VoidRequest,
    },
    decode::decode_payment,
    payments::{MintRef, OrderId, Payments, ReleaseRefs, SettlementRefs},
    programs::{name_error, KassaProgram},
    SdkError,
};
use solana_commitment_config::CommitmentConfig;
use solana_sdk::{
    instruction::{Instruction, InstructionError},
    message::Message,
    signer::Signer,
    transaction::{Transaction, TransactionError},
};
use std::time::Duration;

fn sdk_error(e: SdkError) -> ApiError {
    match e {
        SdkError::Program(p) => ApiError::Program {
            program: p.program.to_string(),
            name: p.name.clone(),
            code: p.code,
            detail: format!("{} would refuse: {} ({})", p.program, p.name, p.message),
        },
        SdkError::Rpc(e) => ApiError::cluster(e),
        other => ApiError::unprocessable("invalid-request", other.to_string()),
    }
}

fn cluster(e: impl std::fmt::Display) -> ApiError {
    ApiError::cluster(e)
}

impl AppState {
    /// The cluster's clock (the programs' `now`; a local node's may be warped).
    pub async fn chain_now(&self) -> ApiResult<i64> {
        let account = self
            .rpc
            .get_account(&solana_sdk::sysvar::clock::ID)
            .await
            .map_err(cluster)?;
        let clock: solana_sdk::clock::Clock = bincode::deserialize(&account.data)
            .map_err(|e| ApiError::Internal(format!("clock sysvar: {e}")))?;
        Ok(clock.unix_timestamp)
    }

    /// An Anchor account of the payments program, read now from the cluster.
    pub(crate) async fn program_account<T: AccountDeserialize>(
        &self,
        address: &Pubkey,
    ) -> ApiResult<T> {
        let account = self.rpc.get_account(address).await.map_err(cluster)?;
        T::try_deserialize(&mut account.data.as_slice())
            .map_err(|e| ApiError::Internal(format!("account {address}: {e}")))
    }

    /// `ixs` as an unsigned transaction with `fee_payer`, on a fresh blockhash.
    pub async fn unsigned(
        &self,
        ixs: &[Instruction],
        fee_payer: &Pubkey,
        payment: &Pubkey,
        solana_pay_url: Option<String>,
    ) -> ApiResult<(Transaction, PreparedTransaction)> {
        let (blockhash, last_valid_block_height) = self
            .rpc
            .get_latest_blockhash_with_commitment(CommitmentConfig::confirmed())
            .await
            .map_err(cluster)?;
        let message = Message::new_with_blockhash(ixs, Some(fee_payer), &blockhash);
        let signers = message.account_keys[..usize::from(message.header.num_required_signatures)]
            .iter()
            .map(ToString::to_string)
            .collect();
        let tx = Transaction::new_unsigned(message);
        let wire = PreparedTransaction {
            transaction: encode_tx(&tx)?,
            signers,
            recent_blockhash: blockhash.to_string(),
            last_valid_block_height,
            payment: payment.to_string(),
            solana_pay_url,
            submitted: None,
        };
        Ok((tx, wire))
    }
}

pub fn encode_tx(tx: &Transaction) -> ApiResult<String> {
    Ok(STANDARD
        .encode(bincode::serialize(tx).map_err(|e| ApiError::Internal(format!("serialize: {e}")))?))
}

impl AppState {
    /// `ixs` for the merchant: unsigned for `signer` to sign, or, when `signer` is the
    /// merchant's operator and Kassa holds that key, signed with it and submitted.
    async fn prepare(
        &self,
        ixs: &[Instruction],
        signer: &Pubkey,
        merchant_pda: &Pubkey,
        merchant: &Merchant,
        payment: &Pubkey,
        solana_pay_url: Option<String>,
    ) -> ApiResult<PreparedTransaction> {
        let (mut tx, mut wire) = self.unsigned(ixs, signer, payment, solana_pay_url).await?;
        // Only the key made for this very merchant, and only while it is its operator.
        let held = (*signer == merchant.operator)
            .then(|| {
                self.config
                    .operator_keys
                    .as_ref()?
                    .get(merchant_pda, signer)
            })
            .flatten();
        if let Some(key) = held {
            let blockhash = tx.message.recent_blockhash;
            tx.try_sign(&[key.as_ref()], blockhash)
                .map_err(|e| ApiError::Internal(format!("signing as operator: {e}")))?;
            wire.transaction = encode_tx(&tx)?;
            wire.submitted = Some(self.send_signed(&tx).await?);
        }
        Ok(wire)
    }

    /// Sends a fully signed transaction and waits for confirmation; a program's refusal is a
    /// `422` naming it.
    pub(crate) async fn send_signed(&self, tx: &Transaction) -> ApiResult<Submitted> {
        let signature = tx.signatures[0];
        let outcome = tokio::time::timeout(self.config.confirm_timeout, async {
            self.rpc.send_and_confirm_transaction(tx).await
        })
        .await
        .map_err(|_| ApiError::Sent {
            signature: signature.to_string(),
        })?;
        match outcome {
            Ok(sig) => {
                let slot = self
                    .rpc
                    .get_signature_statuses(&[sig])
                    .await
                    .ok()
                    .and_then(|s| s.value.first().cloned().flatten())
                    .map(|s| s.slot);
                Ok(Submitted {
                    signature: sig.to_string(),
                    commitment: Commitment::Confirmed,
                    slot,
                })
            }
            Err(e) => match e.get_transaction_error() {
                Some(TransactionError::InstructionError(index, InstructionError::Custom(code))) => {
                    let program = tx
                        .message
                        .instructions
                        .get(usize::from(index))
                        .and_then(|ix| {
                            tx.message
                                .account_keys
                                .get(usize::from(ix.program_id_index))
                        })
                        .copied()
                        .unwrap_or_default();
                    match name_error(&program, code) {
                        Some(p) => Err(sdk_error(SdkError::Program(p))),
                        None => Err(ApiError::unprocessable(
                            "transaction-failed",
                            format!("instruction {index} failed with custom error {code}"),
                        )),
                    }
                }
                Some(other) => Err(ApiError::unprocessable(
                    "transaction-failed",
                    format!("the cluster refused the transaction: {other}"),
                )),
                None => {
                    tracing::warn!(request_id = ?crate::error::request_id(), "sending {signature}: {e}");
                    Err(ApiError::Sent {
                        signature: signature.to_string(),
                    })
                }
            },
        }
    }
}

/// The merchant a merchant key acts for, or a 403.
fn own_merchant(caller: &Caller, what: &str) -> ApiResult<Pubkey> {
    caller.require(&[Role::Merchant], what)?;
    caller
        .merchant
        .ok_or_else(|| ApiError::Internal("a merchant key without a merchant".into()))
}

/// The key that signs for `merchant`: its authority, or the operator key it set.
fn signer_of(merchant: &Merchant, which: Option<&str>) -> ApiResult<Pubkey> {
    match which.unwrap_or("authority") {
        "authority" => Ok(merchant.authority),
        "operator" if merchant.operator != Pubkey::default() => Ok(merchant.operator),
        "operator" => Err(ApiError::unprocessable(
            "no-operator",
            "this merchant has no operator key (set one with merchant_operator_set)",
        )),
        other => Err(ApiError::unprocessable(
            "invalid-signer",
            format!("signer {other:?} must be \"authority\" or \"operator\""),
        )),
    }
}

const DEFAULT_EXPIRY: i64 = 900;
const MAX_EXPIRY: i64 = 30 * 86_400;

#[utoipa::path(post, path = "/v1/payments", tag = "actions", request_body = CreateInvoice,
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, body = PreparedTransaction), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Opens an invoice: answers the transaction for the merchant to sign, the payment address and
/// its Solana Pay URL.
pub async fn create_invoice(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<CreateInvoice>,
) -> ApiResult<(StatusCode, Json<PreparedTransaction>)> {
    let merchant_pda = own_merchant(&caller, "open invoices")?;
    let order = OrderId::new(&req.order_id)
        .map_err(|e| ApiError::unprocessable("invalid-order-id", e.to_string()))?;
    let amount = parse_amount("amount", &req.amount)?;
    let expires_in = req.expires_in_secs.unwrap_or(DEFAULT_EXPIRY);
    if !(60..=MAX_EXPIRY).contains(&expires_in) {
        return Err(ApiError::unprocessable(
            "invalid-expiry",
            format!("expires_in_secs {expires_in} must be between 60 and {MAX_EXPIRY}"),
        ));
    }
    let merchant: Merchant = state.program_account(&merchant_pda).await?;
    let signer = signer_of(&merchant, req.signer.as_deref())?;
    let payment = kassa_sdk::pda::payment(&kassa_payments::ID, &merchant_pda, order.as_bytes()).0;
    let open: Option<bool> =
        sqlx::query_scalar("SELECT closed FROM chain.payment WHERE address = $1")
            .bind(&payment.to_bytes()[..])
            .fetch_optional(&state.pool)
            .await?;
    if open == Some(false) {
        return Err(ApiError::Conflict {
            kind: "order-exists",
            detail: format!(
                "order {} already has payment {payment}; look it up instead of opening another",
                req.order_id
            ),
        });
    }
    let now = state.chain_now().await?;
    let expires_at = now
        .checked_add(expires_in)
        .ok_or_else(|| ApiError::unprocessable("invalid-expiry", "expiry overflows"))?;
    let invoice = Payments::default()
        .open_invoice_with_link(
            &signer,
            &merchant_pda,
            &order,
            amount,
            expires_at,
            &state.config.public_url,
        )
        .map_err(sdk_error)?;
    let wire = state
        .prepare(
            &invoice.instructions,
            &signer,
            &merchant_pda,
            &merchant,
            &invoice.payment,
            Some(invoice.link.to_string()),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(wire)))
}

/// The payment at `address` as the chain holds it now, with what settles it.
async fn live_payment(
    state: &AppState,
    caller: &Caller,
    address: &str,
) -> ApiResult<(Pubkey, Payment, Merchant, MintRef)> {
    let merchant_pda = own_merchant(caller, "act on payments")?;
    let row = payment_row(state, caller, address).await?;
    if get::<bool>(&row, "closed")? {
        return Err(ApiError::unprocessable(
            "payment-closed",
            format!("payment {address} is closed"),
        ));
    }
    let pda = parse_key("address", address)?;
    let account = state.rpc.get_account(&pda).await.map_err(cluster)?;
    let payment = decode_payment(&account.data).map_err(sdk_error)?;
    let merchant: Merchant = state.program_account(&merchant_pda).await?;
    let info = state.mint(&payment.mint).await?;
    let mint = MintRef::new(payment.mint, info.token_program).map_err(sdk_error)?;
    Ok((pda, payment, merchant, mint))
}

fn refused(e: anchor_lang::error::Error) -> ApiError {
    sdk_error(KassaProgram::Payments.refusal(e))
}

#[utoipa::path(post, path = "/v1/payments/{address}/capture", tag = "actions", request_body = CaptureRequest,
    params(("address" = String, Path, description = "Payment PDA"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 200, body = PreparedTransaction), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Captures escrow (all of it by default, closing the payment when it can be): answers the
/// transaction for the merchant to sign.
pub async fn capture(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
    Json(req): Json<CaptureRequest>,
) -> ApiResult<Json<PreparedTransaction>> {
    let (pda, payment, merchant, mint) = live_payment(&state, &caller, &address).await?;
    let signer = signer_of(&merchant, req.signer.as_deref())?;
    let config: Config = state
        .program_account(&kassa_sdk::pda::config(&kassa_payments::ID).0)
        .await?;
    let now = state.chain_now().await?;
    let pause_clock = config.pause_clock(now).map_err(refused)?;
    let refs = SettlementRefs {
        merchant: payment.merchant,
        payment: pda,
        mint,
        fee_receiver: config.fee_receiver,
        settlement_wallet: merchant.settlement_wallet,
        assignee: (payment.assignee != Pubkey::default()).then_some(payment.assignee),
    };
    let p = Payments::default();
    let ixs = match &req.amount {
        None => p
            .capture_and_close(
                &signer,
                &merchant.rent_receiver(payment.opened_by_operator),
                &refs,
                &payment,
                now,
                pause_clock,
            )
            .map_err(sdk_error)?,
        Some(a) => {
            let amount = parse_amount("amount", a)?;
            payment
                .check_capturable(amount, now, pause_clock)
                .map_err(refused)?;
            vec![p
                .payment_capture(&signer, &refs, amount)
                .map_err(sdk_error)?]
        }
    };
    Ok(Json(
        state
            .prepare(&ixs, &signer, &payment.merchant, &merchant, &pda, None)
            .await?,
    ))
}

#[utoipa::path(post, path = "/v1/payments/{address}/void", tag = "actions", request_body = VoidRequest,
    params(("address" = String, Path, description = "Payment PDA"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 200, body = PreparedTransaction), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Voids an authorization (the escrow goes back to the payer): answers the transaction for the
/// merchant to sign.
pub async fn void(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
    Json(req): Json<VoidRequest>,
) -> ApiResult<Json<PreparedTransaction>> {
    let (pda, payment, merchant, mint) = live_payment(&state, &caller, &address).await?;
    let signer = signer_of(&merchant, req.signer.as_deref())?;
    let now = state.chain_now().await?;
    payment.clone().void(now).map_err(refused)?;
    let ix = Payments::default()
        .payment_void(
            &signer,
            &payment.merchant,
            &ReleaseRefs {
                payment: pda,
                mint,
                payer: payment.payer,
            },
        )
        .map_err(sdk_error)?;
    Ok(Json(
        state
            .prepare(&[ix], &signer, &payment.merchant, &merchant, &pda, None)
            .await?,
    ))
}

#[utoipa::path(post, path = "/v1/payments/{address}/refund", tag = "actions", request_body = RefundRequest,
    params(("address" = String, Path, description = "Payment PDA"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 200, body = PreparedTransaction), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Refunds a capture from the merchant authority's token account: answers the transaction for
/// the authority to sign.
pub async fn refund(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
    Json(req): Json<RefundRequest>,
) -> ApiResult<Json<PreparedTransaction>> {
    let (pda, payment, merchant, mint) = live_payment(&state, &caller, &address).await?;
    let amount = match &req.amount {
        Some(a) => parse_amount("amount", a)?,
        None => payment.refundable().map_err(refused)?,
    };
    let now = state.chain_now().await?;
    let ixs = Payments::default()
        .refund_checked(&merchant.authority, &pda, &payment, &mint, amount, now)
        .map_err(sdk_error)?;
    Ok(Json(
        state
            .unsigned(&ixs, &merchant.authority, &pda, None)
            .await?
            .1,
    ))
}

#[utoipa::path(post, path = "/v1/transactions", tag = "actions", request_body = SubmitTransaction,
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 200, body = Submitted), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Submits a signed transaction and waits for it to be confirmed; a program's refusal comes
/// back as a `422` naming the program and its error.
pub async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<SubmitTransaction>,
) -> ApiResult<Json<Submitted>> {
    caller.require(&[Role::Merchant, Role::Operator], "submit transactions")?;
    let bytes = STANDARD
        .decode(req.transaction.trim())
        .map_err(|_| ApiError::unprocessable("invalid-transaction", "transaction is not base64"))?;
    let tx: Transaction = bincode::deserialize(&bytes).map_err(|_| {
        ApiError::unprocessable(
            "invalid-transaction",
            "transaction is not a serialized legacy transaction",
        )
    })?;
    let required = usize::from(tx.message.header.num_required_signatures);
    if required == 0 || tx.signatures.len() != required || tx.verify().is_err() || !tx.is_signed() {
        return Err(ApiError::unprocessable(
            "unsigned-transaction",
            "the transaction is not fully signed (or a signature does not verify)",
        ));
    }
    // A merchant submits only what acts on its own merchant: an instruction of a Kassa
    // program that takes the merchant's account.
    if let Some(m) = caller.scope() {
        let keys = &tx.message.account_keys;
        let acts_on_it = tx.message.instructions.iter().any(|ix| {
            keys.get(usize::from(ix.program_id_index))
                .is_some_and(|p| KassaProgram::from_id(p).is_some())
                && ix
                    .accounts
                    .iter()
                    .any(|a| keys.get(usize::from(*a)) == Some(&m))
        });
        if !acts_on_it {
            return Err(ApiError::Forbidden(
                "a merchant key submits only transactions that involve its own merchant".into(),
            ));
        }
    }
    Ok(Json(state.send_signed(&tx).await?))
}

#[utoipa::path(post, path = "/v1/merchants/{address}/operator", tag = "actions", request_body = CreateOperatorKey,
    params(("address" = String, Path, description = "Merchant PDA"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, body = PreparedTransaction), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Opts in to an operator key Kassa holds: makes the key and answers the transaction (already
/// signed by the new key) for the merchant authority to sign, which funds the key and sets it as
/// the merchant's operator. Afterwards `"signer": "operator"` has Kassa sign and submit invoice
/// openings, captures and voids. Setting another operator (or none) on chain opts out.
pub async fn create_operator_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(address): Path<String>,
    Json(req): Json<CreateOperatorKey>,
) -> ApiResult<(StatusCode, Json<PreparedTransaction>)> {
    let merchant_pda = own_merchant(&caller, "set an operator key")?;
    if parse_key("address", &address)? != merchant_pda {
        return Err(ApiError::NotFound(format!("no merchant {address}")));
    }
    let keys = state.config.operator_keys.clone().ok_or_else(|| {
        ApiError::unprocessable(
            "operator-keys-disabled",
            "this server holds no operator keys (keys.operators is not set)",
        )
    })?;
    let fund = req.fund_lamports.unwrap_or(50_000_000);
    if !(1_000_000..=10_000_000_000).contains(&fund) {
        return Err(ApiError::unprocessable(
            "invalid-amount",
            format!("fund_lamports {fund} must be between 1000000 and 10000000000"),
        ));
    }
    let merchant: Merchant = state.program_account(&merchant_pda).await?;
    let key = keys
        .create(&merchant_pda)
        .map_err(|e| ApiError::Internal(format!("operator key: {e}")))?;
    let operator = key.pubkey();
    let ixs = [
        solana_system_interface::instruction::transfer(&merchant.authority, &operator, fund),
        Payments::default()
            .merchant_operator_set(&merchant.authority, &merchant_pda, Some(operator))
            .map_err(sdk_error)?,
    ];
    let (mut tx, mut wire) = state
        .unsigned(&ixs, &merchant.authority, &merchant_pda, None)
        .await?;
    let blockhash = tx.message.recent_blockhash;
    tx.try_partial_sign(&[key.as_ref()], blockhash)
        .map_err(|e| ApiError::Internal(format!("signing as the new operator: {e}")))?;
    wire.transaction = encode_tx(&tx)?;
    Ok((StatusCode::CREATED, Json(wire)))
}

// ---------------------------------------------------------------------------------------------
// Accounts and keys

#[utoipa::path(post, path = "/v1/accounts", tag = "keys", request_body = CreateAccount,
    params(("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, body = CreatedAccount), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Operators onboard: an account (a merchant's bound to its registered on-chain merchant) with
/// its first key, shown once.
pub async fn create_account(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Json(req): Json<CreateAccount>,
) -> ApiResult<(StatusCode, Extension<NoReplay>, Json<CreatedAccount>)> {
    caller.require(&[Role::Operator], "create accounts")?;
    let merchant = req
        .merchant
        .as_deref()
        .map(|m| parse_key("merchant", m))
        .transpose()?;
    let (account, key) =
        auth::create_account(&state.pool, &req.name, req.role, merchant.as_ref()).await?;
    let once = NoReplay(format!(
        "this request created account {} and key {}; its secret was shown once. Issue another key if it was lost",
        account.id, key.key.id
    ));
    Ok((
        StatusCode::CREATED,
        Extension(once),
        Json(CreatedAccount { account, key }),
    ))
}

#[utoipa::path(get, path = "/v1/accounts", tag = "keys",
    responses((status = 200, body = Vec<Account>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// The API accounts (operators see all; others their own).
pub async fn list_accounts(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> ApiResult<Json<Vec<Account>>> {
    let rows = sqlx::query(
        "SELECT id, name, role, merchant, created_at FROM api.account
         WHERE $1 OR id = $2 ORDER BY id",
    )
    .bind(caller.role == Role::Operator)
    .bind(caller.account)
    .fetch_all(&state.pool)
    .await?;
    Ok(Json(
        rows.iter()
            .map(auth::account_of)
            .collect::<ApiResult<_>>()?,
    ))
}

/// `account` if the caller may manage its keys (operators: any; others: their own), else 404.
fn may_manage(caller: &Caller, account: i64) -> ApiResult<()> {
    if caller.role == Role::Operator || caller.account == account {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!("no account {account}")))
    }
}

#[utoipa::path(get, path = "/v1/accounts/{id}/keys", tag = "keys",
    params(("id" = i64, Path, description = "Account id")),
    responses((status = 200, body = Vec<ApiKey>), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// An account's keys (never their secrets).
pub async fn list_keys(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<ApiKey>>> {
    may_manage(&caller, id)?;
    Ok(Json(auth::keys(&state.pool, id).await?))
}

#[utoipa::path(post, path = "/v1/accounts/{id}/keys", tag = "keys",
    params(("id" = i64, Path, description = "Account id"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, body = NewApiKey), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Issues another key for an account; its secret is shown once.
pub async fn issue_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, Extension<NoReplay>, Json<NewApiKey>)> {
    may_manage(&caller, id)?;
    let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM api.account WHERE id = $1")
        .bind(id)
        .fetch_optional(&state.pool)
        .await?;
    if exists.is_none() {
        return Err(ApiError::NotFound(format!("no account {id}")));
    }
    let key_issued = auth::issue_key(&state.pool, id).await?;
    Ok((
        StatusCode::CREATED,
        Extension(issued_once(&key_issued)),
        Json(key_issued),
    ))
}

/// What a retry of a key-issuing request is told instead of the secret.
fn issued_once(key: &NewApiKey) -> NoReplay {
    NoReplay(format!(
        "this request issued key {}; its secret was shown once. Issue or rotate another if it was lost",
        key.key.id
    ))
}

async fn managed_key(state: &AppState, caller: &Caller, id: &str) -> ApiResult<i64> {
    let well_formed = id.len() == 20
        && id.starts_with("key_")
        && id[4..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !well_formed {
        return Err(ApiError::NotFound(format!("no key {id:?}")));
    }
    let account = auth::key_account(&state.pool, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no key {id}")))?;
    may_manage(caller, account).map_err(|_| ApiError::NotFound(format!("no key {id}")))?;
    Ok(account)
}

#[utoipa::path(post, path = "/v1/keys/{id}/rotate", tag = "keys", request_body = RotateKey,
    params(("id" = String, Path, description = "Key id"),
           ("Idempotency-Key" = String, Header, description = "One per intended effect")),
    responses((status = 201, body = NewApiKey), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Rotates a key: a new key now, the old one working for an overlap (default a day).
pub async fn rotate_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Json(req): Json<RotateKey>,
) -> ApiResult<(StatusCode, Extension<NoReplay>, Json<NewApiKey>)> {
    let account = managed_key(&state, &caller, &id).await?;
    let overlap = req.overlap_secs.unwrap_or(86_400);
    if !(0..=7 * 86_400).contains(&overlap) {
        return Err(ApiError::unprocessable(
            "invalid-overlap",
            format!("overlap_secs {overlap} must be between 0 and 604800"),
        ));
    }
    let key = auth::rotate(&state.pool, &id, Duration::from_secs(overlap as u64)).await?;
    state.keys.forget_account(account);
    Ok((StatusCode::CREATED, Extension(issued_once(&key)), Json(key)))
}

#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = ApiKey), (status = "4XX", body = kassa_sdk::api::types::Problem)),
    security(("api_key" = [])))]
/// Revokes a key at once.
pub async fn revoke_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<ApiKey>> {
    let account = managed_key(&state, &caller, &id).await?;
    let key = auth::revoke(&state.pool, &id).await?;
    state.keys.forget_account(account);
    Ok(Json(key))
}
