-- The settlement ledger: double-entry, append-only, in integer minor units of each currency.
--
-- A transfer is a journal entry: two or more postings whose amounts (debit positive, credit
-- negative) sum to zero in each currency. It is `pending` (reserving, as a card hold does) and
-- then `posted` or `voided`, or `posted` at once. Nothing is updated or deleted: a posted
-- transfer is corrected by a reversing one. The database enforces all of it, so no code path,
-- however written, can store an unbalanced entry, overdraw an account that forbids it, or
-- rewrite history.
--
-- Accounts keep TigerBeetle's four counters, maintained by the triggers below: what has been
-- debited and credited, posted and pending. An account with `no_overdraft` can never have its
-- posted balance, less what pending transfers reserve against it, below zero on its normal
-- side (credit for liabilities, revenue and equity; debit for assets and expenses): a merchant
-- payable can never go negative.

CREATE SCHEMA ledger;

CREATE TABLE ledger.account (
    id              text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_:.-]{0,199}$'),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z][A-Z0-9]{2,9}$'),
    kind            text NOT NULL
                    CHECK (kind IN ('asset', 'liability', 'equity', 'revenue', 'expense')),
    no_overdraft    boolean NOT NULL DEFAULT false,
    description     text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    debits_posted   bigint NOT NULL DEFAULT 0 CHECK (debits_posted >= 0),
    credits_posted  bigint NOT NULL DEFAULT 0 CHECK (credits_posted >= 0),
    debits_pending  bigint NOT NULL DEFAULT 0 CHECK (debits_pending >= 0),
    credits_pending bigint NOT NULL DEFAULT 0 CHECK (credits_pending >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, currency),
    CONSTRAINT account_overdraft CHECK (
        NOT no_overdraft
        OR (kind IN ('liability', 'equity', 'revenue')
            AND debits_posted + debits_pending <= credits_posted)
        OR (kind IN ('asset', 'expense')
            AND credits_posted + credits_pending <= debits_posted)
    )
);

-- The counters of accounts without `no_overdraft` (a treasury, fee revenue: the accounts every
-- transfer touches) are spread over shards, one per database session modulo 8, so concurrent
-- transfers do not queue on one row; such an account's counters are its row's plus its shards'.
-- `no_overdraft` accounts keep theirs on the row, where the overdraft check sees them whole.
CREATE TABLE ledger.account_shard (
    account_id      text NOT NULL REFERENCES ledger.account (id),
    shard           smallint NOT NULL CHECK (shard BETWEEN 0 AND 7),
    debits_posted   bigint NOT NULL DEFAULT 0,
    credits_posted  bigint NOT NULL DEFAULT 0,
    debits_pending  bigint NOT NULL DEFAULT 0,
    credits_pending bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, shard)
);

-- An account with every counter summed.
CREATE VIEW ledger.account_balance AS
SELECT a.id, a.currency, a.kind, a.no_overdraft, a.description, a.created_at,
       (a.debits_posted + coalesce(sum(s.debits_posted), 0))::int8 AS debits_posted,
       (a.credits_posted + coalesce(sum(s.credits_posted), 0))::int8 AS credits_posted,
       (a.debits_pending + coalesce(sum(s.debits_pending), 0))::int8 AS debits_pending,
       (a.credits_pending + coalesce(sum(s.credits_pending), 0))::int8 AS credits_pending
FROM ledger.account a LEFT JOIN ledger.account_shard s ON s.account_id = a.id
GROUP BY a.id;

CREATE TABLE ledger.transfer (
    -- Chosen by the caller, so a retried request is the same transfer (idempotency).
    id          text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9_:.-]{0,199}$'),
    state       text NOT NULL CHECK (state IN ('pending', 'posted', 'voided')),
    -- A reversing transfer names the posted transfer it corrects.
    reverses    text REFERENCES ledger.transfer (id),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 500),
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz,
    -- The database transaction that created it: only that one adds its postings.
    created_xact xid8 NOT NULL DEFAULT pg_current_xact_id(),
    CHECK ((state = 'pending') = (resolved_at IS NULL)),
    CHECK (reverses IS NULL OR reverses <> id)
);
-- A posted transfer is reversed at most once.
CREATE UNIQUE INDEX transfer_reversed_once ON ledger.transfer (reverses) WHERE reverses IS NOT NULL;

CREATE TABLE ledger.posting (
    transfer_id text NOT NULL REFERENCES ledger.transfer (id),
    n           smallint NOT NULL CHECK (n >= 0),
    account_id  text NOT NULL,
    currency    text NOT NULL,
    -- Debit positive, credit negative, in the currency's minor unit.
    amount      bigint NOT NULL CHECK (amount <> 0 AND amount > -9223372036854775807),
    PRIMARY KEY (transfer_id, n),
    -- A posting is in its account's currency.
    FOREIGN KEY (account_id, currency) REFERENCES ledger.account (id, currency)
);
CREATE INDEX posting_account ON ledger.posting (account_id);

-- Each transfer balances in every currency and has at least two postings: checked when the
-- database transaction commits, once all its postings are in, once per transfer (on its first
-- posting; the primary key and the sequence from 0 make every transfer have one).
CREATE FUNCTION ledger.check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced text;
    postings   bigint;
BEGIN
    SELECT sum(n), string_agg(currency || ' ' || total, ', ') FILTER (WHERE total <> 0)
    INTO postings, unbalanced FROM (
        SELECT currency, count(*) AS n, sum(amount) AS total FROM ledger.posting
        WHERE transfer_id = NEW.transfer_id GROUP BY currency
    ) t;
    IF postings < 2 THEN
        RAISE EXCEPTION 'transfer % has % posting(s); a transfer needs at least two',
            NEW.transfer_id, postings USING ERRCODE = 'KL001';
    END IF;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'transfer % does not balance: % left over', NEW.transfer_id, unbalanced
            USING ERRCODE = 'KL002';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER posting_balanced AFTER INSERT ON ledger.posting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.n = 0)
    EXECUTE FUNCTION ledger.check_balanced();

-- Postings move their accounts' counters as their transfers' states say, once per account per
-- statement (so the order of a transfer's postings never matters, only its net effect). Every
-- lookup here is by primary key, row by row: a plan that joins the statement's new rows to a
-- whole table would be cached while the table is small and slow down as it grows.
CREATE FUNCTION ledger.apply_postings() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT np.transfer_id,
               (SELECT t.state FROM ledger.transfer t
                WHERE t.id = np.transfer_id AND t.created_xact = pg_current_xact_id()) AS state,
               EXISTS (SELECT 1 FROM ledger.posting p
                       WHERE p.transfer_id = np.transfer_id AND p.n = 0) AS numbered
        FROM (SELECT DISTINCT transfer_id FROM new_postings) np
    LOOP
        IF r.state IS NULL THEN
            RAISE EXCEPTION 'transfer % was written by another database transaction: its postings are fixed',
                r.transfer_id USING ERRCODE = 'KL004';
        END IF;
        IF r.state = 'voided' THEN
            RAISE EXCEPTION 'transfer % is voided; it takes no postings', r.transfer_id
                USING ERRCODE = 'KL003';
        END IF;
        -- The balance check runs on posting 0, so every transfer has one from its first statement.
        IF NOT r.numbered THEN
            RAISE EXCEPTION 'transfer %: postings are numbered from 0', r.transfer_id
                USING ERRCODE = 'KL001';
        END IF;
    END LOOP;
    PERFORM ledger.move_counters(array_agg(account_id ORDER BY account_id), array_agg(dp ORDER BY account_id),
                                 array_agg(cp ORDER BY account_id), array_agg(dq ORDER BY account_id),
                                 array_agg(cq ORDER BY account_id))
    FROM (
        SELECT account_id,
               coalesce(sum(amount) FILTER (WHERE state = 'posted' AND amount > 0), 0)::int8 AS dp,
               coalesce(-sum(amount) FILTER (WHERE state = 'posted' AND amount < 0), 0)::int8 AS cp,
               coalesce(sum(amount) FILTER (WHERE state = 'pending' AND amount > 0), 0)::int8 AS dq,
               coalesce(-sum(amount) FILTER (WHERE state = 'pending' AND amount < 0), 0)::int8 AS cq
        FROM (
            SELECT np.account_id, np.amount,
                   (SELECT t.state FROM ledger.transfer t WHERE t.id = np.transfer_id) AS state
            FROM new_postings np
        ) x
        GROUP BY account_id
    ) d;
    RETURN NULL;
END $$;
CREATE TRIGGER postings_applied AFTER INSERT ON ledger.posting
    REFERENCING NEW TABLE AS new_postings
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.apply_postings();

-- Adds counter deltas per account (ids in ascending order): to the rows of `no_overdraft`
-- accounts, locked in that order so concurrent transfers never deadlock (the overdraft check
-- runs on each), and to this session's shard of the others.
CREATE FUNCTION ledger.move_counters(ids text[], dp bigint[], cp bigint[], dq bigint[], cq bigint[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    guarded boolean;
BEGIN
    FOR i IN 1 .. coalesce(array_length(ids, 1), 0) LOOP
        SELECT no_overdraft INTO guarded FROM ledger.account WHERE id = ids[i];
        IF guarded THEN
            UPDATE ledger.account SET
                debits_posted   = debits_posted   + dp[i],
                credits_posted  = credits_posted  + cp[i],
                debits_pending  = debits_pending  + dq[i],
                credits_pending = credits_pending + cq[i]
            WHERE id = ids[i];
        ELSE
            INSERT INTO ledger.account_shard AS s
                (account_id, shard, debits_posted, credits_posted, debits_pending, credits_pending)
            VALUES (ids[i], (pg_backend_pid() % 8)::smallint, dp[i], cp[i], dq[i], cq[i])
            ON CONFLICT (account_id, shard) DO UPDATE SET
                debits_posted   = s.debits_posted   + EXCLUDED.debits_posted,
                credits_posted  = s.credits_posted  + EXCLUDED.credits_posted,
                debits_pending  = s.debits_pending  + EXCLUDED.debits_pending,
                credits_pending = s.credits_pending + EXCLUDED.credits_pending;
        END IF;
    END LOOP;
END $$;

-- A transfer only ever moves from pending to posted or voided; its postings move from the
-- pending counters to the posted ones, or leave them.
CREATE FUNCTION ledger.resolve_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.state <> 'pending' OR NEW.state NOT IN ('posted', 'voided')
       OR NEW.id <> OLD.id OR NEW.reverses IS DISTINCT FROM OLD.reverses
       OR NEW.description <> OLD.description OR NEW.metadata <> OLD.metadata
       OR NEW.created_at <> OLD.created_at OR NEW.created_xact <> OLD.created_xact THEN
        RAISE EXCEPTION 'transfer % is %: the ledger is append-only (a pending transfer is posted or voided; a posted one is reversed)',
            OLD.id, OLD.state USING ERRCODE = 'KL004';
    END IF;
    PERFORM ledger.move_counters(
        array_agg(account_id ORDER BY account_id),
        array_agg(CASE WHEN NEW.state = 'posted' THEN debits ELSE 0 END ORDER BY account_id),
        array_agg(CASE WHEN NEW.state = 'posted' THEN credits ELSE 0 END ORDER BY account_id),
        array_agg(-debits ORDER BY account_id), array_agg(-credits ORDER BY account_id))
    FROM (
        SELECT account_id,
               sum(CASE WHEN amount > 0 THEN amount ELSE 0 END)::int8 AS debits,
               sum(CASE WHEN amount < 0 THEN -amount ELSE 0 END)::int8 AS credits
        FROM ledger.posting WHERE transfer_id = OLD.id GROUP BY account_id
    ) p;
    RETURN NEW;
END $$;
CREATE TRIGGER transfer_resolved BEFORE UPDATE ON ledger.transfer
    FOR EACH ROW EXECUTE FUNCTION ledger.resolve_transfer();

CREATE FUNCTION ledger.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on ledger.%: the ledger is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'KL004';
END $$;
CREATE TRIGGER transfer_kept BEFORE DELETE ON ledger.transfer
    FOR EACH ROW EXECUTE FUNCTION ledger.append_only();
CREATE TRIGGER posting_kept BEFORE UPDATE OR DELETE ON ledger.posting
    FOR EACH ROW EXECUTE FUNCTION ledger.append_only();
CREATE TRIGGER posting_truncate BEFORE TRUNCATE ON ledger.posting
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.append_only();
CREATE TRIGGER transfer_truncate BEFORE TRUNCATE ON ledger.transfer
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.append_only();

-- An account's identity never changes and it is never deleted; its counters start at zero and
-- only the posting and transfer triggers move them (a statement of its own cannot).
CREATE FUNCTION ledger.account_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'DELETE on ledger.account: the ledger is append-only' USING ERRCODE = 'KL004';
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.debits_posted <> 0 OR NEW.credits_posted <> 0 OR NEW.debits_pending <> 0
           OR NEW.credits_pending <> 0 THEN
            RAISE EXCEPTION 'account % must open with zero balances', NEW.id USING ERRCODE = 'KL004';
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.id <> OLD.id OR NEW.currency <> OLD.currency OR NEW.kind <> OLD.kind
       OR NEW.created_at <> OLD.created_at THEN
        RAISE EXCEPTION 'account %: its id, currency and kind never change', OLD.id
            USING ERRCODE = 'KL004';
    END IF;
    IF pg_trigger_depth() < 2 AND (NEW.debits_posted <> OLD.debits_posted
        OR NEW.credits_posted <> OLD.credits_posted OR NEW.debits_pending <> OLD.debits_pending
        OR NEW.credits_pending <> OLD.credits_pending) THEN
        RAISE EXCEPTION 'account %: balances move only through transfers', OLD.id
            USING ERRCODE = 'KL004';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER account_kept BEFORE INSERT OR UPDATE OR DELETE ON ledger.account
    FOR EACH ROW EXECUTE FUNCTION ledger.account_kept();

CREATE FUNCTION ledger.shard_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF pg_trigger_depth() < 2 THEN
        RAISE EXCEPTION '% on ledger.account_shard: balances move only through transfers', TG_OP
            USING ERRCODE = 'KL004';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END $$;
CREATE TRIGGER shard_kept BEFORE INSERT OR UPDATE OR DELETE ON ledger.account_shard
    FOR EACH ROW EXECUTE FUNCTION ledger.shard_kept();
CREATE TRIGGER shard_truncate BEFORE TRUNCATE ON ledger.account_shard
    FOR EACH STATEMENT EXECUTE FUNCTION ledger.append_only();
