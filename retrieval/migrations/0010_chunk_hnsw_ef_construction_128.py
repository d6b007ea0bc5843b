"""Rebuild the HNSW index with ef_construction 128 (was 64).

At 1M chunks the graph built with 64 gave recall@10 0.86-0.89 at ef_search 160, with some queries finding none
of their true neighbours, and raising ef_search to 1,000 did not reach 0.95; the same table re-indexed with
128 gave 0.96-0.99 for every reader measured (docs/performance.md, Retrieval latency). Building costs more
(about 1.75x; 374 s instead of 213 s at 1M on 2 cores), and so does each insert.

Built concurrently under a temporary name, then swapped, so searches keep their index during the build.
"""

import pgvector.django.indexes
from django.db import migrations

_OLD = pgvector.django.indexes.HnswIndex(
    ef_construction=64, fields=["embedding"], m=16, name="chunk_embedding_hnsw", opclasses=["vector_cosine_ops"]
)
_NEW = pgvector.django.indexes.HnswIndex(
    ef_construction=128, fields=["embedding"], m=16, name="chunk_embedding_hnsw", opclasses=["vector_cosine_ops"]
)


class Migration(migrations.Migration):
    atomic = False  # CREATE / DROP INDEX CONCURRENTLY cannot run in a transaction

    dependencies = [
        ("ingestion", "0002_ingestionjob_run_id"),
        ("retrieval", "0009_acl_key_counts"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(
                    sql=[
                        "DROP INDEX CONCURRENTLY IF EXISTS chunk_embedding_hnsw_rebuilt",
                        "CREATE INDEX CONCURRENTLY chunk_embedding_hnsw_rebuilt ON retrieval_chunk "
                        "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 128)",
                        "DROP INDEX CONCURRENTLY chunk_embedding_hnsw",
                        "ALTER INDEX chunk_embedding_hnsw_rebuilt RENAME TO chunk_embedding_hnsw",
                    ],
                    reverse_sql=[
                        "DROP INDEX CONCURRENTLY IF EXISTS chunk_embedding_hnsw_rebuilt",
                        "CREATE INDEX CONCURRENTLY chunk_embedding_hnsw_rebuilt ON retrieval_chunk "
                        "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)",
                        "DROP INDEX CONCURRENTLY chunk_embedding_hnsw",
                        "ALTER INDEX chunk_embedding_hnsw_rebuilt RENAME TO chunk_embedding_hnsw",
                    ],
                )
            ],
            state_operations=[
                migrations.RemoveIndex(model_name="chunk", name="chunk_embedding_hnsw"),
                migrations.AddIndex(model_name="chunk", index=_NEW),
            ],
        ),
    ]
