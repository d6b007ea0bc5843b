"""`.env.example` lists every variable the settings read, so the docs cannot drift from the code."""

from __future__ import annotations

import re

from tests.processes import REPO_ROOT

# Variables that are read outside settings.py (the run command, the Procfile).
READ_ELSEWHERE = {"HOST", "PORT", "WORKER_CONCURRENCY"}


def _documented() -> set[str]:
    text = (REPO_ROOT / ".env.example").read_text()
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def test_every_setting_variable_is_documented_in_env_example() -> None:
    settings_source = (REPO_ROOT / "assistant" / "settings.py").read_text()
    read = set(re.findall(r'env_(?:str|bool|int|float|list|choice)\(\s*"([A-Z][A-Z0-9_]*)"', settings_source))
    assert read, "the pattern must find the variables settings.py reads"
    missing = sorted(read - _documented())
    assert not missing, f".env.example does not list: {missing}"


def test_env_example_lists_no_variable_nobody_reads() -> None:
    sources = "\n".join(path.read_text() for path in REPO_ROOT.glob("*/**/*.py") if ".venv" not in path.parts)
    sources += (REPO_ROOT / "Procfile").read_text()
    stale = sorted(name for name in _documented() if f'"{name}"' not in sources and name not in READ_ELSEWHERE)
    assert not stale, f".env.example lists variables nothing reads: {stale}"
