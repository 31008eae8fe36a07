-- Settlement: what the ledger is fed from the chain, how merchants are settled, payouts to
-- partner banks, the statements they send back, and the reconciliation between the three.

CREATE SCHEMA settlement;

-- The settlement inbox: one row per money-moving event and commitment phase, written by the
-- indexer in the same statement that stores the event (`confirmed`), marks its transaction
-- finalized (`finalized`) or rolls it back (`reverted`), so the ledger misses nothing the
-- chain did and books nothing it did not. Deleted once booked.
CREATE TABLE settlement.inbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    signature   chain.signature NOT NULL,
    ix_index    integer NOT NULL,
    inner_index integer NOT NULL,
    phase       text NOT NULL CHECK (phase IN ('confirmed', 'finalized', 'reverted'))
);

-- The events the ledger books (their names as the payments program's IDL spells them).
CREATE FUNCTION settlement.books(name text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT name IN ('PaymentAuthorized', 'PaymentCaptured', 'PaymentVoided', 'PaymentReclaimed',
                    'PaymentRejected', 'PaymentRefunded', 'DisputeResolved')
$$;

-- The stablecoins the ledger books, by mint: the code its accounts carry and its decimals.
CREATE TABLE settlement.currency (
    mint     chain.pubkey PRIMARY KEY,
    code     text NOT NULL UNIQUE CHECK (code ~ '^[A-Z][A-Z0-9]{2,9}$'),
    decimals smallint NOT NULL CHECK (decimals BETWEEN 0 AND 18)
);

-- The treasury wallet: the settlement wallet of every fiat merchant, and the source of the
-- refunds Kassa funds for them. One row; it never changes under a booked ledger.
CREATE TABLE settlement.treasury (
    id         boolean PRIMARY KEY DEFAULT true CHECK (id),
    wallet     chain.pubkey NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Kassa's own accounts at partner banks, the debtor of payouts in their currency. The id is
-- short enough that a batch id made of it (`pb_<yyyymmdd>_<id>`) fits a pain.001 `MsgId`
-- (35 characters).
CREATE TABLE settlement.bank_account (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{0,22}$'),
    currency   text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    holder     text NOT NULL CHECK (length(holder) BETWEEN 1 AND 70),
    iban       text NOT NULL UNIQUE CHECK (iban ~ '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$'),
    bic        text NOT NULL CHECK (bic ~ '^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$'),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- How each merchant is settled. `stablecoin`: captures pay its own wallet on chain and Kassa
-- owes it nothing after. `fiat`: its settlement wallet is the treasury's (checked when set up,
-- and by reconciliation); captures leave it a payable that daily payouts convert and send to
-- its bank account through one of Kassa's.
CREATE TABLE settlement.merchant (
    merchant        chain.pubkey PRIMARY KEY,
    mode            text NOT NULL CHECK (mode IN ('stablecoin', 'fiat')),
    payout_currency text CHECK (payout_currency ~ '^[A-Z]{3}$'),
    bank_account    text REFERENCES settlement.bank_account,
    holder          text CHECK (length(holder) BETWEEN 1 AND 70),
    iban            text CHECK (iban ~ '^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$'),
    bic             text CHECK (bic ~ '^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$'),
    -- The conversion spread Kassa keeps, in basis points.
    spread_bps      integer NOT NULL DEFAULT 0 CHECK (spread_bps BETWEEN 0 AND 1000),
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CHECK (updated_at >= created_at),
    CHECK ((mode = 'fiat') = (payout_currency IS NOT NULL AND bank_account IS NOT NULL
                              AND holder IS NOT NULL AND iban IS NOT NULL AND bic IS NOT NULL))
);

-- Events the booking could not book (a mint without a currency, a rule the ledger refused):
-- kept for an operator with the reason, never skipped silently. Resolved by booking them.
CREATE TABLE settlement.booking_exception (
    signature   chain.signature NOT NULL,
    ix_index    integer NOT NULL,
    inner_index integer NOT NULL,
    phase       text NOT NULL CHECK (phase IN ('confirmed', 'finalized', 'reverted')),
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL,
    resolved_at timestamptz,
    PRIMARY KEY (signature, ix_index, inner_index, phase)
);

-- A payout batch: one file to one of Kassa's banks for one business day.
CREATE TABLE settlement.payout_batch (
    id            text PRIMARY KEY CHECK (id ~ '^pb_[0-9]{8}_[a-z0-9_-]{1,23}$'),
    bank_account  text NOT NULL REFERENCES settlement.bank_account,
    currency      text NOT NULL,
    business_date date NOT NULL,
    state         text NOT NULL CHECK (state IN ('open', 'sent')),
    -- The pain.001 file as sent, and its SHA-256.
    file          text,
    file_sha256   text CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    created_at    timestamptz NOT NULL,
    sent_at       timestamptz,
    UNIQUE (bank_account, business_date),
    CHECK ((state = 'sent') = (file IS NOT NULL AND file_sha256 IS NOT NULL AND sent_at IS NOT NULL))
);

-- One payout of one merchant's balance: converted at the cut, sent in its batch's file,
-- settled when the bank's statement shows the debit, returned when it shows the return.
CREATE TABLE settlement.payout (
    id              text PRIMARY KEY CHECK (id ~ '^po_[0-9a-f]{24}$'),
    batch           text NOT NULL REFERENCES settlement.payout_batch,
    merchant        chain.pubkey NOT NULL REFERENCES settlement.merchant,
    currency        text NOT NULL,
    amount          bigint NOT NULL CHECK (amount > 0),
    -- What was converted for it at the cut: per stablecoin, the amount, the day's rate (units
    -- of `currency` per unit), the spread and what it came to.
    conversions     jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(conversions) = 'array'),
    -- Where it goes, as it was when the payout was made.
    holder          text NOT NULL,
    iban            text NOT NULL,
    bic             text NOT NULL,
    end_to_end_id   text NOT NULL UNIQUE CHECK (end_to_end_id ~ '^[A-Za-z0-9-]{1,35}$'),
    state           text NOT NULL CHECK (state IN ('created', 'sent', 'settled', 'returned')),
    return_reason   text,
    created_at      timestamptz NOT NULL,
    sent_at         timestamptz,
    settled_at      timestamptz,
    returned_at     timestamptz,
    UNIQUE (batch, merchant),
    CHECK ((state = 'returned') = (return_reason IS NOT NULL AND returned_at IS NOT NULL)),
    CHECK (state = 'created' OR sent_at IS NOT NULL),
    CHECK (state <> 'settled' OR settled_at IS NOT NULL)
);
CREATE INDEX payout_merchant ON settlement.payout (merchant, created_at);

-- A bank statement (camt.053) as imported: once per (account, statement id) and per file.
CREATE TABLE settlement.statement (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    bank_account  text NOT NULL REFERENCES settlement.bank_account,
    message_id    text NOT NULL,
    statement_id  text NOT NULL,
    currency      text NOT NULL,
    opening       bigint NOT NULL,
    opening_date  date NOT NULL,
    closing       bigint NOT NULL,
    closing_date  date NOT NULL,
    file_sha256   text NOT NULL UNIQUE CHECK (file_sha256 ~ '^[0-9a-f]{64}$'),
    imported_at   timestamptz NOT NULL,
    UNIQUE (bank_account, statement_id),
    CHECK (closing_date >= opening_date)
);

-- Each entry of a statement and what it was matched to. Nothing is dropped: what matches
-- nothing is an `exception` for an operator.
CREATE TABLE settlement.statement_entry (
    statement     bigint NOT NULL REFERENCES settlement.statement,
    n             integer NOT NULL CHECK (n >= 1),
    amount        bigint NOT NULL CHECK (amount >= 0),
    credit        boolean NOT NULL,
    booking_date  date NOT NULL,
    bank_ref      text,
    end_to_end_id text,
    return_reason text,
    remittance    text,
    outcome       text NOT NULL CHECK (outcome IN ('settled', 'returned', 'exception')),
    payout        text REFERENCES settlement.payout,
    reason        text,
    resolved_at   timestamptz,
    PRIMARY KEY (statement, n),
    CHECK ((outcome = 'exception') = (payout IS NULL AND reason IS NOT NULL))
);
CREATE INDEX statement_entry_open ON settlement.statement_entry (statement)
    WHERE outcome = 'exception' AND resolved_at IS NULL;

-- Each reconciliation: a ledger account against what the chain or the bank says.
CREATE TABLE settlement.reconciliation (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_at      timestamptz NOT NULL,
    account     text NOT NULL,
    source      text NOT NULL CHECK (source IN ('chain', 'bank')),
    what        text NOT NULL,
    ledger      bigint NOT NULL,
    external    bigint NOT NULL,
    difference  bigint GENERATED ALWAYS AS (ledger - external) STORED
);
CREATE INDEX reconciliation_run ON settlement.reconciliation (run_at);
