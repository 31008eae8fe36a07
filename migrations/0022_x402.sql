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
