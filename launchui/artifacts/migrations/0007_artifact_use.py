"""Which runs used which artifact versions (useArtifact), for artifact.used_by() and run.used_artifacts()."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('artifacts', '0006_artifact_file_ref'),
        ('projects', '0004_run_history_buckets'),
    ]

    operations = [
        migrations.CreateModel(
            name='ArtifactUse',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('used_at', models.DateTimeField(auto_now_add=True)),
                ('artifact', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='uses', to='artifacts.artifact')),
                ('run', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='projects.run')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('run', 'artifact'), name='artifact_use_once_per_run')],
            },
        ),
    ]
