"""BM25 top-k without a hash table when many postings pass the ACL: the query terms' postings are sorted by chunk
id and summed chunk by chunk.

The function of 0007 joined the postings to the query terms and summed them in a hash aggregate keyed on the
chunk: at 1M chunks a full-access query with two or three common words sends 50,000-190,000 postings through
it, one hash entry per matching chunk, and that cost more than reading and ACL-checking the postings
(docs/performance.md). Here each term is its own branch of a ``UNION ALL`` (an index-only range scan of the
covering key, as before), the (chunk id, part) pairs are sorted in memory by chunk id and a GroupAggregate sums
each chunk's parts in order; the final top-``pool`` is a bounded heap sort, as before. ``enable_hashagg`` is off
for that statement only. (Each branch's scan already comes out in chunk-id order, but the planner does not merge
them, even with sorting discouraged; the sort of the narrow pairs is still cheaper than the hash table.)

When few postings can pass the ACL (a reader of a few per cent of the chunks), the hash aggregate over the
survivors is as cheap or cheaper, so the function keeps the 0007 statement for them. It estimates the
survivors from the document frequencies and the reader's share of the chunks (the per-ACL-key counts of 0009,
an upper bound). A query of more than ``MAX_SORTED_TERMS`` lexemes also takes the 0007 statement.

Both statements compute the same sums, as 0007 did (same term weights, same per-posting expression), with the
same ACL predicate and document filter, ordered by score and then chunk id: only the plan differs. The function
still runs with the caller's rights, so the reader role's row-level security applies to every posting read.
MaxScore-style pruning was measured again on this data and dropped: at pool 100 the pool-th score (about 6-9)
is no higher than one common term's upper bound (idf * (k1 + 1), 6-9), so no posting list could be skipped, and
filtering the postings by the threshold instead saved about 15% (docs/performance.md).
"""

from django.db import migrations

MAX_SORTED_TERMS = 8
# Expected postings passing the ACL above which the sorted aggregate is cheaper than the hash aggregate (measured at 1M);
# the function's last parameter, so that tests can force either plan.
SORT_MIN_POSTINGS = 5000

# The ACL predicate and the document filter on a posting ``p``, written once for both statements so that the two
# plans cannot drift apart (0007's, unchanged).
_POSTING_FILTER = """(p.acl && reader_keys
               OR (p.acl = '{*}'::varchar[] AND EXISTS (
                   SELECT 1 FROM retrieval_chunk c WHERE c.id = p.chunk_id AND c.acl && reader_keys)))
          AND (only_documents IS NULL
               OR p.chunk_id IN (SELECT c.id FROM retrieval_chunk c WHERE c.document_id = ANY(only_documents)))"""

_BRANCH = """
        SELECT p.chunk_id, weights[__TERM__] * p.tf / (p.tf + base + per_token * p.length) AS part
        FROM retrieval_posting p
        WHERE p.lexeme = lexemes[__TERM__]
          AND __POSTING_FILTER__"""

# Parameter and variable names differ from every column on purpose (as in 0007); ``use_column`` settles the
# output columns, which share the postings' names. Unused branches (fewer terms than MAX_SORTED_TERMS) look up
# a NULL lexeme, which matches nothing. The planner settings are restored on return. The plan is generic (planned
# once per session: a custom plan of eight branches with their row security subplans took 2-4 ms to plan), and
# work_mem is raised for the call: a full-access query of three common words sorts about 190,000 postings
# (14 MB), which spilled to disk at the default 4 MB.
FUNCTION = """
DROP FUNCTION IF EXISTS retrieval_bm25_top(text, varchar[], bigint[], float8, float8, integer);
CREATE FUNCTION retrieval_bm25_top(
    query_text text, reader_keys varchar[], only_documents bigint[], k1 float8, b float8, pool_size integer,
    sort_min_postings integer DEFAULT __SORT_MIN_POSTINGS__
) RETURNS TABLE (chunk_id bigint, bm25 float8)
LANGUAGE plpgsql STABLE
SET enable_hashagg = on
SET plan_cache_mode = force_generic_plan
SET work_mem = '32MB'
AS $fn$
#variable_conflict use_column
DECLARE
    corpus_size float8;
    avg_length float8;
    base float8;
    per_token float8;
    lexemes text[];
    weights float8[];
    postings bigint;
    readable float8;
BEGIN
    SELECT greatest(coalesce(max(s.chunk_count), 0), 1)::float8,
           greatest(coalesce(max(s.total_length), 0), 1)::float8 / greatest(coalesce(max(s.chunk_count), 0), 1)
    INTO corpus_size, avg_length FROM retrieval_corpusstat s;
    base := k1 * (1 - b);
    per_token := k1 * b / avg_length;
    -- Per query term, BM25's constants folded once: idf * (k1 + 1), as in 0007.
    SELECT array_agg(t.lexeme ORDER BY t.lexeme),
           array_agg(ln(1 + (corpus_size - t.df + 0.5) / (t.df + 0.5)) * (k1 + 1) ORDER BY t.lexeme),
           sum(t.df)
    INTO lexemes, weights, postings
    FROM unnest(to_tsvector('english', query_text)) AS u JOIN retrieval_termstat t ON t.lexeme = u.lexeme;
    IF lexemes IS NULL THEN
        RETURN;
    END IF;
    -- The reader's share of the chunks, at most 1 (a chunk carrying two of the keys counts twice).
    SELECT least(coalesce(sum(a.chunks), 0) / corpus_size, 1) INTO readable
    FROM retrieval_aclkeycount a WHERE a.key = ANY(reader_keys);

    IF cardinality(lexemes) <= __MAX_SORTED_TERMS__ AND postings * readable >= sort_min_postings THEN
        PERFORM set_config('enable_hashagg', 'off', true);
        RETURN QUERY
        SELECT s.chunk_id, sum(s.part) FROM (__BRANCHES__
        ) s
        GROUP BY s.chunk_id ORDER BY 2 DESC, 1 LIMIT pool_size;
        RETURN;
    END IF;

    RETURN QUERY
    SELECT p.chunk_id, sum(w.weight * p.tf / (p.tf + base + per_token * p.length))
    FROM unnest(lexemes, weights) AS w(lexeme, weight)
    JOIN retrieval_posting p ON p.lexeme = w.lexeme
    WHERE __POSTING_FILTER__
    GROUP BY p.chunk_id
    ORDER BY 2 DESC, 1
    LIMIT pool_size;
END
$fn$;
GRANT EXECUTE ON FUNCTION retrieval_bm25_top(text, varchar[], bigint[], float8, float8, integer, integer)
    TO docent_search;
"""
# Filled in from this module's constants only (never from input).
FUNCTION = (
    FUNCTION.replace(
        "__BRANCHES__",
        "UNION ALL".join(_BRANCH.replace("__TERM__", str(term)) for term in range(1, MAX_SORTED_TERMS + 1)),
    )
    .replace("__POSTING_FILTER__", _POSTING_FILTER)
    .replace("__MAX_SORTED_TERMS__", str(MAX_SORTED_TERMS))
    .replace("__SORT_MIN_POSTINGS__", str(SORT_MIN_POSTINGS))
)


def restore_0007_function(apps, schema_editor) -> None:  # type: ignore[no-untyped-def]
    import importlib

    postings = importlib.import_module("retrieval.migrations.0007_bm25_postings")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("DROP FUNCTION retrieval_bm25_top(text, varchar[], bigint[], float8, float8, integer, integer)")
        cursor.execute(postings.FUNCTIONS)


class Migration(migrations.Migration):
    dependencies = [
        ("retrieval", "0010_chunk_hnsw_ef_construction_128"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, restore_0007_function),
        migrations.RunSQL(FUNCTION, migrations.RunSQL.noop),
    ]
