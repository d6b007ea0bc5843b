"""Create the pgvector extension, or stop with a message that says how to get it."""

from __future__ import annotations

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

MISSING_PGVECTOR = (
    "The PostgreSQL server Docent is connected to has no pgvector extension "
    "(it is not in pg_available_extensions). Install pgvector on that server "
    "(e.g. the postgresql-16-pgvector package, or a managed Postgres with pgvector enabled), "
    "or unset DATABASE_URL to use Docent's embedded PostgreSQL, which ships with it."
)


def create_vector_extension(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'")
        if cursor.fetchone() is None:
            raise RuntimeError(MISSING_PGVECTOR)
        cursor.execute("CREATE EXTENSION IF NOT EXISTS vector")


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    # Check for pgvector before anything else touches a server that cannot run Docent.
    run_before = [("contenttypes", "0001_initial")]
    # Dropping the extension on rollback would destroy every embedding; leave it in place.
    operations = [migrations.RunPython(create_vector_extension, migrations.RunPython.noop, elidable=False)]
