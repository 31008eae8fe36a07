-- The cluster this database mirrors, by genesis hash: one database never mixes two chains.
CREATE TABLE cluster (
    only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    genesis_hash text NOT NULL
);
