"""W&B-format artifacts: collections of versions, aliases, and manifest entries whose content is
stored once per digest through Django's storage API (launchui/artifacts/storage.py)."""

from django.conf import settings
from django.db import models

from launchui.core.json_values import json_field_options
from launchui.projects.models import Project, Run

JOB_SOURCE_TYPE_MAX_LENGTH = 16  # Artifact.job_source_type


class ArtifactCollection(models.Model):
    """W&B's "artifact sequence": the versions of one named artifact in a project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="artifact_collections")
    name = models.CharField(max_length=128)
    type_name = models.CharField(max_length=64)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="collection_unique_per_project")]
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"


class Artifact(models.Model):
    PENDING = "PENDING"
    COMMITTED = "COMMITTED"
    DELETED = "DELETED"
    STATES = [(PENDING, "Pending"), (COMMITTED, "Committed"), (DELETED, "Deleted")]

    collection = models.ForeignKey(ArtifactCollection, on_delete=models.CASCADE, related_name="versions")
    # Given when committed: v0, v1, ...
    version_index = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=STATES, default=PENDING)
    digest = models.CharField(max_length=64)
    digest_algorithm = models.CharField(max_length=32, default="MANIFEST_MD5")
    # The client retries creation with the same id; it names one artifact.
    client_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    sequence_client_id = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, **json_field_options())
    description = models.TextField(blank=True)
    # Aliases asked for at creation; they point here once the version is committed.
    requested_aliases = models.JSONField(default=list)
    run = models.ForeignKey(Run, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    manifest_digest = models.CharField(max_length=64, blank=True)  # base64 md5 of wandb_manifest.json
    # For job versions: wandb-job.json's source_type (repo, artifact, image), read once at commit so that
    # lists need not open files.
    job_source_type = models.CharField(max_length=JOB_SOURCE_TYPE_MAX_LENGTH, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["collection", "version_index"], name="one_version_index_per_collection")
        ]
        ordering = ["-version_index", "-id"]

    def __str__(self) -> str:
        return (
            f"{self.collection.name}:v{self.version_index}"
            if self.version_index is not None
            else f"{self.collection.name}:pending-{self.pk}"
        )

    @property
    def version(self) -> str:
        return f"v{self.version_index}" if self.version_index is not None else ""


class ArtifactUse(models.Model):
    """A run used this artifact version (the client's useArtifact: run.use_artifact, a launched job's run
    using its job): W&B's artifact.usedBy and run.inputArtifacts. Once per (run, artifact)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="+")
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="uses")
    used_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "artifact"], name="artifact_use_once_per_run")]

    def __str__(self) -> str:
        return f"{self.run_id} used {self.artifact_id}"


class ArtifactAlias(models.Model):
    collection = models.ForeignKey(ArtifactCollection, on_delete=models.CASCADE, related_name="aliases")
    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="aliases")
    alias = models.CharField(max_length=128)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["collection", "alias"], name="alias_unique_per_collection")]
        ordering = ["alias"]

    def __str__(self) -> str:
        return self.alias


class ArtifactFile(models.Model):
    """One manifest entry. Its content lives in storage under its digest, shared by every artifact
    that holds the same bytes."""

    artifact = models.ForeignKey(Artifact, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=1024)
    digest = models.CharField(max_length=64)  # base64 md5, as the client computes it
    size = models.BigIntegerField(null=True, blank=True)
    # A reference entry (file://, s3://, https://...): its bytes stay where it points, and the client fetches
    # them from there; it is still listed, because the client downloads only the entries the server lists.
    ref = models.CharField(max_length=2048, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["artifact", "name"], name="file_unique_per_artifact")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class EntityContent(models.Model):
    """That an entity holds these bytes: it uploaded them, or the server built them for it. Storage is shared
    by digest across entities, but only an entity holding a digest is told "already stored" for it or may
    commit it without uploading; otherwise a digest alone would reveal, and hand over, another entity's file."""

    entity = models.ForeignKey("accounts.Entity", on_delete=models.CASCADE, related_name="+")
    digest = models.CharField(max_length=64)  # base64 md5
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity", "digest"], name="content_once_per_entity")]

    def __str__(self) -> str:
        return f"{self.digest} held by entity {self.entity_id}"
