"""The S3 storage path against a real S3 endpoint on loopback (moto's server speaks the S3 wire protocol)."""

from __future__ import annotations

import subprocess
import sys

import boto3
import pytest
import requests
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from ingestion.models import DocumentVersion
from retrieval.models import Chunk
from tests.ingestion import files
from tests.ingestion.helpers import make_curator, run_job
from tests.processes import free_port, stop_process, wait_until

BUCKET = "docent-test"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture
def s3_endpoint(tmp_path):
    port = free_port()
    log = (tmp_path / "moto.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(url, timeout=5).status_code < 500
        except requests.RequestException:
            return False

    try:
        wait_until(up, timeout=120, interval=0.5, what="moto server")
        boto3.client("s3", endpoint_url=url, **CREDENTIALS).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        stop_process(proc)
        log.close()


@pytest.fixture
def s3_storage(s3_endpoint, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": "testing",
                "secret_key": "testing",
                "location": "docent",
                "default_acl": None,
                "file_overwrite": False,
            },
        },
    }
    return boto3.client("s3", endpoint_url=s3_endpoint, **CREDENTIALS)


@pytest.mark.django_db
def test_uploads_are_stored_in_s3_ingested_from_there_and_purged_on_delete(
    s3_storage, alice, settings, django_capture_on_commit_callbacks
):
    settings.EMBEDDING_BACKEND = "hashing"  # about storage; the real model runs in test_api
    make_curator(alice)
    client = APIClient()
    client.force_authenticate(alice)
    pdf = files.pdf_bytes()
    response = client.post("/api/v1/documents/", {"file": SimpleUploadedFile("incident.pdf", pdf)}, format="multipart")
    assert response.status_code == 202
    document_id = response.json()["id"]
    key = DocumentVersion.objects.get(document_id=document_id).blob_key
    listed = s3_storage.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert [item["Key"] for item in listed] == [f"docent/{key}"]
    assert s3_storage.get_object(Bucket=BUCKET, Key=f"docent/{key}")["Body"].read() == pdf

    assert run_job(document_id).status == "ready"
    assert Chunk.objects.filter(document_id=document_id).count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        assert client.delete(f"/api/v1/documents/{document_id}/").status_code == 204
    assert s3_storage.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
