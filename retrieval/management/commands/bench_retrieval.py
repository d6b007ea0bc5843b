"""Latency and recall of permission-aware search on synthetic chunks.

    manage.py bench_retrieval --chunks 100000 [--queries 100] [--exact-queries N] [--keep]

Builds its own database (``--database``, default ``docent_bench``; dropped afterwards unless ``--keep``, and
reused when it already holds ``--chunks`` rows): synthetic unit vectors (a mixture of Gaussian clusters, so
that neighbourhoods exist) and synthetic text, written with binary COPY through ``retrieval.services``. Four
users read 100%, 10%, 2% and 1% of the chunks: whole documents of 100 chunks by default (``--acl-layout
document``, as ingestion gives every chunk its document's ACL), or every Nth chunk (``--acl-layout chunk``). For
each it measures, under the same ACL predicate:

- the statement that chooses search's dense path (the per-ACL-key bound), and for comparison a count of the
  permitted rows bounded at the threshold, as search() made it before migration 0009;
- the dense SQL alone by both paths: exact scan of the permitted rows, and HNSW with iterative scan; recall@10
  of HNSW against the exact result, and the speed-up of HNSW over the exact scan (over the first
  ``--exact-queries`` queries only, when given: an exact scan of a million vectors takes seconds, unless the
  exact path is the one search() takes for this user: then it is timed for every query);
- the same for the path search() takes (``search_path``): the exact path is the reference, so its recall@10 is
  1.0 and its speed-up over exact 1.0 by construction; the HNSW figures above stay reported for every user;
- HNSW at search's own dense pool (``RETRIEVAL_DENSE_POOL``, 100 by default), for every user: a hybrid search
  asks for that many neighbours, not 10, and under a filter the iterative scan then visits far more of the graph,
  so this is the figure that decides between the paths for a hybrid search. The planner may run that statement
  as a scan of the permitted rows plus a sort instead (it did for the 2% and 1% readers at 1M with a pool of
  100): ``plan_uses_hnsw_index`` says which;
- the lexical statement alone, with how many postings each query reads and its time per posting read;
- ``search_for_acl_keys`` (all SQL of a hybrid search, the dense path chosen as search() chooses it);
- ``search()`` end to end, query embedding with the real model included, and the embedding alone.

Every user asks query texts of their own (three words of a random chunk each). ``--warmup N`` first runs N other
queries per user (other vectors and other texts) through the HNSW path and a hybrid search, unmeasured, so that
the timed passes find the shared index pages they need in shared buffers (the report records the server's memory
settings and the warm-up, so that a cold run is not mistaken for a warm one).
The hybrid SQL is timed twice over the measured queries: ``search_sql_hybrid`` is the first search of each
measured text (its postings possibly read into shared buffers then), ``search_sql_hybrid_repeat`` the same
searches again.

Writes ``bench/results/retrieval_latency.json``.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection, transaction

from retrieval.embeddings import get_embedder
from retrieval.models import Chunk
from retrieval.search import (
    SearchParams,
    choose_dense_path,
    dense_candidates,
    dense_statement,
    enter_search_context,
    lexical_candidates,
    permitted_chunk_bound,
    permitted_chunk_count,
    search,
    search_for_acl_keys,
)
from retrieval.services import ChunkRow, copy_chunk_rows

RESULTS_PATH = Path(settings.BASE_DIR) / "bench" / "results" / "retrieval_latency.json"
CHUNKS_PER_DOCUMENT = 100
SELECTIVITIES = {"all": 1, "10%": 10, "2%": 50, "1%": 100}
# Which chunks a selective reader may read: whole documents (every Nth document, as ingestion gives each chunk its
# document's ACL, so a reader's chunks lie together in the table as they were written together), or every Nth chunk
# (scattered: no two of a 2% reader's chunks share a heap page, the worst case for the exact path).
ACL_LAYOUTS = ("document", "chunk")
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "po", "qua", "zen", "bri", "sto", "fla"]
# The head of a Zipf vocabulary is function words, as in real text: Postgres' english configuration drops
# them from both the chunks and the queries (a synthetic vocabulary without them would turn "the" into a
# content word found in every chunk).
FUNCTION_WORDS = [
    "the",
    "of",
    "and",
    "to",
    "a",
    "in",
    "is",
    "it",
    "you",
    "that",
    "he",
    "was",
    "for",
    "on",
    "are",
    "with",
    "as",
    "his",
    "they",
    "be",
    "at",
    "have",
    "this",
    "from",
    "or",
    "had",
    "by",
    "but",
    "what",
    "some",
    "we",
    "can",
    "out",
    "other",
    "were",
    "all",
    "there",
    "when",
    "up",
    "your",
    "how",
    "an",
    "each",
    "she",
    "which",
    "do",
    "their",
    "if",
    "will",
    "about",
    "then",
    "them",
    "these",
    "so",
    "her",
    "him",
    "into",
    "has",
    "more",
    "our",
    "than",
    "been",
    "who",
    "its",
    "did",
    "down",
    "only",
    "any",
    "both",
    "same",
    "own",
    "too",
    "very",
    "just",
    "most",
    "such",
    "off",
    "over",
    "under",
    "again",
    "further",
    "once",
    "here",
    "why",
    "where",
    "few",
    "nor",
    "not",
]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def at(fraction: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000, 2)

    return {
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "mean_ms": round(statistics.mean(ordered) * 1000, 2),
    }


class Command(BaseCommand):
    help = "Benchmark search latency and HNSW recall under ACL filters on synthetic chunks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunks", type=int, default=100_000)
        parser.add_argument("--queries", type=int, default=100)
        parser.add_argument("--database", default="docent_bench")
        parser.add_argument("--exact-queries", type=int, default=None, help="Queries for the exact-scan baseline")
        parser.add_argument("--keep", action="store_true", help="Keep the benchmark database for another run")
        parser.add_argument("--warmup", type=int, default=0, help="Unmeasured queries per user before timing")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument(
            "--acl-layout",
            choices=ACL_LAYOUTS,
            default="document",
            help="document: each document's chunks share its ACL, as ingestion propagates it (default); "
            "chunk: every Nth chunk readable, scattered over the table (the layout of runs before 2026-11-24, sixth "
            "session)",
        )
        parser.add_argument("--output", default=str(RESULTS_PATH))

    def handle(self, *args: Any, **options: Any) -> None:
        rng = np.random.default_rng(options["seed"])
        test_settings = connection.settings_dict.setdefault("TEST", {})
        test_settings.update({"NAME": options["database"], "CHARSET": None, "COLLATION": None, "TEMPLATE": None})
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False, keepdb=True)
        self.stdout.write(f"using database {connection.settings_dict['NAME']}")
        try:
            report = self._run(rng, options)
        finally:
            if not options["keep"]:
                connection.creation.destroy_test_db(options["database"], verbosity=0, keepdb=False)
        output = Path(options["output"])
        output.parent.mkdir(parents=True, exist_ok=True)
        existing = json.loads(output.read_text()) if output.exists() else {}
        existing[str(options["chunks"])] = report
        output.write_text(json.dumps(existing, indent=2, sort_keys=True) + "\n")
        self.stdout.write(f"wrote {output}")

    # --- data ------------------------------------------------------------------------------------------

    def _users(self) -> dict[str, Any]:
        users = {}
        for label in SELECTIVITIES:
            group, _ = Group.objects.get_or_create(name=f"bench-{label}")
            user, _ = get_user_model().objects.get_or_create(username=f"bench-{label}")
            user.groups.set([group])
            users[label] = user
        return users

    def _build(self, rng: np.random.Generator, count: int, acl_layout: str) -> dict[str, Any]:
        groups = {label: Group.objects.get(name=f"bench-{label}").pk for label in SELECTIVITIES}
        # The document tables are reached through the chunk's foreign keys: retrieval never imports ingestion.
        document_model: Any = Chunk._meta.get_field("document").related_model
        version_model: Any = Chunk._meta.get_field("version").related_model
        vocabulary = FUNCTION_WORDS + [
            "".join(rng.choice(SYLLABLES, size=int(rng.integers(2, 4)))) + str(index)
            for index in range(20_000 - len(FUNCTION_WORDS))
        ]
        zipf = 1.0 / np.arange(1, len(vocabulary) + 1)
        zipf /= zipf.sum()
        centers = rng.standard_normal((1000, settings.EMBEDDING_DIMENSIONS)).astype(np.float32)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            # Building the graph once after loading is far faster than inserting into it row by row.
            cursor.execute("DROP INDEX IF EXISTS chunk_embedding_hnsw")
        documents = document_model.objects.bulk_create(
            [
                document_model(title=f"Synthetic {index}", source="bench")
                for index in range(count // CHUNKS_PER_DOCUMENT + 1)
            ]
        )
        versions = version_model.objects.bulk_create(
            [
                version_model(document=document, blob_key="", sha256=f"{index:064x}", size_bytes=0)
                for index, document in enumerate(documents)
            ]
        )

        def rows() -> Iterator[ChunkRow]:
            for start in range(0, count, 10_000):
                size = min(10_000, count - start)
                assignment = rng.integers(0, len(centers), size=size)
                vectors = centers[assignment] + 0.6 * rng.standard_normal((size, settings.EMBEDDING_DIMENSIONS)).astype(
                    np.float32
                )
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                words = rng.choice(len(vocabulary), size=(size, 60), p=zipf)
                for offset in range(size):
                    index = start + offset
                    document_index = index // CHUNKS_PER_DOCUMENT
                    unit = document_index if acl_layout == "document" else index
                    acl = [f"group:{groups['all']}"]
                    acl.extend(f"group:{groups[label]}" for label, every in SELECTIVITIES.items() if unit % every == 0)
                    acl = sorted(set(acl))
                    yield ChunkRow(
                        document_id=documents[document_index].pk,
                        version_id=versions[document_index].pk,
                        ordinal=index % CHUNKS_PER_DOCUMENT,
                        text=" ".join(vocabulary[word] for word in words[offset]),
                        embedding=vectors[offset],
                        acl=acl,
                        embedding_model="synthetic",
                        chunker_version="synthetic",
                    )

        with transaction.atomic():
            copy_chunk_rows(rows=rows())
        loaded = time.perf_counter() - started
        self.stdout.write(f"copied {count} chunks in {loaded:.0f} s; building the HNSW index...")
        with connection.cursor() as cursor:
            cursor.execute("SET maintenance_work_mem = '4GB'")
            cursor.execute(  # the Chunk model's index (migration 0010)
                "CREATE INDEX chunk_embedding_hnsw ON retrieval_chunk "
                "USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 128)"
            )
            cursor.execute("ANALYZE retrieval_chunk")
            # Index-only scans of the BM25 postings need the visibility map that VACUUM sets.
            cursor.execute("VACUUM (ANALYZE) retrieval_posting")
        built = time.perf_counter() - started - loaded
        self.stdout.write(f"index built in {built:.0f} s")
        np.save(self._centers_path(), centers)
        self._layout_path().write_text(acl_layout)
        return {"copy_seconds": round(loaded, 1), "index_seconds": round(built, 1)}

    def _path_choice(self, keys: list[str], params: SearchParams, runs: int = 9) -> dict[str, Any]:
        """The path search() takes for these keys, the bound that chose it and what that statement costs, next to
        the bounded count of the permitted rows that chose it before migration 0009 (a GIN bitmap of them all)."""
        bound_times, count_times = [], []
        for _ in range(runs):
            with transaction.atomic(), connection.cursor() as cursor:
                enter_search_context(cursor, keys, params)
                started = time.perf_counter()
                bound = permitted_chunk_bound(cursor, keys)
                bound_times.append(time.perf_counter() - started)
                path = choose_dense_path(cursor, keys, None, params)
                started = time.perf_counter()
                permitted_chunk_count(cursor, keys, None, params.exact_scan_max_rows + 1)
                count_times.append(time.perf_counter() - started)
        return {
            "permitted_bound": bound,
            "search_path": path,
            "path_choice_sql": percentiles(bound_times),
            "permitted_count_gin_sql": percentiles(count_times),
        }

    def _postings_read(self, texts: list[str], times: list[float]) -> dict[str, float]:
        """How many postings the lexical statement reads per query (the document frequencies of its lexemes: every
        posting of a query term is read and ACL-checked, whoever asks), and the statement's time per posting read
        (least-squares slope over the queries): exact BM25 costs about this much per posting, whatever the reader."""
        counts = []
        with connection.cursor() as cursor:
            for text in texts:
                cursor.execute(
                    "SELECT coalesce(sum(t.df), 0) FROM unnest(to_tsvector('english', %s)) AS u "
                    "JOIN retrieval_termstat t ON t.lexeme = u.lexeme",
                    [text],
                )
                counts.append(int(cursor.fetchone()[0]))
        ordered = sorted(counts)
        slope, intercept = np.polyfit(np.array(counts, dtype=float), np.array(times) * 1000, 1)
        return {
            "p50": ordered[len(ordered) // 2],
            "p95": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
            "max": ordered[-1],
            "us_per_posting": round(float(slope) * 1000, 3),
            "intercept_ms": round(float(intercept), 2),
        }

    def _server_settings(self) -> dict[str, str]:
        names = ["shared_buffers", "effective_cache_size", "work_mem", "random_page_cost", "jit"]
        with connection.cursor() as cursor:
            cursor.execute("SELECT name, current_setting(name) FROM unnest(%s::text[]) AS name", [names])
            return dict(cursor.fetchall())

    def _centers_path(self) -> Path:
        return Path(settings.VAR_DIR) / f"bench_centers_{connection.settings_dict['NAME']}.npy"

    def _layout_path(self) -> Path:
        return Path(settings.VAR_DIR) / f"bench_acl_layout_{connection.settings_dict['NAME']}.txt"

    def _built_layout(self) -> str | None:
        # Databases kept before the layout was recorded were built with the chunk layout.
        if not self._centers_path().exists():
            return None
        return self._layout_path().read_text() if self._layout_path().exists() else "chunk"

    # --- measurements -----------------------------------------------------------------------------------

    def _run(self, rng: np.random.Generator, options: dict[str, Any]) -> dict[str, Any]:
        count = options["chunks"]
        users = self._users()
        existing = Chunk.objects.count()
        build: dict[str, Any] = {"reused": True}
        if existing != count or self._built_layout() != options["acl_layout"]:
            Chunk.objects.all().delete()
            build = self._build(rng, count, options["acl_layout"])
        centers = np.load(self._centers_path())
        queries = centers[rng.integers(0, len(centers), size=options["queries"])]
        queries = queries + 0.6 * rng.standard_normal(queries.shape).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        # Warm-up queries from their own generator, so that the measured ones do not depend on --warmup.
        warmup_rng = np.random.default_rng(options["seed"] + 1)
        warmups = centers[warmup_rng.integers(0, len(centers), size=options["warmup"])]
        warmups = warmups + 0.6 * warmup_rng.standard_normal(warmups.shape).astype(np.float32)
        warmups /= np.linalg.norm(warmups, axis=1, keepdims=True)
        # Query texts: three content words from a random chunk each (plus a function word, dropped as in real
        # questions), so the lexical side has real matches to score.
        # Each user asks texts of their own (from other chunks), and the warm-up gets texts of its own, as it gets
        # vectors of its own: warming up on the measured texts would hide the first read of their postings, and
        # with texts shared between users every user after the first would find them read already.
        per_user = options["queries"] + options["warmup"]
        sample = list(Chunk.objects.order_by("?").values_list("text", flat=True)[: per_user * len(SELECTIVITIES)])
        stop = set(FUNCTION_WORDS)

        def query_text(text: str, generator: np.random.Generator) -> str:
            return " ".join([*generator.choice([w for w in text.split() if w not in stop], size=3), "the"])

        texts_by_user, warmup_texts_by_user = {}, {}
        for index, label in enumerate(SELECTIVITIES):
            own = sample[index * per_user : (index + 1) * per_user]
            texts_by_user[label] = [query_text(text, rng) for text in own[: options["queries"]]]
            warmup_texts_by_user[label] = [query_text(text, warmup_rng) for text in own[options["queries"] :]]
        params = SearchParams.from_settings()
        top10 = params.with_changes(dense_pool=10)
        exact_queries = min(options["exact_queries"] or len(queries), len(queries))
        embedder = get_embedder()
        embedder.embed_query("warm up the model")
        report: dict[str, Any] = {
            "chunks": count,
            "acl_layout": options["acl_layout"],
            "queries": options["queries"],
            "exact_baseline_queries": exact_queries,
            "build": build,
            "params": {key: value for key, value in params.__dict__.items()},
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
            "server": self._server_settings(),
            "warmup_queries_per_user": options["warmup"],
            # 1, 5 and 15 minute load averages: the machine is shared, so figures are only comparable with these.
            "load_average_before": [round(value, 2) for value in os.getloadavg()],
            "filters": {},
        }
        embed_times = []
        for text in texts_by_user["all"]:
            started = time.perf_counter()
            embedder.embed_query(text)
            embed_times.append(time.perf_counter() - started)
        report["query_embedding"] = percentiles(embed_times)
        for label, every in SELECTIVITIES.items():
            user = users[label]
            keys = ["public", f"user:{user.pk}", *(f"group:{pk}" for pk in user.groups.values_list("pk", flat=True))]
            measured: dict[str, Any] = {"permitted_fraction": 1 / every}
            texts, warmup_texts = texts_by_user[label], warmup_texts_by_user[label]
            with connection.cursor() as cursor:
                measured["permitted_chunks"] = permitted_chunk_count(cursor, keys, None, count + 1)
            for vector, warmup_text in zip(warmups, warmup_texts, strict=True):
                with transaction.atomic(), connection.cursor() as cursor:
                    enter_search_context(cursor, keys, top10)
                    dense_candidates(cursor, keys, vector, None, top10, "hnsw")
                search_for_acl_keys(acl_keys=keys, query=warmup_text, query_vector=vector, k=10)
            measured.update(self._path_choice(keys, params))
            path = measured["search_path"]
            # Timed before the exact-scan baseline: at full access its bitmap heap scans read every permitted row
            # (2 GB at 1M) through shared buffers and displace the postings and HNSW pages the other statements
            # need, so timing them afterwards measured a cache refill, not a search.
            pool_times = []
            for vector in queries:
                with transaction.atomic(), connection.cursor() as cursor:
                    enter_search_context(cursor, keys, params)
                    started = time.perf_counter()
                    dense_candidates(cursor, keys, vector, None, params, "hnsw")
                    pool_times.append(time.perf_counter() - started)
            with transaction.atomic(), connection.cursor() as cursor:
                enter_search_context(cursor, keys, params)
                sql, args = dense_statement(keys, queries[0], None, params, "hnsw")
                cursor.execute("EXPLAIN " + sql, args)
                plan = [row[0] for row in cursor.fetchall()]
            measured["dense_hnsw_at_search_pool"] = {
                "pool": params.dense_pool,
                # The planner may run the HNSW statement as a scan of the permitted rows plus a sort (exact) when
                # it expects the filtered graph scan to cost more: then this column is not an HNSW figure.
                "plan_uses_hnsw_index": any("chunk_embedding_hnsw" in line for line in plan),
                **percentiles(pool_times),
            }
            # Two passes over the same queries: the first is the first search of each measured text (its postings and
            # the chunk rows it shows, possibly not yet in shared buffers: at 1M the postings alone are larger than
            # shared buffers, so a production server reads them too), the second repeats them warm. Both are
            # reported.
            paths = set()
            for key in ("search_sql_hybrid", "search_sql_hybrid_repeat"):
                sql_times = []
                for vector, text in zip(queries, texts, strict=True):
                    started = time.perf_counter()
                    results = search_for_acl_keys(acl_keys=keys, query=text, query_vector=vector, k=10)
                    sql_times.append(time.perf_counter() - started)
                    paths.add(results.dense_path)
                measured[key] = percentiles(sql_times)
            lexical_times = []
            for text in texts:
                with transaction.atomic(), connection.cursor() as cursor:
                    enter_search_context(cursor, keys, params)
                    started = time.perf_counter()
                    lexical_candidates(cursor, keys, text, None, params)
                    lexical_times.append(time.perf_counter() - started)
            measured["lexical_bm25_sql"] = percentiles(lexical_times)
            measured["lexical_postings_read"] = self._postings_read(texts, lexical_times)
            measured["chosen_dense_path"] = sorted(paths)
            end_to_end = []
            for text in texts:
                started = time.perf_counter()
                search(user=user, query=text, k=10)
                end_to_end.append(time.perf_counter() - started)
            measured["search_end_to_end"] = percentiles(end_to_end)
            # The exact path is cheap whenever search() takes it: then every query gets the exact baseline.
            exact_count = len(queries) if path == "exact" else exact_queries
            exact_times, hnsw_times, recalls = [], [], []
            for index, vector in enumerate(queries):
                exact = None
                if index < exact_count:
                    with transaction.atomic(), connection.cursor() as cursor:
                        enter_search_context(cursor, keys, top10)
                        started = time.perf_counter()
                        exact = dense_candidates(cursor, keys, vector, None, top10, "exact")
                        exact_times.append(time.perf_counter() - started)
                with transaction.atomic(), connection.cursor() as cursor:
                    enter_search_context(cursor, keys, top10)
                    started = time.perf_counter()
                    approximate = dense_candidates(cursor, keys, vector, None, top10, "hnsw")
                    hnsw_times.append(time.perf_counter() - started)
                if exact is not None:
                    recalls.append(len(set(exact) & set(approximate)) / max(len(exact), 1))
            measured["exact_baseline_queries"] = exact_count
            measured["dense_exact_scan"] = percentiles(exact_times)
            # The HNSW path forced for every user, whichever path search() takes.
            measured["dense_hnsw"] = percentiles(hnsw_times)
            measured["hnsw_recall_at_10"] = round(statistics.mean(recalls), 4)
            measured["hnsw_speedup_over_exact_p50"] = round(
                measured["dense_exact_scan"]["p50_ms"] / max(measured["dense_hnsw"]["p50_ms"], 0.001), 1
            )
            measured["search_path_dense"] = (
                {"path": "exact", **measured["dense_exact_scan"], "recall_at_10": 1.0, "speedup_over_exact_p50": 1.0}
                if path == "exact"
                else {
                    "path": "hnsw",
                    **measured["dense_hnsw"],
                    "recall_at_10": measured["hnsw_recall_at_10"],
                    "speedup_over_exact_p50": measured["hnsw_speedup_over_exact_p50"],
                }
            )
            report["filters"][label] = measured
            chosen = measured["search_path_dense"]
            at_pool = measured["dense_hnsw_at_search_pool"]
            self.stdout.write(
                f"{label:>4} permitted {measured['permitted_chunks']:>8} (bound {measured['permitted_bound']}, "
                f"choice p50 {measured['path_choice_sql']['p50_ms']:.2f} ms, GIN count p50 "
                f"{measured['permitted_count_gin_sql']['p50_ms']:.1f} ms)  "
                f"exact p50 {measured['dense_exact_scan']['p50_ms']:7.2f} ms  "
                f"forced hnsw p50 {measured['dense_hnsw']['p50_ms']:6.2f} "
                f"p95 {measured['dense_hnsw']['p95_ms']:6.2f} ms "
                f"recall@10 {measured['hnsw_recall_at_10']:.3f} speed-up {measured['hnsw_speedup_over_exact_p50']}x  "
                f"search's path {chosen['path']}: p50 {chosen['p50_ms']:.2f} p95 {chosen['p95_ms']:.2f} ms "
                f"recall@10 {chosen['recall_at_10']:.3f} speed-up {chosen['speedup_over_exact_p50']}x  "
                f"hnsw statement at pool {params.dense_pool} p95 {at_pool['p95_ms']:.1f} ms "
                f"({'hnsw' if at_pool['plan_uses_hnsw_index'] else 'planner: scan+sort'})  "
                f"lexical p95 {measured['lexical_bm25_sql']['p95_ms']:.1f} ms "
                f"({measured['lexical_postings_read']['p95']} postings read at p95, "
                f"{measured['lexical_postings_read']['us_per_posting']} us each)  "
                f"hybrid SQL p95 {measured['search_sql_hybrid']['p95_ms']:.1f} ms first pass, "
                f"{measured['search_sql_hybrid_repeat']['p95_ms']:.1f} ms repeated ({'/'.join(sorted(paths))})  "
                f"end-to-end p95 {measured['search_end_to_end']['p95_ms']:.1f} ms"
            )
        self.stdout.write(f"query embedding alone: {report['query_embedding']}")
        report["load_average_after"] = [round(value, 2) for value in os.getloadavg()]
        return report
