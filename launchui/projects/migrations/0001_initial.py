# Project and Run moved here from the launch app. Only Django's model state moves: the tables keep their
# names (launch_project, launch_run) and their rows, so an existing database changes nothing.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('accounts', '0001_initial'),
        ('launch', '0003_waiting_items_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name='Project',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=128)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('entity', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='projects', to='accounts.entity')),
                    ],
                    options={
                        'db_table': 'launch_project',
                        'constraints': [models.UniqueConstraint(fields=('entity', 'name'), name='project_unique_per_entity')],
                    },
                ),
                migrations.CreateModel(
                    name='Run',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('name', models.CharField(max_length=128)),
                        ('display_name', models.CharField(blank=True, max_length=255)),
                        ('job_type', models.CharField(blank=True, max_length=64)),
                        ('config', models.JSONField(default=dict)),
                        ('host', models.CharField(blank=True, max_length=255)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('heartbeat_at', models.DateTimeField(blank=True, null=True)),
                        ('completed_at', models.DateTimeField(blank=True, null=True)),
                        ('exit_code', models.IntegerField(blank=True, null=True)),
                        ('stop_requested', models.BooleanField(default=False)),
                        ('created_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL)),
                        ('project', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='runs', to='projects.project')),
                    ],
                    options={
                        'db_table': 'launch_run',
                        'constraints': [models.UniqueConstraint(fields=('project', 'name'), name='run_unique_per_project')],
                    },
                ),
            ],
        ),
    ]
