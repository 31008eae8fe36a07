-- Stablecoin payouts from the treasury wallet, packed into as few transactions as fit: a
-- merchant (a marketplace paying its sellers, a platform paying its workers) paying many
-- wallets from what Kassa holds for it, or the on-ramp paying a customer the stablecoins its
-- bank transfer bought. The funding account is reserved when the payout is made; what
-- finalizes on chain is booked, what fails stays with the funder.

CREATE TABLE settlement.mass_payout (
    id          text PRIMARY KEY CHECK (id ~ '^mp_[0-9a-f]{24}$'),
    -- The merchant that pays, or none for the on-ramp.
    merchant    chain.pubkey REFERENCES settlement.merchant,
    -- The ledger account that pays: the merchant's payable, or `onramp:owed:<c>`.
    funding     text NOT NULL,
    mint        chain.pubkey NOT NULL REFERENCES settlement.currency,
    total       bigint NOT NULL CHECK (total > 0),
    items       integer NOT NULL CHECK (items > 0),
    -- SHA-256 of the recipients' list: the same key with another list is refused.
    digest      text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
    state       text NOT NULL CHECK (state IN ('created', 'done')),
    -- What reached the wallets and what failed, once done.
    paid        bigint CHECK (paid >= 0),
    failed      bigint CHECK (failed >= 0),
    created_at  timestamptz NOT NULL,
    done_at     timestamptz,
    CHECK ((state = 'done') = (done_at IS NOT NULL AND paid IS NOT NULL AND failed IS NOT NULL)),
    CHECK (state <> 'done' OR paid + failed = total)
);

-- One recipient. `signature` is recorded before its transaction is sent, so a crash after
-- sending finds it by its signature and never pays it twice.
CREATE TABLE settlement.mass_payout_item (
    payout      text NOT NULL REFERENCES settlement.mass_payout,
    n           integer NOT NULL CHECK (n >= 1),
    wallet      chain.pubkey NOT NULL,
    amount      bigint NOT NULL CHECK (amount > 0),
    reference   text NOT NULL DEFAULT '' CHECK (length(reference) <= 140),
    state       text NOT NULL CHECK (state IN ('pending', 'sent', 'paid', 'failed')),
    signature   chain.signature,
    -- The last block height its blockhash can land at: past it (at finalized), a transaction
    -- the cluster never saw never will, and only then is the item sent again.
    last_valid  bigint CHECK (last_valid >= 0),
    error       text,
    PRIMARY KEY (payout, n),
    CHECK ((state = 'pending') = (signature IS NULL)),
    CHECK ((signature IS NULL) = (last_valid IS NULL)),
    CHECK ((state = 'failed') = (error IS NOT NULL))
);
CREATE INDEX mass_payout_item_open ON settlement.mass_payout_item (payout)
    WHERE state IN ('pending', 'sent');

-- On-ramp customers: a bank transfer to Kassa's account whose remittance carries a customer's
-- reference buys the stablecoin for its wallet. References are short and in capitals, as bank
-- remittance fields keep them (a base58 address would not survive a bank upper-casing it).
CREATE TABLE settlement.onramp_wallet (
    reference  text PRIMARY KEY CHECK (reference ~ '^ONR-[0-9A-Z]{8}$'),
    wallet     chain.pubkey NOT NULL,
    mint       chain.pubkey NOT NULL REFERENCES settlement.currency,
    holder     text NOT NULL CHECK (length(holder) BETWEEN 1 AND 70),
    spread_bps integer NOT NULL CHECK (spread_bps BETWEEN 0 AND 1000),
    created_at timestamptz NOT NULL,
    UNIQUE (wallet, mint)
);

-- A statement line can be an on-ramp purchase, paid by a stablecoin payout.
ALTER TABLE settlement.statement_entry
    DROP CONSTRAINT statement_entry_outcome_check,
    ADD CONSTRAINT statement_entry_outcome_check
        CHECK (outcome IN ('settled', 'returned', 'onramp', 'exception')),
    ADD COLUMN onramp text REFERENCES settlement.mass_payout,
    ADD CHECK ((outcome = 'onramp') = (onramp IS NOT NULL)),
    -- An operator's resolution of an exception: what was done, by whom.
    ADD COLUMN resolution text CHECK (length(resolution) BETWEEN 1 AND 500),
    ADD COLUMN resolved_by text,
    ADD CHECK ((resolved_at IS NULL) = (resolution IS NULL AND resolved_by IS NULL)),
    ADD CHECK (resolved_at IS NULL OR outcome = 'exception');
