"""Pages (/documents/) and API (/api/v1/documents/...) of the ingestion app."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from ingestion import api, views

urlpatterns: list[URLPattern | URLResolver] = [
    path("documents/", views.documents_page, name="documents"),
    path("documents/<int:document_id>/", views.document_detail, name="document-detail"),
    path("documents/<int:document_id>/download", views.document_download, name="document-download"),
    path("api/v1/documents/", api.upload_document, name="api-documents-upload"),
    path("api/v1/documents/<int:document_id>/", api.DocumentView.as_view(), name="api-document"),
    path("api/v1/documents/<int:document_id>/access/", api.set_document_access, name="api-document-access"),
]
