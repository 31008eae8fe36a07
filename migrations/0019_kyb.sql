-- KYB: merchant applications (business profile, directors and ultimate beneficial owners,
-- documents kept by type and SHA-256 in a file store, never in the database), the automatic
-- checks and risk rating, officers' decisions (a high-risk approval needs two different
-- officers), and the on-chain attestation of the approved case's hash.

-- Jurisdictions that are not standard risk, by ISO 3166 alpha-2 code: `sanctioned` (no
-- business) or `high` (enhanced due diligence). Data, not code: operators keep it current.
CREATE TABLE compliance.jurisdiction (
    code  text PRIMARY KEY CHECK (code ~ '^[A-Z]{2}$'),
    level text NOT NULL CHECK (level IN ('sanctioned', 'high')),
    note  text NOT NULL DEFAULT ''
);
-- Comprehensively sanctioned countries (EU and US embargoes) and the FATF lists (call for
-- action and increased monitoring) as published in 2025; see docs/compliance.md.
INSERT INTO compliance.jurisdiction (code, level, note) VALUES
    ('KP', 'sanctioned', 'comprehensive sanctions; FATF call for action'),
    ('IR', 'sanctioned', 'comprehensive sanctions; FATF call for action'),
    ('SY', 'sanctioned', 'comprehensive sanctions'),
    ('CU', 'sanctioned', 'US embargo'),
    ('MM', 'high', 'FATF call for action'),
    ('RU', 'high', 'EU and US sectoral sanctions'),
    ('BY', 'high', 'EU sectoral sanctions'),
    ('DZ', 'high', 'FATF increased monitoring'), ('AO', 'high', 'FATF increased monitoring'),
    ('BG', 'high', 'FATF increased monitoring'), ('BF', 'high', 'FATF increased monitoring'),
    ('CM', 'high', 'FATF increased monitoring'), ('CD', 'high', 'FATF increased monitoring'),
    ('CI', 'high', 'FATF increased monitoring'), ('HT', 'high', 'FATF increased monitoring'),
    ('KE', 'high', 'FATF increased monitoring'), ('LA', 'high', 'FATF increased monitoring'),
    ('LB', 'high', 'FATF increased monitoring'), ('MC', 'high', 'FATF increased monitoring'),
    ('MZ', 'high', 'FATF increased monitoring'), ('NA', 'high', 'FATF increased monitoring'),
    ('NP', 'high', 'FATF increased monitoring'), ('NG', 'high', 'FATF increased monitoring'),
    ('ZA', 'high', 'FATF increased monitoring'), ('SS', 'high', 'FATF increased monitoring'),
    ('VE', 'high', 'FATF increased monitoring'), ('VN', 'high', 'FATF increased monitoring'),
    ('YE', 'high', 'FATF increased monitoring'), ('BO', 'high', 'FATF increased monitoring'),
    ('VG', 'high', 'FATF increased monitoring');

-- Business categories and their risk: `prohibited` (never approved), `high` or `standard`.
CREATE TABLE compliance.category (
    code        text PRIMARY KEY CHECK (code ~ '^[a-z][a-z0-9-]{1,40}$'),
    level       text NOT NULL CHECK (level IN ('prohibited', 'high', 'standard')),
    description text NOT NULL
);
INSERT INTO compliance.category (code, level, description) VALUES
    ('weapons', 'prohibited', 'Weapons, ammunition and explosives'),
    ('illegal-drugs', 'prohibited', 'Narcotics and drug paraphernalia'),
    ('unlicensed-gambling', 'prohibited', 'Gambling without a licence'),
    ('shell-bank', 'prohibited', 'Banks without physical presence'),
    ('pyramid-scheme', 'prohibited', 'Pyramid and multi-level investment schemes'),
    ('gambling', 'high', 'Licensed gambling and lotteries'),
    ('crypto-exchange', 'high', 'Virtual asset exchange and custody'),
    ('money-services', 'high', 'Money transfer, exchange offices, payment services'),
    ('precious-metals', 'high', 'Precious metals, stones and jewellery dealers'),
    ('adult', 'high', 'Adult content and services'),
    ('retail', 'standard', 'Retail of goods'),
    ('food', 'standard', 'Restaurants, cafes and food retail'),
    ('services', 'standard', 'Professional and personal services'),
    ('software', 'standard', 'Software and digital goods'),
    ('travel', 'standard', 'Travel and hospitality'),
    ('education', 'standard', 'Education and training'),
    ('marketplace', 'standard', 'Online marketplaces');

-- A merchant's application and its life: `review` (checks run, waiting for officers),
-- `information_requested`, `approved` (attested on chain), `rejected`, `suspended`. One live
-- case per merchant.
CREATE TABLE compliance.kyb_case (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    merchant            chain.pubkey NOT NULL,
    state               text NOT NULL DEFAULT 'review'
                        CHECK (state IN ('review', 'information_requested', 'approved',
                                         'rejected', 'suspended')),
    legal_name          text NOT NULL CHECK (length(legal_name) BETWEEN 1 AND 300),
    registration_number text NOT NULL CHECK (length(registration_number) BETWEEN 1 AND 100),
    jurisdiction        text NOT NULL CHECK (jurisdiction ~ '^[A-Z]{2}$'),
    address             text NOT NULL CHECK (length(address) BETWEEN 1 AND 500),
    category            text NOT NULL REFERENCES compliance.category,
    risk                text NOT NULL DEFAULT 'medium'
                        CHECK (risk IN ('low', 'medium', 'high', 'prohibited')),
    risk_reasons        jsonb NOT NULL DEFAULT '[]',
    checks              jsonb NOT NULL DEFAULT '{}',
    case_hash           bytea CHECK (octet_length(case_hash) = 32),
    review_due          date,
    submitted_by        bigint REFERENCES api.account,
    erased_at           timestamptz,
    -- When what officers approve last changed (a document added): approvals before it no
    -- longer count.
    content_at          timestamptz NOT NULL DEFAULT now(),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (state <> 'approved' OR (case_hash IS NOT NULL AND review_due IS NOT NULL))
);
CREATE UNIQUE INDEX kyb_case_live ON compliance.kyb_case (merchant) WHERE state <> 'rejected';
CREATE INDEX kyb_case_review_due ON compliance.kyb_case (review_due) WHERE state = 'approved';

-- Directors and ultimate beneficial owners. Personal data: erasable on request (the names
-- become `[erased]`), which the audit log, holding only ids and hashes, never needs.
CREATE TABLE compliance.kyb_party (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id       bigint NOT NULL REFERENCES compliance.kyb_case,
    role          text NOT NULL CHECK (role IN ('director', 'ubo')),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 300),
    birth_date    date,
    nationality   text CHECK (nationality ~ '^[A-Z]{2}$'),
    -- Basis points of ownership (UBOs; the case's UBOs add up to 10,000).
    ownership_bps integer CHECK (ownership_bps BETWEEN 1 AND 10000),
    CHECK ((role = 'ubo') = (ownership_bps IS NOT NULL))
);
CREATE INDEX kyb_party_case ON compliance.kyb_party (case_id);

-- Documents by type and SHA-256; the file lives in the document store under its hash.
-- `stored` is false once erased.
CREATE TABLE compliance.kyb_document (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     bigint NOT NULL REFERENCES compliance.kyb_case,
    kind        text NOT NULL CHECK (kind IN ('certificate_of_incorporation', 'proof_of_address',
                                              'ubo_declaration', 'director_id', 'licence', 'other')),
    sha256      bytea NOT NULL CHECK (octet_length(sha256) = 32),
    size        bigint NOT NULL CHECK (size > 0),
    stored      boolean NOT NULL DEFAULT true,
    uploaded_by bigint REFERENCES api.account,
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (case_id, kind, sha256)
);

-- Officers' decisions, in order. Approvals count per officer: a high-risk case needs two
-- different officers' approvals since it last entered review.
CREATE TABLE compliance.kyb_decision (
    id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id  bigint NOT NULL REFERENCES compliance.kyb_case,
    officer  bigint NOT NULL REFERENCES api.account,
    decision text NOT NULL CHECK (decision IN ('approve', 'reject', 'request_information',
                                               'suspend')),
    note     text NOT NULL CHECK (length(note) BETWEEN 1 AND 5000),
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX kyb_decision_case ON compliance.kyb_decision (case_id, id);

-- Monitoring asks whether a payer is the subject of a closed true-positive case, per payment.
CREATE INDEX case_wallet ON compliance.case (wallet);

-- The monitor's window counts read a payer's history from the index alone.
DROP INDEX compliance.payment_seen_payer;
CREATE INDEX payment_seen_window ON compliance.payment_seen (payer, at, seq) INCLUDE (merchant, units);
