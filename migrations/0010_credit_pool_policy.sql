-- Audit 7: a credit pool's policy (set by its admin) and its rotatable protocol fee receiver.
ALTER TABLE chain.credit_pool
    ADD COLUMN protocol_fee_receiver chain.pubkey,
    ADD COLUMN max_line_limit chain.u64 NOT NULL DEFAULT 0,
    ADD COLUMN max_active_lines integer NOT NULL DEFAULT 0,
    ADD COLUMN paused boolean NOT NULL DEFAULT false;
