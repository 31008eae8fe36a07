-- Issue 20, "cost as work grows" (docs/decisions.md, "The raw tables are partitioned by slot
-- range"): the raw tables are range-partitioned by slot, so the indexes every insert touches
-- are the size of one partition whatever the history, and old history is archived by detaching
-- whole partitions (docs/operations.md, "Archiving raw history").
--
-- - Every raw table carries its transaction's slot; its key gains the slot (a signature always
--   comes back with the slot it landed in, so a replay still conflicts; a landing in another
--   slot after a fork is its own row, which the finality pass reverts).
-- - A live (entity, seq) stays unique across all partitions through `chain.entity_seq`, one
--   narrow row per live event, written by the statement that writes the event and deleted by
--   the statement that reverts it.
-- - The queues that name an event (webhook outbox, settlement and compliance inboxes, booking
--   exceptions) carry its slot, so their joins to the raw tables touch one partition.

-- Partitions, created ahead of the slots the indexer writes (`chain.ensure_partitions`).
CREATE TABLE chain.partitioning (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    -- Slots per partition from now on (1,000,000 slots: about 4.6 days at 400 ms). Existing
    -- partitions keep their bounds when it changes.
    width int8 NOT NULL CHECK (width > 0)
);
INSERT INTO chain.partitioning (width) VALUES (1000000);

CREATE TABLE chain.partition (
    lower       int8 PRIMARY KEY CHECK (lower >= 0),
    upper       int8 NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Set when the partition's rows were exported and dropped (`kassa archive`): slots in it
    -- are refused from then on instead of silently stored nowhere.
    archived_at timestamptz,
    archived_to text,
    CHECK (upper > lower),
    CHECK ((archived_at IS NULL) = (archived_to IS NULL))
);

-- The old tables step aside; their rows move below.
DROP VIEW chain.payment_timeline;
ALTER TABLE chain.transaction RENAME TO transaction_old;
ALTER TABLE chain.instruction RENAME TO instruction_old;
ALTER TABLE chain.event RENAME TO event_old;
ALTER TABLE chain.token_balance_change RENAME TO token_balance_change_old;
ALTER TABLE chain.parked RENAME TO parked_old;
ALTER INDEX chain.transaction_pkey RENAME TO transaction_old_pkey;
ALTER INDEX chain.transaction_unfinalized RENAME TO transaction_old_unfinalized;
ALTER INDEX chain.instruction_pkey RENAME TO instruction_old_pkey;
ALTER INDEX chain.event_pkey RENAME TO event_old_pkey;
ALTER INDEX chain.event_entity_reverted RENAME TO event_old_entity_reverted;
ALTER INDEX chain.event_entity_seq RENAME TO event_old_entity_seq;
ALTER INDEX chain.token_balance_change_pkey RENAME TO token_balance_change_old_pkey;
ALTER INDEX chain.parked_pkey RENAME TO parked_old_pkey;

CREATE TABLE chain.transaction (
    signature  chain.signature NOT NULL,
    slot       int8 NOT NULL CHECK (slot >= 0),
    block_time int8,
    failed     boolean NOT NULL,
    fee        chain.u64 NOT NULL,
    commitment text NOT NULL CHECK (commitment IN ('confirmed', 'finalized', 'reverted')),
    CONSTRAINT transaction_pkey PRIMARY KEY (signature, slot)
) PARTITION BY RANGE (slot);
CREATE INDEX transaction_unfinalized ON chain.transaction (slot) WHERE commitment = 'confirmed';
CREATE TRIGGER transaction_append_only
    BEFORE DELETE OR TRUNCATE ON chain.transaction
    FOR EACH STATEMENT EXECUTE FUNCTION chain.transaction_is_append_only();

CREATE TABLE chain.instruction (
    signature   chain.signature NOT NULL,
    slot        int8 NOT NULL CHECK (slot >= 0),
    ix_index    int4 NOT NULL CHECK (ix_index >= 0),
    inner_index int4 NOT NULL CHECK (inner_index >= -1),
    program     chain.pubkey NOT NULL,
    name        text NOT NULL,
    args        jsonb NOT NULL,
    accounts    bytea NOT NULL CONSTRAINT instruction_accounts_are_keys
                               CHECK (octet_length(accounts) % 32 = 0),
    CONSTRAINT instruction_pkey PRIMARY KEY (signature, ix_index, inner_index, slot)
) PARTITION BY RANGE (slot);

CREATE TABLE chain.event (
    signature   chain.signature NOT NULL,
    ix_index    int4 NOT NULL CHECK (ix_index >= 0),
    inner_index int4 NOT NULL CHECK (inner_index >= 0),
    slot        int8 NOT NULL CHECK (slot >= 0),
    program     chain.pubkey NOT NULL,
    name        text NOT NULL,
    entity      chain.pubkey NOT NULL,
    seq         int8 NOT NULL CHECK (seq >= 0),
    ts          int8 NOT NULL,
    actor       chain.pubkey NOT NULL,
    data        jsonb NOT NULL,
    raw         bytea NOT NULL,
    reverted    boolean NOT NULL DEFAULT false,
    CONSTRAINT event_pkey PRIMARY KEY (signature, ix_index, inner_index, slot)
) PARTITION BY RANGE (slot);
-- Reads of an entity's history; uniqueness is `chain.entity_seq`'s.
CREATE INDEX event_entity_seq ON chain.event (entity, seq) WHERE NOT reverted;
CREATE INDEX event_entity_reverted ON chain.event (entity) WHERE reverted;

CREATE TABLE chain.token_balance_change (
    signature     chain.signature NOT NULL,
    slot          int8 NOT NULL CHECK (slot >= 0),
    account_index int4 NOT NULL CHECK (account_index >= 0),
    account       chain.pubkey NOT NULL,
    mint          chain.pubkey NOT NULL,
    owner         chain.pubkey,
    pre           chain.u64 NOT NULL,
    post          chain.u64 NOT NULL,
    CHECK (pre <> post),
    CONSTRAINT token_balance_change_pkey PRIMARY KEY (signature, account_index, slot)
) PARTITION BY RANGE (slot);

CREATE TABLE chain.parked (
    signature   chain.signature NOT NULL,
    slot        int8 NOT NULL CHECK (slot >= 0),
    ix_index    int4 NOT NULL CHECK (ix_index >= 0),
    inner_index int4 NOT NULL CHECK (inner_index >= -1),
    program     chain.pubkey NOT NULL,
    reason      text NOT NULL,
    raw         bytea NOT NULL,
    CONSTRAINT parked_pkey PRIMARY KEY (signature, ix_index, inner_index, slot)
) PARTITION BY RANGE (slot);

-- One row per live event: a live (entity, seq) is unique across every partition. Rows of
-- archived partitions leave with them (an entity's later events carry higher sequences). The
-- slot says which partition holds the event: an entity's history is read through here, one
-- partition per event, instead of probing every partition's index.
CREATE TABLE chain.entity_seq (
    entity chain.pubkey NOT NULL,
    seq    int8 NOT NULL,
    slot   int8 NOT NULL,
    CONSTRAINT entity_seq_pkey PRIMARY KEY (entity, seq)
);

-- An entity's projection folded up to its newest archived event, written by the archive
-- (store/archive.rs) before its events leave: a rebuild (after a rollback, or events out of
-- order) folds the entity's remaining live events on top of it.
CREATE TABLE chain.checkpoint (
    entity chain.pubkey PRIMARY KEY,
    kind   text NOT NULL,
    seq    int8 NOT NULL CHECK (seq >= 0),
    state  jsonb NOT NULL
);

-- Makes every slot in `slots`, and the partition width after the highest, land in a
-- partition: the indexer calls it before each batch, so the next partition exists before the
-- first slot that needs it. Only the windows of slots that occur are created (a quiet program's
-- history leaves no run of empty partitions). A new partition is created empty and attached,
-- which locks the parent only against other DDL, never against reads or writes. Slots of an
-- archived partition are refused by name.
CREATE FUNCTION chain.ensure_partitions(slots int8[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    w int8 := (SELECT width FROM chain.partitioning);
    lo int8;
    hi int8;
    s int8;
    a int8;
    b int8;
    p chain.partition;
    t text;
    part text;
BEGIN
    SELECT min(x), max(x) INTO lo, hi FROM unnest(slots) x;
    IF lo IS NULL THEN
        RETURN;
    ELSIF lo < 0 THEN
        RAISE EXCEPTION 'ensure_partitions: slot % is negative', lo;
    END IF;
    -- The usual case, one range read of this small table: live partitions already cover
    -- [lo, hi + w] without a gap.
    IF (SELECT min(lower) <= lo AND max(upper) > hi + w
               AND sum(upper - lower) = max(upper) - min(lower) AND bool_and(archived_at IS NULL)
        FROM chain.partition WHERE upper > lo AND lower <= hi + w) THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('chain.ensure_partitions'));
    SELECT q.* INTO p FROM unnest(slots) x JOIN chain.partition q ON q.lower <= x AND q.upper > x
    WHERE q.archived_at IS NOT NULL LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'the partition of slots [%, %) was archived at % to %: its slots are not stored again',
            p.lower, p.upper, p.archived_at, p.archived_to;
    END IF;
    FOR s IN SELECT DISTINCT x FROM unnest(slots || (hi + w)) x ORDER BY x LOOP
        CONTINUE WHEN EXISTS (SELECT 1 FROM chain.partition WHERE lower <= s AND upper > s);
        a := greatest(s - s % w,
                      coalesce((SELECT max(upper) FROM chain.partition WHERE upper <= s), 0));
        b := least(s - s % w + w,
                   coalesce((SELECT min(lower) FROM chain.partition WHERE lower > s),
                            s - s % w + w));
        FOREACH t IN ARRAY ARRAY['transaction', 'instruction', 'event', 'token_balance_change',
                                 'parked'] LOOP
            part := t || '_' || lpad(a::text, 12, '0');
            EXECUTE format('CREATE TABLE chain.%I (LIKE chain.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                           part, t);
            EXECUTE format('ALTER TABLE chain.%I ATTACH PARTITION chain.%I FOR VALUES FROM (%s) TO (%s)',
                           t, part, a, b);
        END LOOP;
        -- A statement on one partition does not fire the parent's statement triggers.
        EXECUTE format('CREATE TRIGGER transaction_append_only BEFORE DELETE OR TRUNCATE ON chain.%I
                        FOR EACH STATEMENT EXECUTE FUNCTION chain.transaction_is_append_only()',
                       'transaction_' || lpad(a::text, 12, '0'));
        INSERT INTO chain.partition (lower, upper) VALUES (a, b);
    END LOOP;
END
$$;

-- The rows move: partitions for every stored slot, then the rows with their slots.
-- (One slot per window of the width is enough: no partition exists yet.)
SELECT chain.ensure_partitions(array_agg(DISTINCT slot - slot % w.width))
FROM chain.transaction_old, chain.partitioning w;
INSERT INTO chain.transaction (signature, slot, block_time, failed, fee, commitment)
SELECT signature, slot, block_time, failed, fee, commitment FROM chain.transaction_old;
INSERT INTO chain.instruction (signature, slot, ix_index, inner_index, program, name, args, accounts)
SELECT i.signature, t.slot, i.ix_index, i.inner_index, i.program, i.name, i.args, i.accounts
FROM chain.instruction_old i JOIN chain.transaction_old t USING (signature);
INSERT INTO chain.event (signature, ix_index, inner_index, slot, program, name, entity, seq, ts,
                         actor, data, raw, reverted)
SELECT signature, ix_index, inner_index, slot, program, name, entity, seq, ts, actor, data, raw,
       reverted
FROM chain.event_old;
INSERT INTO chain.entity_seq (entity, seq, slot)
SELECT entity, seq, slot FROM chain.event_old WHERE NOT reverted;
INSERT INTO chain.token_balance_change (signature, slot, account_index, account, mint, owner, pre,
                                        post)
SELECT c.signature, t.slot, c.account_index, c.account, c.mint, c.owner, c.pre, c.post
FROM chain.token_balance_change_old c JOIN chain.transaction_old t USING (signature);
INSERT INTO chain.parked (signature, slot, ix_index, inner_index, program, reason, raw)
SELECT p.signature, t.slot, p.ix_index, p.inner_index, p.program, p.reason, p.raw
FROM chain.parked_old p JOIN chain.transaction_old t USING (signature);

-- The queues name their event's slot.
ALTER TABLE webhooks.outbox ADD COLUMN slot int8;
UPDATE webhooks.outbox o SET slot = e.slot FROM chain.event_old e
WHERE (e.signature, e.ix_index, e.inner_index) = (o.signature, o.ix_index, o.inner_index);
ALTER TABLE webhooks.outbox ADD CONSTRAINT outbox_event_slot
    CHECK ((slot IS NULL) = (signature IS NULL));

ALTER TABLE settlement.inbox ADD COLUMN slot int8;
UPDATE settlement.inbox i SET slot = e.slot FROM chain.event_old e
WHERE (e.signature, e.ix_index, e.inner_index) = (i.signature, i.ix_index, i.inner_index);
ALTER TABLE settlement.inbox ALTER COLUMN slot SET NOT NULL;

ALTER TABLE settlement.booking_exception ADD COLUMN slot int8;
UPDATE settlement.booking_exception x SET slot = e.slot FROM chain.event_old e
WHERE (e.signature, e.ix_index, e.inner_index) = (x.signature, x.ix_index, x.inner_index);
ALTER TABLE settlement.booking_exception ALTER COLUMN slot SET NOT NULL;

ALTER TABLE compliance.inbox ADD COLUMN slot int8;
UPDATE compliance.inbox i SET slot = e.slot FROM chain.event_old e
WHERE (e.signature, e.ix_index, e.inner_index) = (i.signature, i.ix_index, i.inner_index);
ALTER TABLE compliance.inbox ADD CONSTRAINT inbox_event_slot
    CHECK ((slot IS NULL) = (signature IS NULL));

DROP TABLE chain.transaction_old, chain.instruction_old, chain.event_old,
           chain.token_balance_change_old, chain.parked_old;

ANALYZE chain.transaction, chain.instruction, chain.event, chain.token_balance_change,
        chain.parked, chain.entity_seq;

CREATE VIEW chain.payment_timeline AS
SELECT e.entity AS payment, e.seq, e.name, e.ts, e.actor, e.signature, e.slot, e.data,
       t.commitment
FROM chain.event e
JOIN chain.transaction t USING (signature, slot)
WHERE NOT e.reverted;
