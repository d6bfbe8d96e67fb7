# Project moved to the projects app with its table unchanged: only Django's model state changes.
# The job kinds' labels are the ones the pages show ("Git", not "Git repository"): no change in the database.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('jobs', '0001_initial'),
        ('projects', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name='jobbuild',
                    name='project',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='job_builds', to='projects.project'),
                ),
            ],
        ),
        migrations.AlterField(
            model_name='jobbuild',
            name='kind',
            field=models.CharField(choices=[('code', 'Code'), ('image', 'Docker image'), ('git', 'Git')], max_length=8),
        ),
    ]
