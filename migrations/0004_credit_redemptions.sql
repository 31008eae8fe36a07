-- Epoch redemptions: queued shares per tranche and cash owed to served redemptions, which
-- joins the right-hand side of the pool identity.

ALTER TABLE credit_pools
    ADD COLUMN epoch_seconds      bigint NOT NULL DEFAULT 0 CHECK (epoch_seconds >= 0),
    ADD COLUMN epoch_id           bigint NOT NULL DEFAULT 0 CHECK (epoch_id >= 0),
    ADD COLUMN pending_senior     u64 NOT NULL DEFAULT 0,
    ADD COLUMN pending_junior     u64 NOT NULL DEFAULT 0,
    ADD COLUMN redemption_payable u64 NOT NULL DEFAULT 0,
    ADD COLUMN redeemed_total     u64 NOT NULL DEFAULT 0;

ALTER TABLE credit_pools DROP CONSTRAINT credit_pools_check;
ALTER TABLE credit_pools DROP CONSTRAINT credit_pools_check1;
ALTER TABLE credit_pools ADD CONSTRAINT credit_pools_identity
    CHECK (cash + principal + receivable
           = senior_value + junior_value + protocol_fees + admin_fees
             + impaired_senior + impaired_junior + redemption_payable);
ALTER TABLE credit_pools ADD CONSTRAINT credit_pools_cash_covers_payables
    CHECK (protocol_fees + admin_fees + redemption_payable <= cash);
