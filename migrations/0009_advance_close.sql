-- Audit 13: a settled advance can be closed, freeing its address for a payment opened again at
-- a reused order id. The row stays, marked closed, until a new advance takes the address.
ALTER TABLE chain.advance ADD COLUMN closed boolean NOT NULL DEFAULT false;
