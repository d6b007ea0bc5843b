from __future__ import annotations

import numpy as np
import pytest
from django.conf import settings

from retrieval.embeddings import EMBEDDER_BACKENDS, export_onnx_models, onnx_model_path

TEXTS = [
    "Deploys go out on Tuesdays after the change review.",
    "The travel policy covers economy flights and two nights of hotel.",
    "Salary bands are reviewed every April by HR. " * 30,  # longer than the model's 256-token window
]


@pytest.fixture(scope="module")
def onnx_exported():
    """`make test` exports at install time; a bare pytest run exports here once (offline, ~1 minute)."""
    if not all(onnx_model_path(settings.EMBEDDING_MODEL, v).is_file() for v in ("onnx", "onnx-int8")):
        export_onnx_models(settings.EMBEDDING_MODEL)


@pytest.mark.slow
def test_onnx_backends_match_the_torch_model(onnx_exported):
    torch_vectors = EMBEDDER_BACKENDS["torch"]().embed_passages(TEXTS)
    onnx = EMBEDDER_BACKENDS["onnx"]()
    int8 = EMBEDDER_BACKENDS["onnx-int8"]()
    onnx_vectors = onnx.embed_passages(TEXTS)
    int8_vectors = int8.embed_passages(TEXTS)
    assert onnx_vectors.shape == int8_vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(int8_vectors, axis=1), 1.0, atol=1e-5)
    # fp32 ONNX is the same computation; int8 is close but not equal, so it records its own model ID.
    assert float((torch_vectors * onnx_vectors).sum(axis=1).min()) > 0.9999
    assert float((torch_vectors * int8_vectors).sum(axis=1).min()) > 0.97
    assert onnx.model_id == "all-MiniLM-L6-v2"
    assert int8.model_id == "all-MiniLM-L6-v2:onnx-int8"
    # Same order in, same order out, whatever the internal length sorting does.
    query = onnx.embed_query(TEXTS[1])
    assert int(np.argmax(onnx_vectors @ query)) == 1


def test_missing_onnx_export_is_a_clear_error(settings, tmp_path):
    settings.EMBEDDING_ONNX_DIR = tmp_path
    with pytest.raises(FileNotFoundError, match="export_onnx_model"):
        EMBEDDER_BACKENDS["onnx-int8"]()


@pytest.mark.slow
def test_onnx_batches_by_token_count_and_returns_vectors_in_order(onnx_exported):
    from retrieval.embeddings import OnnxEmbedder

    widths: list[int] = []

    class Recording(OnnxEmbedder):
        def _embed_batch(self, sequences: list[list[int]]):
            widths.append(max(len(ids) for ids in sequences))
            return super()._embed_batch(sequences)

    embedder = Recording(settings.EMBEDDING_MODEL, variant="onnx", batch_size=2)
    # Characters and tokens disagree: the identifier-laden lines are short in characters, long in tokens.
    texts = [
        "pg_stat_replication.write_lag::interval",
        "The travel policy covers economy flights.",
        "xact_commit_timestamp_origin(xid)",
        "Deploys go out on Tuesdays.",
    ]
    vectors = embedder.embed_passages(texts)
    alone = np.stack([embedder.embed_passages([text])[0] for text in texts])
    assert np.allclose(vectors, alone, atol=1e-5)  # padding never changes a vector, order is the caller's
    lengths = sorted(len(embedder._tokenizer.encode(text).ids) for text in texts)
    assert widths[:2] == [lengths[3], lengths[1]]  # two batches, each as wide as its longest sequence, longest first


@pytest.mark.slow
def test_onnx_lanes_encode_batches_side_by_side_with_the_same_vectors(onnx_exported):
    import threading

    from retrieval.embeddings import OnnxEmbedder

    lanes_seen: set[int] = set()
    # Each lane's first batch waits for another lane's: with one lane only, the barrier would time out.
    both_lanes_busy = threading.Barrier(2, timeout=30)

    class Recording(OnnxEmbedder):
        def _embed_batch(self, sequences: list[list[int]]):
            if threading.get_ident() not in lanes_seen:
                lanes_seen.add(threading.get_ident())
                both_lanes_busy.wait()
            return super()._embed_batch(sequences)

    texts = [f"Passage {n}: the travel policy covers economy flights. " * (1 + n % 7) for n in range(40)]
    one_lane = OnnxEmbedder(settings.EMBEDDING_MODEL, variant="onnx-int8", batch_size=4, lanes=1)
    two_lanes = Recording(settings.EMBEDDING_MODEL, variant="onnx-int8", batch_size=4, lanes=2)

    progress: list[tuple[int, int]] = []
    vectors = two_lanes.embed_passages(texts, on_progress=lambda done: progress.append((done, threading.get_ident())))

    assert len(lanes_seen) == 2 and threading.get_ident() not in lanes_seen
    # Progress after every batch, in the caller's thread (it writes the jobs' heartbeat on its connection).
    assert [done for done, _ in progress] == list(range(4, 41, 4))
    assert {thread for _, thread in progress} == {threading.get_ident()}
    assert np.array_equal(vectors, one_lane.embed_passages(texts))  # same batches, same kernels: same bits
    assert int(np.argmax(vectors @ one_lane.embed_query(texts[9]))) == 9
