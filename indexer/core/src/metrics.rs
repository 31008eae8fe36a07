//! Prometheus metrics of the indexer, in their own registry so an API can serve them.

use crate::store::Applied;
use prometheus::{IntCounter, IntGauge, IntGaugeVec, Opts, Registry};
use solana_sdk::pubkey::Pubkey;

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub transactions: IntCounter,
    pub events: IntCounter,
    pub parked: IntCounter,
    pub reverted: IntCounter,
    pub pass_failures: IntCounter,
    pub cursor_slot: IntGaugeVec,
    /// Differences found by the last reconciliation, per kind of entity.
    pub mirror_differences: IntGaugeVec,
    pub mirror_checked: IntGauge,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    registry
        .register(Box::new(c.clone()))
        .expect("unique metric");
    c
}

fn gauge_vec(registry: &Registry, name: &str, help: &str, label: &str) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), &[label]).expect("valid metric");
    registry
        .register(Box::new(g.clone()))
        .expect("unique metric");
    g
}

impl Default for Metrics {
    fn default() -> Self {
        let registry = Registry::new();
        let mirror_checked = IntGauge::new(
            "kassa_indexer_mirror_checked_accounts",
            "Accounts compared by the last reconciliation",
        )
        .expect("valid metric");
        registry
            .register(Box::new(mirror_checked.clone()))
            .expect("unique metric");
        Self {
            transactions: counter(
                &registry,
                "kassa_indexer_transactions_total",
                "Transactions stored",
            ),
            events: counter(&registry, "kassa_indexer_events_total", "Events stored"),
            parked: counter(
                &registry,
                "kassa_indexer_parked_total",
                "Undecodable items parked",
            ),
            reverted: counter(
                &registry,
                "kassa_indexer_reverted_transactions_total",
                "Transactions rolled back because they never finalized",
            ),
            pass_failures: counter(
                &registry,
                "kassa_indexer_pass_failures_total",
                "Passes that failed and were retried",
            ),
            cursor_slot: gauge_vec(
                &registry,
                "kassa_indexer_cursor_slot",
                "Slot below which every transaction of the program is stored",
                "program",
            ),
            mirror_differences: gauge_vec(
                &registry,
                "kassa_indexer_mirror_differences",
                "Differences between projections and program accounts at the last reconciliation",
                "kind",
            ),
            mirror_checked,
            registry,
        }
    }
}

impl Metrics {
    pub fn record(&self, applied: &Applied) {
        self.transactions.inc_by(applied.transactions as u64);
        self.events.inc_by(applied.events as u64);
        self.parked.inc_by(applied.parked as u64);
    }

    pub fn set_cursor(&self, program: &Pubkey, slot: u64) {
        self.cursor_slot
            .with_label_values(&[program.to_string().as_str()])
            .set(i64::try_from(slot).unwrap_or(i64::MAX));
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        prometheus::TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }
}
