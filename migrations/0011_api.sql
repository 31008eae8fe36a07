-- The HTTP API's area (DESIGN §1): who may call it, with which keys, and what it answered to
-- each idempotent POST.

CREATE SCHEMA api;

-- A caller: an operator, a compliance officer, a read-only consumer, or a merchant bound to its
-- on-chain merchant account (and seeing only that merchant's data).
CREATE TABLE api.account (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role       text NOT NULL CHECK (role IN ('merchant', 'compliance', 'operator', 'consumer')),
    merchant   chain.pubkey UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'merchant') = (merchant IS NOT NULL))
);

-- API keys: 256-bit random secrets, kept only as their SHA-256 (checked on every request, so a
-- fast hash of a high-entropy secret, not a password hash). `id` is the public name of a key
-- (in lists, logs and revocations); `last4` helps a person tell keys apart. A rotated key keeps
-- working until `expires_at`, so callers can switch without downtime.
CREATE TABLE api.key (
    id         text PRIMARY KEY CHECK (id ~ '^key_[0-9a-f]{16}$'),
    account    bigint NOT NULL REFERENCES api.account,
    hash       bytea NOT NULL UNIQUE CHECK (octet_length(hash) = 32),
    last4      text NOT NULL CHECK (length(last4) = 4),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    revoked_at timestamptz,
    CHECK (expires_at IS NULL OR expires_at >= created_at),
    CHECK (revoked_at IS NULL OR revoked_at >= created_at)
);
CREATE INDEX key_account ON api.key (account);

-- What each idempotent POST answered: a retry with the same key and body gets the same answer;
-- the same key with another body is refused. `status` is NULL while the first request is still
-- being handled (a concurrent duplicate is refused, so there is one effect). Rows older than a
-- day may be deleted (the retention the docs promise).
CREATE TABLE api.idempotency (
    account      bigint NOT NULL REFERENCES api.account,
    key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    method       text NOT NULL,
    path         text NOT NULL,
    request_hash bytea NOT NULL CHECK (octet_length(request_hash) = 32),
    status       smallint CHECK (status BETWEEN 100 AND 599),
    content_type text,
    body         bytea,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, key),
    CHECK ((status IS NULL) = (body IS NULL))
);
CREATE INDEX idempotency_created ON api.idempotency (created_at);

-- Mints the API has seen, with the decimals and token program read from the chain once.
CREATE TABLE api.mint (
    address       chain.pubkey PRIMARY KEY,
    decimals      smallint NOT NULL CHECK (decimals BETWEEN 0 AND 255),
    token_program chain.pubkey NOT NULL
);

-- Cursor pagination over payments, newest first, by (opened_at, address): a merchant's page and
-- the whole table's.
DROP INDEX chain.payment_merchant;
CREATE INDEX payment_merchant ON chain.payment (merchant, opened_at DESC, address DESC);
CREATE INDEX payment_opened ON chain.payment (opened_at DESC, address DESC);

-- A timeline lists an entity's rolled-back events beside its live ones (the live ones come
-- through event_entity_seq); rolled-back rows are rare, so their index is small.
CREATE INDEX event_entity_reverted ON chain.event (entity) WHERE reverted;
