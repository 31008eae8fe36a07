-- The raw tables' keys lead with the slot (issue 20). Their rows arrive in slot order, so
-- a slot-first key is written at the right edge of its index, in the pages just written,
-- whatever the partition already holds; a signature-first key put every row on a random leaf
-- of an index as large as the partition, which left memory as the partition filled (the apply
-- of the growth bench ran 0.67-0.71 of its rate at 0.1 M events with 1 M stored, the raw
-- statements reading 30,000-50,000 index blocks per 100,000 events). Lookups by signature
-- alone go through a hash index on `chain.transaction`'s signature (a quarter of a B-tree's
-- size on 64 random bytes, so the part written to stays in memory), then reach the children
-- by (slot, signature).
ALTER TABLE chain.transaction DROP CONSTRAINT transaction_pkey,
    ADD CONSTRAINT transaction_pkey PRIMARY KEY (slot, signature);
CREATE INDEX transaction_signature ON chain.transaction USING hash (signature);
ALTER TABLE chain.event DROP CONSTRAINT event_pkey,
    ADD CONSTRAINT event_pkey PRIMARY KEY (slot, signature, ix_index, inner_index);
ALTER TABLE chain.instruction DROP CONSTRAINT instruction_pkey,
    ADD CONSTRAINT instruction_pkey PRIMARY KEY (slot, signature, ix_index, inner_index);
ALTER TABLE chain.token_balance_change DROP CONSTRAINT token_balance_change_pkey,
    ADD CONSTRAINT token_balance_change_pkey PRIMARY KEY (slot, signature, account_index);
ALTER TABLE chain.parked DROP CONSTRAINT parked_pkey,
    ADD CONSTRAINT parked_pkey PRIMARY KEY (slot, signature, ix_index, inner_index);

-- An entity's history read through its live keys needs each key's slot: carried in the index,
-- the keys of a timeline are read from one leaf page, not from a heap page per event.
ALTER TABLE chain.entity_seq DROP CONSTRAINT entity_seq_pkey,
    ADD CONSTRAINT entity_seq_pkey PRIMARY KEY (entity, seq) INCLUDE (slot);

-- An entity's events in a partition, by a hash of the entity: lookups are by equality only (an
-- entity's history is ordered through `chain.entity_seq`), and the hash index is a third of the
-- B-tree's size on random 32-byte keys.
DROP INDEX chain.event_entity_seq;
CREATE INDEX event_entity ON chain.event USING hash (entity) WHERE NOT reverted;
