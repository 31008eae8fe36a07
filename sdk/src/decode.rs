//! Typed decoding of `kassa_payments` accounts and `emit_cpi!` events from raw bytes.
//!
//! An `emit_cpi!` event arrives as an inner instruction to the payments program whose data is
//! the 8-byte event-CPI tag, the event's 8-byte discriminator, then the Borsh-encoded event.

use crate::SdkError;
use anchor_lang::{AnchorDeserialize, Discriminator};
use kassa_convert::events as cev;
use kassa_payments::{events as ev, events::EventHeader, state};

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

/// Every event of the payments program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentsEvent {
    /// The `ConfigInitialized` event.
    ConfigInitialized(ev::ConfigInitialized),
    /// The `ConfigUpdated` event.
    ConfigUpdated(ev::ConfigUpdated),
    /// The `PayerBlocked` event.
    PayerBlocked(ev::PayerBlocked),
    /// The `PayerUnblocked` event.
    PayerUnblocked(ev::PayerUnblocked),
    /// The `VaultOpened` event.
    VaultOpened(ev::VaultOpened),
    /// The `MerchantRegistered` event.
    MerchantRegistered(ev::MerchantRegistered),
    /// The `MerchantUpdated` event.
    MerchantUpdated(ev::MerchantUpdated),
    /// The `MerchantKybChanged` event.
    MerchantKybChanged(ev::MerchantKybChanged),
    /// The `InvoiceOpened` event.
    InvoiceOpened(ev::InvoiceOpened),
    /// The `InvoiceCancelled` event.
    InvoiceCancelled(ev::InvoiceCancelled),
    /// The `InvoiceExpired` event.
    InvoiceExpired(ev::InvoiceExpired),
    /// The `PaymentAuthorized` event.
    PaymentAuthorized(ev::PaymentAuthorized),
    /// The `PaymentCaptured` event.
    PaymentCaptured(ev::PaymentCaptured),
    /// The `PaymentVoided` event.
    PaymentVoided(ev::PaymentVoided),
    /// The `PaymentReclaimed` event.
    PaymentReclaimed(ev::PaymentReclaimed),
    /// The `PaymentRefunded` event.
    PaymentRefunded(ev::PaymentRefunded),
    /// The `PaymentDisputed` event.
    PaymentDisputed(ev::PaymentDisputed),
    /// The `DisputeResolved` event.
    DisputeResolved(ev::DisputeResolved),
    /// The `PaymentHeld` event.
    PaymentHeld(ev::PaymentHeld),
    /// The `PaymentReleased` event.
    PaymentReleased(ev::PaymentReleased),
    /// The `PaymentRejected` event.
    PaymentRejected(ev::PaymentRejected),
    /// The `ReceivableAssigned` event.
    ReceivableAssigned(ev::ReceivableAssigned),
    /// The `PaymentClosed` event.
    PaymentClosed(ev::PaymentClosed),
    /// The `PaymentConverted` event.
    PaymentConverted(ev::PaymentConverted),
}

impl PaymentsEvent {
    /// The common header (entity, per-entity sequence, time, actor).
    pub fn header(&self) -> &EventHeader {
        match self {
            PaymentsEvent::ConfigInitialized(e) => &e.header,
            PaymentsEvent::ConfigUpdated(e) => &e.header,
            PaymentsEvent::PayerBlocked(e) => &e.header,
            PaymentsEvent::PayerUnblocked(e) => &e.header,
            PaymentsEvent::VaultOpened(e) => &e.header,
            PaymentsEvent::MerchantRegistered(e) => &e.header,
            PaymentsEvent::MerchantUpdated(e) => &e.header,
            PaymentsEvent::MerchantKybChanged(e) => &e.header,
            PaymentsEvent::InvoiceOpened(e) => &e.header,
            PaymentsEvent::InvoiceCancelled(e) => &e.header,
            PaymentsEvent::InvoiceExpired(e) => &e.header,
            PaymentsEvent::PaymentAuthorized(e) => &e.header,
            PaymentsEvent::PaymentCaptured(e) => &e.header,
            PaymentsEvent::PaymentVoided(e) => &e.header,
            PaymentsEvent::PaymentReclaimed(e) => &e.header,
            PaymentsEvent::PaymentRefunded(e) => &e.header,
            PaymentsEvent::PaymentDisputed(e) => &e.header,
            PaymentsEvent::DisputeResolved(e) => &e.header,
            PaymentsEvent::PaymentHeld(e) => &e.header,
            PaymentsEvent::PaymentReleased(e) => &e.header,
            PaymentsEvent::PaymentRejected(e) => &e.header,
            PaymentsEvent::ReceivableAssigned(e) => &e.header,
            PaymentsEvent::PaymentClosed(e) => &e.header,
            PaymentsEvent::PaymentConverted(e) => &e.header,
        }
    }

    /// The event's name as in the IDL.
    pub fn name(&self) -> &'static str {
        match self {
            PaymentsEvent::ConfigInitialized(_) => "ConfigInitialized",
            PaymentsEvent::ConfigUpdated(_) => "ConfigUpdated",
            PaymentsEvent::PayerBlocked(_) => "PayerBlocked",
            PaymentsEvent::PayerUnblocked(_) => "PayerUnblocked",
            PaymentsEvent::VaultOpened(_) => "VaultOpened",
            PaymentsEvent::MerchantRegistered(_) => "MerchantRegistered",
            PaymentsEvent::MerchantUpdated(_) => "MerchantUpdated",
            PaymentsEvent::MerchantKybChanged(_) => "MerchantKybChanged",
            PaymentsEvent::InvoiceOpened(_) => "InvoiceOpened",
            PaymentsEvent::InvoiceCancelled(_) => "InvoiceCancelled",
            PaymentsEvent::InvoiceExpired(_) => "InvoiceExpired",
            PaymentsEvent::PaymentAuthorized(_) => "PaymentAuthorized",
            PaymentsEvent::PaymentCaptured(_) => "PaymentCaptured",
            PaymentsEvent::PaymentVoided(_) => "PaymentVoided",
            PaymentsEvent::PaymentReclaimed(_) => "PaymentReclaimed",
            PaymentsEvent::PaymentRefunded(_) => "PaymentRefunded",
            PaymentsEvent::PaymentDisputed(_) => "PaymentDisputed",
            PaymentsEvent::DisputeResolved(_) => "DisputeResolved",
            PaymentsEvent::PaymentHeld(_) => "PaymentHeld",
            PaymentsEvent::PaymentReleased(_) => "PaymentReleased",
            PaymentsEvent::PaymentRejected(_) => "PaymentRejected",
            PaymentsEvent::ReceivableAssigned(_) => "ReceivableAssigned",
            PaymentsEvent::PaymentClosed(_) => "PaymentClosed",
            PaymentsEvent::PaymentConverted(_) => "PaymentConverted",
        }
    }
}

/// Decodes the data of an inner instruction to the payments program. Returns `Ok(None)` when
/// the data is not an `emit_cpi!` event (an ordinary instruction), and an error when it is an
/// event that cannot be decoded, so callers can park it instead of dropping it.
pub fn decode_event_cpi(ix_data: &[u8]) -> Result<Option<PaymentsEvent>, SdkError> {
    let Some(rest) = ix_data.strip_prefix(&EVENT_IX_TAG) else {
        return Ok(None);
    };
    if rest.len() < 8 {
        return Err(SdkError::Decode(
            "event",
            format!("{} bytes after the tag", rest.len()),
        ));
    }
    let (disc, body) = rest.split_at(8);
    Ok(Some(match disc {
        d if d == ev::ConfigInitialized::DISCRIMINATOR => {
            PaymentsEvent::ConfigInitialized(parse("ConfigInitialized", body)?)
        }
        d if d == ev::ConfigUpdated::DISCRIMINATOR => {
            PaymentsEvent::ConfigUpdated(parse("ConfigUpdated", body)?)
        }
        d if d == ev::PayerBlocked::DISCRIMINATOR => {
            PaymentsEvent::PayerBlocked(parse("PayerBlocked", body)?)
        }
        d if d == ev::PayerUnblocked::DISCRIMINATOR => {
            PaymentsEvent::PayerUnblocked(parse("PayerUnblocked", body)?)
        }
        d if d == ev::VaultOpened::DISCRIMINATOR => {
            PaymentsEvent::VaultOpened(parse("VaultOpened", body)?)
        }
        d if d == ev::MerchantRegistered::DISCRIMINATOR => {
            PaymentsEvent::MerchantRegistered(parse("MerchantRegistered", body)?)
        }
        d if d == ev::MerchantUpdated::DISCRIMINATOR => {
            PaymentsEvent::MerchantUpdated(parse("MerchantUpdated", body)?)
        }
        d if d == ev::MerchantKybChanged::DISCRIMINATOR => {
            PaymentsEvent::MerchantKybChanged(parse("MerchantKybChanged", body)?)
        }
        d if d == ev::InvoiceOpened::DISCRIMINATOR => {
            PaymentsEvent::InvoiceOpened(parse("InvoiceOpened", body)?)
        }
        d if d == ev::InvoiceCancelled::DISCRIMINATOR => {
            PaymentsEvent::InvoiceCancelled(parse("InvoiceCancelled", body)?)
        }
        d if d == ev::InvoiceExpired::DISCRIMINATOR => {
            PaymentsEvent::InvoiceExpired(parse("InvoiceExpired", body)?)
        }
        d if d == ev::PaymentAuthorized::DISCRIMINATOR => {
            PaymentsEvent::PaymentAuthorized(parse("PaymentAuthorized", body)?)
        }
        d if d == ev::PaymentCaptured::DISCRIMINATOR => {
            PaymentsEvent::PaymentCaptured(parse("PaymentCaptured", body)?)
        }
        d if d == ev::PaymentVoided::DISCRIMINATOR => {
            PaymentsEvent::PaymentVoided(parse("PaymentVoided", body)?)
        }
        d if d == ev::PaymentReclaimed::DISCRIMINATOR => {
            PaymentsEvent::PaymentReclaimed(parse("PaymentReclaimed", body)?)
        }
        d if d == ev::PaymentRefunded::DISCRIMINATOR => {
            PaymentsEvent::PaymentRefunded(parse("PaymentRefunded", body)?)
        }
        d if d == ev::PaymentDisputed::DISCRIMINATOR => {
            PaymentsEvent::PaymentDisputed(parse("PaymentDisputed", body)?)
        }
        d if d == ev::DisputeResolved::DISCRIMINATOR => {
            PaymentsEvent::DisputeResolved(parse("DisputeResolved", body)?)
        }
        d if d == ev::PaymentHeld::DISCRIMINATOR => {
            PaymentsEvent::PaymentHeld(parse("PaymentHeld", body)?)
        }
        d if d == ev::PaymentReleased::DISCRIMINATOR => {
            PaymentsEvent::PaymentReleased(parse("PaymentReleased", body)?)
        }
        d if d == ev::PaymentRejected::DISCRIMINATOR => {
            PaymentsEvent::PaymentRejected(parse("PaymentRejected", body)?)
        }
        d if d == ev::ReceivableAssigned::DISCRIMINATOR => {
            PaymentsEvent::ReceivableAssigned(parse("ReceivableAssigned", body)?)
        }
        d if d == ev::PaymentClosed::DISCRIMINATOR => {
            PaymentsEvent::PaymentClosed(parse("PaymentClosed", body)?)
        }
        d if d == ev::PaymentConverted::DISCRIMINATOR => {
            PaymentsEvent::PaymentConverted(parse("PaymentConverted", body)?)
        }
        other => {
            return Err(SdkError::Decode(
                "event",
                format!("unknown discriminator {other:02x?}"),
            ));
        }
    }))
}

/// Every event of the conversion program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConvertEvent {
    /// The `PoolCreated` event.
    PoolCreated(cev::PoolCreated),
    /// The `LiquidityAdded` event.
    LiquidityAdded(cev::LiquidityAdded),
    /// The `LiquidityRemoved` event.
    LiquidityRemoved(cev::LiquidityRemoved),
    /// The `Swapped` event.
    Swapped(cev::Swapped),
    /// The `AmpRampStarted` event.
    AmpRampStarted(cev::AmpRampStarted),
    /// The `AmpRampStopped` event.
    AmpRampStopped(cev::AmpRampStopped),
    /// The `PoolSettingsChanged` event.
    PoolSettingsChanged(cev::PoolSettingsChanged),
    /// The `ProtocolFeesWithdrawn` event.
    ProtocolFeesWithdrawn(cev::ProtocolFeesWithdrawn),
}

impl ConvertEvent {
    /// The common header (pool, per-pool sequence, time, actor).
    pub fn header(&self) -> &kassa_convert::events::EventHeader {
        match self {
            ConvertEvent::PoolCreated(e) => &e.header,
            ConvertEvent::LiquidityAdded(e) => &e.header,
            ConvertEvent::LiquidityRemoved(e) => &e.header,
            ConvertEvent::Swapped(e) => &e.header,
            ConvertEvent::AmpRampStarted(e) => &e.header,
            ConvertEvent::AmpRampStopped(e) => &e.header,
            ConvertEvent::PoolSettingsChanged(e) => &e.header,
            ConvertEvent::ProtocolFeesWithdrawn(e) => &e.header,
        }
    }

    /// The event's name as in the IDL.
    pub fn name(&self) -> &'static str {
        match self {
            ConvertEvent::PoolCreated(_) => "PoolCreated",
            ConvertEvent::LiquidityAdded(_) => "LiquidityAdded",
            ConvertEvent::LiquidityRemoved(_) => "LiquidityRemoved",
            ConvertEvent::Swapped(_) => "Swapped",
            ConvertEvent::AmpRampStarted(_) => "AmpRampStarted",
            ConvertEvent::AmpRampStopped(_) => "AmpRampStopped",
            ConvertEvent::PoolSettingsChanged(_) => "PoolSettingsChanged",
            ConvertEvent::ProtocolFeesWithdrawn(_) => "ProtocolFeesWithdrawn",
        }
    }
}

/// Decodes the data of an inner instruction to the conversion program, like
/// [`decode_event_cpi`] does for payments.
pub fn decode_convert_event_cpi(ix_data: &[u8]) -> Result<Option<ConvertEvent>, SdkError> {
    let Some(rest) = ix_data.strip_prefix(&EVENT_IX_TAG) else {
        return Ok(None);
    };
    if rest.len() < 8 {
        return Err(SdkError::Decode(
            "event",
            format!("{} bytes after the tag", rest.len()),
        ));
    }
    let (disc, body) = rest.split_at(8);
    Ok(Some(match disc {
        d if d == cev::PoolCreated::DISCRIMINATOR => {
            ConvertEvent::PoolCreated(parse("PoolCreated", body)?)
        }
        d if d == cev::LiquidityAdded::DISCRIMINATOR => {
            ConvertEvent::LiquidityAdded(parse("LiquidityAdded", body)?)
        }
        d if d == cev::LiquidityRemoved::DISCRIMINATOR => {
            ConvertEvent::LiquidityRemoved(parse("LiquidityRemoved", body)?)
        }
        d if d == cev::Swapped::DISCRIMINATOR => ConvertEvent::Swapped(parse("Swapped", body)?),
        d if d == cev::AmpRampStarted::DISCRIMINATOR => {
            ConvertEvent::AmpRampStarted(parse("AmpRampStarted", body)?)
        }
        d if d == cev::AmpRampStopped::DISCRIMINATOR => {
            ConvertEvent::AmpRampStopped(parse("AmpRampStopped", body)?)
        }
        d if d == cev::PoolSettingsChanged::DISCRIMINATOR => {
            ConvertEvent::PoolSettingsChanged(parse("PoolSettingsChanged", body)?)
        }
        d if d == cev::ProtocolFeesWithdrawn::DISCRIMINATOR => {
            ConvertEvent::ProtocolFeesWithdrawn(parse("ProtocolFeesWithdrawn", body)?)
        }
        other => {
            return Err(SdkError::Decode(
                "event",
                format!("unknown discriminator {other:02x?}"),
            ));
        }
    }))
}

/// Decodes a [`kassa_convert::state::Pool`] account.
pub fn decode_pool(data: &[u8]) -> Result<kassa_convert::state::Pool, SdkError> {
    <kassa_convert::state::Pool as anchor_lang::AccountDeserialize>::try_deserialize(&mut &data[..])
        .map_err(|e| SdkError::Decode("Pool", e.to_string()))
}

macro_rules! credit_events {
    ($($name:ident),* $(,)?) => {
        /// Every event of the credit program.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum CreditEvent {
            $(
                #[doc = concat!("The `", stringify!($name), "` event.")]
                $name(kassa_credit::events::$name),
            )*
        }

        impl CreditEvent {
            /// The common header (pool, line or advance; per-entity sequence; time; actor).
            pub fn header(&self) -> &kassa_credit::events::EventHeader {
                match self {
                    $(CreditEvent::$name(e) => &e.header,)*
                }
            }

            /// The event's name as in the IDL.
            pub fn name(&self) -> &'static str {
                match self {
                    $(CreditEvent::$name(_) => stringify!($name),)*
                }
            }
        }

        /// Decodes the data of an inner instruction to the credit program, like
        /// [`decode_event_cpi`] does for payments.
        pub fn decode_credit_event_cpi(ix_data: &[u8]) -> Result<Option<CreditEvent>, SdkError> {
            let Some(rest) = ix_data.strip_prefix(&EVENT_IX_TAG) else {
                return Ok(None);
            };
            if rest.len() < 8 {
                return Err(SdkError::Decode(
                    "event",
                    format!("{} bytes after the tag", rest.len()),
                ));
            }
            let (disc, body) = rest.split_at(8);
            $(
                if disc == kassa_credit::events::$name::DISCRIMINATOR {
                    return Ok(Some(CreditEvent::$name(parse(stringify!($name), body)?)));
                }
            )*
            Err(SdkError::Decode(
                "event",
                format!("unknown discriminator {disc:02x?}"),
            ))
        }
    };
}

credit_events!(
    PoolCreated,
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
    PoolBalances,
    RedemptionRequested,
    EpochClosed,
    RedemptionWithdrawn,
);

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
