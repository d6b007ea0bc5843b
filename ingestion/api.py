"""REST endpoints for documents (/api/v1/documents/...): one operation each, explicit serializers."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view, parser_classes
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import User
from ingestion import selectors, services
from ingestion.models import Document
from ingestion.storage import StorageUnavailable

logger = logging.getLogger(__name__)

ERROR = inline_serializer("DocumentError", {"detail": serializers.CharField()})
REJECTION_STATUS: dict[type[services.UploadRejected], int] = {
    services.UploadTooLarge: status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    services.UploadEmpty: status.HTTP_400_BAD_REQUEST,
    services.UploadUnreadable: status.HTTP_400_BAD_REQUEST,
    services.UploadUnsupported: status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
}


class AccessInput(serializers.Serializer[dict[str, Any]]):
    public = serializers.BooleanField(default=False, help_text="Readable by every employee.")
    groups = serializers.ListField(
        child=serializers.CharField(), default=list, help_text="Names of the groups that may read it."
    )
    users = serializers.ListField(
        child=serializers.CharField(), default=list, help_text="Usernames of the people who may read it."
    )

    def validate_groups(self, names: list[str]) -> list[int]:
        return _resolve(Group.objects.filter(name__in=names), "name", names, "group")

    def validate_users(self, names: list[str]) -> list[int]:
        return _resolve(get_user_model().objects.filter(username__in=names), "username", names, "user")

    def to_access(self) -> services.Access:
        data = self.validated_data
        return services.Access(is_public=data["public"], group_ids=tuple(data["groups"]), user_ids=tuple(data["users"]))


class UploadInput(AccessInput):
    file = serializers.FileField(help_text="PDF, DOCX, HTML, Markdown, plain text or CSV.")
    title = serializers.CharField(required=False, allow_blank=True, max_length=500)


class DocumentStatusOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=["queued", "processing", "ready", "failed"])
    stage = serializers.CharField(help_text="queued, parsing, chunking, embedding, ready or failed.")
    progress = serializers.IntegerField(min_value=0, max_value=100)
    error = serializers.CharField(allow_blank=True)
    chunk_count = serializers.IntegerField()


class AccessOutput(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    public = serializers.BooleanField()
    groups = serializers.ListField(child=serializers.CharField())
    users = serializers.ListField(child=serializers.CharField())


def _resolve(queryset: QuerySet[Any], field: str, names: list[str], kind: str) -> list[int]:
    found = dict(queryset.values_list(field, "id"))
    missing = sorted(set(names) - set(found))
    if missing:
        raise serializers.ValidationError(f"Unknown {kind}(s): {', '.join(missing)}.")
    return sorted(found.values())


def status_payload(document: Document) -> dict[str, Any]:
    state = selectors.document_status(document)
    return {
        "id": document.pk,
        "title": document.title,
        "status": state.status,
        "stage": state.stage,
        "progress": state.progress,
        "error": state.error,
        "chunk_count": state.chunk_count,
    }


@extend_schema(
    operation_id="documents_upload",
    request={"multipart/form-data": UploadInput},
    responses={
        202: inline_serializer(
            "DocumentAccepted", {"id": serializers.IntegerField(), "status": serializers.CharField()}
        ),
        400: ERROR,
        403: ERROR,
        413: ERROR,
        415: ERROR,
        503: ERROR,
    },
    description="Upload a file; it is processed in the background. Requires the curator role "
    "(permission ingestion.add_document). Poll GET documents/{id}/ for progress.",
)
@api_view(["POST"])
@parser_classes([MultiPartParser])
def upload_document(request: Request) -> Response:
    if not selectors.can_upload(request.user):
        return Response({"detail": "Only curators may upload documents."}, status=status.HTTP_403_FORBIDDEN)
    serializer = UploadInput(data=request.data)
    serializer.is_valid(raise_exception=True)
    upload = serializer.validated_data["file"]
    if upload.size > settings.MAX_UPLOAD_MB * 1024 * 1024:
        return Response(
            {"detail": f"The file is larger than the {settings.MAX_UPLOAD_MB} MB upload limit."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    try:
        job = services.upload_document(
            data=upload.read(),
            filename=upload.name or "upload",
            title=serializer.validated_data.get("title", ""),
            owner=_signed_in(request),
            access=serializer.to_access(),
        )
    except services.UploadRejected as exc:
        return Response({"detail": str(exc)}, status=REJECTION_STATUS.get(type(exc), status.HTTP_400_BAD_REQUEST))
    except StorageUnavailable:
        logger.exception("upload refused: object storage unavailable")
        return Response(
            {"detail": "File storage is unavailable right now; nothing was saved. Please try again later."},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "30"},
        )
    return Response({"id": job.version.document_id, "status": "queued"}, status=status.HTTP_202_ACCEPTED)


class DocumentView(APIView):
    """``/api/v1/documents/{id}/``: GET (status) and DELETE, one operation each."""

    @extend_schema(
        operation_id="documents_retrieve",
        responses={200: DocumentStatusOutput, 404: ERROR},
        description="Processing status of a document the caller may see.",
    )
    def get(self, request: Request, document_id: int) -> Response:
        try:
            document = selectors.get_document_for_user(user=request.user, document_id=document_id)
        except Document.DoesNotExist:
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        return Response(DocumentStatusOutput(status_payload(document)).data)

    @extend_schema(
        operation_id="documents_destroy",
        responses={204: None, 403: ERROR, 404: ERROR},
        description="Delete the document, its versions, chunks and stored files. Requires ownership or the "
        "curator role (ingestion.change_document).",
    )
    def delete(self, request: Request, document_id: int) -> Response:
        try:
            document = selectors.get_document_for_user(user=request.user, document_id=document_id)
        except Document.DoesNotExist:
            return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
        if not selectors.can_manage_document(request.user, document):
            return Response({"detail": "Only the owner or a curator may delete it."}, status=status.HTTP_403_FORBIDDEN)
        services.delete_document(document=document, actor=_signed_in(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(
    operation_id="documents_set_access",
    request=AccessInput,
    responses={200: AccessOutput, 400: ERROR, 403: ERROR, 404: ERROR},
    description="Replace who may read the document. Its chunks' ACLs change in the same transaction, without "
    "re-embedding. Requires ownership or the curator role (ingestion.change_document).",
)
@api_view(["PUT"])
@parser_classes([JSONParser])
def set_document_access(request: Request, document_id: int) -> Response:
    try:
        document = selectors.get_document_for_user(user=request.user, document_id=document_id)
    except Document.DoesNotExist:
        return Response({"detail": "Not found."}, status=status.HTTP_404_NOT_FOUND)
    if not selectors.can_manage_document(request.user, document):
        return Response({"detail": "Only the owner or a curator may change access."}, status=status.HTTP_403_FORBIDDEN)
    serializer = AccessInput(data=request.data)
    serializer.is_valid(raise_exception=True)
    services.set_document_access(document=document, access=serializer.to_access(), actor=_signed_in(request))
    document.refresh_from_db()
    return Response(
        AccessOutput(
            {
                "id": document.pk,
                "public": document.is_public,
                "groups": sorted(document.groups.values_list("name", flat=True)),
                "users": sorted(document.users.values_list("username", flat=True)),
            }
        ).data
    )


def _signed_in(request: Request) -> User | None:
    return request.user if isinstance(request.user, User) else None
