-- x402 `exact` payments reach the KYT monitor as Kassa payments' authorizations do: the
-- facilitator writes an inbox row in the transaction that records the settlement settled, and
-- the monitor adds it to the payer's history, where every rule reads it. An `exact` payment has
-- no payment account; its key in the history is the SHA-256 of the transaction's message (unique
-- per settlement), and the settlement id names it in alerts.

ALTER TABLE compliance.inbox
    ALTER COLUMN signature DROP NOT NULL,
    ALTER COLUMN ix_index DROP NOT NULL,
    ALTER COLUMN inner_index DROP NOT NULL,
    ADD COLUMN x402_settlement text REFERENCES x402.settlement,
    -- A row is either a chain event or an x402 settlement, never both or neither.
    ADD CONSTRAINT inbox_one_source CHECK (
        (x402_settlement IS NULL)
        = (signature IS NOT NULL AND ix_index IS NOT NULL AND inner_index IS NOT NULL)),
    -- A settled transfer is final for Kassa: the facilitator records it at `confirmed` and there
    -- is no event of Kassa's to roll back.
    ADD CONSTRAINT inbox_x402_confirmed CHECK (x402_settlement IS NULL OR phase = 'confirmed');

ALTER TABLE compliance.payment_seen
    ADD COLUMN x402_settlement text UNIQUE REFERENCES x402.settlement;

-- Settlements settled before this migration are monitored too, in the order they settled.
INSERT INTO compliance.inbox (x402_settlement, phase)
SELECT x402_settlement_id, 'confirmed' FROM x402.settlement
WHERE status = 'settled'
ORDER BY finished_at, x402_settlement_id;
