-- Audit 14: a merchant may hand an operator key to a server (open and cancel invoices, capture,
-- void). NULL when the merchant has none.
ALTER TABLE chain.merchant ADD COLUMN operator chain.pubkey;
