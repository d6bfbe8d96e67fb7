"""A build's displayed status (selectors.build_status): a build left "running" past the task's hard time
limit lost its worker and shows as failed; the stored row is left alone."""

from datetime import timedelta

import pytest
from django.utils import timezone

from launchui.jobs import selectors
from launchui.jobs.models import JobBuild
from launchui.projects.models import Project

pytestmark = pytest.mark.django_db


@pytest.fixture
def build(owner):
    project = Project.objects.create(entity=owner.personal_entity, name="proj")
    return JobBuild.objects.create(project=project, kind=JobBuild.IMAGE, params={"image": "python"}, created_by=owner)


def test_running_past_the_time_limit_shows_failed(build, settings):
    settings.CELERY_TASK_TIME_LIMIT = 100
    now = timezone.now()
    build.status, build.started_at = JobBuild.RUNNING, now - timedelta(seconds=161)
    build.save()
    assert selectors.build_status(build, now=now) == (JobBuild.FAILED, selectors.WORKER_LOST)
    build.refresh_from_db()
    assert build.status == JobBuild.RUNNING  # derived when read, not written


def test_running_within_the_limit_shows_running(build, settings):
    settings.CELERY_TASK_TIME_LIMIT = 100
    now = timezone.now()
    build.status, build.started_at = JobBuild.RUNNING, now - timedelta(seconds=159)
    assert selectors.build_status(build, now=now) == (JobBuild.RUNNING, "")
    assert selectors.build_status(build) == (JobBuild.RUNNING, "")  # now defaults to the clock


@pytest.mark.parametrize("status, error", [(JobBuild.SUCCEEDED, ""), (JobBuild.FAILED, "git clone failed: x")])
def test_other_statuses_are_shown_as_stored_however_old(build, status, error):
    build.status, build.error, build.started_at = status, error, timezone.now() - timedelta(days=30)
    assert selectors.build_status(build) == (status, error)


def test_queued_build_says_whether_it_waits_for_the_broker_or_a_worker(build):
    build.status, build.sent_at = JobBuild.QUEUED, None
    assert selectors.build_status(build) == (JobBuild.QUEUED, selectors.WAITING_FOR_BROKER)
    build.sent_at = timezone.now() - timedelta(days=30)
    assert selectors.build_status(build) == (JobBuild.QUEUED, selectors.WAITING_FOR_WORKER)
