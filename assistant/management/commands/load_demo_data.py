"""Load the demo users (and documents) used by ``make run``."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from assistant.demo import DEMO_DOCUMENTS, DEMO_USERS, DemoDataRefused, load_demo_documents, load_demo_users


class Command(BaseCommand):
    help = "Create the demo users and groups (development mode only). Safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        password = settings.DEMO_PASSWORD
        try:
            load_demo_users(password=password)
            load_demo_documents()
        except DemoDataRefused as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Demo sign-ins (password for all: {password}):")
        for demo in DEMO_USERS:
            groups = ", ".join(demo.groups) or "-"
            self.stdout.write(f"  {demo.username:<8} groups: {groups:<30} {demo.description}")
        self.stdout.write(f"Demo documents: {len(DEMO_DOCUMENTS)} queued for ingestion (demo/corpus).")
