"""``make run``: prepare the database and demo data, then run web, worker and beat until stopped."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from assistant.embedded_postgres import started_by_this_process, stop_embedded_postgres
from assistant.health import check_broker

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Get SIGTERM when ``make`` dies, so that ``kill <make pid>`` stops the whole stack too."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Command(BaseCommand):
    help = "Run Docent for local use: migrate, load demo data, start web + worker + beat (Ctrl-C stops all)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo users and documents.")

    def handle(self, *args: Any, **options: Any) -> None:
        _die_with_parent()
        self._require_broker()
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        if not options["no_demo"]:
            call_command("load_demo_data")
        code = self._run_processes()
        # Stop the embedded server only if this run started it: a test run may be sharing it.
        embedded = not settings.DATABASE_URL and started_by_this_process(settings.EMBEDDED_PG_DIR)
        if embedded and stop_embedded_postgres(settings.EMBEDDED_PG_DIR):
            self.stdout.write("Embedded PostgreSQL stopped.")
        sys.exit(code)

    def _require_broker(self) -> None:
        from kombu.exceptions import OperationalError

        try:
            check_broker()
        except (OperationalError, OSError) as exc:
            raise CommandError(
                f"Cannot reach the Celery broker (Redis) at {settings.BROKER_URL_FOR_DISPLAY}: {exc}.\n"
                "Docent needs Redis for its background workers. Start one with\n"
                "    redis-server --daemonize yes --port 6379\n"
                "(Debian/Ubuntu: apt-get install redis-server), or set REDIS_URL to a reachable server."
            ) from exc

    def _run_processes(self) -> int:
        from honcho.environ import parse_procfile
        from honcho.manager import Manager

        base_dir = Path(settings.BASE_DIR)
        procfile = parse_procfile((base_dir / "Procfile").read_text())
        env = dict(os.environ)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env.setdefault("PORT", "8000")
        env["PYTHONUNBUFFERED"] = "1"
        host = env.get("HOST", "127.0.0.1")
        self.stdout.write(
            self.style.SUCCESS(f"\nDocent is starting at http://{host}:{env['PORT']}/  (Ctrl-C stops everything)\n")
        )
        manager = Manager()
        for name, command in procfile.processes.items():
            manager.add_process(name, command, env=env, cwd=str(base_dir))
        manager.loop()
        # honcho reports 128+signal when it was asked to stop: that is a clean shutdown, not a failure.
        stopped_on_request = manager.returncode in {128 + signal.SIGINT, 128 + signal.SIGTERM}
        return 0 if stopped_on_request else int(manager.returncode or 0)
