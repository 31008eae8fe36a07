//! `kassa-escrow`: Kassa's own x402 scheme, in which an agent pays only for calls that worked.
//!
//! 1. **A session** is one Kassa payment: the agent asks the facilitator for one
//!    ([`OpenSession`]), gets back a transaction that opens an invoice of its budget (signed by
//!    the merchant's operator key Kassa holds) and authorizes it from the agent's token account
//!    (the fee payer's signature is there too), checks it ([`check_offer`]), signs it and hands
//!    it back ([`AuthorizeSession`]). The budget now sits in the program's escrow: the chain
//!    holds it, not Kassa.
//! 2. **Each call** carries a [`CallPayload`]: the session, a call id the agent chooses, the
//!    price and the resource, signed by the agent ([`call_message`]). The facilitator reserves
//!    the price against the session; the merchant's handler runs; only when it answered `2xx`
//!    and its body was written is the price captured (a partial `payment_capture`). A failed or
//!    timed-out call releases its reservation: nothing moves.
//! 3. **The end**: the agent closes the session ([`close_message`]) and the rest of the escrow
//!    is voided back to it; if neither side acts, the agent reclaims it on chain once the
//!    authorization expires (`payment_reclaim`).
//!
//! Every call's id is its settlement id: asking again with the same payload answers the stored
//! response, and [`CallStatus`] says whether anything was captured.

use anchor_lang::prelude::Pubkey;
use serde::{Deserialize, Serialize};

/// The scheme's name in `accepts`.
pub const SCHEME: &str = "kassa-escrow";

/// What a call's signature covers (a JSON array, so no field can run into another).
pub fn call_message(session: &str, call: &str, amount: &str, resource: &str) -> Vec<u8> {
    serde_json::to_vec(&["kassa-escrow/v1/call", session, call, amount, resource])
        .expect("strings serialize")
}

/// What closing a session is signed over.
pub fn close_message(session: &str) -> Vec<u8> {
    serde_json::to_vec(&["kassa-escrow/v1/close", session]).expect("strings serialize")
}

/// Checks a session offer is exactly what the agent asked for before it signs: an invoice of
/// `budget` opened for `merchant` and paid from `payer`'s token account for `mint`, the fee
/// paid by `fee_payer`, and nothing else. Answers the session (the payment's address).
pub fn check_offer(
    tx: &solana_sdk::transaction::Transaction,
    payer: &Pubkey,
    fee_payer: &Pubkey,
    merchant: &Pubkey,
    mint: &crate::payments::MintRef,
    budget: u64,
) -> Result<Pubkey, String> {
    use anchor_lang::Discriminator;
    let m = &tx.message;
    let ix = |i: usize| m.instructions.get(i);
    let key = |i: u8| m.account_keys.get(usize::from(i)).copied();
    let (Some(open), Some(pay), None) = (ix(0), ix(1), ix(2)) else {
        return Err("the offer is not two instructions".into());
    };
    let open_data = &open.data;
    if key(open.program_id_index) != Some(kassa_payments::ID)
        || !open_data.starts_with(kassa_payments::instruction::InvoiceOpen::DISCRIMINATOR)
        || open_data.len() != 8 + 32 + 8 + 8
        || open.accounts.is_empty()
    {
        return Err("the first instruction is not invoice_open".into());
    }
    let operator = key(open.accounts[0]).ok_or("an account index is out of range")?;
    let order: [u8; 32] = open_data[8..40].try_into().expect("32 bytes");
    let expires_at = i64::from_le_bytes(open_data[48..56].try_into().expect("8 bytes"));
    let order = crate::payments::OrderId::from(order);
    let kyt = pay
        .accounts
        .get(8)
        .and_then(|i| key(*i))
        .filter(|k| *k != kassa_payments::ID);
    let p = crate::payments::Payments::default();
    let (open_ix, session) = p
        .invoice_open(&operator, merchant, &order, budget, expires_at)
        .map_err(|e| e.to_string())?;
    let pay_ix = p
        .payment_pay(payer, merchant, &session, mint, kyt)
        .map_err(|e| e.to_string())?;
    let expected = solana_sdk::message::Message::new_with_blockhash(
        &[open_ix, pay_ix],
        Some(fee_payer),
        &m.recent_blockhash,
    );
    if expected != *m {
        return Err(format!(
            "the offer is not an invoice of {budget} for {merchant} paid by {payer} with fees paid by {fee_payer}"
        ));
    }
    Ok(session)
}

/// Whether `call` is a call id: `xc_` and 32 hex digits.
pub fn is_call_id(call: &str) -> bool {
    call.strip_prefix("xc_").is_some_and(|h| {
        h.len() == 32
            && h.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

/// An agent's request for a session (`POST <facilitator>/escrow/sessions`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenSession {
    /// The merchant (its PDA, `extra.merchant` of the requirements).
    pub merchant: String,
    /// The agent's wallet.
    pub payer: String,
    /// The budget, in the merchant's coin's smallest unit.
    pub budget: String,
    /// The CAIP-2 network.
    pub network: String,
}

/// The facilitator's offer: the session's transaction for the agent to sign.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionOffer {
    /// The session id: the Kassa payment's address.
    pub session: String,
    /// The transaction (base64), signed by the fee payer and the merchant's operator.
    pub transaction: String,
    /// Sign and hand it back before this (RFC 3339).
    pub expires_at: String,
}

/// The signed session transaction, handed back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizeSession {
    /// The transaction (base64), now also signed by the agent.
    pub transaction: String,
}

/// Closing a session: the agent's signature over [`close_message`] (base58).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseSession {
    /// The signature.
    pub signature: String,
}

/// A session as the facilitator keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// The session id (the Kassa payment's address).
    pub session: String,
    /// The merchant PDA.
    pub merchant: String,
    /// The agent's wallet.
    pub payer: String,
    /// The mint.
    pub mint: String,
    /// The budget authorized into escrow.
    pub budget: String,
    /// Reserved by calls in flight or delivered and not yet captured.
    pub reserved: String,
    /// Captured for delivered calls.
    pub captured: String,
    /// `offered`, `open`, `closed` or `expired`.
    pub status: String,
    /// The authorization's transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_signature: Option<String>,
    /// The void's transaction (the rest back to the agent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub void_signature: Option<String>,
}

/// A call's payment (`payload` of a `kassa-escrow` payment).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallPayload {
    /// The session.
    pub session: String,
    /// The call id the agent chose (see [`is_call_id`]): its settlement id.
    pub call: String,
    /// The price.
    pub amount: String,
    /// The resource's URL.
    pub resource: String,
    /// The agent's signature over [`call_message`] (base58).
    pub signature: String,
}

/// Where a paid call stands (`GET <facilitator>/escrow/calls/{call}`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallStatus {
    /// The call id.
    pub call: String,
    /// Its session.
    pub session: String,
    /// Its price.
    pub amount: String,
    /// `reserved` (in flight), `released` (not served: nothing captured), `delivered`
    /// (served; the capture follows), `capturing`, `captured`, or `failed` (could not be
    /// captured: nothing moved).
    pub status: String,
    /// The capture's transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture_signature: Option<String>,
}

/// A delivered answer, kept so that a call whose answer was lost gets it again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredResponse {
    /// The HTTP status.
    pub status: u16,
    /// Its `Content-Type`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// The body, base64.
    pub body: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_ids_and_messages_are_unambiguous() {
        assert!(is_call_id("xc_0123456789abcdef0123456789abcdef"));
        assert!(!is_call_id("xc_0123456789ABCDEF0123456789abcdef"));
        assert!(!is_call_id("xc_0123"));
        assert!(!is_call_id("0123456789abcdef0123456789abcdef"));
        assert_ne!(
            call_message("s", "c", "1", "u\n2"),
            call_message("s", "c", "1\nu", "2")
        );
        assert_ne!(
            call_message("s", "c", "1", "u"),
            call_message("s", "c1", "", "u")
        );
        assert_ne!(close_message("s"), call_message("s", "", "", ""));
    }
}
