from django.conf import settings
from django.db import models

from launchui.accounts.models import Entity
from launchui.artifacts.models import Artifact
from launchui.projects.models import Project


class GitCredential(models.Model):
    """A way into a private repository, stored encrypted (launchui/jobs/secrets.py)."""

    HTTPS = "https"
    SSH = "ssh"
    KINDS = [(HTTPS, "HTTPS username and password or token"), (SSH, "SSH private key")]

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="git_credentials")
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=8, choices=KINDS)
    username = models.CharField(max_length=255, blank=True)
    secret_encrypted = models.BinaryField()
    # The one server the secret may be sent to (launchui/jobs/rules.py credential_applies_to). Empty host:
    # a credential stored before binding existed; builds refuse it until an admin binds it.
    host = models.CharField(max_length=253, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)  # None: 443 for HTTPS, 22 for SSH
    path_prefix = models.CharField(max_length=255, blank=True)
    # SSH: the server's host keys (known_hosts lines), pasted by an admin or recorded on first use.
    known_hosts = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity", "name"], name="git_credential_unique_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def server(self) -> str:
        """Where it may be sent, as shown to people: github.com/acme/, [::1]:2222; empty when unbound."""
        if not self.host:
            return ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host + (f":{self.port}" if self.port else "") + (f"/{self.path_prefix}/" if self.path_prefix else "")

    @property
    def host_key_fingerprints(self) -> list[str]:
        from launchui.jobs.rules import known_hosts_fingerprints

        return known_hosts_fingerprints(self.known_hosts)


class JobBuild(models.Model):
    """One request to make a job version, run by a Celery task. Its displayed status is derived when
    read (launchui/jobs/selectors.py), so a build whose worker died does not stay "running" for ever."""

    CODE = "code"
    IMAGE = "image"
    GIT = "git"
    KINDS = [(CODE, "Code"), (IMAGE, "Docker image"), (GIT, "Git")]
    # The kind of job each wandb-job.json source_type is (a job made by the wandb CLI has no build).
    KIND_OF_SOURCE_TYPE = {"artifact": CODE, "image": IMAGE, "repo": GIT}

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STATUSES = [(QUEUED, "Queued"), (RUNNING, "Running"), (SUCCEEDED, "Succeeded"), (FAILED, "Failed")]

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="job_builds")
    kind = models.CharField(max_length=8, choices=KINDS)
    # The explicit job name, if one was given (it wins over the default name).
    name = models.CharField(max_length=128, blank=True)
    description = models.TextField(blank=True)
    aliases = models.JSONField(default=list)
    # image: {"image"}; git: {"remote", "ref", "entry_point", "runtime"}; code: {"entry_point", "runtime",
    # "source_name", "archive_digest" or "files": {path: digest}}
    params = models.JSONField(default=dict)
    git_credential = models.ForeignKey(
        GitCredential, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=STATUSES, default=QUEUED)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    result = models.ForeignKey(Artifact, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    result_created = models.BooleanField(null=True)  # False: "No changes detected"
    celery_task_id = models.CharField(max_length=64, blank=True)
    # Delivery: when the task was last handed to the broker (null: not yet, e.g. the broker was down), how
    # many times a worker has claimed the build, the current claim's token (every write of a run is fenced
    # by it, so a run whose lease was taken over changes nothing) and the claim's last heartbeat.
    sent_at = models.DateTimeField(null=True, blank=True)
    attempt = models.PositiveSmallIntegerField(default=0)
    lease_token = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # The sweeper's two questions: queued builds to (re)send, running builds whose lease ran out.
        indexes = [
            models.Index(fields=["status", "sent_at"], name="jobbuild_status_sent"),
            models.Index(fields=["status", "heartbeat_at"], name="jobbuild_status_heartbeat"),
        ]

    def __str__(self) -> str:
        return f"build {self.pk} ({self.kind}) in {self.project}"

    @classmethod
    def source_type_label(cls, source_type: str) -> str:
        """ "Code", "Docker image" or "Git" for a wandb-job.json source_type; an unknown one as it is."""
        kind = cls.KIND_OF_SOURCE_TYPE.get(source_type)
        return dict(cls.KINDS)[kind] if kind else source_type
