-- How far each stream is known complete: every transaction of the stream at or below `slot`
-- is stored (the cluster's tip when a pass began, recorded when that pass's ingest of the
-- stream committed). The cursor moves only with transactions; this moves on every pass, so an
-- idle program does not look like a lagging indexer. `/readyz` compares it with the tip.
CREATE TABLE chain.stream_sync (
    stream    text PRIMARY KEY,
    slot      bigint NOT NULL CHECK (slot >= 0),
    synced_at timestamptz NOT NULL
);
