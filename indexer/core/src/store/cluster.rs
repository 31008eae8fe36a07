//! One database mirrors one cluster: the genesis hash is claimed on first use.

use super::StoreError;
use sqlx::{PgPool, Row as _};

/// Records the cluster's genesis hash on first use; afterwards refuses another cluster.
pub async fn claim_cluster(pool: &PgPool, genesis_hash: &str) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO chain.cluster (genesis_hash) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(genesis_hash)
        .execute(pool)
        .await?;
    let stored: String = sqlx::query("SELECT genesis_hash FROM chain.cluster")
        .fetch_one(pool)
        .await?
        .get(0);
    if stored != genesis_hash {
        return Err(StoreError::OtherCluster {
            stored,
            node: genesis_hash.to_string(),
        });
    }
    Ok(())
}
