"""A niced worker's database work runs niced too, when PostgreSQL runs on the same machine.

The Procfile starts the worker under ``nice -n 19`` so that on one host (``make run``, the embedded server)
ingestion yields the cores to web requests. ``nice`` only covers the worker's own CPU, though: writing the
chunks (the HNSW insert, postings and ACL triggers) costs its PostgreSQL backend more CPU than the worker spends
on everything but the encoder (docs/performance.md, Ingestion), and the backend would run at normal priority.
So each new connection of a niced worker gives its backend process the worker's niceness. A backend on another
machine (TCP to a non-loopback address), or one this process may not renice (another user's, without root), is
left alone and the reason logged once.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.db.backends.signals import connection_created

if TYPE_CHECKING:
    from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger(__name__)

_reported: set[str] = set()


def follow_niceness_in_database() -> None:
    """From now on, every new database connection of this process gets the process's niceness on its backend."""
    connection_created.connect(_on_connection_created, dispatch_uid="docent-backend-niceness")


def _on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    if connection.vendor == "postgresql":
        renice_backend(connection=connection)


def renice_backend(*, connection: BaseDatabaseWrapper) -> int | None:
    """Give ``connection``'s backend this process's niceness; returns the backend's pid when it did."""
    niceness = os.getpriority(os.PRIO_PROCESS, 0)
    if niceness <= 0:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), host(inet_server_addr())")
        pid, server_address = cursor.fetchone()
    # A Unix socket (no address) or loopback means this machine; the pid must then be a postgres process of
    # ours to see (a socket shared into a container from another pid namespace would name someone else's pid).
    if server_address is not None and not ipaddress.ip_address(server_address).is_loopback:
        _report_once("remote", "database backends on another machine keep their priority")
        return None
    try:
        if Path(f"/proc/{pid}/comm").read_text().strip() != "postgres":
            _report_once("not-postgres", f"pid {pid} is not a postgres process here; backends keep their priority")
            return None
        if os.getpriority(os.PRIO_PROCESS, pid) < niceness:
            os.setpriority(os.PRIO_PROCESS, pid, niceness)
    except OSError as exc:
        _report_once("denied", f"cannot renice database backends ({exc}); they keep their priority")
        return None
    logger.debug("database backend %s runs at niceness %s, as this process does", pid, niceness)
    return int(pid)


def _report_once(reason: str, message: str) -> None:
    if reason not in _reported:
        _reported.add(reason)
        logger.info("backend niceness: %s", message)
