-- Mass payouts in stablecoins: a merchant (a marketplace paying its sellers, a platform paying
-- its workers) pays many wallets from what Kassa holds for it, out of the treasury wallet,
-- packed into as few transactions as fit. The merchant's payable is reserved when the payout
-- is made; what finalizes on chain is booked, what fails stays the merchant's.

CREATE TABLE settlement.mass_payout (
    id          text PRIMARY KEY CHECK (id ~ '^mp_[0-9a-f]{24}$'),
    merchant    chain.pubkey NOT NULL REFERENCES settlement.merchant,
    mint        chain.pubkey NOT NULL REFERENCES settlement.currency,
    total       bigint NOT NULL CHECK (total > 0),
    items       integer NOT NULL CHECK (items > 0),
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
    -- The blockhash it was signed with: once expired, a transaction never seen never lands.
    blockhash   bytea CHECK (octet_length(blockhash) = 32),
    error       text,
    PRIMARY KEY (payout, n),
    CHECK ((state = 'pending') = (signature IS NULL)),
    CHECK ((signature IS NULL) = (blockhash IS NULL)),
    CHECK ((state = 'failed') = (error IS NOT NULL))
);
CREATE INDEX mass_payout_item_open ON settlement.mass_payout_item (payout)
    WHERE state IN ('pending', 'sent');
