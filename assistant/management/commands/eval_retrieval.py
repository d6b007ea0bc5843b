"""Retrieval quality on a BEIR-format dataset, through the real ingestion and search code.

    manage.py eval_retrieval --beir ../shared/data/scifact [--split test] [--mode all]

The corpus is loaded into a separate database (``--database``, default ``docent_eval_<dataset>``) that is
kept between runs, so a train run and a test run embed the corpus once; ``--fresh`` rebuilds it. Every
document is public and searched as a signed-in user, i.e. a user who can read everything, through
``retrieval.search.search`` exactly as the API calls it. Chunk hits are turned into a document ranking by
keeping each document's first hit (``max_per_document=1``).

Tune on ``train`` only; ``test`` is the scoreboard.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from ingestion.models import Document
from ingestion.services import TextItem, ingest_text_documents
from retrieval.search import SearchParams, search

MODES = ("dense", "lexical", "hybrid")
RESULTS_PATH = Path(settings.BASE_DIR) / "bench" / "results" / "retrieval_quality.json"
EVAL_USERNAME = "beir-eval"


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            if int(row["score"]) > 0:
                qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return qrels


def ndcg_at(ranking: list[str], relevant: dict[str, int], k: int) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranking[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranking: list[str], relevant: dict[str, int], k: int) -> float:
    return len(set(ranking[:k]) & set(relevant)) / len(relevant)


def mrr_at(ranking: list[str], relevant: dict[str, int], k: int) -> float:
    for rank, doc in enumerate(ranking[:k], start=1):
        if doc in relevant:
            return 1.0 / rank
    return 0.0


def score_rankings(rankings: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Mean nDCG@10, Recall@10, Recall@100 and MRR@10 over the judged queries (binary or graded gains)."""
    ids = [query_id for query_id in qrels if query_id in rankings]
    count = max(len(ids), 1)
    return {
        "ndcg@10": round(sum(ndcg_at(rankings[q], qrels[q], 10) for q in ids) / count, 4),
        "recall@10": round(sum(recall_at(rankings[q], qrels[q], 10) for q in ids) / count, 4),
        "recall@100": round(sum(recall_at(rankings[q], qrels[q], 100) for q in ids) / count, 4),
        "mrr@10": round(sum(mrr_at(rankings[q], qrels[q], 10) for q in ids) / count, 4),
        "queries": len(ids),
    }


def eval_search_params(pairs: Iterable[str]) -> SearchParams:
    """The configured search's parameters with one result per document, then the ``--param name=value`` overrides.

    The pools are search's own (they were raised to 100 here before, so a smaller configured pool was never
    measured); the fused list still holds the lexical pool's candidates for Recall@100."""
    fields = SearchParams.__dataclass_fields__
    base = SearchParams.from_settings().with_changes(max_per_document=1)
    overrides: dict[str, Any] = {}
    for pair in pairs:
        name, _, raw = pair.partition("=")
        if name not in fields:
            raise CommandError(f"--param {pair}: {name} is not one of {sorted(fields)}")
        overrides[name] = type(getattr(base, name))(raw)
    return base.with_changes(**overrides)


def ingest_corpus(*, rows: list[dict[str, Any]], source_prefix: str, progress: Any) -> None:
    """Ingest BEIR documents as public text documents through ``ingestion.services`` (parse, chunk, embed,
    write), in batches so the encoder sees full batches and progress can be reported."""
    batch_size = 128
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        ingest_text_documents(
            [
                TextItem(
                    title=row.get("title") or row["_id"],
                    # BEIR scores title + text; the title is the first paragraph of the document.
                    text=f"{row.get('title', '')}\n\n{row['text']}".strip(),
                    external_id=source_prefix + row["_id"],
                    filename=f"{row['_id']}.txt",
                )
                for row in batch
            ],
            is_public=True,
        )
        progress(f"  {min(start + batch_size, len(rows))}/{len(rows)}")
        sys.stdout.flush()


class Command(BaseCommand):
    help = "Measure retrieval quality (nDCG@10, Recall@10/100, MRR@10) on a BEIR dataset."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--beir", required=True, help="Folder with corpus.jsonl, queries.jsonl, qrels/*.tsv")
        parser.add_argument("--split", default="test", help="qrels/<split>.tsv (tune on train, report test)")
        parser.add_argument("--mode", default="all", choices=[*MODES, "all"])
        parser.add_argument("--database", default="", help="Database to load the corpus into (kept)")
        parser.add_argument("--fresh", action="store_true", help="Drop and reload the evaluation database")
        parser.add_argument("--limit", type=int, default=0, help="Evaluate only the first N judged queries")
        parser.add_argument("--param", action="append", default=[], help="Override a SearchParams knob: name=value")
        parser.add_argument("--output", default=str(RESULTS_PATH))
        parser.add_argument("--load-only", action="store_true", help="Only ingest the corpus, then stop")
        parser.add_argument(
            "--shard", default="0/1", help="i/n: ingest every n-th pending document from the i-th (parallel loads)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        folder = Path(options["beir"])
        qrels_path = folder / "qrels" / f"{options['split']}.tsv"
        for required in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
            if not required.exists():
                raise CommandError(f"{required} does not exist: --beir must point at a BEIR-format folder.")
        dataset = folder.resolve().name
        self._use_database(options["database"] or f"docent_eval_{dataset}", fresh=options["fresh"])
        shard, shards = (int(part) for part in options["shard"].split("/"))
        loaded, load_seconds = self._load_corpus(folder, dataset, shard=shard, shards=shards)
        if options["load_only"]:
            return

        queries = {row["_id"]: row["text"] for row in read_jsonl(folder / "queries.jsonl")}
        qrels = read_qrels(qrels_path)
        if options["limit"]:
            qrels = dict(list(qrels.items())[: options["limit"]])
        user, _ = get_user_model().objects.get_or_create(username=EVAL_USERNAME)
        source_by_document = dict(
            Document.objects.filter(source__startswith=f"beir:{dataset}:").values_list("id", "source")
        )
        prefix_length = len(f"beir:{dataset}:")
        base = eval_search_params(options["param"])
        modes = MODES if options["mode"] == "all" else (options["mode"],)
        report: dict[str, Any] = {
            "dataset": dataset,
            "split": options["split"],
            "corpus_documents": loaded,
            "corpus_chunks": self._chunk_count(),
            "load_seconds": load_seconds,
            "modes": {},
        }
        for mode in modes:
            params = base.with_changes(mode=mode)
            started = time.perf_counter()
            rankings: dict[str, list[str]] = {}
            described: dict[str, Any] = {}
            for query_id in qrels:
                results = search(user=user, query=queries[query_id], k=100, params=params)
                rankings[query_id] = [
                    source_by_document[hit.document_id][prefix_length:]
                    for hit in results
                    if hit.document_id in source_by_document  # documents of other data sets in the same database
                ]
                described = results.describe()
            elapsed = time.perf_counter() - started
            scores = score_rankings(rankings, qrels)
            scores["seconds_per_query"] = round(elapsed / max(len(qrels), 1), 4)
            report["modes"][mode] = {"scores": scores, "params": described}
            self.stdout.write(
                f"{dataset} {options['split']} {mode:8s} nDCG@10 {scores['ndcg@10']:.4f}  "
                f"R@10 {scores['recall@10']:.4f}  R@100 {scores['recall@100']:.4f}  MRR@10 {scores['mrr@10']:.4f}  "
                f"({scores['queries']} queries, {scores['seconds_per_query'] * 1000:.0f} ms/query)"
            )
        output = Path(options["output"])
        output.parent.mkdir(parents=True, exist_ok=True)
        existing = json.loads(output.read_text()) if output.exists() else {}
        existing[f"{dataset}:{options['split']}"] = report
        output.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
        self.stdout.write(f"wrote {output}")

    def _use_database(self, name: str, *, fresh: bool) -> None:
        """Switch this process to the evaluation database, creating and migrating it when needed."""
        test_settings = connection.settings_dict.setdefault("TEST", {})
        test_settings.update({"NAME": name, "CHARSET": None, "COLLATION": None, "TEMPLATE": None})
        if fresh:
            connection.creation.destroy_test_db(name, verbosity=0, keepdb=False)
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=True)
        self.stdout.write(f"using database {connection.settings_dict['NAME']}")

    @staticmethod
    def _chunk_count() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM retrieval_chunk")
            return int(cursor.fetchone()[0])

    def _load_corpus(self, folder: Path, dataset: str, *, shard: int, shards: int) -> tuple[int, float]:
        """Ingest every corpus document not yet in the database; returns (documents, seconds spent)."""
        prefix = f"beir:{dataset}:"
        present = set(Document.objects.filter(source__startswith=prefix).values_list("source", flat=True))
        rows = [row for index, row in enumerate(read_jsonl(folder / "corpus.jsonl")) if index % shards == shard]
        pending = [row for row in rows if prefix + row["_id"] not in present]
        started = time.perf_counter()
        if pending:
            self.stdout.write(f"ingesting {len(pending)} documents (the real parser, chunker and embedder)...")
            ingest_corpus(rows=pending, source_prefix=prefix, progress=self.stdout.write)
        return len(present) + len(pending), round(time.perf_counter() - started, 1)
