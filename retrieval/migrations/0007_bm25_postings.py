"""BM25 from a postings table, so the lexical side reads a few index pages per query term instead of a heap row
per matching chunk, and can use an index at all under the reader role.

Measured at 1M synthetic chunks (docs/performance.md), the function of migration 0005 spent its time in two
places:

- Under the reader role (``SET ROLE docent_search``, row-level security of migration 0004) the planner may not
  use the GIN index on ``search_vector``: ``@@`` (``ts_match_vq``) is not LEAKPROOF, and a qual that is not
  leakproof cannot be evaluated ahead of a row security policy, so every lexical query was a sequential scan
  of the whole chunk table (seconds at 1M). Only leakproof operators, such as btree equality on text, can
  drive an index scan under row security.
- Even where the GIN index was usable, scoring a chunk meant reading its heap row (about 2.7 kB with the
  embedding), one random page per matching chunk: a query with a common word touched tens of thousands of
  pages. MaxScore pruning barely helps on BM25's saturating term weights.

``retrieval_posting`` holds one row per (lexeme, chunk): the term frequency, the chunk's length and a copy of
its ACL. A covering index on ``(lexeme, chunk_id) INCLUDE (tf, length, acl)`` answers "every chunk holding
this lexeme, with what BM25 needs" with an index-only range scan, and ``lexeme = ...`` is a leakproof btree
condition, so it works under row security. ``retrieval_bm25_top`` (same signature as 0005) scores from it:
exact BM25 over all postings of the query's lexemes, the ACL predicate in the same statement, and the table
has its own row security policy, the same as the chunk table's (its rows reveal which chunk holds which
word). The 0005 helper ``retrieval_bm25_score`` is dropped; nothing else used it.

Statement-level triggers keep the postings in step with every insert, delete (cascades included), ACL update
and truncate of chunks, in the same transaction.

Limits: a btree entry must stay under about 2.7 kB, and each entry carries the lexeme and the ACL. Lexemes
longer than 256 bytes (base64 runs, hashes: never typed in a question) get no postings, so BM25 ignores
them. A chunk whose ACL has more than 64 keys (a document shared with hundreds of people one by one) would not
fit: its postings carry the marker ACL ``{*}`` instead, which matches no reader key, and both the scoring
query and the row security policy then check the chunk's own ACL. Chunk text is immutable (0003), so
postings never change otherwise. Cost: about 30 rows per chunk (5.7 GB with its index at 1M chunks) and the
matching write work at ingestion.
"""

import importlib

from django.db import migrations

TABLE = """
LOCK TABLE retrieval_chunk IN SHARE MODE;
-- The ACL a posting carries: the chunk's, or the marker {*} when it is too long for a btree entry.
CREATE FUNCTION retrieval_posting_acl(chunk_acl varchar[]) RETURNS varchar[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN CASE WHEN cardinality(chunk_acl) <= 64 THEN chunk_acl ELSE '{*}'::varchar[] END;
CREATE TABLE retrieval_posting (
    lexeme text NOT NULL,
    chunk_id bigint NOT NULL,
    tf smallint NOT NULL,
    length integer NOT NULL,
    acl varchar(80)[] NOT NULL
);
INSERT INTO retrieval_posting (lexeme, chunk_id, tf, length, acl)
    SELECT u.lexeme, c.id, coalesce(array_length(u.positions, 1), 1), c.lexeme_count, retrieval_posting_acl(c.acl)
    FROM retrieval_chunk c, unnest(c.search_vector) AS u
    WHERE octet_length(u.lexeme) <= 256;
ALTER TABLE retrieval_posting ADD PRIMARY KEY (lexeme, chunk_id) INCLUDE (tf, length, acl);
-- Deletes and ACL changes find a chunk's postings by chunk id.
CREATE INDEX retrieval_posting_chunk ON retrieval_posting (chunk_id);
GRANT SELECT ON retrieval_posting TO docent_search;
ALTER TABLE retrieval_posting ENABLE ROW LEVEL SECURITY;
-- The keys in a scalar subquery: evaluated once per statement (an InitPlan) instead of parsing the setting
-- into an array again for every posting row, which doubled the cost of a query under the reader role.
-- A posting with the marker ACL defers to its chunk (whose own policy applies in the subquery).
CREATE POLICY posting_acl_read ON retrieval_posting FOR SELECT TO docent_search
    USING (acl && (SELECT coalesce(nullif(current_setting('docent.acl_keys', true), ''), '{}')::varchar[])
           OR (acl = '{*}'::varchar[] AND EXISTS (
               SELECT 1 FROM retrieval_chunk c WHERE c.id = chunk_id
                 AND c.acl && (SELECT coalesce(nullif(current_setting('docent.acl_keys', true), ''), '{}')::varchar[]))));
"""

DROP_TABLE = "DROP TABLE IF EXISTS retrieval_posting; DROP FUNCTION IF EXISTS retrieval_posting_acl(varchar[]);"

TRIGGERS = """
CREATE FUNCTION retrieval_chunk_postings_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO retrieval_posting (lexeme, chunk_id, tf, length, acl)
        SELECT u.lexeme, n.id, coalesce(array_length(u.positions, 1), 1), n.lexeme_count, retrieval_posting_acl(n.acl)
        FROM new_chunks n, unnest(n.search_vector) AS u
        WHERE octet_length(u.lexeme) <= 256;
    RETURN NULL;
END
$$;

CREATE FUNCTION retrieval_chunk_postings_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM retrieval_posting p USING old_chunks o WHERE p.chunk_id = o.id;
    RETURN NULL;
END
$$;

-- An UPDATE trigger with transition tables may not name columns, so it compares the ACLs itself: other
-- updates (injection flags) write nothing here.
CREATE FUNCTION retrieval_chunk_postings_after_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE retrieval_posting p SET acl = retrieval_posting_acl(n.acl)
    FROM new_chunks n JOIN old_chunks o ON o.id = n.id
    WHERE p.chunk_id = n.id AND n.acl IS DISTINCT FROM o.acl;
    RETURN NULL;
END
$$;

CREATE FUNCTION retrieval_chunk_postings_after_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM retrieval_posting;
    RETURN NULL;
END
$$;

CREATE TRIGGER retrieval_chunk_postings_insert AFTER INSERT ON retrieval_chunk
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_postings_after_insert();
CREATE TRIGGER retrieval_chunk_postings_delete AFTER DELETE ON retrieval_chunk
    REFERENCING OLD TABLE AS old_chunks FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_postings_after_delete();
CREATE TRIGGER retrieval_chunk_postings_update AFTER UPDATE ON retrieval_chunk
    REFERENCING OLD TABLE AS old_chunks NEW TABLE AS new_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_postings_after_update();
CREATE TRIGGER retrieval_chunk_postings_truncate AFTER TRUNCATE ON retrieval_chunk
    FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_postings_after_truncate();
"""

DROP_TRIGGERS = """
DROP TRIGGER IF EXISTS retrieval_chunk_postings_truncate ON retrieval_chunk;
DROP TRIGGER IF EXISTS retrieval_chunk_postings_update ON retrieval_chunk;
DROP TRIGGER IF EXISTS retrieval_chunk_postings_delete ON retrieval_chunk;
DROP TRIGGER IF EXISTS retrieval_chunk_postings_insert ON retrieval_chunk;
DROP FUNCTION IF EXISTS retrieval_chunk_postings_after_truncate();
DROP FUNCTION IF EXISTS retrieval_chunk_postings_after_update();
DROP FUNCTION IF EXISTS retrieval_chunk_postings_after_delete();
DROP FUNCTION IF EXISTS retrieval_chunk_postings_after_insert();
"""

# BM25 as in 0005 (Robertson/Sparck Jones idf with the +1, document frequencies and average length from the
# corpus statistics of 0003), over the postings of the query's lexemes that the keys may read. Parameter names
# differ from every column on purpose: in a SQL function a column of the same name would win over a parameter.
FUNCTIONS = """
DROP FUNCTION IF EXISTS retrieval_bm25_top(text, varchar[], bigint[], float8, float8, integer);
DROP FUNCTION IF EXISTS retrieval_bm25_score(text[], float8[], text[], varchar[], bigint[], float8, float8, float8,
                                             integer);
CREATE FUNCTION retrieval_bm25_top(
    query_text text, reader_keys varchar[], only_documents bigint[], k1 float8, b float8, pool_size integer
) RETURNS TABLE (chunk_id bigint, bm25 float8)
LANGUAGE sql STABLE AS $fn$
    WITH corpus AS (
        SELECT greatest(coalesce(max(s.chunk_count), 0), 1)::float8 AS size,
               greatest(coalesce(max(s.total_length), 0), 1)::float8
                   / greatest(coalesce(max(s.chunk_count), 0), 1) AS avg_length
        FROM retrieval_corpusstat s
    ),
    -- Per query term, BM25's constants folded once, so that each posting row costs one division:
    -- idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg_length)).
    terms AS (
        SELECT u.lexeme, ln(1 + (corpus.size - t.df + 0.5) / (t.df + 0.5)) * (k1 + 1) AS weight,
               k1 * (1 - b) AS base, k1 * b / corpus.avg_length AS per_token
        FROM corpus, unnest(to_tsvector('english', query_text)) AS u
        JOIN retrieval_termstat t ON t.lexeme = u.lexeme
    )
    SELECT p.chunk_id, sum(w.weight * p.tf / (p.tf + w.base + w.per_token * p.length)) AS bm25
    FROM terms w
    JOIN retrieval_posting p ON p.lexeme = w.lexeme
    WHERE (p.acl && reader_keys
           OR (p.acl = '{*}'::varchar[] AND EXISTS (
               SELECT 1 FROM retrieval_chunk c WHERE c.id = p.chunk_id AND c.acl && reader_keys)))
      AND (only_documents IS NULL
           OR p.chunk_id IN (SELECT c.id FROM retrieval_chunk c WHERE c.document_id = ANY(only_documents)))
    GROUP BY p.chunk_id
    ORDER BY 2 DESC, 1
    LIMIT pool_size
$fn$;
GRANT EXECUTE ON FUNCTION retrieval_bm25_top(text, varchar[], bigint[], float8, float8, integer) TO docent_search;
"""


def restore_0005_functions(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    maxscore = importlib.import_module("retrieval.migrations.0005_bm25_maxscore")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP FUNCTION IF EXISTS retrieval_bm25_top(text, varchar[], bigint[], float8, float8, integer)")
        cursor.execute(maxscore.FUNCTIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("retrieval", "0006_chunk_injection_flags"),
    ]

    operations = [
        migrations.RunSQL(TABLE, DROP_TABLE),
        migrations.RunSQL(TRIGGERS, DROP_TRIGGERS),
        migrations.RunPython(migrations.RunPython.noop, restore_0005_functions),
        migrations.RunSQL(FUNCTIONS, migrations.RunSQL.noop),
    ]
