"""Projects and the runs in them: the home that artifacts, jobs and launch all point down to."""

from django.conf import settings
from django.db import models

from launchui.accounts.models import Entity
from launchui.core.json_values import json_field_options


class Project(models.Model):
    """Created on demand, as W&B does, whenever a run or queue names it."""

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Moved from the launch app; the table kept its name (migrations: launch 0004, projects 0001).
        db_table = "launch_project"
        constraints = [models.UniqueConstraint(fields=["entity", "name"], name="project_unique_per_entity")]

    def __str__(self) -> str:
        return f"{self.entity.name}/{self.name}"


class Run(models.Model):
    """The minimal run record the wandb client needs: created by UpsertBucket, fed by the file stream."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=128)
    display_name = models.CharField(max_length=255, blank=True)
    job_type = models.CharField(max_length=64, blank=True)
    config = models.JSONField(default=dict, **json_field_options())
    host = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    stop_requested = models.BooleanField(default=False)

    class Meta:
        db_table = "launch_run"
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="run_unique_per_project")]

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"
