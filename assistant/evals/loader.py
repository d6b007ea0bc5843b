"""Reading an eval set from JSONL: one case per line.

``{"key": "pto-days", "kind": "answer", "question": "...", "run_as": "bob",
"expected_documents": ["pto-policy.md"], "expected_facts": ["25"], "must_not_contain": [], "notes": ""}``
Blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

KINDS = ("answer", "permission", "refusal")


class EvalSetInvalid(ValueError):
    """A line of the eval set is not a valid case (the message names the line)."""


@dataclass(frozen=True)
class CaseData:
    key: str
    question: str
    run_as: str
    kind: str = "answer"
    expected_documents: tuple[str, ...] = ()
    expected_facts: tuple[str, ...] = ()
    must_not_contain: tuple[str, ...] = ()
    notes: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def _strings(value: object, *, where: str, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
        raise EvalSetInvalid(f"{where}: {name} must be a list of non-empty strings")
    return tuple(item.strip() for item in value)


def parse_lines(lines: Iterable[str], *, source: str = "<jsonl>") -> list[CaseData]:
    cases: list[CaseData] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{source}:{number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EvalSetInvalid(f"{where}: not JSON ({exc.msg})") from exc
        if not isinstance(raw, dict):
            raise EvalSetInvalid(f"{where}: a case is a JSON object")
        for required in ("key", "question", "run_as"):
            if not isinstance(raw.get(required), str) or not raw[required].strip():
                raise EvalSetInvalid(f"{where}: {required} is required")
        kind = raw.get("kind", "answer")
        if kind not in KINDS:
            raise EvalSetInvalid(f"{where}: kind must be one of {KINDS}, not {kind!r}")
        key = raw["key"].strip()
        if key in seen:
            raise EvalSetInvalid(f"{where}: duplicate key {key!r}")
        seen.add(key)
        case = CaseData(
            key=key,
            question=raw["question"].strip(),
            run_as=raw["run_as"].strip(),
            kind=kind,
            expected_documents=_strings(raw.get("expected_documents"), where=where, name="expected_documents"),
            expected_facts=_strings(raw.get("expected_facts"), where=where, name="expected_facts"),
            must_not_contain=_strings(raw.get("must_not_contain"), where=where, name="must_not_contain"),
            notes=str(raw.get("notes", ""))[:500],
        )
        if case.kind == "permission" and not case.expected_documents:
            raise EvalSetInvalid(f"{where}: a permission case names the documents that must not surface")
        cases.append(case)
    return cases


def read_jsonl(path: Path) -> list[CaseData]:
    with path.open(encoding="utf-8") as handle:
        return parse_lines(handle, source=str(path))
