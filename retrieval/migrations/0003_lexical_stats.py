"""BM25 term statistics kept inside Postgres, next to the chunks they describe.

Per chunk: ``search_vector`` already holds each lexeme's positions (so its term frequency), and the new
generated ``lexeme_count`` holds the document length. Per corpus: ``retrieval_termstat`` (document frequency
per lexeme) and the one-row ``retrieval_corpusstat`` (chunk count, total length).

The corpus statistics are maintained by statement-level triggers with transition tables, set-based and in the
same transaction as the chunk writes. Triggers rather than Python because chunks are also deleted by cascades
that never pass through ``retrieval.services`` (a deleted document or version); a trigger sees every path.
Every writer first upserts the single ``retrieval_corpusstat`` row, which serializes the statistics updates of
concurrent transactions in one order, so concurrent ingestion jobs cannot deadlock on term rows.
"""

from django.db import migrations, models

LEXEME_COUNT_FUNCTION = """
CREATE OR REPLACE FUNCTION retrieval_lexeme_count(body text) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
RETURN (
    SELECT coalesce(sum(coalesce(array_length(u.positions, 1), 1)), 0)::integer
    FROM unnest(to_tsvector('english'::regconfig, body)) AS u
);
"""

STATS_TRIGGERS = """
CREATE FUNCTION retrieval_chunk_stats_after_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_chunks) THEN
        RETURN NULL;
    END IF;
    INSERT INTO retrieval_corpusstat AS s (id, chunk_count, total_length)
        SELECT 1, count(*), coalesce(sum(lexeme_count), 0) FROM new_chunks
    ON CONFLICT (id) DO UPDATE
        SET chunk_count = s.chunk_count + EXCLUDED.chunk_count,
            total_length = s.total_length + EXCLUDED.total_length;
    INSERT INTO retrieval_termstat AS t (lexeme, df)
        SELECT u.lexeme, count(*) FROM new_chunks, unnest(new_chunks.search_vector) AS u
        GROUP BY u.lexeme ORDER BY u.lexeme
    ON CONFLICT (lexeme) DO UPDATE SET df = t.df + EXCLUDED.df;
    RETURN NULL;
END
$$;

CREATE FUNCTION retrieval_chunk_stats_after_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM old_chunks) THEN
        RETURN NULL;
    END IF;
    INSERT INTO retrieval_corpusstat AS s (id, chunk_count, total_length)
        SELECT 1, -count(*), -coalesce(sum(lexeme_count), 0) FROM old_chunks
    ON CONFLICT (id) DO UPDATE
        SET chunk_count = s.chunk_count + EXCLUDED.chunk_count,
            total_length = s.total_length + EXCLUDED.total_length;
    WITH gone AS (
        SELECT u.lexeme, count(*) AS n FROM old_chunks, unnest(old_chunks.search_vector) AS u GROUP BY u.lexeme
    )
    UPDATE retrieval_termstat AS t SET df = t.df - gone.n FROM gone WHERE t.lexeme = gone.lexeme;
    DELETE FROM retrieval_termstat WHERE df <= 0;
    RETURN NULL;
END
$$;

CREATE FUNCTION retrieval_chunk_stats_after_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM retrieval_termstat;
    DELETE FROM retrieval_corpusstat;
    RETURN NULL;
END
$$;

-- Chunk text is written once: statistics (and embeddings) would silently go stale if it were edited.
CREATE FUNCTION retrieval_chunk_text_is_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'chunk text is immutable: replace the document''s chunks instead (retrieval.services)';
END
$$;

CREATE TRIGGER retrieval_chunk_stats_insert AFTER INSERT ON retrieval_chunk
    REFERENCING NEW TABLE AS new_chunks FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_stats_after_insert();
CREATE TRIGGER retrieval_chunk_stats_delete AFTER DELETE ON retrieval_chunk
    REFERENCING OLD TABLE AS old_chunks FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_stats_after_delete();
CREATE TRIGGER retrieval_chunk_stats_truncate AFTER TRUNCATE ON retrieval_chunk
    FOR EACH STATEMENT EXECUTE FUNCTION retrieval_chunk_stats_after_truncate();
CREATE TRIGGER retrieval_chunk_text_immutable BEFORE UPDATE OF text ON retrieval_chunk
    FOR EACH ROW WHEN (OLD.text IS DISTINCT FROM NEW.text) EXECUTE FUNCTION retrieval_chunk_text_is_immutable();

-- Chunks written before this migration.
INSERT INTO retrieval_corpusstat (id, chunk_count, total_length)
    SELECT 1, count(*), coalesce(sum(lexeme_count), 0) FROM retrieval_chunk;
INSERT INTO retrieval_termstat (lexeme, df)
    SELECT u.lexeme, count(*) FROM retrieval_chunk, unnest(retrieval_chunk.search_vector) AS u GROUP BY u.lexeme;
"""

DROP_STATS_TRIGGERS = """
DROP TRIGGER IF EXISTS retrieval_chunk_text_immutable ON retrieval_chunk;
DROP TRIGGER IF EXISTS retrieval_chunk_stats_truncate ON retrieval_chunk;
DROP TRIGGER IF EXISTS retrieval_chunk_stats_delete ON retrieval_chunk;
DROP TRIGGER IF EXISTS retrieval_chunk_stats_insert ON retrieval_chunk;
DROP FUNCTION IF EXISTS retrieval_chunk_text_is_immutable();
DROP FUNCTION IF EXISTS retrieval_chunk_stats_after_truncate();
DROP FUNCTION IF EXISTS retrieval_chunk_stats_after_delete();
DROP FUNCTION IF EXISTS retrieval_chunk_stats_after_insert();
DELETE FROM retrieval_termstat;
DELETE FROM retrieval_corpusstat;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("retrieval", "0002_chunk"),
    ]

    operations = [
        migrations.RunSQL(LEXEME_COUNT_FUNCTION, "DROP FUNCTION IF EXISTS retrieval_lexeme_count(text)"),
        migrations.CreateModel(
            name="TermStat",
            fields=[
                ("lexeme", models.TextField(primary_key=True, serialize=False)),
                ("df", models.BigIntegerField()),
            ],
        ),
        migrations.AddField(
            model_name="chunk",
            name="lexeme_count",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.Func(
                    models.F("text"), function="retrieval_lexeme_count", output_field=models.IntegerField()
                ),
                output_field=models.IntegerField(),
            ),
        ),
        migrations.CreateModel(
            name="CorpusStat",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, primary_key=True, serialize=False)),
                ("chunk_count", models.BigIntegerField(default=0)),
                ("total_length", models.BigIntegerField(default=0)),
            ],
            options={
                "constraints": [models.CheckConstraint(condition=models.Q(("id", 1)), name="corpus_stat_single_row")],
            },
        ),
        migrations.RunSQL(STATS_TRIGGERS, DROP_STATS_TRIGGERS),
    ]
