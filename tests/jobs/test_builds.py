"""Image and code builds through the live Celery worker (real Redis, real PostgreSQL): statuses, the W&B job
artifacts they make, names, versions, "No changes detected", and idempotency."""

import io
import threading
import zipfile

import pytest
from django.db import connection, transaction

from launchui.artifacts.models import Artifact, ArtifactCollection
from launchui.jobs import services
from launchui.jobs.models import JobBuild
from launchui.jobs.tasks import build_job_task
from launchui.projects.models import Project
from tests.jobs.conftest import aliases_of, files_of, job_spec, succeeded, wait_build

pytestmark = pytest.mark.django_db(transaction=True)

TRAIN = b"import wandb\nrun = wandb.init()\nrun.finish()\n"
DIGEST = "sha256:" + "ab" * 32


def image(owner, reference, **kwargs):
    return services.build_create_image(
        entity=owner.personal_entity, project="proj", image=reference, created_by=owner, **kwargs
    )


def code(owner, files, **kwargs):
    kwargs.setdefault("entry_point", "train.py")
    kwargs.setdefault("source_name", "trainer")
    return services.build_create_code(
        entity=owner.personal_entity, project="proj", files=files, created_by=owner, **kwargs
    )


def test_image_build_goes_queued_running_succeeded(celery_worker, owner):
    build = image(owner, "python:3.12-slim", aliases=["stable"], description="slim python")
    assert build.status == JobBuild.QUEUED
    seen = [JobBuild.QUEUED]
    # Hold the project row: the worker claims the build (running) and then waits to create the collection.
    with transaction.atomic():
        Project.objects.select_for_update().get(pk=build.project_id)
        for _ in range(600):
            build.refresh_from_db()
            if build.status != JobBuild.QUEUED:
                break
            __import__("time").sleep(0.05)
        seen.append(build.status)
    build = succeeded(build, celery_worker, seen=seen)
    assert seen == [JobBuild.QUEUED, JobBuild.RUNNING, JobBuild.SUCCEEDED]
    assert build.started_at <= build.finished_at and build.celery_task_id and build.result_created is True

    job = build.result
    assert (job.collection.name, job.collection.type_name, job.version, job.state) == (
        "job-python",
        "job",
        "v0",
        Artifact.COMMITTED,
    )
    assert aliases_of(job) == ["3.12-slim", "latest", "stable"]
    assert job.description == "slim python" and job.metadata == {"_partial": True}
    assert sorted(files_of(job)) == ["requirements.frozen.txt", "wandb-job.json"]
    spec = job_spec(job)
    assert spec["source_type"] == "image" and spec["source"] == {"image": "python:3.12-slim"}
    assert spec["_version"] == "v0" and spec["input_types"]["wb_type"] == "typedDict"
    assert "Created job: olivia/proj/job-python:v0, with aliases: " in build.log


def test_image_names_registry_port_digest_explicit_name_and_no_tag(celery_worker, owner):
    with_port = image(owner, f"registry.example.com:5000/team/trainer:1.2@{DIGEST}")
    bare = image(owner, "ghcr.io/acme/trainer")
    named = image(owner, "python:3.12-slim", name="my-trainer")
    with_port, bare, named = (succeeded(b, celery_worker) for b in (with_port, bare, named))

    assert with_port.result.collection.name == "job-registry.example.com_5000_team_trainer"
    assert aliases_of(with_port.result) == ["1.2", "latest"]
    assert job_spec(with_port.result)["source"] == {"image": f"registry.example.com:5000/team/trainer:1.2@{DIGEST}"}
    assert bare.result.collection.name == "job-ghcr.io_acme_trainer" and aliases_of(bare.result) == ["latest"]
    assert named.result.collection.name == "my-trainer"  # the explicit name wins
    assert aliases_of(named.result) == ["3.12-slim", "latest"]
    assert "Job name: my-trainer (explicit)" in named.log


def test_image_versions_and_no_changes_detected(celery_worker, owner):
    first = succeeded(image(owner, "python:3.11"), celery_worker)
    again = succeeded(image(owner, "python:3.11"), celery_worker)
    newer = succeeded(image(owner, "python:3.12"), celery_worker)

    assert (first.result.version, first.result_created) == ("v0", True)
    assert (again.result_id, again.result_created) == (first.result_id, False)
    assert "No changes detected for job: olivia/proj/job-python:v0" in again.log
    assert (newer.result.version, newer.result_created) == ("v1", True)
    versions = Artifact.objects.filter(collection__name="job-python").order_by("version_index")
    assert [aliases_of(v) for v in versions] == [["3.11"], ["3.12", "latest"]]


def test_image_tag_that_looks_like_a_version_is_not_an_alias(celery_worker, owner):
    """`trainer:v2` is a common tag, but v2 cannot be an alias (it names a version): the build still works."""
    build = succeeded(image(owner, "acme/trainer:v2"), celery_worker)
    assert build.result.collection.name == "job-acme_trainer" and aliases_of(build.result) == ["latest"]
    assert "not used as an alias" in build.log


def test_code_build_from_files(celery_worker, owner):
    files = {
        "train.py": TRAIN,
        "requirements.txt": b"wandb==0.31.0\nnumpy\n",
        "runtime.txt": b"python-3.10.4\n",
        "pkg/util.py": b"X = 1\n",
        "wandb/run-1/junk": b"x",
        ".git/HEAD": b"ref: x",
    }
    build = succeeded(code(owner, files, entry_point="python train.py --epochs 2", aliases=["prod"]), celery_worker)

    job = build.result
    assert job.collection.name == "job-code-trainer_train.py" and aliases_of(job) == ["latest", "prod"]
    spec = job_spec(job)
    assert spec["source_type"] == "artifact" and spec["runtime"] == "3.10"
    assert spec["source"]["entrypoint"] == ["python", "train.py", "--epochs", "2"]
    assert spec["source"]["notebook"] is False
    code_artifact = Artifact.objects.get(collection__type_name="code")
    assert code_artifact.collection.name == "code-trainer_train.py"
    from launchui.wire import ids

    assert spec["source"]["artifact"] == f"wandb-artifact://_id/{ids.encode('Artifact', code_artifact.pk)}"
    # wandb/ and .git/ are left out of the code, as the client does.
    assert sorted(files_of(code_artifact)) == ["pkg/util.py", "requirements.txt", "runtime.txt", "train.py"]
    assert files_of(job)["requirements.frozen.txt"] == b"wandb==0.31.0\nnumpy\n"
    assert code_artifact.metadata == {"codePath": "trainer", "entrypoint": "train.py"}


def test_code_build_from_a_zip_with_one_top_folder(celery_worker, owner):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("proj/train.py", TRAIN)
        archive.writestr("proj/requirements.txt", "wandb\n")
    build = services.build_create_code(
        entity=owner.personal_entity,
        project="proj",
        entry_point="train.py",
        source_name="proj.zip",
        archive=("proj.zip", buffer.getvalue()),
        created_by=owner,
    )
    build = succeeded(build, celery_worker)
    assert "Unpacking proj.zip" in build.log
    assert sorted(files_of(Artifact.objects.get(collection__type_name="code"))) == ["requirements.txt", "train.py"]
    assert build.result.collection.name == "job-code-proj.zip_train.py"


@pytest.mark.parametrize(
    "explicit, extra, expected",
    [
        ("3.12.1", {"runtime.txt": b"python-3.10.4", ".python-version": b"3.9"}, "3.12"),
        ("", {"runtime.txt": b"python-3.10.4", ".python-version": b"3.9"}, "3.10"),
        ("", {".python-version": b"3.9.18\n3.12.1\n"}, "3.9"),
        ("", {}, "settings-default"),
    ],
)
def test_code_runtime_explicit_then_runtime_txt_then_python_version_then_default(
    celery_worker, owner, settings, explicit, extra, expected
):
    files = {"train.py": TRAIN, "requirements.txt": b"wandb\n", **extra}
    build = succeeded(code(owner, files, runtime=explicit), celery_worker)
    expected = settings.LAUNCHUI_DEFAULT_PYTHON if expected == "settings-default" else expected
    assert job_spec(build.result)["runtime"] == expected


def test_code_build_failures_are_clear(celery_worker, owner):
    no_requirements = code(owner, {"train.py": TRAIN})
    no_wandb = code(owner, {"train.py": TRAIN, "requirements.txt": b"numpy\n"}, name="no-wandb")
    no_entry = code(owner, {"main.py": TRAIN, "requirements.txt": b"wandb\n"}, name="no-entry")
    bad_runtime = code(
        owner, {"train.py": TRAIN, "requirements.txt": b"wandb\n", "runtime.txt": b"pypy-7"}, name="bad-runtime"
    )

    build = wait_build(no_requirements, celery_worker)
    assert build.status == JobBuild.FAILED and "requirements.txt is missing" in build.error
    assert build.result is None and "ERROR requirements.txt is missing" in build.log
    build = succeeded(no_wandb, celery_worker)
    assert "WARNING wandb is not in requirements.txt" in build.log
    build = wait_build(no_entry, celery_worker)
    assert build.status == JobBuild.FAILED and build.error.startswith("The entry point train.py is not in the code")
    build = wait_build(bad_runtime, celery_worker)
    assert build.status == JobBuild.FAILED and build.error.startswith("runtime.txt:")
    assert not ArtifactCollection.objects.filter(type_name="job").exclude(name="no-wandb").exists()


def test_wandb_requirement_spellings_do_not_warn(celery_worker, owner):
    requirements = b"# training\nWandb~=0.31 ; python_version >= '3.8'\n"
    build = succeeded(code(owner, {"train.py": TRAIN, "requirements.txt": requirements}), celery_worker)
    assert "WARNING" not in build.log


def test_the_task_delivered_three_times_builds_once(celery_worker, owner):
    build = image(owner, "python:3.12-slim")  # enqueued once on commit
    build_job_task.delay(build.pk)
    build_job_task.delay(build.pk)
    build = succeeded(build, celery_worker)
    # The solo worker runs tasks in order: once a later build is done, both duplicates have been handled.
    succeeded(image(owner, "busybox"), celery_worker)
    build.refresh_from_db()
    assert build.log.count("Created job") == 1 and build.log.count("Image job from") == 1
    assert Artifact.objects.filter(collection__name="job-python").count() == 1
    assert build.status == JobBuild.SUCCEEDED and build.result_created is True

    build_job_task.apply(args=[build.pk])  # and run in-process, after the fact: nothing happens
    before = build.finished_at
    build.refresh_from_db()
    assert build.finished_at == before and build.log.count("Created job") == 1


def test_two_concurrent_build_runs_claim_the_build_once(owner):
    """build_run twice at the same time (a redelivery racing the first delivery): one claims, one returns."""
    project = Project.objects.create(entity=owner.personal_entity, name="proj")
    build = JobBuild.objects.create(
        project=project, kind=JobBuild.IMAGE, params={"image": "python:3.12"}, created_by=owner
    )  # not through the service: nothing is enqueued
    barrier = threading.Barrier(2)
    errors = []

    def run():
        try:
            barrier.wait()
            services.build_run(build_id=build.pk, task_id="t")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    build.refresh_from_db()
    assert build.status == JobBuild.SUCCEEDED and build.log.count("Created job") == 1
    assert Artifact.objects.filter(collection__name="job-python").count() == 1
