-- Projections of the credit program: pools with their books, lines, advances.

CREATE TABLE credit_pools (
    address          pubkey PRIMARY KEY,
    mint             pubkey NOT NULL UNIQUE,
    vault            pubkey NOT NULL,
    senior_mint      pubkey NOT NULL,
    junior_mint      pubkey NOT NULL,
    admin            pubkey NOT NULL,
    underwriter      pubkey NOT NULL,
    senior_cap_bps   bigint NOT NULL CHECK (senior_cap_bps >= 0),
    senior_apr_bps   integer NOT NULL CHECK (senior_apr_bps BETWEEN 0 AND 10000),
    protocol_fee_bps integer NOT NULL CHECK (protocol_fee_bps BETWEEN 0 AND 10000),
    admin_fee_bps    integer NOT NULL CHECK (admin_fee_bps BETWEEN 0 AND 10000),
    allowlist        boolean NOT NULL,
    allowed          text[] NOT NULL,
    cash             u64 NOT NULL,
    principal        u64 NOT NULL,
    receivable       u64 NOT NULL,
    senior_value     u64 NOT NULL,
    junior_value     u64 NOT NULL,
    protocol_fees    u64 NOT NULL,
    admin_fees       u64 NOT NULL,
    impaired_senior  u64 NOT NULL,
    impaired_junior  u64 NOT NULL,
    losses           u64 NOT NULL,
    deposits_total   u64 NOT NULL,
    income_total     u64 NOT NULL,
    fees_withdrawn   u64 NOT NULL,
    seq              bigint NOT NULL CHECK (seq >= 0),
    -- The pool identity of DESIGN.md §3.3, to the unit.
    CHECK (cash + principal + receivable
           = senior_value + junior_value + protocol_fees + admin_fees
             + impaired_senior + impaired_junior),
    CHECK (protocol_fees + admin_fees <= cash)
);

CREATE TABLE credit_lines (
    address          pubkey PRIMARY KEY,
    pool             pubkey NOT NULL,
    borrower         pubkey NOT NULL,
    merchant         pubkey,
    kind             text NOT NULL CHECK (kind IN ('revolving', 'receivable')),
    status           text NOT NULL CHECK (status IN ('good_standing', 'delayed', 'defaulted', 'written_off')),
    credit_limit     u64 NOT NULL,
    apr_bps          integer NOT NULL CHECK (apr_bps BETWEEN 0 AND 10000),
    late_apr_bps     integer NOT NULL CHECK (late_apr_bps BETWEEN 0 AND 10000),
    advance_rate_bps integer NOT NULL CHECK (advance_rate_bps BETWEEN 0 AND 10000),
    maturity         bigint NOT NULL,
    payment_interval bigint NOT NULL CHECK (payment_interval > 0),
    grace_seconds    bigint NOT NULL CHECK (grace_seconds >= 0),
    principal        u64 NOT NULL,
    drawn_total      u64 NOT NULL,
    principal_repaid u64 NOT NULL,
    interest_paid    u64 NOT NULL,
    fees_paid        u64 NOT NULL,
    recovered        u64 NOT NULL,
    impaired         u64 NOT NULL,
    written_off      u64 NOT NULL,
    seq              bigint NOT NULL CHECK (seq >= 0),
    UNIQUE (pool, borrower),
    CHECK (principal <= credit_limit),
    CHECK ((kind = 'receivable') = (merchant IS NOT NULL)),
    CHECK (status <> 'written_off' OR (principal = 0 AND impaired = 0)),
    -- Every unit drawn is outstanding, repaid or written off.
    CHECK (status = 'written_off' OR drawn_total = principal + principal_repaid)
);

CREATE TABLE advances (
    address   pubkey PRIMARY KEY,
    line      pubkey NOT NULL,
    payment   pubkey NOT NULL UNIQUE,
    vault     pubkey NOT NULL,
    amount    u64 NOT NULL CHECK (amount > 0),
    arrived   u64 NOT NULL,
    settled   boolean NOT NULL,
    shortfall u64 NOT NULL,
    seq       bigint NOT NULL CHECK (seq >= 0),
    CHECK (settled OR shortfall = 0),
    CHECK (shortfall <= amount)
);
