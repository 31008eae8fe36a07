-- Exposure grows with each new wallet-to-wallet edge without rebuilding the whole table: the
-- monitor walks from the new edges' ends only. These two functions are what that walk asks
-- of one wallet.

-- Why `w` is flagged (on a list in force, on the blocklist, the subject of a case closed as a
-- true positive or reported), or NULL.
CREATE FUNCTION compliance.flag_reason(w bytea) RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT reason FROM (
        SELECT 'list ' || a.list || ' entry ' || a.uid AS reason
        FROM compliance.list_address a
        JOIN compliance.list l ON l.id = a.list AND l.current = a.version
        WHERE a.wallet = w
        UNION ALL
        SELECT 'blocklist' FROM chain.config WHERE w = ANY (blocked::bytea[])
        UNION ALL
        SELECT 'case ' || c.id || ' ' || c.disposition FROM compliance.case c
        WHERE c.wallet = w AND c.disposition IN ('true_positive', 'reported')) r
    ORDER BY reason LIMIT 1
$$;

-- How many counterparties `w` has in the wallet graph.
CREATE FUNCTION compliance.degree(w bytea) RETURNS bigint
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT (SELECT count(*) FROM compliance.edge WHERE a = w)
         + (SELECT count(*) FROM compliance.edge WHERE b = w)
$$;
