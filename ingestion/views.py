"""The curator page /documents/: list with live status, and upload (script-driven, with a plain fallback)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.models import User
from ingestion import selectors, services
from ingestion.forms import UploadForm
from ingestion.storage import StorageUnavailable


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
