-- Webhooks: an outbox the indexer writes in the same database transaction as what it stores,
-- the messages fanned out from it, the endpoints merchants register, and each delivery with
-- its attempts. Times are the worker's clock (bound by the worker, not `now()`), so a test can
-- advance it.

CREATE SCHEMA webhooks;

-- One row per chain event and commitment phase (written by the apply at `confirmed`, by the
-- finality pass at `finalized`, by a rollback at `reverted`), or one ready-made event of a
-- Kassa service (an endpoint disabled; later compliance and payouts). Deleted when fanned out.
CREATE TABLE webhooks.outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    signature   chain.signature,
    ix_index    integer,
    inner_index integer,
    phase       text CHECK (phase IN ('confirmed', 'finalized', 'reverted')),
    type        text,
    merchant    chain.pubkey,
    data        jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (
        (signature IS NOT NULL AND ix_index IS NOT NULL AND inner_index IS NOT NULL
         AND phase IS NOT NULL AND type IS NULL AND merchant IS NULL AND data IS NULL)
        OR
        (signature IS NULL AND ix_index IS NULL AND inner_index IS NULL AND phase IS NULL
         AND type IS NOT NULL AND merchant IS NOT NULL AND data IS NOT NULL)
    )
);

-- A merchant's endpoint. `event_types` empty: every type. `confirmed` false: only finalized
-- notifications (and so never a retraction). Secrets live in `webhooks.secret`.
CREATE TABLE webhooks.endpoint (
    id              text PRIMARY KEY CHECK (id ~ '^we_[0-9a-f]{16}$'),
    merchant        chain.pubkey NOT NULL,
    url             text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    event_types     text[] NOT NULL DEFAULT '{}',
    confirmed       boolean NOT NULL DEFAULT true,
    enabled         boolean NOT NULL DEFAULT true,
    disabled_reason text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK (updated_at >= created_at),
    CHECK (enabled OR disabled_reason IS NOT NULL)
);
CREATE INDEX endpoint_merchant ON webhooks.endpoint (merchant);

-- Signing secrets, sealed with AES-256-GCM under the key from the settings (the endpoint id and
-- version are the associated data, so a sealed secret cannot be moved to another endpoint).
-- A rotated secret keeps signing until `expires_at`.
CREATE TABLE webhooks.secret (
    endpoint   text NOT NULL REFERENCES webhooks.endpoint ON DELETE CASCADE,
    version    integer NOT NULL CHECK (version >= 1),
    sealed     bytea NOT NULL CHECK (octet_length(sealed) > 28),
    created_at timestamptz NOT NULL,
    expires_at timestamptz,
    PRIMARY KEY (endpoint, version),
    CHECK (expires_at IS NULL OR expires_at >= created_at)
);

-- What is sent: the exact body, the same on every attempt and to every endpoint. `id` is the
-- `webhook-id`, derived from the event and phase, so a retraction can name what it retracts.
-- `order_key` is the entity (a payment, a merchant, a line): per endpoint, one entity's messages
-- are delivered in order.
CREATE TABLE webhooks.message (
    id         text PRIMARY KEY CHECK (id ~ '^msg_[0-9a-f]{32}$'),
    seq        bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    merchant   chain.pubkey NOT NULL,
    type       text NOT NULL CHECK (type ~ '^[a-z_]+(\.[a-z_]+)+$'),
    order_key  bytea NOT NULL,
    body       text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX message_merchant ON webhooks.message (merchant, seq);

-- One message to one endpoint. `id` orders deliveries as they were fanned out.
CREATE TABLE webhooks.delivery (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint        text NOT NULL REFERENCES webhooks.endpoint ON DELETE CASCADE,
    message         text NOT NULL REFERENCES webhooks.message,
    order_key       bytea NOT NULL,
    state           text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at timestamptz NOT NULL,
    leased_until    timestamptz,
    lease_owner     text,
    created_at      timestamptz NOT NULL,
    -- Retries end three days after this: the creation, or when its endpoint was enabled again.
    retry_since     timestamptz NOT NULL,
    finished_at     timestamptz,
    last_status     smallint,
    last_error      text,
    CHECK ((state = 'pending') = (finished_at IS NULL)),
    CHECK (state <> 'delivered' OR attempts >= 1),
    CHECK ((leased_until IS NULL) = (lease_owner IS NULL))
);
CREATE INDEX delivery_due ON webhooks.delivery (next_attempt_at, id) WHERE state = 'pending';
CREATE INDEX delivery_order ON webhooks.delivery (endpoint, order_key, id) WHERE state = 'pending';
CREATE INDEX delivery_endpoint ON webhooks.delivery (endpoint, id DESC);
CREATE INDEX delivery_message ON webhooks.delivery (message);

-- Each try: when, how long, what came back (a short excerpt of the body, never more).
CREATE TABLE webhooks.attempt (
    delivery    bigint NOT NULL REFERENCES webhooks.delivery ON DELETE CASCADE,
    n           integer NOT NULL CHECK (n >= 1),
    started_at  timestamptz NOT NULL,
    duration_ms integer NOT NULL CHECK (duration_ms >= 0),
    status      smallint CHECK (status BETWEEN 100 AND 599),
    error       text,
    response    text,
    worker      text NOT NULL,
    PRIMARY KEY (delivery, n),
    CHECK (status IS NOT NULL OR error IS NOT NULL)
);

-- What operators must look at: endpoints disabled after days of failures.
CREATE TABLE webhooks.alert (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint        text NOT NULL REFERENCES webhooks.endpoint ON DELETE CASCADE,
    kind            text NOT NULL CHECK (kind IN ('endpoint_disabled')),
    detail          text NOT NULL,
    created_at      timestamptz NOT NULL,
    acknowledged_at timestamptz
);
