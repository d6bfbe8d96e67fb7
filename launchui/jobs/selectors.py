"""Reads for jobs and builds. A build's displayed status is derived here, once."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from launchui.artifacts.models import Artifact, ArtifactCollection, ArtifactFile
from launchui.jobs import rules
from launchui.jobs.models import GitCredential, JobBuild

WORKER_LOST = "The worker stopped before the build finished (crash or time limit); start the build again."
WAITING_FOR_BROKER = "Waiting for the broker: the build is saved and will be sent to a worker when it is back."
WAITING_FOR_WORKER = "Waiting for a worker to pick up the build…"


def build_status(build: JobBuild, now=None) -> tuple[str, str]:
    """(status, reason). A build running longer than the task's hard time limit lost its worker."""
    if build.status == JobBuild.RUNNING and build.started_at is not None:
        limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
        if (now or timezone.now()) - build.started_at > limit:
            return JobBuild.FAILED, WORKER_LOST
    if build.status == JobBuild.QUEUED:
        return build.status, WAITING_FOR_BROKER if build.sent_at is None else WAITING_FOR_WORKER
    return build.status, build.error


def builds_for_user(user: User) -> QuerySet[JobBuild]:
    return JobBuild.objects.filter(project__entity__memberships__user=user).select_related(
        "project__entity", "result__collection", "created_by"
    )


def jobs_for_user(*, user: User, entity_name: str = "", project_name: str = "") -> QuerySet[ArtifactCollection]:
    """Job collections with their latest version and last build status, in a fixed number of queries."""
    latest = Artifact.objects.filter(collection=OuterRef("pk"), state=Artifact.COMMITTED).order_by("-version_index")
    last_build = JobBuild.objects.filter(result__collection=OuterRef("pk")).order_by("-created_at")
    jobs = (
        ArtifactCollection.objects.filter(type_name="job", project__entity__memberships__user=user)
        .select_related("project__entity")
        .annotate(
            latest_version=Subquery(latest.values("version_index")[:1]),
            latest_id=Subquery(latest.values("pk")[:1]),
            latest_source_type=Subquery(latest.values("job_source_type")[:1]),
            last_build_status=Subquery(last_build.values("status")[:1]),
            last_build_started_at=Subquery(last_build.values("started_at")[:1]),
        )
        .filter(latest_version__isnull=False)
    )
    if entity_name:
        jobs = jobs.filter(project__entity__name=entity_name)
    if project_name:
        jobs = jobs.filter(project__name=project_name)
    return jobs.prefetch_related("aliases").order_by("project__entity__name", "project__name", "name")


def credentials_for_entity(entity) -> QuerySet[GitCredential]:
    return GitCredential.objects.filter(entity=entity).only(
        "id", "entity_id", "name", "kind", "username", "host", "port", "path_prefix", "known_hosts", "created_at"
    )


# --- the Jobs pages --------------------------------------------------------------------------------


def job_versions(job: ArtifactCollection) -> QuerySet[Artifact]:
    """A job's committed versions, newest first, with their aliases."""
    return (
        Artifact.objects.filter(collection=job, state=Artifact.COMMITTED)
        .prefetch_related("aliases")
        .order_by("-version_index")
    )


def builds_for_job(*, user: User, job: ArtifactCollection) -> QuerySet[JobBuild]:
    """Builds that made a version of the job, and failed ones that asked for its name."""
    return builds_for_user(user).filter(
        Q(result__collection=job) | Q(project_id=job.project_id, name=job.name, result__isnull=True)
    )


def artifact_for_user(*, user: User, artifact_id: int) -> Artifact | None:
    return (
        Artifact.objects.select_related("collection__project__entity")
        .filter(pk=artifact_id, state=Artifact.COMMITTED, collection__project__entity__memberships__user=user)
        .first()
    )


def artifact_file_for_user(*, user: User, artifact_id: int, name: str) -> ArtifactFile | None:
    """A committed artifact's file, only for members of the artifact's entity."""
    return ArtifactFile.objects.filter(
        artifact_id=artifact_id,
        name=name,
        artifact__state=Artifact.COMMITTED,
        artifact__collection__project__entity__memberships__user=user,
    ).first()


def job_config_defaults(job: ArtifactCollection) -> dict:
    """The run config a launch of the job's newest version starts from (rules.config_defaults): the config
    of the run that made it, else the defaults its declared inputs record. One query."""
    latest = (
        Artifact.objects.filter(collection=job, state=Artifact.COMMITTED)
        .select_related("run")
        .order_by("-version_index")
        .first()
    )
    if latest is None:
        return {}
    return rules.config_defaults((latest.metadata or {}).get("input_types"), latest.run.config if latest.run else None)
