//! What the settlement services refuse, each naming the problem.

use crate::{bank::BankError, ledger::LedgerError, money::MoneyError, rates::RateError};

#[derive(Debug, thiserror::Error)]
pub enum SettlementError {
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Rate(#[from] RateError),
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Bank(#[from] BankError),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("statement: {0}")]
    Statement(String),
    #[error("the cluster: {0}")]
    Cluster(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Database(sqlx::Error),
}

impl From<sqlx::Error> for SettlementError {
    fn from(e: sqlx::Error) -> Self {
        match LedgerError::from(e) {
            LedgerError::Database(e) => Self::Database(e),
            other => Self::Ledger(other),
        }
    }
}

pub type Result<T, E = SettlementError> = std::result::Result<T, E>;
