"""Row-level security on the chunk table: defense in depth under the ACL predicate of every search query.

``retrieval.search`` runs its statements as the role ``docent_search`` (``SET LOCAL ROLE`` inside its read
transaction) with the user's ACL keys in the transaction-local setting ``docent.acl_keys``. For that role the
policy below admits only chunks whose ACL overlaps those keys, so even a search query that forgot its own
predicate could not read another user's chunk; with no keys set it admits nothing.

Why a separate role: superusers (the embedded development server connects as ``postgres``) and roles with
BYPASSRLS always bypass row security, and a table's owner bypasses it unless FORCE ROW LEVEL SECURITY is set.
FORCE would also subject ingestion's writes and the statistics triggers to a policy, so instead the table keeps
ENABLE (owner and superuser unaffected, writes unchanged) and the reader switches to a role that is neither.
The role needs CREATEROLE to be created here; on a managed server create it beforehand
(``CREATE ROLE docent_search NOLOGIN``) and ``GRANT docent_search TO <app role>``; this migration then only
grants it SELECT.
"""

from django.db import migrations

ENABLE = """
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'docent_search') THEN
        CREATE ROLE docent_search NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;  -- created concurrently by another database's migration on the same server (roles are per server)
END
$$;
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'docent_search', 'MEMBER') THEN
        EXECUTE format('GRANT docent_search TO %I', current_user);
    END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO docent_search;
GRANT SELECT ON retrieval_chunk, retrieval_termstat, retrieval_corpusstat, ingestion_document TO docent_search;
ALTER TABLE retrieval_chunk ENABLE ROW LEVEL SECURITY;
CREATE POLICY chunk_acl_read ON retrieval_chunk FOR SELECT TO docent_search
    USING (acl && coalesce(nullif(current_setting('docent.acl_keys', true), ''), '{}')::varchar[]);
"""

DISABLE = """
DROP POLICY IF EXISTS chunk_acl_read ON retrieval_chunk;
ALTER TABLE retrieval_chunk DISABLE ROW LEVEL SECURITY;
REVOKE SELECT ON retrieval_chunk, retrieval_termstat, retrieval_corpusstat, ingestion_document FROM docent_search;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("retrieval", "0003_lexical_stats"),
        ("ingestion", "0001_initial"),
    ]

    operations = [migrations.RunSQL(ENABLE, DISABLE)]
