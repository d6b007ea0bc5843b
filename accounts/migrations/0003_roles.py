"""Create the four role groups. Their permissions are applied by accounts.services.sync_role_permissions,
which runs after every migrate (permissions of apps migrated later do not exist yet at this point)."""

from django.db import migrations

ROLE_NAMES = ("employee", "curator", "admin", "auditor")


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLE_NAMES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_idpgroup_user_session_epoch_apitoken"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
