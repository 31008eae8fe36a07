//! Projections, one module per program: each row is the fold of its entity's live events, in sequence order. The same
//! fold serves the incremental path (new events on top of the stored row) and the rebuild
//! after a rollback (all remaining events from nothing), so both always agree.
//!
//! The fold is written from the events alone, independently of the programs' state code, so
//! that the reconciler comparing these rows with the accounts on chain checks something.

/// A projection row: its struct, and the columns it fills (its fields, in order), which a
/// test compares with the table's columns in `information_schema`.
macro_rules! projection_row {
    ($(#[$meta:meta])* pub struct $name:ident {
        $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)*
    }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $name {
            /// The table's columns this row fills, in declaration order.
            pub const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];
        }
    };
}

/// The row an event that continues an entity applies to: an error when the entity does not
/// exist yet, or when its stored row is of another kind.
macro_rules! existing {
    ($row:expr, $variant:ident, $name:expr) => {
        match $row {
            Some(Row::$variant(r)) => r,
            None => return Err(FoldError::NoEntity($name)),
            Some(_) => return Err(FoldError::WrongKind($name)),
        }
    };
}

pub mod convert;
pub mod credit;
pub mod key;
pub mod payments;

pub use key::Key;

pub use convert::PoolRow;
pub use credit::{AdvanceRow, CreditLineRow, CreditPoolRow};
pub use payments::{ConfigRow, MerchantRow, PaymentRow};

use crate::decode::KassaEvent;
use kassa_sdk::decode::{ConvertEvent, CreditEvent, PaymentsEvent};
use serde::{Deserialize, Serialize};

/// The projection table an entity lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Config,
    Merchant,
    Payment,
    Pool,
    CreditPool,
    CreditLine,
    Advance,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Config,
        Kind::Merchant,
        Kind::Payment,
        Kind::Pool,
        Kind::CreditPool,
        Kind::CreditLine,
        Kind::Advance,
    ];

    /// The projection an event belongs to. Every event is named: a new event is a compile
    /// error here until it is given a kind (and a fold).
    pub fn of(event: &KassaEvent) -> Kind {
        use ConvertEvent as V;
        use CreditEvent as C;
        use PaymentsEvent as P;
        match event {
            KassaEvent::Payments(e) => match e {
                P::ConfigInitialized(_)
                | P::ConfigUpdated(_)
                | P::PayerBlocked(_)
                | P::PayerUnblocked(_)
                | P::VaultOpened(_) => Kind::Config,
                P::MerchantRegistered(_) | P::MerchantUpdated(_) | P::MerchantKybChanged(_) => {
                    Kind::Merchant
                }
                P::InvoiceOpened(_)
                | P::InvoiceCancelled(_)
                | P::InvoiceExpired(_)
                | P::PaymentAuthorized(_)
                | P::PaymentCaptured(_)
                | P::PaymentVoided(_)
                | P::PaymentReclaimed(_)
                | P::PaymentRefunded(_)
                | P::PaymentDisputed(_)
                | P::DisputeResolved(_)
                | P::PaymentHeld(_)
                | P::PaymentReleased(_)
                | P::PaymentRejected(_)
                | P::ReceivableAssigned(_)
                | P::PaymentClosed(_)
                | P::PaymentConverted(_) => Kind::Payment,
            },
            KassaEvent::Convert(e) => match e {
                V::PoolCreated(_)
                | V::LiquidityAdded(_)
                | V::LiquidityRemoved(_)
                | V::Swapped(_)
                | V::AmpRampStarted(_)
                | V::AmpRampStopped(_)
                | V::PoolSettingsChanged(_)
                | V::ProtocolFeesWithdrawn(_) => Kind::Pool,
            },
            KassaEvent::Credit(e) => match e {
                C::PoolCreated(_)
                | C::PoolPolicyUpdated(_)
                | C::PoolRoleTransferred(_)
                | C::LenderAllowlisted(_)
                | C::IncomeDistributed(_)
                | C::Deposited(_)
                | C::FeesWithdrawn(_)
                | C::PoolBalances(_)
                | C::RedemptionRequested(_)
                | C::RedemptionCancelled(_)
                | C::EpochClosed(_)
                | C::RedemptionWithdrawn(_) => Kind::CreditPool,
                C::LineApproved(_)
                | C::Drawn(_)
                | C::Repaid(_)
                | C::LineStatusChanged(_)
                | C::LineImpaired(_)
                | C::LineWrittenOff(_) => Kind::CreditLine,
                C::AdvanceTaken(_) | C::ReceivableSynced(_) | C::AdvanceClosed(_) => Kind::Advance,
            },
        }
    }

    /// The columns of the kind's table, as its row type declares them.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            Kind::Config => ConfigRow::COLUMNS,
            Kind::Merchant => MerchantRow::COLUMNS,
            Kind::Payment => PaymentRow::COLUMNS,
            Kind::Pool => PoolRow::COLUMNS,
            Kind::CreditPool => CreditPoolRow::COLUMNS,
            Kind::CreditLine => CreditLineRow::COLUMNS,
            Kind::Advance => AdvanceRow::COLUMNS,
        }
    }

    /// The kind whose [`Kind::name`] is `name`.
    pub fn from_name(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The projection's name (its table without the schema), as metrics label it.
    pub fn name(self) -> &'static str {
        self.table().trim_start_matches("chain.")
    }

    pub fn table(self) -> &'static str {
        match self {
            Kind::Config => "chain.config",
            Kind::Merchant => "chain.merchant",
            Kind::Payment => "chain.payment",
            Kind::Pool => "chain.conversion_pool",
            Kind::CreditPool => "chain.credit_pool",
            Kind::CreditLine => "chain.credit_line",
            Kind::Advance => "chain.advance",
        }
    }
}

/// A fold that cannot go on: the history is incomplete (indexing began after the entity was
/// created) or contradicts itself.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FoldError {
    #[error("{0} before the entity was created")]
    NoEntity(&'static str),
    #[error("{0} for an entity that already exists")]
    Exists(&'static str),
    #[error("{0}: amount arithmetic leaves the u64 range")]
    Overflow(&'static str),
    #[error("event of another kind ({0})")]
    WrongKind(&'static str),
    #[error("the stored history has no event of sequence {0} yet")]
    Gap(u64),
}

pub(crate) fn add(a: u64, b: u64, what: &'static str) -> Result<u64, FoldError> {
    a.checked_add(b).ok_or(FoldError::Overflow(what))
}

pub(crate) fn sub(a: u64, b: u64, what: &'static str) -> Result<u64, FoldError> {
    a.checked_sub(b).ok_or(FoldError::Overflow(what))
}

pub(crate) fn seq(s: u64) -> i64 {
    i64::try_from(s).unwrap_or(i64::MAX)
}

/// Any projection row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Row {
    Config(ConfigRow),
    Merchant(MerchantRow),
    Payment(PaymentRow),
    Pool(PoolRow),
    CreditPool(CreditPoolRow),
    CreditLine(CreditLineRow),
    Advance(AdvanceRow),
}

impl Row {
    /// The projection this row belongs to.
    pub fn kind(&self) -> Kind {
        match self {
            Row::Config(_) => Kind::Config,
            Row::Merchant(_) => Kind::Merchant,
            Row::Payment(_) => Kind::Payment,
            Row::Pool(_) => Kind::Pool,
            Row::CreditPool(_) => Kind::CreditPool,
            Row::CreditLine(_) => Kind::CreditLine,
            Row::Advance(_) => Kind::Advance,
        }
    }

    pub fn seq(&self) -> i64 {
        match self {
            Row::Config(r) => r.seq,
            Row::Merchant(r) => r.seq,
            Row::Payment(r) => r.seq,
            Row::Pool(r) => r.seq,
            Row::CreditPool(r) => r.seq,
            Row::CreditLine(r) => r.seq,
            Row::Advance(r) => r.seq,
        }
    }

    pub fn address(&self) -> Key {
        match self {
            Row::Config(r) => r.address,
            Row::Merchant(r) => r.address,
            Row::Payment(r) => r.address,
            Row::Pool(r) => r.address,
            Row::CreditPool(r) => r.address,
            Row::CreditLine(r) => r.address,
            Row::Advance(r) => r.address,
        }
    }

    fn set_seq(&mut self, s: i64) {
        match self {
            Row::Config(x) => x.seq = s,
            Row::Merchant(x) => x.seq = s,
            Row::Payment(x) => x.seq = s,
            Row::Pool(x) => x.seq = s,
            Row::CreditPool(x) => x.seq = s,
            Row::CreditLine(x) => x.seq = s,
            Row::Advance(x) => x.seq = s,
        }
    }

    pub fn from_json(kind: Kind, v: serde_json::Value) -> Result<Row, serde_json::Error> {
        Self::deserialize_as(kind, v)
    }

    /// A row from its JSON text (`row_to_json`), without an intermediate `Value`.
    pub fn from_json_str(kind: Kind, s: &str) -> Result<Row, serde_json::Error> {
        Self::deserialize_as(kind, &mut serde_json::Deserializer::from_str(s))
    }

    fn deserialize_as<'de, D: serde::Deserializer<'de>>(kind: Kind, d: D) -> Result<Row, D::Error> {
        Ok(match kind {
            Kind::Config => Row::Config(ConfigRow::deserialize(d)?),
            Kind::Merchant => Row::Merchant(MerchantRow::deserialize(d)?),
            Kind::Payment => Row::Payment(PaymentRow::deserialize(d)?),
            Kind::Pool => Row::Pool(PoolRow::deserialize(d)?),
            Kind::CreditPool => Row::CreditPool(CreditPoolRow::deserialize(d)?),
            Kind::CreditLine => Row::CreditLine(CreditLineRow::deserialize(d)?),
            Kind::Advance => Row::Advance(AdvanceRow::deserialize(d)?),
        })
    }
}

/// Applies one event to the entity's row (`None` before its first event).
pub fn fold(row: Option<Row>, event: &KassaEvent) -> Result<Option<Row>, FoldError> {
    let h = event.header();
    let (entity, ts, name) = (Key(h.entity), h.timestamp, event.name());
    let mut row = match event {
        KassaEvent::Payments(e) => payments::fold(row, e, entity, ts, name)?,
        KassaEvent::Convert(e) => match row {
            None => Row::Pool(convert::fold(None, e, entity, ts, name)?),
            Some(Row::Pool(r)) => Row::Pool(convert::fold(Some(r), e, entity, ts, name)?),
            Some(_) => return Err(FoldError::WrongKind(name)),
        },
        KassaEvent::Credit(e) => credit::fold(row, e, entity, name)?,
    };
    row.set_seq(seq(h.seq));
    Ok(Some(row))
}
