"""Plain signals for what happens to documents, so that upper layers (the audit log) can record it without
this app importing them. Sent after the change is made, inside its transaction where there is one."""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: document (Document), actor (User | None), version_id (int)
document_uploaded = Signal()
# kwargs: document (Document), actor (User | None), acl (list[str])
document_access_changed = Signal()
# kwargs: document_id (int), title (str), actor (User | None), files (int)
document_deleted = Signal()
