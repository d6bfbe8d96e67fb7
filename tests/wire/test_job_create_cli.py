"""`wandb job create` (0.31.0) against launchui, and the agent fetching and running what it made."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from launchui.artifacts import storage
from launchui.artifacts.models import Artifact, ArtifactCollection
from launchui.launch.models import RunQueueItem
from launchui.launch.services import item_push, queue_create
from launchui.projects.models import Run
from tests.wire.conftest import WANDB, wait_for

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]

TRAIN = """import os, sys
import wandb
run = wandb.init()
run.log({"loss": 0.5})
with open(os.environ["LAUNCHUI_TEST_OUT"], "w") as out:
    out.write("ran " + run.id)
run.finish()
sys.exit(int(os.environ.get("LAUNCHUI_TEST_EXIT", "0")))
"""


def job_create(env, *args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [WANDB, "job", "create", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )


def code_dir(tmp_path: Path) -> Path:
    code = tmp_path / "trainer"
    code.mkdir()
    (code / "train.py").write_text(TRAIN)
    (code / "requirements.txt").write_text("wandb\n")
    return code


def test_image_job_with_tag_alias_and_no_changes_the_second_time(wandb_env, owner, owner_key, tmp_path):
    env = wandb_env(owner_key)
    first = job_create(env, "-p", "proj", "-e", "olivia", "-a", "stable", "image", "python:3.12-slim", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Created job: olivia/proj/job-python:v0" in first.stderr
    job = Artifact.objects.get(collection__name="job-python")
    assert job.collection.type_name == "job" and job.state == Artifact.COMMITTED
    assert sorted(job.aliases.values_list("alias", flat=True)) == ["3.12-slim", "latest", "stable"]
    spec = __import__("json").loads(storage.blob_read(job.files.get(name="wandb-job.json").digest))
    assert spec["source_type"] == "image" and spec["source"] == {"image": "python:3.12-slim"}

    second = job_create(env, "-p", "proj", "-e", "olivia", "image", "python:3.12-slim", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "No changes detected for job: olivia/proj/job-python:v0" in second.stderr
    assert Artifact.objects.filter(collection__name="job-python").count() == 1


def test_explicit_name_wins_and_unsafe_names_are_refused_by_the_client(wandb_env, owner, owner_key, tmp_path):
    env = wandb_env(owner_key)
    named = job_create(env, "-p", "proj", "-e", "olivia", "-n", "my-trainer", "image", "python:3.12-slim", cwd=tmp_path)
    assert named.returncode == 0, named.stderr
    assert ArtifactCollection.objects.filter(name="my-trainer", type_name="job").exists()
    unsafe = job_create(
        env, "-p", "proj", "-e", "olivia", "-n", "my trainer/x", "image", "python:3.12-slim", cwd=tmp_path
    )
    assert "Did you mean: my_trainer_x" in unsafe.stderr and "Job creation failed" in unsafe.stderr
    assert not ArtifactCollection.objects.filter(name__startswith="my trainer").exists()


def test_outsider_cannot_create_a_job_in_a_team(wandb_env, team, outsider_key, tmp_path):
    result = job_create(wandb_env(outsider_key), "-p", "proj", "-e", "acme", "image", "python:3.12-slim", cwd=tmp_path)
    assert "Job creation failed" in result.stderr  # the client exits 0 all the same
    assert not ArtifactCollection.objects.exists()


def test_code_job_is_created_fetched_and_run_by_the_agent(wandb_env, start_agent, owner, owner_key, tmp_path):
    env = wandb_env(owner_key)
    code = code_dir(tmp_path)
    created = job_create(env, "-p", "proj", "-e", "olivia", "-E", "python train.py", "code", str(code), cwd=tmp_path)
    assert created.returncode == 0, created.stdout + created.stderr
    job = Artifact.objects.get(collection__type_name="job")
    name = job.collection.name
    assert name.startswith("job-code-") and name.endswith("trainer_train.py")
    code_artifact = Artifact.objects.get(collection__type_name="code")
    assert sorted(code_artifact.files.values_list("name", flat=True)) == ["requirements.txt", "train.py"]
    # The pre-created, wrongly named collection the client leaves behind is gone.
    assert sorted(ArtifactCollection.objects.values_list("type_name", flat=True)) == ["code", "job"]

    queue = queue_create(entity=owner.personal_entity, name="local", resource="local-process", created_by=owner)
    out = tmp_path / "job-output.txt"
    item = item_push(
        queue=queue,
        run_spec={"job": f"olivia/proj/{name}:latest", "entity": "olivia", "project": "proj"},
        created_by=owner,
    )
    # The job inherits the agent's environment: our venv's python and an output path for the test.
    agent = start_agent(
        owner_key,
        queue="local",
        entity="olivia",
        LAUNCHUI_TEST_OUT=str(out),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    wait_for(out.exists, timeout=120, what="the launched job to write its file", on_fail=agent.output)
    run_id = out.read_text().split()[-1]
    item = wait_for(
        lambda: RunQueueItem.objects.filter(pk=item.pk, state=RunQueueItem.CLAIMED, associated_run_id=run_id).first(),
        timeout=30,
        what="the item to be claimed by the run",
        on_fail=agent.output,
    )
    run = wait_for(
        lambda: Run.objects.filter(name=run_id, project__name="proj", exit_code=0).first(),
        timeout=60,
        what="the run to finish",
        on_fail=agent.output,
    )
    assert run.completed_at is not None
