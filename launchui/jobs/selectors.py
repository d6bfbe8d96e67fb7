"""Reads for jobs and builds. A build's displayed status is derived here, once."""

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from launchui.artifacts.models import Artifact, ArtifactCollection
from launchui.jobs.models import GitCredential, JobBuild

WORKER_LOST = "The worker stopped before the build finished (crash or time limit); start the build again."


def build_status(build: JobBuild, now=None) -> tuple[str, str]:
    """(status, reason). A build running longer than the task's hard time limit lost its worker."""
    if build.status == JobBuild.RUNNING and build.started_at is not None:
        limit = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
        if (now or timezone.now()) - build.started_at > limit:
            return JobBuild.FAILED, WORKER_LOST
    return build.status, build.error


def builds_for_user(user: User) -> QuerySet[JobBuild]:
    return JobBuild.objects.filter(project__entity__memberships__user=user).select_related(
        "project__entity", "result__collection", "created_by")


def jobs_for_user(*, user: User, entity_name: str = "", project_name: str = "") -> QuerySet[ArtifactCollection]:
    """Job collections with their latest version and last build status, in a fixed number of queries."""
    latest = Artifact.objects.filter(collection=OuterRef("pk"), state=Artifact.COMMITTED).order_by("-version_index")
    last_build = JobBuild.objects.filter(result__collection=OuterRef("pk")).order_by("-created_at")
    jobs = (ArtifactCollection.objects.filter(type_name="job", project__entity__memberships__user=user)
            .select_related("project__entity")
            .annotate(latest_version=Subquery(latest.values("version_index")[:1]),
                      latest_id=Subquery(latest.values("pk")[:1]),
                      last_build_status=Subquery(last_build.values("status")[:1]))
            .filter(latest_version__isnull=False))
    if entity_name:
        jobs = jobs.filter(project__entity__name=entity_name)
    if project_name:
        jobs = jobs.filter(project__name=project_name)
    return jobs.prefetch_related("aliases").order_by("project__entity__name", "project__name", "name")


def credentials_for_entity(entity) -> QuerySet[GitCredential]:
    return GitCredential.objects.filter(entity=entity).only("id", "name", "kind", "username", "created_at")
