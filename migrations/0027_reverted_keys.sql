-- The keys of rolled-back events, in one small table beside the partitions (issue 20).
--
-- A timeline lists an entity's rolled-back events beside its live ones. Found through each
-- partition's `event_entity_reverted` index, that half probed every partition, and Postgres
-- 15 starts (and locks) every partition a statement may touch, so the read grew with the
-- partition count even when all of the entity's events sat in one of them. With the slots of
-- both halves known up front (the live ones from `chain.entity_seq`, the rolled-back ones from
-- here), a read names the slot range it needs as parameters, and Postgres prunes every
-- partition outside it before starting the statement.
--
-- Rolled-back events are rare (a fork the cluster abandoned), so the table stays small; a
-- row is written by the revert that marks its event and leaves with its partition when that
-- is archived.
CREATE TABLE chain.reverted_key (
    entity      chain.pubkey NOT NULL,
    slot        int8 NOT NULL CHECK (slot >= 0),
    signature   chain.signature NOT NULL,
    ix_index    int4 NOT NULL CHECK (ix_index >= 0),
    inner_index int4 NOT NULL CHECK (inner_index >= 0),
    seq         int8 NOT NULL CHECK (seq >= 0),
    PRIMARY KEY (entity, slot, signature, ix_index, inner_index)
);

INSERT INTO chain.reverted_key (entity, slot, signature, ix_index, inner_index, seq)
SELECT entity, slot, signature, ix_index, inner_index, seq FROM chain.event WHERE reverted;
