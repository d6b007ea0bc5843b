"""Prompt versions stay immutable, but an UPDATE that changes none of the version's content (a re-save of the
same row, as fixtures and test database restores do; their timestamps lose sub-millisecond precision in
serialization, so ``created_at`` is left out of the comparison) is allowed."""

from __future__ import annotations

from django.db import migrations

SQL = """
CREATE OR REPLACE FUNCTION assistant_promptversion_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.id, NEW.name, NEW.version, NEW.system_template, NEW.user_template, NEW.route, NEW.temperature,
        NEW.max_output_tokens, NEW.context_window_tokens, NEW.commit_message, NEW.author_id)
       IS DISTINCT FROM
       (OLD.id, OLD.name, OLD.version, OLD.system_template, OLD.user_template, OLD.route, OLD.temperature,
        OLD.max_output_tokens, OLD.context_window_tokens, OLD.commit_message, OLD.author_id) THEN
        RAISE EXCEPTION 'prompt versions are immutable: create a new version instead';
    END IF;
    RETURN NEW;
END $$;
"""
REVERSE_SQL = """
CREATE OR REPLACE FUNCTION assistant_promptversion_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'prompt versions are immutable: create a new version instead';
END $$;
"""


class Migration(migrations.Migration):
    dependencies = [("assistant", "0002_seed_prompt_and_immutability")]

    operations = [migrations.RunSQL(SQL, REVERSE_SQL)]
