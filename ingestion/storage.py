"""Raw uploaded files in object storage (``default_storage``: local folder, or S3 when S3_BUCKET is set)."""

from __future__ import annotations

import re
import uuid

from botocore.exceptions import BotoCoreError, ClientError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class StorageUnavailable(Exception):
    """The object store (or the local media folder) refused or could not be reached; nothing was stored."""


def save_blob(*, data: bytes, filename: str) -> str:
    """Store ``data`` under a fresh key and return the key. Never overwrites another version's file.

    Raises ``StorageUnavailable`` when the store cannot take it (unwritable folder, S3 down or refusing)."""
    safe_name = _UNSAFE.sub("_", filename.rsplit("/", 1)[-1]).strip("._")[:100] or "file"
    try:
        return str(default_storage.save(f"documents/{uuid.uuid4().hex}/{safe_name}", ContentFile(data)))
    except (OSError, BotoCoreError, ClientError) as exc:
        raise StorageUnavailable(f"{type(exc).__name__}: {str(exc)[:200]}") from exc


def read_blob(key: str) -> bytes:
    with default_storage.open(key, "rb") as handle:
        return bytes(handle.read())


def delete_blob(key: str) -> None:
    """Delete a stored file; deleting one that is already gone is not an error (deletes are retried)."""
    default_storage.delete(key)
