"""`wandb launch --queue` (0.31.0): enqueue through pushToRunQueueByName, and every bad launch refused."""

import json
import subprocess

import pytest

from launchui.artifacts.services import artifact_build
from launchui.launch.models import RunQueue, RunQueueItem
from launchui.launch.services import queue_create
from launchui.projects.services import project_get_or_create
from tests.wire.conftest import WANDB

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]

JOB_SPEC = {
    "_version": "v0",
    "source_type": "image",
    "source": {"image": "python:3.12-slim"},
    "input_types": {"wb_type": "typedDict", "params": {"type_map": {}}},
    "output_types": {"wb_type": "typedDict", "params": {"type_map": {}}},
    "runtime": "",
}


@pytest.fixture
def job(team, owner):
    project = project_get_or_create(entity=team, name="vision")
    artifact, _ = artifact_build(
        project=project,
        name="job-python",
        type_name="job",
        aliases=["stable"],
        files={"wandb-job.json": json.dumps(JOB_SPEC).encode(), "requirements.frozen.txt": b""},
        created_by=owner,
    )
    return artifact


@pytest.fixture
def gpu_queue(team, owner):
    return queue_create(
        entity=team,
        name="gpu",
        resource="kubernetes",
        prioritization_mode=RunQueue.PRIORITIZATION_V0,
        config={"spec": {"gpus": "{{gpus}}"}},
        template_variables=[{"name": "gpus", "schema": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1}}],
        created_by=owner,
    )


def launch(env, *args, cwd):
    return subprocess.run([WANDB, "launch", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180)


def test_launch_enqueues_with_priority_overrides_and_template_values(
    wandb_env, job, gpu_queue, member, member_key, tmp_path
):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"overrides": {"run_config": {"lr": 0.1}, "args": ["--epochs", "3"]}}))
    result = launch(
        wandb_env(member_key),
        "-j",
        "acme/vision/job-python:stable",
        "-q",
        "gpu",
        "-e",
        "acme",
        "-p",
        "vision",
        "-P",
        "high",
        "--set-var",
        "gpus=2",
        "-c",
        str(config),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Added run to queue" in result.stdout + result.stderr
    item = RunQueueItem.objects.get()
    assert item.queue == gpu_queue and item.created_by == member
    assert item.priority == RunQueueItem.HIGH
    assert item.template_variable_values == {"gpus": 2}
    assert item.run_spec["job"] == "acme/vision/job-python:stable"
    assert item.run_spec["overrides"]["run_config"] == {"lr": 0.1}
    assert item.run_spec["author"] == "mateo"
    # The agent receives the queue's config with the template filled in, with the value's own type.
    assert item.run_spec["resource_args"] == {"kubernetes": {"spec": {"gpus": 2}}}


@pytest.mark.parametrize(
    "args, message",
    [
        (["-j", "acme/vision/job-python:nope"], "not found"),
        (["-j", "acme/vision/job-python:latest", "--set-var", "gpus=9"], "above the maximum"),
        (["-j", "acme/vision/job-python:latest", "--set-var", "colour=red"], "does not support"),
    ],
)
def test_bad_launches_are_refused_with_a_clear_message(wandb_env, job, gpu_queue, owner_key, tmp_path, args, message):
    result = launch(wandb_env(owner_key), *args, "-q", "gpu", "-e", "acme", "-p", "vision", cwd=tmp_path)
    assert message in result.stdout + result.stderr
    assert not RunQueueItem.objects.exists()


def test_an_outsider_cannot_launch_into_the_teams_queue(wandb_env, job, gpu_queue, outsider_key, tmp_path):
    result = launch(
        wandb_env(outsider_key),
        "-j",
        "acme/vision/job-python:latest",
        "-q",
        "gpu",
        "-e",
        "acme",
        "-p",
        "vision",
        cwd=tmp_path,
    )
    assert result.returncode != 0 or "rror" in result.stdout + result.stderr
    assert not RunQueueItem.objects.exists()
