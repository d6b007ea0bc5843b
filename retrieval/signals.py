"""Plain signals for chunk writes, so upper layers can react (the injection screen flags passages) without
this app importing them."""

from __future__ import annotations

from django.dispatch import Signal

# kwargs: document_id (int), version_id (int), texts (the new chunks' texts, by ordinal). Sent inside the
# transaction that replaced the chunks.
chunks_replaced = Signal()
