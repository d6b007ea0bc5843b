"""``manage.py prompt_label``: release or roll back a prompt version in one command (the admin does the same).

manage.py prompt_label --back                      # production label back to where it was before
manage.py prompt_label --to-version 3 --note "..."  # point it at version 3
manage.py prompt_label --show                      # where it points, and its recent moves
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from assistant.models import PromptLabel, PromptLabelMove, PromptVersion
from assistant.prompts import PRODUCTION, move_label


class Command(BaseCommand):
    help = "Move a prompt label (release or roll back): --to-version N, or --back to the previous version."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--name", default="chat", help="The prompt (default: chat).")
        parser.add_argument("--label", default=PRODUCTION, help="The label to move (default: production).")
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--to-version", type=int, help="Point the label at this version number.")
        action.add_argument("--back", action="store_true", help="Undo the label's last move.")
        action.add_argument("--show", action="store_true", help="Only show where the label points.")
        parser.add_argument("--note", default="", help="Why (kept in the label's history).")
        parser.add_argument("--by", default="", help="Username recorded as the one who moved it.")

    def handle(self, *args: Any, **options: Any) -> None:
        name, label = options["name"], options["label"]
        current = PromptLabel.objects.select_related("version").filter(name=name, label=label).first()
        if options["show"]:
            self._show(name, label, current)
            return
        if options["back"]:
            last = PromptLabelMove.objects.filter(name=name, label=label).select_related("from_version").first()
            if last is None or last.from_version is None:
                raise CommandError(f"{name}/{label} has no earlier version to go back to.")
            target = last.from_version
            note = options["note"] or f"rollback of the move to v{last.to_version.version}"
        else:
            chosen = PromptVersion.objects.filter(name=name, version=options["to_version"]).first()
            if chosen is None:
                raise CommandError(f"Prompt {name!r} has no version {options['to_version']}.")
            target = chosen
            note = options["note"]
        moved_by = None
        if options["by"]:
            moved_by = User.objects.filter(username=options["by"]).first()
            if moved_by is None:
                raise CommandError(f"No user {options['by']!r}.")
        before = current.version.version if current is not None else None
        move_label(version=target, label=label, moved_by=moved_by, note=note)
        self.stdout.write(f"{name}/{label}: v{before} -> v{target.version}")

    def _show(self, name: str, label: str, current: PromptLabel | None) -> None:
        if current is None:
            raise CommandError(f"No label {label!r} on prompt {name!r}.")
        self.stdout.write(f"{name}/{label} -> v{current.version.version} ({current.version.commit_message})")
        for move in PromptLabelMove.objects.filter(name=name, label=label).select_related("from_version", "to_version")[
            :5
        ]:
            origin = f"v{move.from_version.version}" if move.from_version else "-"
            self.stdout.write(f"  {move.moved_at:%Y-%m-%d %H:%M} {origin} -> v{move.to_version.version} {move.note}")
