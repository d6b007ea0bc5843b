"""The auditor's view of the audit log: read-only, filterable (user, action, date, document), searchable,
exportable to CSV (the export is itself an event) and with an access replay for answers."""

from __future__ import annotations

import csv
import json
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from assistant.audit.models import Action, AuditEvent
from assistant.audit.replay import REPLAYABLE, replay_answer
from assistant.audit.services import record_event

CSV_COLUMNS = (
    "id", "created_at", "actor_id", "actor_name", "action", "target_type", "target_id", "ip", "user_agent",
    "request_id", "chunk_ids", "document_ids", "prompt_version_id", "model_id", "details", "prev_hash", "hash",
)  # fmt: skip


class DocumentFilter(admin.SimpleListFilter):
    """Events that name a document (uploads, access changes, deletions, answers that showed it)."""

    title = "document"
    parameter_name = "document"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        return [(value, f"document {value}")] if value else []

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        value = self.value()
        if value and value.isdigit():
            return queryset.filter(document_ids__contains=[int(value)])
        return queryset


class ActorFilter(admin.SimpleListFilter):
    title = "user"
    parameter_name = "actor"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        names = AuditEvent.objects.exclude(actor_name="").values_list("actor_name", flat=True).distinct()
        return [(name, name) for name in names.order_by("actor_name")[:200]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        return queryset.filter(actor_name=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "actor_name", "action", "target_type", "target_id", "ip", "replay_link"]
    list_filter = ["action", ActorFilter, DocumentFilter, "created_at"]
    date_hierarchy = "created_at"
    search_fields = ["actor_name", "target_id", "request_id", "model_id", "details"]
    actions = ["export_csv"]
    readonly_fields = [*CSV_COLUMNS[1:], "replay_link"]
    list_per_page = 100

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("audit.view_auditevent_csv")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent], search_term: str
    ) -> tuple[QuerySet[AuditEvent], bool]:
        # "doc:12" or "chunk:34" finds the events that name that document or chunk.
        kind, _, number = search_term.strip().partition(":")
        if kind in ("doc", "chunk") and number.isdigit():
            field = "document_ids__contains" if kind == "doc" else "chunk_ids__contains"
            return queryset.filter(**{field: [int(number)]}), False
        return super().get_search_results(request, queryset, search_term)

    @admin.display(description="replay")
    def replay_link(self, obj: AuditEvent) -> str:
        if obj.action not in REPLAYABLE:
            return ""
        return format_html('<a href="{}">access replay</a>', reverse("admin:audit_auditevent_replay", args=[obj.pk]))

    @admin.action(description="Export selected events to CSV", permissions=["export"])
    def export_csv(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> HttpResponse:
        rows = list(queryset.order_by("id"))
        record_event(
            action=Action.AUDIT_EXPORT,
            actor=request.user,
            target_type="audit_log",
            details={"rows": len(rows), "first_id": rows[0].pk if rows else None, "filters": request.GET.urlencode()},
        )
        response = HttpResponse(content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="docent-audit-log.csv"'
        writer = csv.writer(response)
        writer.writerow(CSV_COLUMNS)
        for event in rows:
            values = [getattr(event, name) for name in CSV_COLUMNS]
            writer.writerow([json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v for v in values])
        return response

    def get_urls(self) -> list[URLPattern]:
        replay = path(
            "<int:event_id>/replay/", self.admin_site.admin_view(self.replay_view), name="audit_auditevent_replay"
        )
        return [replay, *super().get_urls()]

    def replay_view(self, request: HttpRequest, event_id: int) -> HttpResponse:
        if not request.user.has_perm("audit.view_auditevent_replay"):
            raise PermissionDenied
        event = get_object_or_404(AuditEvent, pk=event_id, action__in=REPLAYABLE)
        passages = replay_answer(event)
        record_event(
            action=Action.AUDIT_REPLAY,
            actor=request.user,
            target_type="audit_event",
            target_id=event.pk,
            chunk_ids=[p.chunk_id for p in passages],
            document_ids=[p.document_id for p in passages],
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Access replay of answer event #{event.pk}",
            "event": event,
            "passages": passages,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/audit/auditevent/replay.html", context)
