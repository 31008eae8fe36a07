-- The web pages (hosted checkout, the merchant dashboard, the operator pages).

-- A signed-in browser: the cookie holds a 256-bit random secret, stored here only as its
-- SHA-256. Every sign-in makes a new session (a session id set before sign-in is never
-- promoted, so fixation gets nothing). The session acts with the API key it was opened with:
-- revoking or expiring that key ends it. `csrf` is the token every form and script request
-- must carry.
CREATE TABLE api.web_session (
    web_session_id bytea PRIMARY KEY CHECK (octet_length(web_session_id) = 32),
    key_id         text NOT NULL REFERENCES api.key ON DELETE CASCADE,
    csrf           text NOT NULL CHECK (length(csrf) >= 32),
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    signed_out_at  timestamptz,
    CHECK (expires_at > created_at),
    CHECK (signed_out_at IS NULL OR signed_out_at >= created_at)
);
CREATE INDEX web_session_expires ON api.web_session (expires_at);
CREATE INDEX web_session_key ON api.web_session (key_id);

-- A locked quote on the checkout page: the customer pays `amount_in` of `input_mint` (at
-- most: it is the transaction's `max_in`) for the invoice's `amount_out`, through `pool`.
-- The transaction request honours it only before `expires_at`, which is never further than a
-- blockhash lives (90 s is the ceiling; the API's setting is shorter).
CREATE TABLE api.checkout_quote (
    checkout_quote_id text PRIMARY KEY CHECK (checkout_quote_id ~ '^q_[0-9a-f]{24}$'),
    payment           chain.pubkey NOT NULL,
    input_mint        chain.pubkey NOT NULL,
    pool              chain.pubkey NOT NULL,
    amount_in         numeric(20, 0) NOT NULL CHECK (amount_in > 0),
    amount_out        numeric(20, 0) NOT NULL CHECK (amount_out > 0),
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL,
    CHECK (expires_at > created_at AND expires_at <= created_at + interval '90 seconds')
);
CREATE INDEX checkout_quote_payment ON api.checkout_quote (payment, created_at DESC);
CREATE INDEX checkout_quote_expires ON api.checkout_quote (expires_at);

-- Where the checkout sends the customer back: after paying (`return_url`) or instead of paying
-- (`cancel_url`), each with `payment` and `order_id` added. https only; set by the merchant.
CREATE TABLE api.checkout_setting (
    merchant   chain.pubkey PRIMARY KEY,
    return_url text CHECK (return_url ~ '^https://[^\s]+$' AND length(return_url) <= 2000),
    cancel_url text CHECK (cancel_url ~ '^https://[^\s]+$' AND length(cancel_url) <= 2000),
    updated_at timestamptz NOT NULL DEFAULT now()
);
