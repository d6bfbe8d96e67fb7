from django.conf import settings
from django.db import models

from launchui.accounts.models import Entity
from launchui.core.json_values import json_field_options

# The hidden project in which W&B keeps an entity's queues and agents.
LAUNCH_PROJECT = "model-registry"


class RunQueue(models.Model):
    RESOURCES = [
        ("local-container", "Docker"),
        ("local-process", "Local process"),
        ("kubernetes", "Kubernetes"),
        ("sagemaker", "SageMaker"),
        ("gcp-vertex", "GCP Vertex"),
    ]
    PRIORITIZATION_DISABLED = "DISABLED"
    PRIORITIZATION_V0 = "V0"
    PRIORITIZATION_MODES = [(PRIORITIZATION_DISABLED, "Disabled"), (PRIORITIZATION_V0, "On")]
    ACCESS_PROJECT = "PROJECT"
    ACCESS_USER = "USER"
    ACCESS_TYPES = [(ACCESS_PROJECT, "Project"), (ACCESS_USER, "User")]

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="run_queues")
    name = models.CharField(max_length=64)
    resource = models.CharField(max_length=32, choices=RESOURCES)
    # Stored as W&B stores it: {"resource_args": {<resource>: {...}}}.
    config = models.JSONField(default=dict, **json_field_options())
    # The text the admin typed (JSON or YAML), so editing shows what they wrote, comments and all.
    config_text = models.TextField(blank=True)
    # [{"name": str, "schema": {JSON schema}}]
    template_variables = models.JSONField(default=list)
    # [{"label": str, "url": str}]
    external_links = models.JSONField(default=list)
    prioritization_mode = models.CharField(max_length=16, choices=PRIORITIZATION_MODES, default=PRIORITIZATION_DISABLED)
    access = models.CharField(max_length=16, choices=ACCESS_TYPES, default=ACCESS_PROJECT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity", "name"], name="queue_unique_per_entity")]
        ordering = ["entity__name", "name"]

    def __str__(self) -> str:
        return f"{self.entity.name}/{self.name}"

    @property
    def is_prioritized(self) -> bool:
        return self.prioritization_mode == self.PRIORITIZATION_V0

    @property
    def resource_args(self) -> dict:
        return (self.config or {}).get("resource_args", {}).get(self.resource, {})


class LaunchAgent(models.Model):
    """Facts an agent reported. Its displayed status is derived when read (launch/liveness.py)."""

    POLLING = "POLLING"
    RUNNING = "RUNNING"
    KILLED = "KILLED"
    REPORTED_STATUSES = [(POLLING, "Polling"), (RUNNING, "Running"), (KILLED, "Killed")]

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="launch_agents")
    name = models.CharField(max_length=64, unique=True)
    queues = models.ManyToManyField(RunQueue, related_name="agents")
    hostname = models.CharField(max_length=255, blank=True)
    version = models.CharField(max_length=64, blank=True)
    config = models.JSONField(default=dict, **json_field_options())
    reported_status = models.CharField(max_length=16, choices=REPORTED_STATUSES, default=POLLING)
    stop_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    # Every call the agent makes counts as contact.
    last_seen_at = models.DateTimeField()

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["last_seen_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def max_jobs(self) -> int | None:
        value = (self.config or {}).get("max_jobs")
        return value if isinstance(value, int) else None


class AgentStatusChange(models.Model):
    """A status an agent reported that differs from its previous one (its first, POLLING, at registration).
    The agent page's timeline. Offline is never stored: it is derived from last_seen_at when read."""

    agent = models.ForeignKey(LaunchAgent, on_delete=models.CASCADE, related_name="status_changes")
    status = models.CharField(max_length=16, choices=LaunchAgent.REPORTED_STATUSES)
    at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["agent", "-at"], name="agent_status_changes")]

    def __str__(self) -> str:
        return f"{self.agent_id} {self.status} at {self.at}"


class RunQueueItem(models.Model):
    PENDING = "PENDING"
    LEASED = "LEASED"
    CLAIMED = "CLAIMED"
    FAILED = "FAILED"
    STATES = [(PENDING, "Pending"), (LEASED, "Leased"), (CLAIMED, "Claimed"), (FAILED, "Failed")]

    CRITICAL, HIGH, MEDIUM, LOW = 0, 1, 2, 3
    PRIORITIES = [(CRITICAL, "Critical"), (HIGH, "High"), (MEDIUM, "Medium"), (LOW, "Low")]

    queue = models.ForeignKey(RunQueue, on_delete=models.CASCADE, related_name="items")
    run_spec = models.JSONField(default=dict, **json_field_options())
    template_variable_values = models.JSONField(default=dict, **json_field_options())
    priority = models.PositiveSmallIntegerField(choices=PRIORITIES, default=MEDIUM)
    state = models.CharField(max_length=16, choices=STATES, default=PENDING)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    leased_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    agent = models.ForeignKey(LaunchAgent, null=True, blank=True, on_delete=models.SET_NULL, related_name="items")
    associated_run_id = models.CharField(max_length=128, blank=True)
    error_message = models.TextField(blank=True)
    error_stage = models.CharField(max_length=32, blank=True)
    error_file_paths = models.JSONField(default=list)
    # [{"message", "stage", "file_paths", "at"}]
    warnings = models.JSONField(default=list)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["queue", "state", "priority", "created_at"]),
            # Counting waiting items per queue (Launch page) reads only this small slice; with the id included
            # the COUNT(id) is an index-only scan (1 ms per 10,000 waiting items instead of 10 ms).
            models.Index(
                fields=["queue", "state", "leased_at"],
                name="waiting_items",
                include=["id"],
                condition=models.Q(state__in=["PENDING", "LEASED"]),
            ),
            # A pop reads the first waiting item in pop order straight from one of these: no sort at any depth.
            models.Index(
                fields=["queue", "priority", "created_at", "id"],
                name="waiting_by_priority",
                condition=models.Q(state__in=["PENDING", "LEASED"]),
            ),
            models.Index(
                fields=["queue", "created_at", "id"],
                name="waiting_by_age",
                condition=models.Q(state__in=["PENDING", "LEASED"]),
            ),
            # A queue's Overview lists all its items newest first, a page at a time: read backwards from this
            # index, a page is 50 index entries (0.3 ms) instead of a sort of every item of the queue (13 ms at
            # 10,000). The partial waiting_by_age above holds only waiting items.
            models.Index(fields=["queue", "created_at", "id"], name="items_by_age"),
            # A run's launching item, by the run's name: the project and job pages read a run's job and queue
            # through it, and filter and sort runs by them (launch.selectors.project_run_table).
            models.Index(
                fields=["associated_run_id", "queue"],
                name="item_by_run",
                condition=~models.Q(associated_run_id=""),
            ),
        ]

    def __str__(self) -> str:
        return f"item {self.pk} in {self.queue}"


class ResourceConfig(models.Model):
    """A resource config made before its queue (wandb.Api().create_run_queue makes the config first,
    then the queue that names it). Copied into the queue when the queue is created."""

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="+")
    resource = models.CharField(max_length=32, choices=RunQueue.RESOURCES)
    config = models.JSONField(default=dict, **json_field_options())
    template_variables = models.JSONField(default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.resource} config {self.pk}"
