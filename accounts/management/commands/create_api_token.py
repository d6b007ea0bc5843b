"""``manage.py create_api_token USER [--name NAME] [--expires DAYS|YYYY-MM-DD|never]``: print a new token once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import User
from accounts.services import create_api_token


def parse_expiry(value: str) -> datetime | None:
    """``never``, a number of days from now, or an ISO date (the token expires at the start of that day, UTC)."""
    if value.lower() == "never":
        return None
    if value.isdigit():
        return timezone.now() + timedelta(days=int(value))
    try:
        day = date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(
            f"--expires must be 'never', a number of days, or a date (YYYY-MM-DD), not {value!r}"
        ) from exc
    return datetime.combine(day, time.min, tzinfo=UTC)


class Command(BaseCommand):
    help = "Create a personal API token for USER and print it (it cannot be shown again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("user", help="user name")
        parser.add_argument("--name", default="Command-line token", help="what the token is for")
        parser.add_argument("--expires", default="90", help="days from now, YYYY-MM-DD, or 'never' (default 90)")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["user"]).first()
        if user is None:
            raise CommandError(f"No user named {options['user']!r}.")
        if not user.is_active:
            raise CommandError(f"User {user.username!r} is inactive.")
        try:
            issued = create_api_token(user=user, name=options["name"], expires_at=parse_expiry(options["expires"]))
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        expiry = issued.token.expires_at.isoformat() if issued.token.expires_at else "never"
        self.stderr.write(f"Token {issued.token.name!r} for {user.username} (expires {expiry}); shown only once:")
        self.stdout.write(issued.raw)
