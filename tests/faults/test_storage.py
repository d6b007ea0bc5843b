"""Object storage is unavailable during an upload: the curator gets a clear 503, and no row is left behind
(no document, version or job pointing at a file that was never stored)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.config import Config
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from accounts.models import User
from accounts.services import create_api_token
from ingestion.models import Document, DocumentVersion, IngestionJob
from tests.ingestion.helpers import make_curator
from tests.processes import free_port, stop_process, wait_until

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator_client(db: None) -> APIClient:
    user = User.objects.create_user("cora", "cora@example.com", "pw")
    make_curator(user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {create_api_token(user=user, name='t').raw}")
    return client


def upload(client: APIClient) -> Any:
    data = {"file": SimpleUploadedFile("notes.txt", b"Deploys happen on Tuesdays.\n" * 20, "text/plain")}
    return client.post("/api/v1/documents/", data, format="multipart")


def assert_nothing_stored() -> None:
    assert (Document.objects.count(), DocumentVersion.objects.count(), IngestionJob.objects.count()) == (0, 0, 0)


def test_unwritable_media_folder_gives_a_clear_503_and_no_rows(curator_client, settings, tmp_path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the media folder should be")  # root ignores permissions; this it cannot
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(blocker / "media")},
        },
    }

    response = upload(curator_client)

    assert response.status_code == 503, response.content
    assert response.json()["detail"].startswith("File storage is unavailable right now; nothing was saved.")
    assert response["Retry-After"] == "30"
    assert_nothing_stored()


def test_s3_down_gives_a_clear_503_and_no_rows(curator_client, settings, tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with (tmp_path / "moto.log").open("wb") as log:
        moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log)
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    try:
        wait_until(lambda: _answers(url), timeout=120, interval=0.5, what="moto server")
        boto3.client("s3", endpoint_url=url, **credentials).create_bucket(Bucket="docent-faults")
    finally:
        stop_process(moto)  # the store goes away after it was configured and healthy
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "docent-faults",
                "endpoint_url": url,
                "region_name": "us-east-1",
                "access_key": "testing",
                "secret_key": "testing",
                "client_config": Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 1}),
            },
        },
    }

    response = upload(curator_client)

    assert response.status_code == 503, response.content
    assert "nothing was saved" in response.json()["detail"]
    assert_nothing_stored()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=5).status_code < 500
    except requests.RequestException:
        return False
