"""One-command rollback of a prompt release: ``manage.py prompt_label --back``."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from assistant.prompts import create_prompt_version, get_prompt_version, move_label
from tests.chat.conftest import restore_migration_seeds

pytestmark = pytest.mark.django_db


def run(*args: str) -> str:
    out = StringIO()
    call_command("prompt_label", *args, stdout=out)
    return out.getvalue()


def test_release_then_roll_back_in_one_command() -> None:
    restore_migration_seeds()
    original = get_prompt_version()
    new = create_prompt_version(
        name="chat",
        system_template=original.system_template + " Be brief.",
        user_template=original.user_template,
        commit_message="shorter answers",
        author=None,
    )

    assert (
        run("--to-version", str(new.version), "--note", "release")
        == f"chat/production: v{original.version} -> v{new.version}\n"
    )
    assert get_prompt_version().pk == new.pk

    assert run("--back") == f"chat/production: v{new.version} -> v{original.version}\n"
    assert get_prompt_version().pk == original.pk
    assert "rollback of the move" in run("--show")


def test_back_without_history_and_unknown_versions_are_refused() -> None:
    restore_migration_seeds()
    with pytest.raises(CommandError, match="no version 999"):
        run("--to-version", "999")
    version = get_prompt_version()
    move_label(version=version, label="canary", moved_by=None)
    with pytest.raises(CommandError, match="no earlier version"):
        run("--label", "canary", "--back")
