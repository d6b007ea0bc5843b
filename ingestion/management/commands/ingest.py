"""``manage.py ingest PATH...``: queue (or wait for) the ingestion of files and folders of files."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from accounts.models import User
from ingestion.models import IngestionJob
from ingestion.services import Access, UploadRejected, ingest_file

FINISHED = {IngestionJob.Status.READY, IngestionJob.Status.FAILED}


class Command(BaseCommand):
    help = (
        "Ingest files (folders are walked). Each file becomes a document whose source is its path; running it "
        "again with changed files adds new versions, with unchanged ones does nothing."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("paths", nargs="+", type=Path)
        parser.add_argument("--groups", nargs="*", default=[], help="Group names that may read the documents.")
        parser.add_argument("--users", nargs="*", default=[], help="Usernames that may read the documents.")
        parser.add_argument("--public", action="store_true", help="Readable by every employee.")
        parser.add_argument("--owner", help="Username of the owner (default: none).")
        parser.add_argument("--wait", action="store_true", help="Wait until every job is ready or failed.")

    def handle(self, *args: Any, **options: Any) -> None:
        access = Access(
            is_public=options["public"],
            group_ids=tuple(_ids(Group.objects.filter(name__in=options["groups"]), "name", options["groups"])),
            user_ids=tuple(_ids(User.objects.filter(username__in=options["users"]), "username", options["users"])),
        )
        owner = User.objects.filter(username=options["owner"]).first() if options["owner"] else None
        if options["owner"] and owner is None:
            raise CommandError(f"Unknown owner: {options['owner']}")
        paths = sorted(path for root in options["paths"] for path in _files(root))
        if not paths:
            raise CommandError("No files found.")
        jobs: list[int] = []
        rejected = 0
        for path in tqdm(paths, desc="uploading", unit="file", disable=options["verbosity"] == 0):
            try:
                jobs.append(ingest_file(path=path, access=access, owner=owner).pk)
            except UploadRejected as exc:
                rejected += 1
                tqdm.write(f"refused {path}: {exc}", file=self.stderr)
        self.stdout.write(f"{len(jobs)} queued, {rejected} refused.")
        if options["wait"] and jobs:
            self._wait(jobs, quiet=options["verbosity"] == 0)

    def _wait(self, job_ids: list[int], *, quiet: bool) -> None:
        with tqdm(total=len(job_ids), desc="processing", unit="doc", disable=quiet) as bar:
            done: set[int] = set()
            while len(done) < len(job_ids):
                finished = IngestionJob.objects.filter(pk__in=job_ids, status__in=FINISHED).exclude(pk__in=done)
                for job in finished.select_related("version"):
                    done.add(job.pk)
                    bar.update(1)
                    if job.status == IngestionJob.Status.FAILED:
                        tqdm.write(f"failed {job.version.original_name}: {job.error}", file=self.stderr)
                if len(done) < len(job_ids):
                    time.sleep(0.5)
        failed = IngestionJob.objects.filter(pk__in=job_ids, status=IngestionJob.Status.FAILED).count()
        self.stdout.write(f"{len(job_ids) - failed} ready, {failed} failed.")
        if failed:
            raise CommandError(f"{failed} document(s) failed.")


def _files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise CommandError(f"{root} does not exist.")
    return [path for path in root.rglob("*") if path.is_file() and not path.name.startswith(".")]


def _ids(queryset: Any, field: str, names: list[str]) -> list[int]:
    found = dict(queryset.values_list(field, "id"))
    missing = sorted(set(names) - set(found))
    if missing:
        raise CommandError(f"Unknown: {', '.join(missing)}")
    return list(found.values())
