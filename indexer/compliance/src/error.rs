//! What the compliance services refuse, each naming the problem.

#[derive(Debug, thiserror::Error)]
pub enum ComplianceError {
    /// A list file that cannot be read as its format; the version in force stays.
    #[error("{format} list: {detail}")]
    List {
        format: &'static str,
        detail: String,
    },
    #[error("{0}")]
    Invalid(String),
    /// The four-eyes rule, a closed case, an officer acting outside their role.
    #[error("{0}")]
    Refused(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the cluster: {0}")]
    Cluster(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

impl ComplianceError {
    pub(crate) fn list(format: &'static str, detail: impl Into<String>) -> Self {
        Self::List {
            format,
            detail: detail.into(),
        }
    }
}

pub type Result<T, E = ComplianceError> = std::result::Result<T, E>;
