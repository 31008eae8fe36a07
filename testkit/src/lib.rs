//! kassa-testkit (not published): what the tests, the benches, `kassa demo` and `kassa
//! localnet` need to stand a Kassa world up, and nothing a product path depends on otherwise.
//!
//! - [`protocol`]: bootstrap the protocol on a local cluster (payer in every role, demo
//!   stablecoins, vaults, conversion pools registered as hooks);
//! - [`demo_day`]: the demo's realistic day of payments, credit included;
//! - [`postgres`]: a private throwaway Postgres cluster, and fresh databases on any server;
//! - [`receiver`]: a webhook receiver on loopback that verifies signatures and fails on demand;
//! - [`bench`]: the bench binaries' runtime and percentiles;
//! - [`workload`]: payments recorded on a local node and replicated to any size, for the benches.

pub mod bench;
pub mod demo_day;
pub mod postgres;
pub mod protocol;
pub mod receiver;
pub mod workload;
