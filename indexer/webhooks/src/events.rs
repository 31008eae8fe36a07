//! Which events merchants are told, under which type, and whose merchant each one is.

use kassa_sdk::programs::KassaProgram;

/// How an event's merchant is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MerchantOf {
    /// The event's own `merchant` field.
    Field,
    /// The event's entity is the merchant.
    Entity,
    /// The entity is a credit line: the merchant its `LineApproved` named.
    Line,
    /// The entity is an advance: its line's merchant (the line named by `AdvanceTaken`).
    Advance,
    /// `AdvanceTaken` itself: the merchant of the line in its `line` field.
    LineField,
}

/// One notified event: the program, its IDL name, its webhook type.
#[derive(Debug, Clone, Copy)]
pub struct EventType {
    pub program: KassaProgram,
    pub event: &'static str,
    pub name: &'static str,
    pub merchant: MerchantOf,
}

const fn t(
    program: KassaProgram,
    event: &'static str,
    name: &'static str,
    merchant: MerchantOf,
) -> EventType {
    EventType {
        program,
        event,
        name,
        merchant,
    }
}

use KassaProgram::{Credit as C, Payments as P};
use MerchantOf::*;

/// Every event type a merchant can receive (each also as `<type>.finalized` and
/// `<type>.reverted`).
pub const TYPES: &[EventType] = &[
    t(P, "MerchantRegistered", "merchant.registered", Entity),
    t(P, "MerchantUpdated", "merchant.updated", Entity),
    t(P, "MerchantKybChanged", "merchant.kyb_changed", Entity),
    t(P, "InvoiceOpened", "payment.opened", Field),
    t(P, "InvoiceCancelled", "payment.cancelled", Field),
    t(P, "InvoiceExpired", "payment.expired", Field),
    t(P, "PaymentAuthorized", "payment.authorized", Field),
    t(P, "PaymentCaptured", "payment.captured", Field),
    t(P, "PaymentVoided", "payment.voided", Field),
    t(P, "PaymentReclaimed", "payment.reclaimed", Field),
    t(P, "PaymentRefunded", "payment.refunded", Field),
    t(P, "PaymentDisputed", "payment.disputed", Field),
    t(P, "DisputeResolved", "payment.dispute_resolved", Field),
    t(P, "PaymentHeld", "payment.held", Field),
    t(P, "PaymentReleased", "payment.released", Field),
    t(P, "PaymentRejected", "payment.rejected", Field),
    t(
        P,
        "ReceivableAssigned",
        "payment.receivable_assigned",
        Field,
    ),
    t(P, "PaymentConverted", "payment.converted", Field),
    t(P, "PaymentClosed", "payment.closed", Field),
    t(C, "LineApproved", "credit.line_approved", Field),
    t(C, "Drawn", "credit.drawn", Line),
    t(C, "Repaid", "credit.repaid", Line),
    t(C, "LineStatusChanged", "credit.line_status_changed", Line),
    t(C, "LineImpaired", "credit.line_impaired", Line),
    t(C, "LineWrittenOff", "credit.line_written_off", Line),
    t(C, "AdvanceTaken", "credit.advance_taken", LineField),
    t(C, "ReceivableSynced", "credit.advance_repaid", Advance),
    t(C, "AdvanceClosed", "credit.advance_closed", Advance),
];

/// Sent on request to one endpoint.
pub const TEST: &str = "webhook.test";
/// Sent to a merchant's other endpoints when Kassa disabled one.
pub const ENDPOINT_DISABLED: &str = "webhook_endpoint.disabled";
/// Sent when Kassa's x402 facilitator settled a payment for one of the merchant's paid routes.
pub const X402_SETTLED: &str = "x402.settled";
/// The events Kassa's services write ready-made (not from a chain event).
pub const SERVICE: &[&str] = &[ENDPOINT_DISABLED, TEST, X402_SETTLED];

/// The notified type of an event, if merchants are told it.
pub fn of(program: &solana_sdk::pubkey::Pubkey, event: &str) -> Option<&'static EventType> {
    let p = KassaProgram::from_id(program)?;
    TYPES.iter().find(|t| t.program == p && t.event == event)
}

/// Whether endpoints may subscribe to `name` (a chain event type or an endpoint event).
pub fn is_known(name: &str) -> bool {
    SERVICE.contains(&name) || TYPES.iter().any(|t| t.name == name)
}

/// `PaymentCaptured` → `payment_captured`, as the API's timelines name events.
pub fn snake(event: &str) -> String {
    let mut out = String::with_capacity(event.len() + 4);
    for (i, c) in event.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notified_event_exists_in_its_program() {
        for t in TYPES {
            let idl: serde_json::Value = serde_json::from_str(t.program.idl_json()).unwrap();
            let names: Vec<&str> = idl["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap())
                .collect();
            assert!(
                names.contains(&t.event),
                "{} has no {}",
                t.program.name(),
                t.event
            );
            assert!(is_known(t.name));
        }
        assert_eq!(snake("PaymentCaptured"), "payment_captured");
    }
}
