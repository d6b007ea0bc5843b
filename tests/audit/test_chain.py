"""The audit table is append-only in the database, hash-chained, verifiable, and purged only by retention."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from assistant.audit.models import Action, AuditEvent
from assistant.audit.services import GENESIS, purge_audit_log, record_event, verify_chain

pytestmark = pytest.mark.django_db


def _events(count: int) -> list[AuditEvent]:
    return [record_event(action=Action.LOGIN, actor_name=f"user{i}", details={"n": i}) for i in range(count)]


def _raw(sql: str, params: list[int] | None = None) -> None:
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])


def test_verify_passes_on_a_fresh_database_and_on_a_written_chain(capsys) -> None:
    call_command("verify_audit_log")
    assert "Audit log OK: 0 rows verified" in capsys.readouterr().out
    events = _events(5)
    assert events[0].prev_hash == GENESIS
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    call_command("verify_audit_log")
    assert f"5 rows verified; head hash {events[-1].hash}" in capsys.readouterr().out


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_auditevent SET details = '{}'::jsonb",
        "DELETE FROM audit_auditevent",
        "UPDATE audit_auditevent SET hash = hash WHERE id = (SELECT max(id) FROM audit_auditevent)",
    ],
)
def test_raw_update_and_delete_are_refused_by_the_database(sql: str) -> None:
    _events(2)
    with pytest.raises(DatabaseError, match="append-only"):
        _raw(sql)
    assert AuditEvent.objects.count() == 2


def test_a_raw_edit_past_the_trigger_is_caught_and_the_row_named() -> None:
    events = _events(4)
    tampered = events[2]
    # Someone with the table owner's rights switches the trigger off and edits a row.
    _raw("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_no_change")
    _raw("UPDATE audit_auditevent SET actor_name = 'someone-else' WHERE id = %s", [tampered.pk])
    _raw("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_no_change")
    result = verify_chain()
    assert (result.ok, result.broken_id, result.checked) == (False, tampered.pk, 2)
    with pytest.raises(CommandError, match=f"row id={tampered.pk}: its content does not match its hash"):
        call_command("verify_audit_log")


def test_a_row_removed_from_the_middle_breaks_the_link_of_the_next() -> None:
    events = _events(4)
    _raw("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_no_change")
    _raw("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    _raw("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_no_change")
    result = verify_chain()
    assert (result.ok, result.broken_id) == (False, events[2].pk)
    assert "link" in result.reason


def test_retention_purge_is_the_only_deletion_and_is_itself_audited() -> None:
    old = _events(3)
    _raw("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_auditevent_no_change")
    _raw("UPDATE audit_auditevent SET created_at = created_at - interval '400 days'")
    _raw("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_auditevent_no_change")
    recent = _events(2)
    assert verify_chain().broken_id == old[0].pk  # back-dating was an edit, and it shows
    deleted = purge_audit_log(before=timezone.now() - timedelta(days=365))
    assert deleted == 3
    remaining = list(AuditEvent.objects.order_by("id"))
    assert [e.pk for e in remaining[:2]] == [e.pk for e in recent]
    purge = remaining[-1]
    assert purge.action == Action.AUDIT_PURGE and purge.details["deleted"] == 3
    assert purge.details["last_purged_hash"] == old[-1].hash
    assert verify_chain().ok, "the chain is anchored on the last purged hash"
    with pytest.raises(DatabaseError, match="append-only"):
        _raw("DELETE FROM audit_auditevent")


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_form_one_unbroken_chain() -> None:
    errors: list[BaseException] = []

    def write(worker: int) -> None:
        try:
            for i in range(10):
                record_event(action=Action.QUESTION, actor_name=f"w{worker}", details={"i": i})
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    result = verify_chain()
    assert result.ok and result.checked == 60
