"""deploy/prometheus/alerts.yml parses, every rule is complete and links to its runbook section, and every
metric an expression uses is one Docent actually exports."""

from __future__ import annotations

import re

import pytest
import yaml
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

from assistant.observability.metrics import registry
from tests.processes import REPO_ROOT

ALERTS = REPO_ROOT / "deploy" / "prometheus" / "alerts.yml"
RUNBOOKS = REPO_ROOT / "docs" / "runbooks.md"
METRIC = re.compile(r"\b((?:docent|django)_[a-z0-9_]+)")


def rules() -> list[dict]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def exported_names() -> set[str]:
    names: set[str] = set()
    for family in registry().collect():
        names.add(family.name)
        if isinstance(family, CounterMetricFamily) or family.type == "counter":
            names.update({f"{family.name}_total", f"{family.name}_created"})
        if isinstance(family, HistogramMetricFamily) or family.type == "histogram":
            names.update({f"{family.name}_bucket", f"{family.name}_count", f"{family.name}_sum"})
        names.update(sample.name for sample in family.samples)
    return names


def anchors() -> set[str]:
    headings = re.findall(r"^#{2,3} (.+)$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).strip().replace(" ", "-") for h in headings}


def test_every_rule_is_complete_and_has_a_runbook() -> None:
    found = rules()
    assert {"DocentChatErrorRateHigh", "DocentChatLatencyP95High", "DocentBreakerOpen", "DocentBudgetExhausted",
            "DocentIngestionBacklog", "DocentEvalScoreDrop"} <= {r["alert"] for r in found}  # fmt: skip
    sections = anchors()
    for rule in found:
        assert rule["expr"].strip() and rule["labels"]["severity"] in {"info", "warning", "critical"}, rule
        assert rule["annotations"]["summary"], rule
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("docs/runbooks.md#") and url.split("#", 1)[1] in sections, (rule["alert"], url)


@pytest.mark.django_db
def test_every_expression_uses_exported_metrics() -> None:
    exported = exported_names()
    for rule in rules():
        used = set(METRIC.findall(rule["expr"]))
        assert used, f"{rule['alert']} uses none of our metrics"
        assert used <= exported, f"{rule['alert']} uses metrics Docent does not export: {sorted(used - exported)}"


@pytest.mark.django_db
def test_the_exported_names_are_the_real_ones() -> None:
    names = exported_names()
    assert {"docent_chat_turns_total", "docent_llm_breaker_state", "docent_ingestion_job_seconds_bucket"} <= names
    assert "docent_chat_turns_totl" not in names
