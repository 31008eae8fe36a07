-- A closed `kassa-escrow` session's payment account holds the rent the merchant's operator key
-- paid to open it. Once nothing in it can be refunded any more, the recovery pass closes it
-- (`payment_close`, permissionless) and the rent goes back to that key. The last close sent
-- and when, so a close is not sent again while it may still land.
ALTER TABLE x402.escrow_session
    ADD COLUMN rent_signature chain.signature,
    ADD COLUMN rent_attempted_at timestamptz,
    ADD CONSTRAINT escrow_session_rent_after_close
        CHECK (rent_attempted_at IS NULL OR status = 'closed');
