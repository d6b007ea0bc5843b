"""Per-ACL-key chunk counts, so that choosing search's dense path no longer reads every permitted row.

search() chooses between an exact scan of the permitted rows and HNSW by the size of the permitted set. It
counted that set with a bounded ``count(*)`` on the ACL's GIN index, but a GIN bitmap holds every matching row
whatever the ``LIMIT``: 33-35 ms for a user reading 100,000 of 1M chunks, and more the higher the exact-scan
threshold (docs/performance.md, "The dense paths under a filter").

``retrieval_aclkeycount`` holds, per ACL key, how many chunks carry it. The sum over a user's keys is an upper
bound of the chunks the user may read (a chunk carrying two of the user's keys counts twice), which is what the
path choice needs: the exact scan reads at most that many rows. Reading it is a few primary-key lookups.

Statement-level triggers keep it in step with every insert, delete (cascades included), ACL update and
truncate of chunks, in the same transaction, like the statistics of 0003 and the postings of 0007. Lock order:
the triggers are named so that they fire after the 0003 statistics triggers of the same statement (triggers of
one event fire in name order), which lock the single ``retrieval_corpusstat`` row first; the update trigger
takes that lock itself. So every writer of these rows holds the corpus row lock first, and concurrent
ingestion jobs cannot deadlock on the key rows.

The reader role may read the counts of its own keys only (row-level security, as on the chunk table): the
count of a key the user does not hold would tell how much another group has.
"""

from django.db import migrations

TABLE = """
LOCK TABLE retrieval_chunk IN SHARE MODE;
CREATE TABLE retrieval_aclkeycount (
    key varchar(80) PRIMARY KEY,
    chunks bigint NOT NULL
);
INSERT INTO retrieval_aclkeycount (key, chunks)
    SELECT k.key, count(*) FROM retrieval_chunk c, LATERAL (SELECT DISTINCT unnest(c.acl) AS key) k GROUP BY k.key;
GRANT SELECT ON retrieval_aclkeycount TO docent_search;
ALTER TABLE retrieval_aclkeycount ENABLE ROW LEVEL SECURITY;
CREATE POLICY aclkeycount_read ON retrieval_aclkeycount FOR SELECT TO docent_search
    USING (key = ANY(coalesce(nullif(current_setting('docent.acl_keys', true), ''), '{}')::varchar[]));
"""

DROP_TABLE = "DROP TABLE IF EXISTS retrieval_aclkeycount;"

# Each function adds (or subtracts) the per-key counts of its transition table(s) in one statement, keys in
# sorted order, and drops keys that no chunk carries any more. A key repeated within one chunk's ACL counts
# once (DISTINCT): acl_for_document never repeats one, but the bound must hold for any writer. Counts only drift
# if chunks are written with the triggers disabled (a restore): ``retrieval.services.rebuild_term_stats`` then
# rebuilds them. A wrong count can only choose the slower dense path, never show a chunk: every statement
# still carries the ACL predicate.
TRIGGERS = """
CREATE FUNCTION retrieval_aclkeycount_add(delta_keys varchar[], deltas bigint[]) RETURNS void
LANGUAGE sql AS $fn$
    INSERT INTO retrieval_aclkeycount AS a (key, chunks)
        SELECT d.key, d.delta FROM unnest(delta_keys, deltas) AS d (key, delta) WHERE d.delta <> 0 ORDER BY d.key
    ON CONFLICT (key) DO UPDATE SET chunks = a.chunks + EXCLUDED.chunks;
    DELETE FROM retrieval_aclkeycount WHERE key = ANY(delta_keys) AND chunks <= 0;
$fn$;

CREATE FUNCTION retrieval_chunk_aclcounts_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM retrieval_aclkeycount_add(array_agg(key ORDER BY key), array_agg(n ORDER BY key))
    FROM (SELECT k.key, count(*) AS n
          FROM new_chunks c, LATERAL (SELECT DISTINCT unnest(c.acl) AS key) k GROUP BY k.key) s
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION retrieval_chunk_aclcounts_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM retrieval_aclkeycount_add(array_agg(key ORDER BY key), array_agg(-n ORDER BY key))
    FROM (SELECT k.key, count(*) AS n
          FROM old_chunks c, LATERAL (SELECT DISTINCT unnest(c.acl) AS key) k GROUP BY k.key) s
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;

-- An UPDATE trigger with transition tables may not name columns, so it compares the ACLs itself: other
-- updates (injection flags) write nothing here and take no lock.
CREATE FUNCTION retrieval_chunk_aclcounts_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_chunks n JOIN old_chunks o ON o.id = n.id WHERE n.acl IS DISTINCT FROM o.acl)
    THEN
        RETURN NULL;
    END IF;
    -- The lock every chunk insert and delete takes first (0003), so that writers lock in one order.
    PERFORM 1 FROM retrieval_corpusstat WHERE id = 1 FOR UPDATE;
    PERFORM retrieval_aclkeycount_add(array_agg(key ORDER BY key), array_agg(n ORDER BY key))
    FROM (SELECT key, sum(n)::bigint AS n FROM (
              SELECT k.key, 1 AS n
              FROM new_chunks c JOIN old_chunks o ON o.id = c.id, LATERAL (SELECT DISTINCT unnest(c.acl) AS key) k
              WHERE c.acl IS DISTINCT FROM o.acl
              UNION ALL
              SELECT k.key, -1
              FROM old_chunks c JOIN new_chunks n ON n.id = c.id, LATERAL (SELECT DISTINCT unnest(c.acl) AS key) k
              WHERE c.acl IS DISTINCT FROM n.acl
          ) changes GROUP BY key) s
    HAVING count(*) > 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION retrieval_chunk_aclcounts_after_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM retrieval_aclkeycount;
    RETURN NULL;
END
$$;

-- "tally" sorts after "stats": these fire after the 0003 statistics triggers of the same statement.
CREATE TRIGGER retrieval_chunk_tally_acl_insert AFTER INSERT ON retrieval_chunk
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_aclcounts_after_insert();
CREATE TRIGGER retrieval_chunk_tally_acl_delete AFTER DELETE ON retrieval_chunk
    REFERENCING OLD TABLE AS old_chunks FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_aclcounts_after_delete();
CREATE TRIGGER retrieval_chunk_tally_acl_update AFTER UPDATE ON retrieval_chunk
    REFERENCING OLD TABLE AS old_chunks NEW TABLE AS new_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_aclcounts_after_update();
CREATE TRIGGER retrieval_chunk_tally_acl_truncate AFTER TRUNCATE ON retrieval_chunk
    FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_aclcounts_after_truncate();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS retrieval_chunk_tally_acl_truncate ON retrieval_chunk;
DROP TRIGGER IF EXISTS retrieval_chunk_tally_acl_update ON retrieval_chunk;
DROP TRIGGER IF EXISTS retrieval_chunk_tally_acl_delete ON retrieval_chunk;
DROP TRIGGER IF EXISTS retrieval_chunk_tally_acl_insert ON retrieval_chunk;
DROP FUNCTION IF EXISTS retrieval_chunk_aclcounts_after_truncate();
DROP FUNCTION IF EXISTS retrieval_chunk_aclcounts_after_update();
DROP FUNCTION IF EXISTS retrieval_chunk_aclcounts_after_delete();
DROP FUNCTION IF EXISTS retrieval_chunk_aclcounts_after_insert();
DROP FUNCTION IF EXISTS retrieval_aclkeycount_add(varchar[], bigint[]);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("retrieval", "0008_chunk_embedding_inline"),
    ]

    operations = [
        migrations.RunSQL(TABLE, DROP_TABLE),
        migrations.RunSQL(TRIGGERS, DROP_TRIGGERS),
    ]
