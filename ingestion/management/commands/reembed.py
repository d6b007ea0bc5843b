"""``manage.py reembed [--model BACKEND]``: rebuild only the chunks whose model or chunker version is stale."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from ingestion import pipeline
from ingestion.parsers import ParseError
from retrieval.embeddings import EMBEDDER_BACKENDS, get_embedder


class Command(BaseCommand):
    help = (
        "Re-embed (and re-chunk) every document whose live chunks were embedded by another model or cut by "
        "another chunker version. One document per transaction: stop it any time and run it again to resume."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--model",
            choices=sorted(EMBEDDER_BACKENDS),
            help="Embedding backend to (re-)embed with; default: EMBEDDING_BACKEND.",
        )
        parser.add_argument("--limit", type=int, default=0, help="Stop after N documents (0 = all).")

    def handle(self, *args: Any, **options: Any) -> None:
        embedder = EMBEDDER_BACKENDS[options["model"]]() if options["model"] else get_embedder()
        version = pipeline.chunk_params().version
        stale = pipeline.stale_document_ids(model_id=embedder.model_id, chunker_version=version)
        if options["limit"]:
            stale = stale[: options["limit"]]
        self.stdout.write(f"{len(stale)} document(s) to rebuild with {embedder.model_id} / {version}.")
        failed = 0
        for document_id in tqdm(stale, desc="reembed", unit="doc", disable=options["verbosity"] == 0):
            try:
                pipeline.reembed_document(document_id=document_id, embedder=embedder)
            except ParseError as exc:
                failed += 1
                tqdm.write(f"document {document_id}: {exc}", file=self.stderr)
        self.stdout.write(f"{len(stale) - failed} rebuilt, {failed} failed.")
        if failed:
            raise CommandError(f"{failed} document(s) could not be rebuilt.")
