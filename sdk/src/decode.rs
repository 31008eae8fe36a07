//! Typed decoding of Kassa accounts and `emit_cpi!` events from raw bytes.
//!
//! An `emit_cpi!` event arrives as an inner instruction to the payments program whose data is
//! the 8-byte event-CPI tag, the event's 8-byte discriminator, then the Borsh-encoded event.

use crate::{SdkError, programs::KassaProgram};
use anchor_lang::{AnchorDeserialize, Discriminator, prelude::Pubkey};
pub use kassa_common::EventHeader;
use kassa_payments::state;

/// Tag that opens the data of every `emit_cpi!` inner instruction.
pub const EVENT_IX_TAG: [u8; 8] = [0xe4, 0x45, 0xa5, 0x2e, 0x51, 0xcb, 0x9a, 0x1d];

fn parse<T: AnchorDeserialize>(name: &'static str, mut body: &[u8]) -> Result<T, SdkError> {
    let value = T::deserialize(&mut body).map_err(|e| SdkError::Decode(name, e.to_string()))?;
    if !body.is_empty() {
        return Err(SdkError::Decode(
            name,
            format!("{} trailing bytes", body.len()),
        ));
    }
    Ok(value)
}

/// Any account of the payments program.
#[derive(Debug)]
pub enum PaymentsAccount {
    /// A `Config` account.
    Config(state::Config),
    /// A `Merchant` account.
    Merchant(state::Merchant),
    /// A `Payment` account.
    Payment(state::Payment),
    /// A `BlocklistEntry` account.
    BlocklistEntry(state::BlocklistEntry),
}

/// Decodes an account of the payments program by its discriminator.
///
/// Accounts may carry trailing reserved space, so only the prefix the type needs is read.
pub fn decode_account(data: &[u8]) -> Result<PaymentsAccount, SdkError> {
    fn body<T: AnchorDeserialize>(name: &'static str, mut body: &[u8]) -> Result<T, SdkError> {
        T::deserialize(&mut body).map_err(|e| SdkError::Decode(name, e.to_string()))
    }
    if data.len() < 8 {
        return Err(SdkError::Decode(
            "payments account",
            format!("{} bytes", data.len()),
        ));
    }
    let (disc, rest) = data.split_at(8);
    Ok(match disc {
        d if d == state::Config::DISCRIMINATOR => PaymentsAccount::Config(body("Config", rest)?),
        d if d == state::Merchant::DISCRIMINATOR => {
            PaymentsAccount::Merchant(body("Merchant", rest)?)
        }
        d if d == state::Payment::DISCRIMINATOR => PaymentsAccount::Payment(body("Payment", rest)?),
        d if d == state::BlocklistEntry::DISCRIMINATOR => {
            PaymentsAccount::BlocklistEntry(body("BlocklistEntry", rest)?)
        }
        other => {
            return Err(SdkError::Decode(
                "payments account",
                format!("unknown discriminator {other:02x?}"),
            ));
        }
    })
}

/// Decodes a [`state::Payment`] account.
pub fn decode_payment(data: &[u8]) -> Result<state::Payment, SdkError> {
    match decode_account(data)? {
        PaymentsAccount::Payment(p) => Ok(p),
        other => Err(SdkError::Decode("Payment", format!("found {other:?}"))),
    }
}

/// An event's discriminator and its Borsh body.
type EventParts<'a> = (&'a [u8], &'a [u8]);

/// Splits an `emit_cpi!` inner instruction into (discriminator, body); `None` when the data
/// is not an event (an ordinary instruction).
fn event_parts(ix_data: &[u8]) -> Result<Option<EventParts<'_>>, SdkError> {
    let Some(rest) = ix_data.strip_prefix(&EVENT_IX_TAG) else {
        return Ok(None);
    };
    if rest.len() < 8 {
        return Err(SdkError::Decode(
            "event",
            format!("{} bytes after the tag", rest.len()),
        ));
    }
    Ok(Some(rest.split_at(8)))
}

/// One enum per program over its events, with the header, the IDL name and the decoder of an
/// inner instruction's data. The decoder returns `Ok(None)` when the data is not an
/// `emit_cpi!` event (an ordinary instruction), and an error when it is an event that cannot be
/// decoded, so callers can park it instead of dropping it.
macro_rules! program_events {
    ($program:literal, $enum:ident, $decode:ident, $module:ident, [$($name:ident),* $(,)?]) => {
        #[doc = concat!("Every event of `", $program, "`.")]
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum $enum {
            $(
                #[doc = concat!("The `", stringify!($name), "` event.")]
                $name($module::events::$name),
            )*
        }

        impl $enum {
            /// The common header (entity, per-entity sequence, time, actor).
            pub fn header(&self) -> &EventHeader {
                match self {
                    $($enum::$name(e) => &e.header,)*
                }
            }

            /// The event's name as in the IDL.
            pub fn name(&self) -> &'static str {
                match self {
                    $($enum::$name(_) => stringify!($name),)*
                }
            }
        }

        #[doc = concat!("Decodes the data of an inner instruction to `", $program, "`.")]
        pub fn $decode(ix_data: &[u8]) -> Result<Option<$enum>, SdkError> {
            let Some((disc, body)) = event_parts(ix_data)? else {
                return Ok(None);
            };
            $(
                if disc == $module::events::$name::DISCRIMINATOR {
                    return Ok(Some($enum::$name(parse(stringify!($name), body)?)));
                }
            )*
            Err(SdkError::Decode(
                "event",
                format!("unknown discriminator {disc:02x?}"),
            ))
        }
    };
}

program_events!(
    "kassa_payments",
    PaymentsEvent,
    decode_event_cpi,
    kassa_payments,
    [
        ConfigInitialized,
        ConfigUpdated,
        PayerBlocked,
        PayerUnblocked,
        VaultOpened,
        MerchantRegistered,
        MerchantUpdated,
        MerchantKybChanged,
        InvoiceOpened,
        InvoiceCancelled,
        InvoiceExpired,
        PaymentAuthorized,
        PaymentCaptured,
        PaymentVoided,
        PaymentReclaimed,
        PaymentRefunded,
        PaymentDisputed,
        DisputeResolved,
        PaymentHeld,
        PaymentReleased,
        PaymentRejected,
        ReceivableAssigned,
        PaymentClosed,
        PaymentConverted,
    ]
);

program_events!(
    "kassa_convert",
    ConvertEvent,
    decode_convert_event_cpi,
    kassa_convert,
    [
        PoolCreated,
        LiquidityAdded,
        LiquidityRemoved,
        Swapped,
        AmpRampStarted,
        AmpRampStopped,
        PoolSettingsChanged,
        ProtocolFeesWithdrawn,
    ]
);

program_events!(
    "kassa_credit",
    CreditEvent,
    decode_credit_event_cpi,
    kassa_credit,
    [
        PoolCreated,
        PoolPolicyUpdated,
        PoolRoleTransferred,
        LenderAllowlisted,
        IncomeDistributed,
        Deposited,
        FeesWithdrawn,
        LineApproved,
        Drawn,
        Repaid,
        LineStatusChanged,
        LineImpaired,
        LineWrittenOff,
        AdvanceTaken,
        ReceivableSynced,
        AdvanceClosed,
        PoolBalances,
        RedemptionRequested,
        RedemptionCancelled,
        EpochClosed,
        RedemptionWithdrawn,
    ]
);

/// An event of any Kassa program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KassaEvent {
    /// An event of `kassa_payments`.
    Payments(PaymentsEvent),
    /// An event of `kassa_convert`.
    Convert(ConvertEvent),
    /// An event of `kassa_credit`.
    Credit(CreditEvent),
}

impl KassaEvent {
    /// Decodes an inner instruction's data sent to `program`: `Ok(None)` when it is not an
    /// event (or `program` is not a Kassa program), an error when it is one that cannot be read.
    pub fn from_cpi(program: &Pubkey, data: &[u8]) -> Result<Option<Self>, SdkError> {
        match KassaProgram::from_id(program) {
            Some(p) => p.decode_event(data),
            None => Ok(None),
        }
    }

    /// The program that emitted it.
    pub fn program(&self) -> KassaProgram {
        match self {
            KassaEvent::Payments(_) => KassaProgram::Payments,
            KassaEvent::Convert(_) => KassaProgram::Convert,
            KassaEvent::Credit(_) => KassaProgram::Credit,
        }
    }

    /// The event's name as in its program's IDL.
    pub fn name(&self) -> &'static str {
        match self {
            KassaEvent::Payments(e) => e.name(),
            KassaEvent::Convert(e) => e.name(),
            KassaEvent::Credit(e) => e.name(),
        }
    }

    /// The common header every Kassa event opens with.
    pub fn header(&self) -> &EventHeader {
        match self {
            KassaEvent::Payments(e) => e.header(),
            KassaEvent::Convert(e) => e.header(),
            KassaEvent::Credit(e) => e.header(),
        }
    }
}

/// Decodes a [`kassa_convert::state::Pool`] account.
pub fn decode_pool(data: &[u8]) -> Result<kassa_convert::state::Pool, SdkError> {
    <kassa_convert::state::Pool as anchor_lang::AccountDeserialize>::try_deserialize(&mut &data[..])
        .map_err(|e| SdkError::Decode("Pool", e.to_string()))
}

/// Decodes a [`kassa_credit::state::CreditPool`] account.
pub fn decode_credit_pool(data: &[u8]) -> Result<kassa_credit::state::CreditPool, SdkError> {
    <kassa_credit::state::CreditPool as anchor_lang::AccountDeserialize>::try_deserialize(
        &mut &data[..],
    )
    .map_err(|e| SdkError::Decode("CreditPool", e.to_string()))
}

/// Decodes a [`kassa_credit::state::CreditLine`] account.
pub fn decode_credit_line(data: &[u8]) -> Result<kassa_credit::state::CreditLine, SdkError> {
    <kassa_credit::state::CreditLine as anchor_lang::AccountDeserialize>::try_deserialize(
        &mut &data[..],
    )
    .map_err(|e| SdkError::Decode("CreditLine", e.to_string()))
}
