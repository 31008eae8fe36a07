-- The ledger also books a fiat merchant's credit: a draw paid into the treasury wallet (an
-- advance is a draw too: it emits `Drawn` beside `AdvanceTaken`, and only `Drawn` is booked)
-- is the merchant's money until its payout; a repayment the treasury makes for it is charged
-- to its balance.
CREATE OR REPLACE FUNCTION settlement.books(name text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT name IN ('PaymentAuthorized', 'PaymentCaptured', 'PaymentVoided', 'PaymentReclaimed',
                    'PaymentRejected', 'PaymentRefunded', 'DisputeResolved',
                    'Drawn', 'Repaid')
$$;
