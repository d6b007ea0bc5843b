"""The curator page /documents/: list with live status, and upload (script-driven, with a plain fallback)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from accounts.models import User
from ingestion import selectors, services
from ingestion.forms import AccessForm, UploadForm
from ingestion.models import Document
from ingestion.storage import StorageUnavailable, read_blob


@login_required
def documents_page(request: HttpRequest) -> HttpResponse:
    form = UploadForm()
    if request.method == "POST":
        if not selectors.can_upload(request.user):
            raise PermissionDenied("Only curators may upload documents.")
        form = UploadForm(request.POST, request.FILES)
        if form.is_valid():
            access = services.Access(
                is_public=form.cleaned_data["public"],
                group_ids=tuple(group.pk for group in form.cleaned_data["groups"]),
            )
            for upload in form.cleaned_data["uploads"]:
                try:
                    services.upload_document(
                        data=upload.read(), filename=upload.name or "upload", owner=_signed_in(request), access=access
                    )
                except services.UploadRejected as exc:
                    messages.error(request, f"{upload.name}: {exc}")
                except StorageUnavailable:
                    messages.error(request, f"{upload.name}: file storage is unavailable; nothing was saved.")
            return redirect("documents")
    documents = selectors.with_status(selectors.documents_for_user(request.user).select_related("owner"))[:200]
    rows = [(document, selectors.document_status(document)) for document in documents]
    return render(
        request,
        "ingestion/documents.html",
        {"form": form, "rows": rows, "can_upload": selectors.can_upload(request.user)},
    )


def _signed_in(request: HttpRequest) -> User | None:
    return request.user if isinstance(request.user, User) else None


def _visible_document(request: HttpRequest, document_id: int) -> Document:
    try:
        return selectors.get_document_for_user(user=request.user, document_id=document_id)
    except Document.DoesNotExist:
        raise Http404("No such document.") from None


@login_required
@require_http_methods(["GET", "POST"])
def document_detail(request: HttpRequest, document_id: int) -> HttpResponse:
    """A document's page: what it is, its status, the original file for readers; access and delete for its
    owner and curators (the same rules as the API)."""
    document = _visible_document(request, document_id)
    can_manage = selectors.can_manage_document(request.user, document)
    form = AccessForm(
        initial={"public": document.is_public, "groups": list(document.groups.values_list("name", flat=True))}
    )
    if request.method == "POST":
        if not can_manage:
            raise PermissionDenied("Only the owner or a curator may change this document.")
        if request.POST.get("action") == "delete":
            if request.POST.get("confirm") != "yes":
                messages.error(request, "Tick the confirmation box to delete the document.")
                return redirect("document-detail", document_id=document.pk)
            title = document.title
            services.delete_document(document=document, actor=_signed_in(request))
            messages.success(request, f"Deleted {title}.")
            return redirect("documents")
        form = AccessForm(request.POST)
        if form.is_valid():
            access = services.Access(
                is_public=form.cleaned_data["public"],
                group_ids=tuple(group.pk for group in form.cleaned_data["groups"]),
                user_ids=tuple(document.users.values_list("id", flat=True)),
            )
            with transaction.atomic():
                services.set_document_access(document=document, access=access)
            messages.success(request, "Access updated.")
            return redirect("document-detail", document_id=document.pk)
    (document,) = selectors.with_status(Document.objects.filter(pk=document.pk).select_related("owner"))
    return render(
        request,
        "ingestion/document.html",
        {
            "document": document,
            "state": selectors.document_status(document),
            "version": document.current_version,
            "can_read": selectors.can_read_document(request.user, document),
            "can_manage": can_manage,
            "form": form,
        },
    )


@login_required
@require_GET
def document_download(request: HttpRequest, document_id: int) -> HttpResponse:
    """The original file of the live version, for those who may read the document's content."""
    document = _visible_document(request, document_id)
    version = document.current_version
    if version is None or not selectors.can_read_document(request.user, document):
        raise Http404("No such document.")
    content_type = version.detected_type or "application/octet-stream"
    response = HttpResponse(read_blob(version.blob_key), content_type=content_type)
    # Served as a download, never rendered inline: an uploaded HTML file must not run in Docent's origin.
    filename = _safe_filename(version.original_name or document.title)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _safe_filename(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "._- " else "_" for ch in name)[:150] or "document"
