-- x402: the payments Kassa's facilitator settles for merchants' paid HTTP routes.

CREATE SCHEMA x402;

-- One settlement of the `exact` scheme: the client's transfer, co-signed by Kassa's fee payer
-- and sent. `message_hash` (SHA-256 of the transaction's message, which the client signed) is
-- unique, so a replayed payload, whatever it puts in the fee payer's signature slot, is the
-- same row and is never sent twice. The id is the transaction's signature (base58), which is
-- also the `transaction` of the specification's settlement answer: a client whose answer was
-- lost asks about it by that id.
--
-- `pending`: signed and sent, not yet seen confirmed (a crash here is finished by the next
-- `/settle` of the same payload, which looks the signature up instead of sending again);
-- `settled`: confirmed on chain; `failed`: the cluster refused it, nothing moved.
CREATE TABLE x402.settlement (
    x402_settlement_id text PRIMARY KEY CHECK (x402_settlement_id ~ '^[1-9A-HJ-NP-Za-km-z]{64,88}$'),
    merchant           chain.pubkey NOT NULL,
    scheme             text NOT NULL CHECK (scheme = 'exact'),
    network            text NOT NULL CHECK (network ~ '^solana:[1-9A-HJ-NP-Za-km-z]{32}$'),
    message_hash       bytea NOT NULL UNIQUE CHECK (octet_length(message_hash) = 32),
    signature          chain.signature NOT NULL UNIQUE,
    -- The transaction's blockhash: once it is no longer valid, a signature the cluster never
    -- saw never will be, and a pending settlement is failed without anything moved.
    blockhash          bytea NOT NULL CHECK (octet_length(blockhash) = 32),
    payer              chain.pubkey NOT NULL,
    pay_to             chain.pubkey NOT NULL,
    mint               chain.pubkey NOT NULL,
    amount             numeric(20, 0) NOT NULL CHECK (amount > 0 AND amount <= 18446744073709551615),
    resource           text NOT NULL CHECK (length(resource) BETWEEN 1 AND 2048),
    status             text NOT NULL CHECK (status IN ('pending', 'settled', 'failed')),
    error              text,
    created_at         timestamptz NOT NULL DEFAULT now(),
    finished_at        timestamptz,
    CHECK ((status = 'pending') = (finished_at IS NULL)),
    CHECK ((status = 'failed') = (error IS NOT NULL)),
    CHECK (finished_at IS NULL OR finished_at >= created_at)
);
CREATE INDEX settlement_merchant ON x402.settlement (merchant, created_at DESC);
CREATE INDEX settlement_pending ON x402.settlement (created_at) WHERE status = 'pending';

-- A `kassa-escrow` session: one Kassa payment whose escrow is the agent's budget for one
-- merchant. `offered`: the transaction that opens and authorizes it was handed to the agent
-- (its message's hash kept, so only that transaction is accepted back); `open`: authorized on
-- chain; `closed`: the rest voided back to the agent; `expired`: never authorized.
-- `reserved` is held by calls in flight or delivered and not yet captured; `captured` is what
-- the chain captured for delivered calls; together they never pass the budget, so a session
-- can never promise more than its escrow holds.
CREATE TABLE x402.escrow_session (
    payment             chain.pubkey PRIMARY KEY,
    merchant            chain.pubkey NOT NULL,
    payer               chain.pubkey NOT NULL,
    mint                chain.pubkey NOT NULL,
    network             text NOT NULL,
    budget              numeric(20, 0) NOT NULL CHECK (budget > 0 AND budget <= 18446744073709551615),
    reserved            numeric(20, 0) NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    captured            numeric(20, 0) NOT NULL DEFAULT 0 CHECK (captured >= 0),
    status              text NOT NULL CHECK (status IN ('offered', 'open', 'closed', 'expired')),
    message_hash        bytea NOT NULL CHECK (octet_length(message_hash) = 32),
    offer_expires_at    timestamptz NOT NULL,
    authorize_signature chain.signature,
    void_signature      chain.signature,
    created_at          timestamptz NOT NULL DEFAULT now(),
    closed_at           timestamptz,
    CHECK (reserved + captured <= budget),
    CHECK ((status = 'offered') = (authorize_signature IS NULL) OR status = 'expired'),
    CHECK ((status = 'closed') = (closed_at IS NOT NULL))
);
CREATE INDEX escrow_session_merchant ON x402.escrow_session (merchant, created_at DESC);

-- One call paid from a session. The id is the agent's (it signs it with the call), so a
-- retried call is the same row: answered from `response` once delivered, never charged twice.
-- `reserved` → `released` (not served) or `delivered` (a 2xx whose body was written) →
-- `capturing` (the capture is signed and sent: its signature and blockhash are kept first, so
-- after a crash it is looked up, never sent blindly again) → `captured`, or `failed` (the chain
-- refused the capture; nothing moved).
CREATE TABLE x402.escrow_call (
    x402_call_id      text PRIMARY KEY CHECK (x402_call_id ~ '^xc_[0-9a-f]{32}$'),
    session           chain.pubkey NOT NULL REFERENCES x402.escrow_session,
    amount            numeric(20, 0) NOT NULL CHECK (amount > 0),
    resource          text NOT NULL CHECK (length(resource) BETWEEN 1 AND 2048),
    status            text NOT NULL CHECK (status IN
                          ('reserved', 'released', 'delivered', 'capturing', 'captured', 'failed')),
    response_status   smallint,
    response_type     text,
    response_body     bytea,
    -- Unique: one capture transaction is one call's (the call id is its memo).
    capture_signature chain.signature UNIQUE,
    capture_blockhash bytea CHECK (octet_length(capture_blockhash) = 32),
    error             text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    delivered_at      timestamptz,
    finished_at       timestamptz,
    CHECK ((status IN ('delivered', 'capturing', 'captured')) <= (delivered_at IS NOT NULL)),
    CHECK ((status IN ('capturing', 'captured')) <= (capture_signature IS NOT NULL)),
    CHECK ((status IN ('released', 'captured', 'failed')) = (finished_at IS NOT NULL))
);
CREATE INDEX escrow_call_session ON x402.escrow_call (session);
CREATE INDEX escrow_call_open ON x402.escrow_call (created_at)
    WHERE status IN ('reserved', 'delivered', 'capturing');
