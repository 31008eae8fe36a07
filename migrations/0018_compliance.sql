-- Compliance: the sanctions and internal lists payers are screened against, the wallet graph
-- exposure is measured on, the monitoring rules (versioned data, not code) and the alerts they
-- raise, the review queue, the on-chain actions officers and rules take, and an append-only
-- audit log of ids and hashes.

CREATE SCHEMA compliance;

-- A list: a published sanctions list (OFAC, EU) or one of Kassa's own. `action` is what an
-- address on it does to a payer; `current` is the version in force (NULL before the first
-- import), moved only by a successful import, so a malformed file leaves the previous one.
CREATE TABLE compliance.list (
    id         text PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9_-]{1,39}$'),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    format     text NOT NULL CHECK (format IN ('ofac-advanced', 'ofac-csv', 'eu-fsf', 'internal')),
    action     text NOT NULL CHECK (action IN ('refuse', 'review')),
    current    integer,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Every import of a list: the file's hash (the file in force imported again is no new
-- version), the publication date it states, and what changed against the version before it.
CREATE TABLE compliance.list_version (
    list        text NOT NULL REFERENCES compliance.list,
    version     integer NOT NULL CHECK (version >= 1),
    sha256      bytea NOT NULL CHECK (octet_length(sha256) = 32),
    published   text NOT NULL DEFAULT '',
    imported_by text NOT NULL CHECK (length(imported_by) BETWEEN 1 AND 200),
    imported_at timestamptz NOT NULL DEFAULT now(),
    entries     integer NOT NULL CHECK (entries >= 0),
    addresses   integer NOT NULL CHECK (addresses >= 0),
    added       integer NOT NULL CHECK (added >= 0),
    removed     integer NOT NULL CHECK (removed >= 0),
    changed     integer NOT NULL CHECK (changed >= 0),
    PRIMARY KEY (list, version)
);
ALTER TABLE compliance.list ADD FOREIGN KEY (id, current)
    REFERENCES compliance.list_version (list, version);

-- A list's entries in one version, by the list's own id for them (OFAC's profile id or
-- `ent_num`, the EU's logical id, an address on an internal list). `digest` is the SHA-256
-- of the entry's canonical form: equal digests, unchanged entry.
CREATE TABLE compliance.list_entry (
    list      text NOT NULL,
    version   integer NOT NULL,
    uid       text NOT NULL CHECK (length(uid) BETWEEN 1 AND 100),
    kind      text NOT NULL
              CHECK (kind IN ('individual', 'entity', 'vessel', 'aircraft', 'wallet', 'other')),
    name      text NOT NULL CHECK (length(name) BETWEEN 1 AND 1000),
    aliases   text[] NOT NULL DEFAULT '{}',
    countries text[] NOT NULL DEFAULT '{}',
    programs  text[] NOT NULL DEFAULT '{}',
    digest    bytea NOT NULL CHECK (octet_length(digest) = 32),
    PRIMARY KEY (list, version, uid),
    FOREIGN KEY (list, version) REFERENCES compliance.list_version
);

-- The digital-currency addresses of an entry (`currency` as the list names it: SOL, USDC,
-- XBT, ETH…). Screening looks addresses up here, in the versions in force.
CREATE TABLE compliance.list_address (
    list     text NOT NULL,
    version  integer NOT NULL,
    uid      text NOT NULL,
    currency text NOT NULL CHECK (length(currency) BETWEEN 1 AND 20),
    address  text NOT NULL CHECK (length(address) BETWEEN 1 AND 200),
    -- The address as a Solana public key, when it is one (32 bytes in base58).
    wallet   chain.pubkey,
    PRIMARY KEY (list, version, uid, currency, address),
    FOREIGN KEY (list, version, uid) REFERENCES compliance.list_entry
);
CREATE INDEX list_address_wallet ON compliance.list_address (wallet) WHERE wallet IS NOT NULL;

-- Wallet-to-wallet token flows seen in indexed transactions, undirected (a < b). Hubs
-- (program accounts, merchants' settlement wallets, Kassa's own keys) are never endpoints:
-- a sanctioned wallet paying a merchant must not flag the merchant's other customers.
CREATE TABLE compliance.edge (
    a               chain.pubkey NOT NULL,
    b               chain.pubkey NOT NULL,
    transfers       integer NOT NULL CHECK (transfers >= 1),
    first_signature chain.signature NOT NULL,
    last_slot       bigint NOT NULL CHECK (last_slot >= 0),
    PRIMARY KEY (a, b),
    CHECK (a < b)
);
CREATE INDEX edge_b ON compliance.edge (b, a);

-- Hubs besides program accounts (which the monitor recognises as off-curve keys): wallets
-- that many unrelated people pay or are paid by.
CREATE VIEW compliance.hub (wallet, reason) AS
    SELECT settlement_wallet, 'merchant settlement wallet' FROM chain.merchant
    UNION SELECT authority, 'merchant authority' FROM chain.merchant
    UNION SELECT operator, 'merchant operator' FROM chain.merchant WHERE operator IS NOT NULL
    UNION SELECT unnest(ARRAY[admin, compliance_authority, arbiter, fee_receiver]), 'Kassa key'
          FROM chain.config
    UNION SELECT wallet, 'treasury' FROM settlement.treasury;


-- Exposure, precomputed: each wallet within the configured hops of a flagged wallet, with the
-- nearest flagged wallet, why it is flagged and the path to it. Rebuilt when edges, lists,
-- the blocklist or dispositions change (`compliance.state.exposure_dirty`).
CREATE TABLE compliance.exposure (
    wallet chain.pubkey PRIMARY KEY,
    hops   smallint NOT NULL CHECK (hops >= 1),
    source chain.pubkey NOT NULL,
    reason text NOT NULL,
    path   bytea[] NOT NULL
);

CREATE TABLE compliance.state (
    id             boolean PRIMARY KEY DEFAULT true CHECK (id),
    exposure_dirty boolean NOT NULL DEFAULT true,
    exposure_at    timestamptz
);
INSERT INTO compliance.state DEFAULT VALUES;

-- What the monitor reads: one row per payment authorization stored by the indexer
-- (`confirmed`) or rolled back (`reverted`), written in the same statement. Deleted once
-- monitored.
CREATE TABLE compliance.inbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    signature   chain.signature NOT NULL,
    ix_index    integer NOT NULL,
    inner_index integer NOT NULL,
    phase       text NOT NULL CHECK (phase IN ('confirmed', 'reverted'))
);

CREATE FUNCTION compliance.monitors(name text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT name = 'PaymentAuthorized' $$;

-- Authorizations already stored get monitored too.
INSERT INTO compliance.inbox (signature, ix_index, inner_index, phase)
SELECT signature, ix_index, inner_index, 'confirmed' FROM chain.event
WHERE name = 'PaymentAuthorized' AND NOT reverted
ORDER BY slot, signature, ix_index, inner_index;

-- Each payment the monitor has seen authorized: the rules' history of a payer.
CREATE TABLE compliance.payment_seen (
    payment   chain.pubkey PRIMARY KEY,
    payer     chain.pubkey NOT NULL,
    merchant  chain.pubkey NOT NULL,
    mint      chain.pubkey NOT NULL,
    amount    chain.u64 NOT NULL,
    -- `amount` in the stablecoin's whole units (every stablecoin counted at par).
    units     numeric NOT NULL CHECK (units >= 0),
    at        bigint NOT NULL,
    -- The order the indexer stored it in (its inbox id): "before" among payments of one
    -- second.
    seq       bigint NOT NULL,
    signature chain.signature NOT NULL
);
CREATE INDEX payment_seen_payer ON compliance.payment_seen (payer, at);

-- A merchant's risk tier for the amount thresholds (from its KYB case; medium until rated).
CREATE TABLE compliance.merchant_risk (
    merchant chain.pubkey PRIMARY KEY,
    tier     text NOT NULL CHECK (tier IN ('low', 'medium', 'high')),
    source   text NOT NULL,
    rated_at timestamptz NOT NULL DEFAULT now()
);

-- The monitoring rules, as data: each version the whole rule set, never edited (a change is
-- a new version). The highest version is in force.
CREATE TABLE compliance.rule_set (
    version    integer PRIMARY KEY CHECK (version >= 1),
    rules      jsonb NOT NULL,
    note       text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    created_by text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The review queue: a case per subject wallet while open; alerts on that wallet join it.
CREATE TABLE compliance.case (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    wallet      chain.pubkey NOT NULL,
    state       text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'escalated', 'closed')),
    severity    text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'severe')),
    assignee    bigint REFERENCES api.account,
    disposition text CHECK (disposition IN ('false_positive', 'true_positive', 'reported')),
    opened_at   timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    closed_at   timestamptz,
    closed_by   bigint REFERENCES api.account,
    CHECK ((state = 'closed') = (disposition IS NOT NULL)),
    CHECK ((state = 'closed') = (closed_at IS NOT NULL AND closed_by IS NOT NULL))
);
CREATE UNIQUE INDEX case_open_wallet ON compliance.case (wallet) WHERE state <> 'closed';
CREATE INDEX case_state ON compliance.case (state, id);

-- A rule's hit, with the rule version and the evidence that made it. `dedupe` makes a hit
-- once per rule and payment (or per rule, wallet and window for wallet-wide rules).
CREATE TABLE compliance.alert (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    rule         text NOT NULL,
    kind         text NOT NULL,
    rule_version integer NOT NULL REFERENCES compliance.rule_set,
    severity     text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'severe')),
    wallet       chain.pubkey NOT NULL,
    merchant     chain.pubkey,
    payment      chain.pubkey,
    evidence     jsonb NOT NULL,
    dedupe       text NOT NULL UNIQUE,
    case_id      bigint NOT NULL REFERENCES compliance.case,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX alert_case ON compliance.alert (case_id, id);
CREATE INDEX alert_wallet ON compliance.alert (wallet, id);

CREATE TABLE compliance.comment (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id bigint NOT NULL REFERENCES compliance.case,
    author  bigint NOT NULL REFERENCES api.account,
    body    text NOT NULL CHECK (length(body) BETWEEN 1 AND 10000),
    at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX comment_case ON compliance.comment (case_id, id);

-- The wallets exposure starts from: addresses on the lists in force, the on-chain blocklist,
-- and subjects of cases closed as true positives or reported.
CREATE VIEW compliance.flagged (wallet, reason) AS
    SELECT DISTINCT ON (a.wallet) a.wallet, 'list ' || a.list || ' entry ' || a.uid
    FROM compliance.list_address a JOIN compliance.list l ON l.id = a.list AND l.current = a.version
    WHERE a.wallet IS NOT NULL
    UNION SELECT unnest(blocked), 'blocklist' FROM chain.config
    UNION SELECT wallet, 'case ' || id || ' ' || disposition FROM compliance.case
          WHERE disposition IN ('true_positive', 'reported');

-- On-chain actions signed by the compliance key: what, on what, why, by whom (NULL: a rule),
-- and the transaction. `pending` rows are sent (again) by the next monitor pass.
CREATE TABLE compliance.action (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       text NOT NULL CHECK (kind IN ('hold', 'release', 'reject', 'blocklist_add',
                                             'blocklist_remove', 'kyb_attest', 'kyb_suspend')),
    target     chain.pubkey NOT NULL,
    case_id    bigint REFERENCES compliance.case,
    officer    bigint REFERENCES api.account,
    reason     text NOT NULL CHECK (length(reason) BETWEEN 1 AND 2000),
    hash       bytea NOT NULL CHECK (octet_length(hash) = 32),
    state      text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed')),
    -- Stored before sending, with the last block height its blockhash is valid at, so a
    -- retry after a crash looks the transaction up instead of sending the action twice.
    signature  chain.signature,
    last_valid bigint,
    error      text,
    created_at timestamptz NOT NULL DEFAULT now(),
    sent_at    timestamptz,
    CHECK (state <> 'sent' OR (signature IS NOT NULL AND sent_at IS NOT NULL))
);
CREATE INDEX action_pending ON compliance.action (id) WHERE state = 'pending';

-- Every screening answer: who asked about which wallet, and what was decided.
CREATE TABLE compliance.screening (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at       timestamptz NOT NULL DEFAULT now(),
    wallet   chain.pubkey NOT NULL,
    merchant chain.pubkey,
    context  text NOT NULL,
    decision text NOT NULL CHECK (decision IN ('allow', 'review', 'refuse')),
    risk     text NOT NULL CHECK (risk IN ('low', 'medium', 'high', 'severe')),
    reasons  jsonb NOT NULL
);
CREATE INDEX screening_wallet ON compliance.screening (wallet, id);

-- The audit log: who did what to which object, when, with the hash of the detail and the
-- transaction signature of what went on chain. Ids and hashes only, never personal data, so
-- personal data erased elsewhere on request leaves it intact. Append-only.
CREATE TABLE compliance.audit (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    officer   bigint REFERENCES api.account,
    action    text NOT NULL CHECK (action ~ '^[a-z][a-z0-9_.]{1,60}$'),
    object    text NOT NULL CHECK (length(object) BETWEEN 1 AND 200),
    sha256    bytea NOT NULL CHECK (octet_length(sha256) = 32),
    signature text
);

CREATE FUNCTION compliance.append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on compliance.%: it is append-only', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON compliance.audit
    FOR EACH ROW EXECUTE FUNCTION compliance.append_only();
CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON compliance.audit
    FOR EACH STATEMENT EXECUTE FUNCTION compliance.append_only();
CREATE TRIGGER rule_set_append_only BEFORE UPDATE OR DELETE ON compliance.rule_set
    FOR EACH ROW EXECUTE FUNCTION compliance.append_only();
