# Project and Run moved to the projects app with their tables unchanged: the foreign keys point at the
# same tables, so only Django's model state changes.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('artifacts', '0002_job_source_type'),
        ('projects', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='artifactcollection',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='artifact_collections', to='projects.project'),
                ),
                migrations.AlterField(
                    model_name='artifact',
                    name='run',
                    field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='projects.run'),
                ),
            ],
        ),
    ]
