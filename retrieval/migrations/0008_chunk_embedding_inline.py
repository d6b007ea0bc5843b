"""Keep each chunk's embedding in its heap row instead of the TOAST table.

pgvector gives ``vector`` the ``external`` storage: a value may move out of line, uncompressed. A chunk row
(a 384-d embedding is 1.5 kB, plus the text, its tsvector and the ACL) exceeds the 2 kB TOAST threshold, so the
embedding, the largest value that may move, was the one moved out: every read of it (an exact scan of the
permitted rows, the distances of the HNSW path's results, hydration) cost a TOAST index lookup and one more
page. ``main`` keeps it in the row, moving the text and tsvector out first (measured in docs/performance.md,
"1,000,000 chunks"). Catalog-only: rows written before keep their layout until rewritten (re-ingestion,
``reembed``, or ``VACUUM FULL retrieval_chunk``).
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("retrieval", "0007_bm25_postings"),
    ]

    operations = [
        migrations.RunSQL(
            "ALTER TABLE retrieval_chunk ALTER COLUMN embedding SET STORAGE MAIN",
            reverse_sql="ALTER TABLE retrieval_chunk ALTER COLUMN embedding SET STORAGE EXTERNAL",
        ),
    ]
