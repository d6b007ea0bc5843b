"""Schemathesis against Docent's OpenAPI schema (/api/schema/), as a normal employee with an API token:
generated valid and invalid requests must never produce a 500 or a response that contradicts the schema.

Bounded (a few examples per operation, no shrinking) so that it stays a quick part of the suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import Group
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from accounts.models import User
from accounts.services import create_api_token
from assistant.wsgi import application
from tests.chat.conftest import restore_migration_seeds

EXAMPLES = 8
# Rules OpenAPI 3.0 cannot state, documented in prose instead: such a schema-valid request may be refused.
UNEXPRESSIBLE = {
    # "the last message must be a user message with text" (a rule about a list's last item)
    "POST /v1/chat/completions": [positive_data_acceptance],
}


@pytest.fixture
def api_schema(db: None) -> Iterator[Any]:
    """The schema, and the WSGI app called in this process. As Django's test client does, connections are not
    closed at the end of each request (they hold the test's transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/schema/", application)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def token(db: None) -> str:
    restore_migration_seeds()
    user = User.objects.create_user("erin", "erin@example.com", "pw")
    user.groups.add(Group.objects.get_or_create(name="engineering")[0])
    return create_api_token(user=user, name="schemathesis").raw


def test_api_answers_by_its_schema_and_never_with_a_500(api_schema: Any, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    failures: list[str] = []
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 8  # the whole REST API, not an empty schema
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(mode, headers=headers))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def check(case: Any) -> None:
                case.call_and_validate(excluded_checks=UNEXPRESSIBLE.get(case.operation.label, []))

            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to get wrong (no parameters, no body)
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert not failures, "\n\n".join(failures)
