"""Helpers for the job build tests: wait for a build to finish, read a job version's files."""

import json
import time

import pytest

from launchui.artifacts import storage
from launchui.artifacts.models import Artifact
from launchui.jobs.models import JobBuild

TERMINAL = (JobBuild.SUCCEEDED, JobBuild.FAILED)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def wait_build(build: JobBuild, worker, *, timeout: float = 90, seen=None) -> JobBuild:
    """Poll until the build is succeeded or failed (seen, a list, collects every status observed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        build.refresh_from_db()
        if seen is not None and (not seen or seen[-1] != build.status):
            seen.append(build.status)
        if build.status in TERMINAL:
            return build
        if worker.proc.poll() is not None:
            pytest.fail(f"The Celery worker exited ({worker.proc.poll()}):\n{worker.log()[-4000:]}")
        time.sleep(0.05)
    pytest.fail(
        f"Build {build.pk} still {build.status} after {timeout}s.\n--- build log ---\n{build.log}"
        f"\n--- worker log ---\n{worker.log()[-4000:]}"
    )


def succeeded(build: JobBuild, worker, **kwargs) -> JobBuild:
    build = wait_build(build, worker, **kwargs)
    assert build.status == JobBuild.SUCCEEDED, f"{build.error}\n--- log ---\n{build.log}"
    return build


def failed(build: JobBuild, worker, **kwargs) -> JobBuild:
    build = wait_build(build, worker, **kwargs)
    assert build.status == JobBuild.FAILED, f"expected a failure\n--- log ---\n{build.log}"
    return build


def files_of(artifact: Artifact) -> dict[str, bytes]:
    return {f.name: storage.blob_read(f.digest) for f in artifact.files.all()}


def job_spec(artifact: Artifact) -> dict:
    return json.loads(files_of(artifact)["wandb-job.json"])


def aliases_of(artifact: Artifact) -> list[str]:
    return sorted(artifact.aliases.values_list("alias", flat=True))
