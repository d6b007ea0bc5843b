"""The audit table, the trigger that keeps it append-only, and the one sanctioned purge (retention).

Append-only: a BEFORE UPDATE OR DELETE row trigger and a BEFORE TRUNCATE statement trigger raise, for every
role, with one exception each:

- DELETE is allowed when the current role is ``docent_audit_purger``: a NOLOGIN role that owns the SECURITY
  DEFINER function ``audit_purge_before(cutoff)``, so the only way to delete is that function, which removes
  a prefix of the chain (rows older than the cutoff) and returns the last removed hash (the purge command
  records it in a new ``audit.purge`` event, so ``verify_audit_log`` can still anchor the chain). After the
  function is created the migrating role gives up its membership of ``docent_audit_purger`` (when it can), so
  the application cannot ``SET ROLE`` to it.
- TRUNCATE is allowed in databases whose name starts with ``test_``: Django's test runner empties every table
  with TRUNCATE between transactional tests. No production database is called that.

Honest limit: a superuser or the table's owner can still disable triggers or drop the table. That is why each
row carries a hash chain (an edit or a removal in the middle breaks it) and why operators should keep the head
hash printed by ``verify_audit_log`` somewhere the database's owner cannot write.
"""

import django.contrib.postgres.fields
from django.db import migrations, models

APPEND_ONLY = r"""
CREATE FUNCTION audit_auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_user = 'docent_audit_purger' THEN
        RETURN OLD;
    END IF;
    IF TG_OP = 'TRUNCATE' AND current_database() LIKE 'test\_%' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % on audit_auditevent is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_auditevent_no_change BEFORE UPDATE OR DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_auditevent_append_only();
CREATE TRIGGER audit_auditevent_no_truncate BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_auditevent_append_only();

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'docent_audit_purger') THEN
        CREATE ROLE docent_audit_purger NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created concurrently by another database's migration on the same server (roles are per server)
END
$$;
GRANT USAGE ON SCHEMA public TO docent_audit_purger;
GRANT SELECT, DELETE ON audit_auditevent TO docent_audit_purger;

CREATE FUNCTION audit_purge_before(cutoff timestamptz)
RETURNS TABLE (deleted bigint, last_id bigint, last_hash varchar) LANGUAGE plpgsql SECURITY DEFINER
SET search_path = public, pg_temp AS $$
DECLARE
    boundary bigint;
BEGIN
    -- A prefix of the chain only: everything up to the newest row older than the cutoff.
    SELECT max(e.id) INTO boundary FROM audit_auditevent e WHERE e.created_at < cutoff;
    IF boundary IS NULL THEN
        RETURN QUERY SELECT 0::bigint, NULL::bigint, NULL::varchar;
        RETURN;
    END IF;
    RETURN QUERY
    WITH gone AS (DELETE FROM audit_auditevent e WHERE e.id <= boundary RETURNING e.id, e.hash)
    SELECT count(*)::bigint, max(gone.id),
           (SELECT g.hash FROM gone g ORDER BY g.id DESC LIMIT 1) FROM gone;
END $$;
REVOKE ALL ON FUNCTION audit_purge_before(timestamptz) FROM PUBLIC;

DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'docent_audit_purger', 'MEMBER') THEN
        EXECUTE format('GRANT docent_audit_purger TO %I', current_user);
    END IF;
    ALTER FUNCTION audit_purge_before(timestamptz) OWNER TO docent_audit_purger;
    -- Give the membership back, so the application cannot SET ROLE docent_audit_purger (a superuser still can).
    BEGIN
        EXECUTE format('REVOKE docent_audit_purger FROM %I', current_user);
    EXCEPTION WHEN OTHERS THEN
        NULL;
    END;
END
$$;
"""

DROP_APPEND_ONLY = """
DROP FUNCTION IF EXISTS audit_purge_before(timestamptz);
DROP TRIGGER IF EXISTS audit_auditevent_no_change ON audit_auditevent;
DROP TRIGGER IF EXISTS audit_auditevent_no_truncate ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_auditevent_append_only();
REVOKE ALL ON audit_auditevent FROM docent_audit_purger;
"""


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="AuditEvent",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("created_at", models.DateTimeField(db_index=True)),
                ("actor_id", models.BigIntegerField(blank=True, db_index=True, null=True)),
                ("actor_name", models.CharField(blank=True, max_length=150)),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("auth.login", "Sign-in"),
                            ("auth.login_failed", "Failed sign-in"),
                            ("auth.logout", "Sign-out"),
                            ("chat.question", "Question asked"),
                            ("chat.answer", "Answer shown"),
                            ("chat.answer_blocked", "Answer blocked by an output check"),
                            ("chat.citation_opened", "Citation opened"),
                            ("document.uploaded", "Document uploaded"),
                            ("document.access_changed", "Document access changed"),
                            ("document.deleted", "Document deleted"),
                            ("document.passages_flagged", "Passages flagged as possible injection"),
                            ("prompt.label_moved", "Prompt label moved"),
                            ("admin.change", "Admin change"),
                            ("admin.view_conversation", "Admin viewed a conversation"),
                            ("audit.export", "Audit log exported"),
                            ("audit.replay", "Access replay viewed"),
                            ("audit.purge", "Audit log retention purge"),
                        ],
                        db_index=True,
                        max_length=40,
                    ),
                ),
                ("target_type", models.CharField(blank=True, max_length=40)),
                ("target_id", models.CharField(blank=True, max_length=64)),
                ("ip", models.GenericIPAddressField(blank=True, null=True)),
                ("user_agent", models.CharField(blank=True, max_length=300)),
                ("request_id", models.CharField(blank=True, db_index=True, max_length=64)),
                ("details", models.JSONField(blank=True, default=dict)),
                (
                    "chunk_ids",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.BigIntegerField(), blank=True, default=list, size=None
                    ),
                ),
                (
                    "document_ids",
                    django.contrib.postgres.fields.ArrayField(
                        base_field=models.BigIntegerField(), blank=True, default=list, size=None
                    ),
                ),
                ("prompt_version_id", models.BigIntegerField(blank=True, null=True)),
                ("model_id", models.CharField(blank=True, max_length=200)),
                ("prev_hash", models.CharField(max_length=64)),
                ("hash", models.CharField(max_length=64, unique=True)),
            ],
            options={
                "ordering": ["-id"],
                "permissions": [
                    ("view_auditevent_csv", "Can export the audit log to CSV"),
                    ("view_auditevent_replay", "Can replay the access of an answer"),
                ],
                "indexes": [models.Index(fields=["actor_id", "-created_at"], name="audit_actor_recent")],
            },
        ),
        migrations.RunSQL(APPEND_ONLY, DROP_APPEND_ONLY),
    ]
