"""Raw uploaded files in object storage (``default_storage``: local folder, or S3 when S3_BUCKET is set)."""

from __future__ import annotations

import re
import uuid

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def save_blob(*, data: bytes, filename: str) -> str:
    """Store ``data`` under a fresh key and return the key. Never overwrites another version's file."""
    safe_name = _UNSAFE.sub("_", filename.rsplit("/", 1)[-1]).strip("._")[:100] or "file"
    return str(default_storage.save(f"documents/{uuid.uuid4().hex}/{safe_name}", ContentFile(data)))


def read_blob(key: str) -> bytes:
    with default_storage.open(key, "rb") as handle:
        return bytes(handle.read())


def delete_blob(key: str) -> None:
    """Delete a stored file; deleting one that is already gone is not an error (deletes are retried)."""
    default_storage.delete(key)
