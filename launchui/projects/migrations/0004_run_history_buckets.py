"""The chart layer of a run's history (RunHistoryBucket) and the run's bucket width and count; the run's git
remote (UpsertBucket's jobRepo)."""

import django.db.models.deletion
from django.db import migrations, models


def runs_with_history_have_no_layer(apps, schema_editor):
    """A run whose history arrived before the chart layer has none (width NULL): its reads scan its rows."""
    Run = apps.get_model("projects", "Run")
    RunStreamLine = apps.get_model("projects", "RunStreamLine")
    Run.objects.filter(pk__in=RunStreamLine.objects.filter(file="h").values("run_id")).update(history_bucket_width=None)


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0003_run_history_summary_files"),
    ]

    operations = [
        migrations.AddField(
            model_name="run",
            name="repo",
            field=models.CharField(blank=True, max_length=512),
        ),
        migrations.AddField(
            model_name="run",
            name="history_bucket_count",
            field=models.IntegerField(default=0),
        ),
        migrations.AddField(
            model_name="run",
            name="history_bucket_width",
            field=models.BigIntegerField(default=1, null=True),
        ),
        migrations.CreateModel(
            name="RunHistoryBucket",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("index", models.BigIntegerField()),
                ("first_step", models.BigIntegerField()),
                ("last_step", models.BigIntegerField()),
                ("data", models.JSONField(default=dict)),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="history_buckets", to="projects.run"
                    ),
                ),
            ],
            options={
                "constraints": [models.UniqueConstraint(fields=("run", "index"), name="run_history_bucket_unique")],
            },
        ),
        migrations.RunPython(runs_with_history_have_no_layer, migrations.RunPython.noop),
    ]
