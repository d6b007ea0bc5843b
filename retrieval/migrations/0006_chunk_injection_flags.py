"""Why the injection screen flagged a chunk at ingestion (issue 8); a database default because chunks are
written with a binary COPY that does not name the column."""

import django.contrib.postgres.fields
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("retrieval", "0005_bm25_maxscore"),
    ]

    operations = [
        migrations.AddField(
            model_name="chunk",
            name="injection_flags",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=40), blank=True, db_default=[], size=None
            ),
        ),
    ]
