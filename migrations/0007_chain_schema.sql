-- The chain area gets its schema (DESIGN §1: one schema per area), its tables singular names,
-- and its keys their binary form: an address is 32 bytes and a signature 64 (`bytea`), not
-- 32-44 and 64-88 base58 characters. Smaller rows and indexes, a check that reads the length
-- header, and no base58 on the apply path; `chain.base58()` renders a key for people.

CREATE SCHEMA chain;

CREATE FUNCTION chain.base58(key bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    alphabet CONSTANT text := '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
    n numeric := 0;
    out text := '';
BEGIN
    FOR i IN 0 .. length(key) - 1 LOOP
        n := n * 256 + get_byte(key, i);
    END LOOP;
    WHILE n > 0 LOOP
        out := substr(alphabet, (n % 58)::int + 1, 1) || out;
        n := div(n, 58);
    END LOOP;
    FOR i IN 0 .. length(key) - 1 LOOP
        EXIT WHEN get_byte(key, i) <> 0;
        out := '1' || out;
    END LOOP;
    RETURN out;
END
$$;
COMMENT ON FUNCTION chain.base58(bytea) IS 'A key or signature as base58 text, for people reading the tables';

CREATE FUNCTION chain.base58_decode(text text) RETURNS bytea
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    alphabet CONSTANT text := '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
    n numeric := 0;
    digit int;
    out bytea := '';
BEGIN
    FOR i IN 1 .. length(text) LOOP
        digit := strpos(alphabet, substr(text, i, 1)) - 1;
        IF digit < 0 THEN
            RAISE EXCEPTION 'not base58: %', text;
        END IF;
        n := n * 58 + digit;
    END LOOP;
    WHILE n > 0 LOOP
        out := set_byte('\x00'::bytea, 0, (n % 256)::int) || out;
        n := div(n, 256);
    END LOOP;
    FOR i IN 1 .. length(text) LOOP
        EXIT WHEN substr(text, i, 1) <> '1';
        out := '\x00'::bytea || out;
    END LOOP;
    RETURN out;
END
$$;

-- Used once, below, for the array columns (a conversion expression cannot hold a subquery).
CREATE FUNCTION chain.base58_decode_each(keys text[]) RETURNS bytea[]
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT coalesce(array_agg(chain.base58_decode(k) ORDER BY i), '{}')
    FROM unnest(keys) WITH ORDINALITY AS u(k, i)
$$;
CREATE FUNCTION chain.base58_decode_concat(keys text[]) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT coalesce(string_agg(chain.base58_decode(k), ''::bytea ORDER BY i), ''::bytea)
    FROM unnest(keys) WITH ORDINALITY AS u(k, i)
$$;

CREATE DOMAIN chain.pubkey AS bytea CHECK (octet_length(VALUE) = 32);
CREATE DOMAIN chain.signature AS bytea CHECK (octet_length(VALUE) = 64);

DROP VIEW merchant_balances;
DROP VIEW payment_timeline;

-- Raw ingest.
ALTER TABLE transactions SET SCHEMA chain;
ALTER TABLE chain.transactions RENAME TO transaction;
ALTER TABLE chain.transaction
    ALTER COLUMN signature TYPE chain.signature USING chain.base58_decode(signature);
ALTER INDEX chain.transactions_pkey RENAME TO transaction_pkey;
ALTER INDEX chain.transactions_unfinalized RENAME TO transaction_unfinalized;
ALTER FUNCTION transactions_are_append_only() SET SCHEMA chain;
ALTER FUNCTION chain.transactions_are_append_only() RENAME TO transaction_is_append_only;
ALTER TRIGGER transactions_append_only ON chain.transaction RENAME TO transaction_append_only;

ALTER TABLE instructions SET SCHEMA chain;
ALTER TABLE chain.instructions RENAME TO instruction;
ALTER TABLE chain.instruction
    ALTER COLUMN signature TYPE chain.signature USING chain.base58_decode(signature),
    ALTER COLUMN program TYPE chain.pubkey USING chain.base58_decode(program),
    -- The instruction's accounts in order, 32 bytes each.
    ALTER COLUMN accounts TYPE bytea USING chain.base58_decode_concat(accounts),
    ADD CONSTRAINT instruction_accounts_are_keys CHECK (octet_length(accounts) % 32 = 0);
ALTER INDEX chain.instructions_pkey RENAME TO instruction_pkey;

ALTER TABLE events SET SCHEMA chain;
ALTER TABLE chain.events RENAME TO event;
ALTER TABLE chain.event
    ALTER COLUMN signature TYPE chain.signature USING chain.base58_decode(signature),
    ALTER COLUMN program TYPE chain.pubkey USING chain.base58_decode(program),
    ALTER COLUMN entity TYPE chain.pubkey USING chain.base58_decode(entity),
    ALTER COLUMN actor TYPE chain.pubkey USING chain.base58_decode(actor);
ALTER INDEX chain.events_pkey RENAME TO event_pkey;
ALTER INDEX chain.events_entity_seq RENAME TO event_entity_seq;

ALTER TABLE token_balance_changes SET SCHEMA chain;
ALTER TABLE chain.token_balance_changes RENAME TO token_balance_change;
ALTER TABLE chain.token_balance_change
    ALTER COLUMN signature TYPE chain.signature USING chain.base58_decode(signature),
    ALTER COLUMN account TYPE chain.pubkey USING chain.base58_decode(account),
    ALTER COLUMN mint TYPE chain.pubkey USING chain.base58_decode(mint),
    ALTER COLUMN owner TYPE chain.pubkey USING chain.base58_decode(owner);
ALTER INDEX chain.token_balance_changes_pkey RENAME TO token_balance_change_pkey;

ALTER TABLE parked SET SCHEMA chain;
ALTER TABLE chain.parked
    ALTER COLUMN signature TYPE chain.signature USING chain.base58_decode(signature),
    ALTER COLUMN program TYPE chain.pubkey USING chain.base58_decode(program);

ALTER TABLE ingest_cursor SET SCHEMA chain;
ALTER TABLE chain.ingest_cursor RENAME TO cursor;
ALTER TABLE chain.cursor
    ALTER COLUMN program TYPE chain.pubkey USING chain.base58_decode(program),
    ALTER COLUMN signature TYPE chain.signature USING chain.base58_decode(signature);
ALTER INDEX chain.ingest_cursor_pkey RENAME TO cursor_pkey;

ALTER TABLE cluster SET SCHEMA chain;

-- Projections.
ALTER TABLE protocol_config SET SCHEMA chain;
ALTER TABLE chain.protocol_config RENAME TO config;
ALTER TABLE chain.config
    ALTER COLUMN address TYPE chain.pubkey USING chain.base58_decode(address),
    ALTER COLUMN admin TYPE chain.pubkey USING chain.base58_decode(admin),
    ALTER COLUMN compliance_authority TYPE chain.pubkey USING chain.base58_decode(compliance_authority),
    ALTER COLUMN arbiter TYPE chain.pubkey USING chain.base58_decode(arbiter),
    ALTER COLUMN fee_receiver TYPE chain.pubkey USING chain.base58_decode(fee_receiver),
    ALTER COLUMN hooks TYPE chain.pubkey[] USING chain.base58_decode_each(hooks),
    ALTER COLUMN blocked TYPE chain.pubkey[] USING chain.base58_decode_each(blocked);
ALTER INDEX chain.protocol_config_pkey RENAME TO config_pkey;

ALTER TABLE merchants SET SCHEMA chain;
ALTER TABLE chain.merchants RENAME TO merchant;
ALTER TABLE chain.merchant
    ALTER COLUMN address TYPE chain.pubkey USING chain.base58_decode(address),
    ALTER COLUMN authority TYPE chain.pubkey USING chain.base58_decode(authority),
    ALTER COLUMN merchant_id TYPE chain.pubkey USING chain.base58_decode(merchant_id),
    ALTER COLUMN settlement_mint TYPE chain.pubkey USING chain.base58_decode(settlement_mint),
    ALTER COLUMN settlement_wallet TYPE chain.pubkey USING chain.base58_decode(settlement_wallet);
ALTER INDEX chain.merchants_pkey RENAME TO merchant_pkey;

ALTER TABLE payments SET SCHEMA chain;
ALTER TABLE chain.payments RENAME TO payment;
ALTER TABLE chain.payment
    ALTER COLUMN address TYPE chain.pubkey USING chain.base58_decode(address),
    ALTER COLUMN merchant TYPE chain.pubkey USING chain.base58_decode(merchant),
    ALTER COLUMN mint TYPE chain.pubkey USING chain.base58_decode(mint),
    ALTER COLUMN payer TYPE chain.pubkey USING chain.base58_decode(payer),
    ALTER COLUMN assignee TYPE chain.pubkey USING chain.base58_decode(assignee),
    ALTER COLUMN input_mint TYPE chain.pubkey USING chain.base58_decode(input_mint);
ALTER INDEX chain.payments_pkey RENAME TO payment_pkey;
ALTER INDEX chain.payments_merchant RENAME TO payment_merchant;
ALTER INDEX chain.payments_payer RENAME TO payment_payer;

ALTER TABLE pools SET SCHEMA chain;
ALTER TABLE chain.pools RENAME TO conversion_pool;
ALTER TABLE chain.conversion_pool
    ALTER COLUMN address TYPE chain.pubkey USING chain.base58_decode(address),
    ALTER COLUMN mint_a TYPE chain.pubkey USING chain.base58_decode(mint_a),
    ALTER COLUMN mint_b TYPE chain.pubkey USING chain.base58_decode(mint_b),
    ALTER COLUMN lp_mint TYPE chain.pubkey USING chain.base58_decode(lp_mint);
ALTER INDEX chain.pools_pkey RENAME TO conversion_pool_pkey;

ALTER TABLE credit_pools SET SCHEMA chain;
ALTER TABLE chain.credit_pools RENAME TO credit_pool;
ALTER TABLE chain.credit_pool
    ALTER COLUMN address TYPE chain.pubkey USING chain.base58_decode(address),
    ALTER COLUMN mint TYPE chain.pubkey USING chain.base58_decode(mint),
    ALTER COLUMN vault TYPE chain.pubkey USING chain.base58_decode(vault),
    ALTER COLUMN senior_mint TYPE chain.pubkey USING chain.base58_decode(senior_mint),
    ALTER COLUMN junior_mint TYPE chain.pubkey USING chain.base58_decode(junior_mint),
    ALTER COLUMN admin TYPE chain.pubkey USING chain.base58_decode(admin),
    ALTER COLUMN underwriter TYPE chain.pubkey USING chain.base58_decode(underwriter),
    ALTER COLUMN allowed TYPE chain.pubkey[] USING chain.base58_decode_each(allowed);
ALTER INDEX chain.credit_pools_pkey RENAME TO credit_pool_pkey;
ALTER INDEX chain.credit_pools_mint_key RENAME TO credit_pool_mint_key;

ALTER TABLE credit_lines SET SCHEMA chain;
ALTER TABLE chain.credit_lines RENAME TO credit_line;
ALTER TABLE chain.credit_line
    ALTER COLUMN address TYPE chain.pubkey USING chain.base58_decode(address),
    ALTER COLUMN pool TYPE chain.pubkey USING chain.base58_decode(pool),
    ALTER COLUMN borrower TYPE chain.pubkey USING chain.base58_decode(borrower),
    ALTER COLUMN merchant TYPE chain.pubkey USING chain.base58_decode(merchant);
ALTER INDEX chain.credit_lines_pkey RENAME TO credit_line_pkey;
ALTER INDEX chain.credit_lines_pool_borrower_key RENAME TO credit_line_pool_borrower_key;

ALTER TABLE advances SET SCHEMA chain;
ALTER TABLE chain.advances RENAME TO advance;
ALTER TABLE chain.advance
    ALTER COLUMN address TYPE chain.pubkey USING chain.base58_decode(address),
    ALTER COLUMN line TYPE chain.pubkey USING chain.base58_decode(line),
    ALTER COLUMN payment TYPE chain.pubkey USING chain.base58_decode(payment),
    ALTER COLUMN vault TYPE chain.pubkey USING chain.base58_decode(vault);
ALTER INDEX chain.advances_pkey RENAME TO advance_pkey;
ALTER INDEX chain.advances_payment_key RENAME TO advance_payment_key;

DROP FUNCTION chain.base58_decode_each(text[]);
DROP FUNCTION chain.base58_decode_concat(text[]);
DROP DOMAIN pubkey;
DROP DOMAIN signature;
ALTER DOMAIN u64 SET SCHEMA chain;

-- What each merchant has been paid, per mint, derived from the payment projections.
CREATE VIEW chain.merchant_balance AS
SELECT merchant,
       mint,
       count(*) FILTER (WHERE status <> 'open' AND payer IS NOT NULL) AS payments,
       sum(authorized - captured - released)                          AS escrowed,
       sum(to_merchant)                                                AS settled,
       sum(refunded)                                                   AS refunded,
       sum(fees)                                                       AS fees,
       sum(to_merchant) - sum(refunded)                                AS net
FROM chain.payment
GROUP BY merchant, mint;

-- A payment's timeline: its live events in order, each with its transaction's commitment.
CREATE VIEW chain.payment_timeline AS
SELECT e.entity AS payment, e.seq, e.name, e.ts, e.actor, e.signature, e.slot, e.data,
       t.commitment
FROM chain.event e
JOIN chain.transaction t USING (signature)
WHERE NOT e.reverted;

-- One writer per stream (a program's transactions, or the finality pass): a process writes a
-- stream only while it holds the stream's lease, renewed on every pass and checked inside
-- every write transaction, so several `kassa` processes can share one database. A holder
-- keeps one database session open for as long as it lives (`holder_pid`): when that session
-- is gone the holder is dead and another process takes the lease at once; a holder that only
-- stopped renewing loses it when it expires.
CREATE TABLE chain.stream_lease (
    stream      text PRIMARY KEY,
    holder      text NOT NULL,
    holder_pid  integer NOT NULL,
    acquired_at timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL CHECK (expires_at > acquired_at)
);
