# Project and Run now live in the projects app (projects 0001), on the same tables. Here they leave the
# launch app's model state, and their content types (and so their admin permissions) follow them.

from django.db import migrations

MOVED = ("project", "run")


def _relabel(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if ContentType.objects.filter(app_label=new, model=model).exists():
            continue  # already there (post_migrate made it): leave the old one for remove_stale_contenttypes
        ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


def forwards(apps, schema_editor):
    _relabel(apps, "launch", "projects")


def backwards(apps, schema_editor):
    _relabel(apps, "projects", "launch")


class Migration(migrations.Migration):

    dependencies = [
        ('contenttypes', '0002_remove_content_type_name'),
        ('launch', '0003_waiting_items_index'),
        ('projects', '0001_initial'),
        ('artifacts', '0003_project_run_moved'),
        ('jobs', '0002_project_moved'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards)],
            state_operations=[
                migrations.DeleteModel(name='Run'),
                migrations.DeleteModel(name='Project'),
            ],
        ),
    ]
