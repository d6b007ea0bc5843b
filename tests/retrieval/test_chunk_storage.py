"""A chunk's embedding stays in its heap row, so reading it never costs a TOAST lookup (migration 0008)."""

from __future__ import annotations

import pytest
from django.db import connection

from tests.retrieval.conftest import Team, write_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def hashing_embedder(settings) -> None:
    settings.EMBEDDING_BACKEND = "hashing"


def test_a_long_chunks_embedding_stays_in_the_row_and_its_text_moves_out(team: Team) -> None:
    # About 2 kB of words that do not compress away: with the embedding the row is far over the 2 kB
    # threshold at which Postgres moves values out of line.
    text = " ".join(f"clause{number} obligation{number * 7919 % 10007}" for number in range(90))
    document = write_document(title="Contract", passages=[text], owner=team.alice)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_column_toast_chunk_id(embedding), pg_column_toast_chunk_id(text), "
            "pg_column_size(embedding) FROM retrieval_chunk WHERE document_id = %s",
            [document.pk],
        )
        embedding_toast, text_toast, embedding_size = cursor.fetchone()
    assert embedding_size > 1500  # a 384-d float vector, uncompressed
    assert embedding_toast is None
    # The text went out of line instead: the row was indeed too big, so the test would see a moved embedding.
    assert text_toast is not None
