//! Writing projections: the entities a batch touched are folded (on top of their stored row,
//! from nothing when the batch created them, or rebuilt from their whole live history) and
//! written with `COPY`.

use super::StoreError;
use crate::{
    decode::KassaEvent,
    projection::{fold, FoldError, Kind, Row},
};
use solana_sdk::pubkey::Pubkey;
use sqlx::{PgConnection, PgPool, Row as _};
use std::collections::BTreeMap;

fn all_sql(kind: Kind) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(format!(
        "SELECT to_jsonb(t) FROM {} t ORDER BY address",
        kind.table()
    ))
}

fn row_fields(row: &Row) -> Result<serde_json::Map<String, serde_json::Value>, StoreError> {
    match serde_json::to_value(row).map_err(|e| StoreError::Corrupt(e.to_string()))? {
        serde_json::Value::Object(fields) => Ok(fields),
        _ => Err(StoreError::Corrupt(
            "a projection row is not an object".into(),
        )),
    }
}

/// The columns a projection row fills, as its type declares them: the order `copy_line`
/// writes them in.
fn copy_columns(row: &Row) -> Result<String, StoreError> {
    Ok(row.kind().columns().join(", "))
}

/// Appends `row` as one line of Postgres `COPY` text format: values escaped as `COPY`
/// requires, `\N` for null, arrays as array literals.
fn copy_line(row: &Row, out: &mut Vec<u8>) -> Result<(), StoreError> {
    use serde_json::Value;
    fn escape(out: &mut Vec<u8>, s: &str) {
        for b in s.bytes() {
            match b {
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.push(b),
            }
        }
    }
    let fields = row_fields(row)?;
    for (i, column) in row.kind().columns().iter().enumerate() {
        let v = fields.get(*column).ok_or_else(|| {
            StoreError::Corrupt(format!("a projection row has no {column} field"))
        })?;
        if i > 0 {
            out.push(b'\t');
        }
        match v {
            Value::Null => out.extend_from_slice(b"\\N"),
            Value::Bool(b) => out.push(if *b { b't' } else { b'f' }),
            Value::Number(n) => out.extend_from_slice(n.to_string().as_bytes()),
            Value::String(s) => escape(out, s),
            Value::Array(items) => {
                let mut literal = String::from("{");
                for (j, item) in items.iter().enumerate() {
                    if j > 0 {
                        literal.push(',');
                    }
                    let text = match item {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    literal.push('"');
                    literal.push_str(&text.replace('\\', "\\\\").replace('"', "\\\""));
                    literal.push('"');
                }
                literal.push('}');
                escape(out, &literal);
            }
            Value::Object(_) => escape(out, &v.to_string()),
        }
    }
    out.push(b'\n');
    Ok(())
}

/// An entity's fold from nothing, computed while a batch whose events begin its history is
/// prepared: the row and its `COPY` line. `project` uses it when the entity has no stored
/// row and no newer stored events, which is the case of every entity a batch creates.
pub struct Fresh {
    row: Result<Option<Row>, FoldError>,
    line: Option<Vec<u8>>,
}

impl Fresh {
    pub(super) fn of(mut events: Vec<&KassaEvent>) -> Option<Self> {
        events.sort_by_key(|e| e.header().seq);
        if !events
            .iter()
            .enumerate()
            .all(|(i, e)| e.header().seq == i as u64)
        {
            return None;
        }
        let row = events.iter().try_fold(None, |s, e| fold(s, e));
        let line = match &row {
            Ok(Some(r)) => {
                let mut line = Vec::new();
                copy_line(r, &mut line).ok()?;
                Some(line)
            }
            _ => None,
        };
        Some(Self { row, line })
    }
}

/// The new events of one entity, and their fold from nothing when it was prepared.
pub struct Touched<'a> {
    pub events: Vec<&'a KassaEvent>,
    pub fresh: Option<&'a Fresh>,
}

/// Every projection row of `kind`, ordered by address.
pub async fn rows(pool: &PgPool, kind: Kind) -> Result<Vec<Row>, StoreError> {
    sqlx::query(all_sql(kind))
        .fetch_all(pool)
        .await?
        .into_iter()
        .map(|r| Row::from_json(kind, r.get(0)).map_err(|e| StoreError::Corrupt(e.to_string())))
        .collect()
}

/// Folds the live events of one entity from nothing, or from its checkpoint when its early
/// history was archived (`store::archive`: the fold up to its newest archived event). A
/// history with a gap (events that arrived before earlier ones, through another program's
/// stream) is not folded: the entity stays unprojected until the missing events arrive, so
/// that a stored row is always the fold of its entity's whole live history.
async fn rebuild(
    db: &mut PgConnection,
    entity: &Pubkey,
) -> Result<Result<Option<Row>, FoldError>, StoreError> {
    let checkpoint: Option<(String, i64, String)> =
        sqlx::query_as("SELECT kind, seq, state::text FROM chain.checkpoint WHERE entity = $1")
            .bind(entity.as_ref())
            .fetch_optional(&mut *db)
            .await?;
    let (state, after) = match checkpoint {
        Some((kind, seq, state)) => (Some(checkpoint_row(entity, &kind, &state)?), seq),
        None => (None, -1),
    };
    // Through the live keys, one partition per event.
    let rows = sqlx::query(
        "SELECT e.program, e.raw FROM chain.entity_seq k
         CROSS JOIN LATERAL (SELECT * FROM chain.event e
                             WHERE (e.entity, e.seq, e.slot) = (k.entity, k.seq, k.slot)
                               AND NOT e.reverted OFFSET 0) e
         WHERE k.entity = $1 AND k.seq > $2 ORDER BY k.seq",
    )
    .bind(entity.as_ref())
    .bind(after)
    .fetch_all(&mut *db)
    .await?;
    let mut events = Vec::with_capacity(rows.len());
    for r in rows {
        events.push(stored_event(entity, r.get(0), r.get(1))?);
    }
    Ok(fold_from(state, after, &events))
}

/// `events` (in sequence order) folded on top of `state`, the fold up to sequence `after`
/// (-1: nothing).
pub(crate) fn fold_from(
    mut state: Option<Row>,
    after: i64,
    events: &[KassaEvent],
) -> Result<Option<Row>, FoldError> {
    for (i, event) in events.iter().enumerate() {
        let want = (after + 1) as u64 + i as u64;
        if event.header().seq != want {
            return Err(FoldError::Gap(want));
        }
        state = fold(state, event)?;
    }
    Ok(state)
}

/// A stored event's typed form.
pub(crate) fn stored_event(
    entity: &Pubkey,
    program: &[u8],
    raw: &[u8],
) -> Result<KassaEvent, StoreError> {
    KassaEvent::from_cpi(&super::pubkey(program)?, raw)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?
        .ok_or_else(|| StoreError::Corrupt(format!("stored event of {entity} is not an event")))
}

/// A checkpoint's row.
pub(crate) fn checkpoint_row(entity: &Pubkey, kind: &str, state: &str) -> Result<Row, StoreError> {
    let kind = Kind::from_name(kind)
        .ok_or_else(|| StoreError::Corrupt(format!("checkpoint of {entity}: kind {kind}")))?;
    Row::from_json_str(kind, state)
        .map_err(|e| StoreError::Corrupt(format!("checkpoint of {entity}: {e}")))
}

/// Brings the projections of the touched entities up to date. New events that continue the
/// stored row's sequence are folded on top of it; anything else (a gap, events out of order
/// across program streams, a rollback) rebuilds the entity from all its live events, or leaves
/// it unprojected while its live history has a gap.
/// Returns how many entities had an incomplete history and were left unprojected.
pub async fn project(
    db: &mut PgConnection,
    touched: BTreeMap<(Kind, Pubkey), Touched<'_>>,
) -> Result<usize, StoreError> {
    let mut skipped = 0;
    for kind in Kind::ALL {
        let entities: Vec<Pubkey> = touched
            .keys()
            .filter(|(k, _)| *k == kind)
            .map(|(_, e)| *e)
            .collect();
        if entities.is_empty() {
            continue;
        }
        // Each entity's stored row, and for an entity without one the newest live event
        // stored for it: events of one entity can arrive through another program's stream
        // first (a pool's swap inside a payment), so a row is only started from nothing when
        // the new events are also the newest. A stored row is always its entity's newest live
        // event (every event stored is projected in the same database transaction), so new
        // events that continue it are the newest.
        let mut current: BTreeMap<Pubkey, Row> = BTreeMap::new();
        let mut newest: BTreeMap<Pubkey, i64> = BTreeMap::new();
        for r in sqlx::query(sqlx::AssertSqlSafe(format!(
            // Correlated subqueries, one index lookup per entity whatever the statistics say
            // (a join can turn into a scan of the whole table); OFFSET 0 keeps the row lookup
            // from being inlined and run twice.
            "SELECT entity, j,
                    CASE WHEN j IS NULL THEN
                        (SELECT max(seq) FROM chain.entity_seq k WHERE k.entity = r.entity)
                    END
             FROM (SELECT u.entity,
                          (SELECT row_to_json(t)::text FROM {} t WHERE t.address = u.entity) AS j
                   FROM unnest($1::bytea[]) AS u(entity) OFFSET 0) r",
            kind.table()
        )))
        .bind(entities.iter().map(|e| e.to_bytes()).collect::<Vec<_>>())
        .fetch_all(&mut *db)
        .await?
        {
            let entity = super::pubkey(r.get(0))?;
            if let Some(json) = r.get::<Option<&str>, _>(1) {
                let row = Row::from_json_str(kind, json)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                current.insert(entity, row);
            } else if let Some(seq) = r.get::<Option<i64>, _>(2) {
                newest.insert(entity, seq);
            }
        }
        // Only rows that exist need to go before their replacements are written.
        let stored: Vec<[u8; 32]> = current.keys().map(|k| k.to_bytes()).collect();
        let mut columns: Option<String> = None;
        let mut data = Vec::new();
        for entity in &entities {
            let touch = &touched[&(kind, *entity)];
            let mut events = touch.events.clone();
            events.sort_by_key(|e| e.header().seq);
            let state = current.remove(entity);
            let mut next = state.as_ref().map_or(0, |r| r.seq() + 1);
            let contiguous = !events.is_empty()
                && events.iter().all(|e| {
                    let ok = e.header().seq as i64 == next;
                    next += 1;
                    ok
                });
            let newest_is_new = state.is_some()
                || events
                    .last()
                    .is_some_and(|e| Some(&(e.header().seq as i64)) == newest.get(entity));
            let folded = match (contiguous && newest_is_new, state, touch.fresh) {
                // Created by this batch: its fold was computed while the batch was prepared.
                (true, None, Some(fresh)) => match (&fresh.row, &fresh.line) {
                    (Ok(Some(row)), Some(line)) => {
                        if columns.is_none() {
                            columns = Some(copy_columns(row)?);
                        }
                        data.extend_from_slice(line);
                        Ok(None)
                    }
                    (Ok(row), _) => Ok(row.clone()),
                    (Err(e), _) => Err(e.clone()),
                },
                (true, state, _) => events.iter().try_fold(state, |s, e| fold(s, e)),
                (false, ..) => rebuild(db, entity).await?,
            };
            match folded {
                Ok(Some(row)) => {
                    if columns.is_none() {
                        columns = Some(copy_columns(&row)?);
                    }
                    copy_line(&row, &mut data)?;
                }
                Ok(None) => {}
                Err(e) => {
                    skipped += 1;
                    tracing::warn!(%entity, error = %e, "history incomplete; entity not projected");
                }
            }
        }
        if !stored.is_empty() {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {} WHERE address = ANY($1::bytea[])",
                kind.table()
            )))
            .bind(&stored)
            .execute(&mut *db)
            .await?;
        }
        if let Some(columns) = columns {
            let mut copy = db
                .copy_in_raw(&format!("COPY {} ({columns}) FROM STDIN", kind.table()))
                .await?;
            copy.send(data).await?;
            copy.finish().await?;
        }
    }
    Ok(skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::projection::{ConfigRow, Key, MerchantRow};

    fn key(byte: u8) -> Key {
        Key(Pubkey::new_from_array([byte; 32]))
    }

    #[test]
    fn copy_lines_write_keys_as_bytea_and_arrays_as_literals() {
        let row = Row::Config(ConfigRow {
            address: key(1),
            admin: key(2),
            compliance_authority: key(3),
            arbiter: key(4),
            fee_receiver: key(0xab),
            protocol_fee_bps: 30,
            paused: false,
            hooks: vec![key(5), key(6)],
            blocked: vec![],
            seq: 7,
        });
        assert_eq!(
            copy_columns(&row).unwrap(),
            "address, admin, compliance_authority, arbiter, fee_receiver, protocol_fee_bps, \
             paused, hooks, blocked, seq"
        );
        let mut line = Vec::new();
        copy_line(&row, &mut line).unwrap();
        let hex = |b: &str| b.repeat(32);
        assert_eq!(
            String::from_utf8(line).unwrap(),
            format!(
                "\\\\x{}\t\\\\x{}\t\\\\x{}\t\\\\x{}\t\\\\x{}\t30\tf\t{{\"\\\\\\\\x{}\",\"\\\\\\\\x{}\"}}\t{{}}\t7\n",
                hex("01"),
                hex("02"),
                hex("03"),
                hex("04"),
                hex("ab"),
                hex("05"),
                hex("06")
            )
        );
    }

    #[test]
    fn copy_lines_escape_what_copy_text_format_requires() {
        let row = Row::Merchant(MerchantRow {
            address: key(1),
            authority: key(2),
            merchant_id: key(3),
            settlement_mint: key(4),
            settlement_wallet: key(5),
            authorization_window: 1,
            auto_capture_delay: 0,
            refund_window: 0,
            dispute_window: 0,
            require_kyt: true,
            fee_bps: None,
            operator: None,
            kyb_status: "tab\there".into(),
            kyb_case_hash: "new\nline\\back\rcr".into(),
            registered_at: 0,
            updated_at: 0,
            seq: 0,
        });
        let mut line = Vec::new();
        copy_line(&row, &mut line).unwrap();
        let line = String::from_utf8(line).unwrap();
        assert!(
            line.contains("\tt\t\\N\t\\N\ttab\\there\tnew\\nline\\\\back\\rcr\t"),
            "{line}"
        );
    }
}
