-- Ingest: what the indexer mirrored from the chain, keyed so that replaying anything is a no-op.
-- Amounts are token base units (u64 on chain) and never stored as floats.

CREATE DOMAIN u64 AS numeric(20, 0)
    CHECK (VALUE >= 0 AND VALUE <= 18446744073709551615);
-- Base58 addresses of 32-byte keys.
CREATE DOMAIN pubkey AS text
    CHECK (VALUE ~ '^[1-9A-HJ-NP-Za-km-z]{32,44}$');
CREATE DOMAIN signature AS text
    CHECK (VALUE ~ '^[1-9A-HJ-NP-Za-km-z]{64,88}$');

-- One cursor per program stream: every transaction of that program at a slot below `slot`
-- is stored. Written in the same database transaction as the data it covers.
CREATE TABLE ingest_cursor (
    program    pubkey PRIMARY KEY,
    slot       bigint NOT NULL CHECK (slot >= 0),
    signature  signature
);

CREATE TABLE transactions (
    signature  signature PRIMARY KEY,
    slot       bigint NOT NULL CHECK (slot >= 0),
    block_time bigint,
    -- The transaction landed but an instruction failed: no state changed, no events.
    failed     boolean NOT NULL,
    fee        u64 NOT NULL,
    commitment text NOT NULL CHECK (commitment IN ('confirmed', 'finalized', 'reverted'))
);
CREATE INDEX transactions_unfinalized ON transactions (slot) WHERE commitment = 'confirmed';

-- Instructions addressed to a Kassa program, top level (inner_index = -1) or through CPI.
CREATE TABLE instructions (
    signature   signature NOT NULL REFERENCES transactions ON DELETE CASCADE,
    ix_index    integer NOT NULL CHECK (ix_index >= 0),
    inner_index integer NOT NULL CHECK (inner_index >= -1),
    program     pubkey NOT NULL,
    name        text NOT NULL,
    args        jsonb NOT NULL,
    accounts    text[] NOT NULL,
    PRIMARY KEY (signature, ix_index, inner_index)
);

-- Every emit_cpi! event, raw bytes kept so projections can always be rebuilt from here.
CREATE TABLE events (
    signature   signature NOT NULL REFERENCES transactions ON DELETE CASCADE,
    ix_index    integer NOT NULL CHECK (ix_index >= 0),
    inner_index integer NOT NULL CHECK (inner_index >= 0),
    slot        bigint NOT NULL CHECK (slot >= 0),
    program     pubkey NOT NULL,
    name        text NOT NULL,
    entity      pubkey NOT NULL,
    seq         bigint NOT NULL CHECK (seq >= 0),
    ts          bigint NOT NULL,
    actor       pubkey NOT NULL,
    data        jsonb NOT NULL,
    raw         bytea NOT NULL,
    reverted    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (signature, ix_index, inner_index)
);
-- An entity's live history has one event per sequence number.
CREATE UNIQUE INDEX events_entity_seq ON events (entity, seq) WHERE NOT reverted;

-- Token balance changes of the accounts a Kassa transaction touched.
CREATE TABLE token_balance_changes (
    signature     signature NOT NULL REFERENCES transactions ON DELETE CASCADE,
    account_index integer NOT NULL CHECK (account_index >= 0),
    account       pubkey NOT NULL,
    mint          pubkey NOT NULL,
    owner         pubkey,
    pre           u64 NOT NULL,
    post          u64 NOT NULL,
    CHECK (pre <> post),
    PRIMARY KEY (signature, account_index)
);

-- What could not be decoded (unknown discriminator, another program version, bad bytes):
-- kept with its raw bytes for a later decoder, never dropped.
CREATE TABLE parked (
    signature   signature NOT NULL REFERENCES transactions ON DELETE CASCADE,
    ix_index    integer NOT NULL CHECK (ix_index >= 0),
    inner_index integer NOT NULL CHECK (inner_index >= -1),
    program     pubkey NOT NULL,
    reason      text NOT NULL,
    raw         bytea NOT NULL,
    PRIMARY KEY (signature, ix_index, inner_index)
);

-- Projections: each row is the fold of its entity's live events; `seq` is the last one applied.

CREATE TABLE protocol_config (
    address              pubkey PRIMARY KEY,
    admin                pubkey NOT NULL,
    compliance_authority pubkey NOT NULL,
    arbiter              pubkey NOT NULL,
    fee_receiver         pubkey NOT NULL,
    protocol_fee_bps     integer NOT NULL CHECK (protocol_fee_bps BETWEEN 0 AND 10000),
    paused               boolean NOT NULL,
    hooks                text[] NOT NULL,
    blocked              text[] NOT NULL,
    seq                  bigint NOT NULL CHECK (seq >= 0)
);

CREATE TABLE merchants (
    address               pubkey PRIMARY KEY,
    authority             pubkey NOT NULL,
    merchant_id           pubkey NOT NULL,
    settlement_mint       pubkey NOT NULL,
    settlement_wallet     pubkey NOT NULL,
    authorization_window  bigint NOT NULL CHECK (authorization_window > 0),
    auto_capture_delay    bigint NOT NULL CHECK (auto_capture_delay >= 0),
    refund_window         bigint NOT NULL CHECK (refund_window >= 0),
    dispute_window        bigint NOT NULL CHECK (dispute_window >= 0),
    require_kyt           boolean NOT NULL,
    fee_bps               integer CHECK (fee_bps BETWEEN 0 AND 10000),
    kyb_status            text NOT NULL CHECK (kyb_status IN ('pending', 'approved', 'suspended')),
    kyb_case_hash         text NOT NULL CHECK (kyb_case_hash ~ '^[0-9a-f]{64}$'),
    registered_at         bigint NOT NULL,
    updated_at            bigint NOT NULL CHECK (updated_at >= registered_at),
    seq                   bigint NOT NULL CHECK (seq >= 0)
);

CREATE TABLE payments (
    address                  pubkey PRIMARY KEY,
    merchant                 pubkey NOT NULL,
    order_id                 text NOT NULL CHECK (order_id ~ '^[0-9a-f]{64}$'),
    mint                     pubkey NOT NULL,
    amount                   u64 NOT NULL CHECK (amount > 0),
    status                   text NOT NULL CHECK (status IN (
        'open', 'authorized', 'captured', 'refunded', 'voided', 'reclaimed', 'cancelled',
        'expired', 'disputed', 'resolved', 'held', 'rejected')),
    payer                    pubkey,
    authorized               u64 NOT NULL,
    captured                 u64 NOT NULL,
    released                 u64 NOT NULL,
    refunded                 u64 NOT NULL,
    fees                     u64 NOT NULL,
    to_merchant              u64 NOT NULL,
    to_assignee              u64 NOT NULL,
    assignee                 pubkey,
    assigned                 u64 NOT NULL,
    input_mint               pubkey,
    input_amount             u64,
    kyt_cosigned             boolean NOT NULL,
    expires_at               bigint NOT NULL,
    authorization_expires_at bigint,
    refund_deadline          bigint,
    dispute_deadline         bigint,
    auto_capture_at          bigint,
    opened_at                bigint NOT NULL,
    status_at                bigint NOT NULL CHECK (status_at >= opened_at),
    closed                   boolean NOT NULL,
    seq                      bigint NOT NULL CHECK (seq >= 0),
    -- Escrow never goes negative; what was settled is split exactly.
    CHECK (captured + released <= authorized),
    CHECK (refunded <= captured),
    CHECK (fees + to_merchant + to_assignee = captured),
    CHECK ((payer IS NULL) = (status IN ('open', 'cancelled', 'expired'))),
    CHECK (status <> 'open' OR authorized = 0),
    CHECK ((input_mint IS NULL) = (input_amount IS NULL))
);
CREATE INDEX payments_merchant ON payments (merchant, opened_at);
CREATE INDEX payments_payer ON payments (payer) WHERE payer IS NOT NULL;

CREATE TABLE pools (
    address            pubkey PRIMARY KEY,
    mint_a             pubkey NOT NULL,
    mint_b             pubkey NOT NULL,
    lp_mint            pubkey NOT NULL,
    reserve_a          u64 NOT NULL,
    reserve_b          u64 NOT NULL,
    lp_supply          u64 NOT NULL,
    protocol_fees_a    u64 NOT NULL,
    protocol_fees_b    u64 NOT NULL,
    initial_amp        bigint NOT NULL CHECK (initial_amp > 0),
    target_amp         bigint NOT NULL CHECK (target_amp > 0),
    ramp_start         bigint NOT NULL,
    ramp_stop          bigint NOT NULL CHECK (ramp_stop >= ramp_start),
    trade_fee_bps      integer NOT NULL CHECK (trade_fee_bps BETWEEN 0 AND 10000),
    protocol_share_bps integer NOT NULL CHECK (protocol_share_bps BETWEEN 0 AND 10000),
    paused             boolean NOT NULL,
    swaps              bigint NOT NULL CHECK (swaps >= 0),
    volume_a           u64 NOT NULL,
    volume_b           u64 NOT NULL,
    seq                bigint NOT NULL CHECK (seq >= 0),
    CHECK (mint_a <> mint_b)
);

-- What each merchant has been paid, per mint, derived from the payment projections.
CREATE VIEW merchant_balances AS
SELECT merchant,
       mint,
       count(*) FILTER (WHERE status <> 'open' AND payer IS NOT NULL) AS payments,
       sum(authorized - captured - released)                          AS escrowed,
       sum(to_merchant)                                                AS settled,
       sum(refunded)                                                   AS refunded,
       sum(fees)                                                       AS fees,
       sum(to_merchant) - sum(refunded)                                AS net
FROM payments
GROUP BY merchant, mint;

-- A payment's timeline: its live events in order.
CREATE VIEW payment_timeline AS
SELECT e.entity AS payment, e.seq, e.name, e.ts, e.actor, e.signature, e.slot, e.data,
       t.commitment
FROM events e
JOIN transactions t USING (signature)
WHERE NOT e.reverted;
