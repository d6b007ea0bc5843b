"""The retrieval latency benchmark, ``manage.py bench_retrieval``, run as a user runs it (a child process building its
own database) on a small corpus: it completes, reports every reader, and lays out the synthetic ACLs as asked: whole
documents (as ingestion writes them, a chunk carrying its document's ACL) or every Nth chunk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.processes import REPO_ROOT, process_env

CHUNKS = 500  # five documents of 100 chunks

# Readable chunks per reader: the 10%, 2% and 1% readers get every 10th, 50th and 100th document (here only the
# first of the five, all 100 of its chunks) or every 10th, 50th and 100th chunk.
EXPECTED_PERMITTED = {
    "document": {"all": 500, "10%": 100, "2%": 100, "1%": 100},
    "chunk": {"all": 500, "10%": 50, "2%": 10, "1%": 5},
}


@pytest.mark.parametrize("layout", ["document", "chunk"])
def test_bench_retrieval_reports_every_reader_under_the_requested_acl_layout(layout: str, tmp_path: Path) -> None:
    database = f"test_bench_retrieval_{layout}_{os.getpid()}"
    output = tmp_path / "retrieval_latency.json"
    var_files = [
        Path(settings.VAR_DIR) / f"bench_centers_{database}.npy",
        Path(settings.VAR_DIR) / f"bench_acl_layout_{database}.txt",
    ]
    command = [sys.executable, "manage.py", "bench_retrieval", "--chunks", str(CHUNKS), "--queries", "4"]
    command += ["--warmup", "1", "--database", database, "--output", str(output), "--acl-layout", layout]
    try:
        completed = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=process_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        for path in var_files:
            path.unlink(missing_ok=True)
    assert completed.returncode == 0, completed.stdout + completed.stderr

    report = json.loads(output.read_text())[str(CHUNKS)]
    assert report["acl_layout"] == layout
    filters = report["filters"]
    assert {label: measured["permitted_chunks"] for label, measured in filters.items()} == EXPECTED_PERMITTED[layout]
    for label, measured in filters.items():
        # Small permitted sets take the exact path; the full-access reader's 500 chunks too (under the threshold).
        assert measured["chosen_dense_path"] == ["exact"], label
        assert 0.0 <= measured["hnsw_recall_at_10"] <= 1.0
        for key in ("search_sql_hybrid", "search_sql_hybrid_repeat", "lexical_bm25_sql", "search_end_to_end"):
            assert measured[key]["p50_ms"] > 0, (label, key)
        # Every query is three words of a chunk, so it reads at least one posting.
        assert measured["lexical_postings_read"]["p50"] >= 1, label
    assert f"copied {CHUNKS} chunks" in completed.stdout  # built afresh, in its own database
