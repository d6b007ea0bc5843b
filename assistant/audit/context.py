"""Who is asking, from where: the request's IP, user agent and request id, for audit rows written deep inside
services that never see the request. Set by :class:`assistant.audit.middleware.AuditContextMiddleware`."""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass

from django.http import HttpRequest

from assistant.observability.request_id import current_request_id


@dataclass(frozen=True)
class RequestContext:
    ip: str | None = None
    user_agent: str = ""
    request_id: str = ""


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("docent_audit_request", default=None)


def current() -> RequestContext:
    return _current.get() or RequestContext()


def context_from_request(request: HttpRequest) -> RequestContext:
    # REMOTE_ADDR is the peer; behind a proxy the deployment's proxy settings decide what it holds.
    ip = request.META.get("REMOTE_ADDR") or None
    # The request id the observability middleware bound (it runs first): logs, audit rows and model calls agree.
    request_id = current_request_id() or (request.headers.get("X-Request-ID") or "")[:64] or uuid.uuid4().hex
    return RequestContext(ip=ip, user_agent=(request.headers.get("User-Agent") or "")[:300], request_id=request_id)


def bind(context: RequestContext) -> contextvars.Token[RequestContext | None]:
    return _current.set(context)


def unbind(token: contextvars.Token[RequestContext | None]) -> None:
    _current.reset(token)
