"""BM25 top-k in one SQL call, with MaxScore pruning so that common query terms stop costing a scan.

Scoring a chunk unnests its ``search_vector``; doing that for every chunk that holds *any* query term is what
made the lexical side slow on a large corpus (a query with one very common word matches most chunks). A
term's BM25 contribution can never exceed ``idf * (k1 + 1)``, so (MaxScore, Turtle and Flood 1995):

1. score the chunks holding the rarest terms (until their document frequencies could fill the pool twice);
2. the pool-th score of that pass, ``theta``, is a lower bound of the final pool-th score; the commonest
   terms whose upper bounds add up to less than ``theta`` cannot lift a chunk that holds none of the others
   into the pool, so only chunks holding one of the remaining (rarer) terms need scoring;
3. if those are the terms of pass 1, its result is already exact; otherwise score once more with them.

Every chunk is scored with *all* query terms: the result is the exact BM25 top-k, only found faster. The
query's lexemes are picked out of a chunk's vector in C (``setweight`` marks them, ``ts_filter`` keeps
them) rather than by unnesting and joining every lexeme of the chunk. The
functions run with the caller's rights (``SECURITY INVOKER``), so the reader role's row-level security still
applies; the ACL predicate is in the scoring query itself. Parameter names differ from every chunk column on
purpose: in a SQL function a column of the same name would silently win over a parameter.
"""

from django.db import migrations

FUNCTIONS = """
CREATE OR REPLACE FUNCTION retrieval_bm25_score(
    query_terms text[], term_idfs float8[], match_terms text[], reader_keys varchar[], only_documents bigint[],
    k1 float8, b float8, avg_length float8, pool_size integer
) RETURNS TABLE (chunk_id bigint, bm25 float8)
LANGUAGE sql STABLE AS $fn$
    SELECT c.id,
           sum(w.idf * m.tf * (k1 + 1) / (m.tf + k1 * (1 - b + b * c.lexeme_count / avg_length))) AS bm25
    FROM retrieval_chunk c
    CROSS JOIN LATERAL (
        SELECT u.lexeme, coalesce(array_length(u.positions, 1), 1)::float8 AS tf
        FROM unnest(ts_filter(setweight(setweight(c.search_vector, 'D'), 'A', query_terms), '{a}')) AS u
    ) m
    JOIN unnest(query_terms, term_idfs) AS w(lexeme, idf) ON w.lexeme = m.lexeme
    WHERE c.search_vector @@ replace(array_to_tsvector(match_terms)::text, ' ', ' | ')::tsquery
      AND c.acl && reader_keys
      AND (only_documents IS NULL OR c.document_id = ANY(only_documents))
    GROUP BY c.id
    ORDER BY 2 DESC, c.id
    LIMIT pool_size
$fn$;

CREATE OR REPLACE FUNCTION retrieval_bm25_top(
    query_text text, reader_keys varchar[], only_documents bigint[], k1 float8, b float8, pool_size integer
) RETURNS TABLE (chunk_id bigint, bm25 float8)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    corpus_size float8;
    avg_length float8;
    terms text[];
    idfs float8[];
    dfs float8[];
    term_count integer;
    first_pass integer := 1;
    covered float8;
    needed integer;
    droppable float8 := 0;
    theta float8;
    found_ids bigint[];
    found_scores float8[];
BEGIN
    SELECT greatest(coalesce(max(s.chunk_count), 0), 1)::float8,
           greatest(coalesce(max(s.total_length), 0), 1)::float8 / greatest(coalesce(max(s.chunk_count), 0), 1)
      INTO corpus_size, avg_length
      FROM retrieval_corpusstat s;
    -- The query's lexemes, rarest (highest idf) first.
    SELECT array_agg(q.lexeme ORDER BY q.df, q.lexeme),
           array_agg(ln(1 + (corpus_size - q.df + 0.5) / (q.df + 0.5)) ORDER BY q.df, q.lexeme),
           array_agg(q.df ORDER BY q.df, q.lexeme)
      INTO terms, idfs, dfs
      FROM (
        SELECT u.lexeme, coalesce(t.df, 0)::float8 AS df
        FROM unnest(to_tsvector('english', query_text)) AS u
        LEFT JOIN retrieval_termstat t ON t.lexeme = u.lexeme
      ) q;
    term_count := coalesce(array_length(terms, 1), 0);
    IF term_count = 0 THEN
        RETURN;
    END IF;

    covered := dfs[1];
    WHILE first_pass < term_count AND covered < 2 * pool_size LOOP
        first_pass := first_pass + 1;
        covered := covered + dfs[first_pass];
    END LOOP;
    SELECT array_agg(r.chunk_id ORDER BY r.bm25 DESC, r.chunk_id), array_agg(r.bm25 ORDER BY r.bm25 DESC, r.chunk_id)
      INTO found_ids, found_scores
      FROM retrieval_bm25_score(terms, idfs, terms[1:first_pass], reader_keys, only_documents, k1, b, avg_length,
                                pool_size) AS r;

    needed := term_count;
    IF first_pass < term_count AND coalesce(array_length(found_ids, 1), 0) >= pool_size THEN
        theta := found_scores[pool_size];
        -- Drop the commonest terms while their upper bounds together stay below theta.
        WHILE needed > 1 AND droppable + idfs[needed] * (k1 + 1) < theta LOOP
            droppable := droppable + idfs[needed] * (k1 + 1);
            needed := needed - 1;
        END LOOP;
    END IF;

    IF needed <= first_pass THEN
        RETURN QUERY SELECT unnest(found_ids), unnest(found_scores);
    ELSE
        RETURN QUERY SELECT r.chunk_id, r.bm25
            FROM retrieval_bm25_score(terms, idfs, terms[1:needed], reader_keys, only_documents, k1, b, avg_length,
                                      pool_size) AS r;
    END IF;
END
$fn$;

GRANT EXECUTE ON FUNCTION retrieval_bm25_score(text[], float8[], text[], varchar[], bigint[], float8, float8, float8,
                                               integer) TO docent_search;
GRANT EXECUTE ON FUNCTION retrieval_bm25_top(text, varchar[], bigint[], float8, float8, integer) TO docent_search;
"""

DROP = """
DROP FUNCTION IF EXISTS retrieval_bm25_top(text, varchar[], bigint[], float8, float8, integer);
DROP FUNCTION IF EXISTS retrieval_bm25_score(text[], float8[], text[], varchar[], bigint[], float8, float8, float8,
                                             integer);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("retrieval", "0004_chunk_row_security"),
    ]

    operations = [migrations.RunSQL(FUNCTIONS, DROP)]
