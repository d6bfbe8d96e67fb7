"""`wandb job create git` (0.31.0) against launchui, fetching from the test sshd (tests/gitserver.py).

The client runs `git fetch` itself, so it gets the test key through GIT_SSH_COMMAND. It records the remote and
the commit the ref resolves to; its default job name differs from the browser path's: the client builds a
partial job with no program path, so it names the job `job-<remote>_` where the browser (and a full run of
the script) names it `job-<remote>_<script>`.
"""

import json
import re
import subprocess

import pytest

from launchui.artifacts import storage
from launchui.artifacts.models import Artifact, ArtifactCollection
from launchui.jobs import rules
from tests.wire.conftest import WANDB, require_wandb

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]


def job_create(env, *args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [WANDB, "job", "create", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )


def spec_of(job: Artifact) -> dict:
    return json.loads(storage.blob_read(job.files.get(name="wandb-job.json").digest))


@pytest.fixture
def git_env(wandb_env, owner_key, git_ssh_server):
    return wandb_env(owner_key, GIT_SSH_COMMAND=git_ssh_server.ssh_command(), GIT_TERMINAL_PROMPT="0")


# The client cleans runtime.txt's "python-3.10.4" to "python-3.10" (it only drops the micro version);
# the browser path writes "3.10".
@pytest.mark.parametrize("ref, commit_of, runtime", [("dev", "dev", "3.9"), ("v1", "v1", "python-3.10")])
def test_job_create_git_over_ssh(git_env, owner, git_repo, git_ssh_server, tmp_path, ref, commit_of, runtime):
    require_wandb()
    remote = git_ssh_server.url(git_repo.path)
    created = job_create(
        git_env, "-p", "proj", "-e", "olivia", "-E", "train.py", "-g", ref, "git", remote, cwd=tmp_path
    )
    output = created.stdout + created.stderr
    assert created.returncode == 0, output

    cli_name = rules.make_artifact_name_safe(f"job-{remote}_")
    assert f"Created job: olivia/proj/{cli_name}:v0" in created.stderr, output
    job = Artifact.objects.get(collection__type_name="job")
    assert job.collection.name == cli_name and job.state == Artifact.COMMITTED
    spec = spec_of(job)
    assert spec["source_type"] == "repo"
    assert spec["source"]["git"] == {"remote": remote, "commit": git_repo.commits[commit_of]}
    assert spec["source"]["entrypoint"] == ["train.py"]  # the client keeps -E as given; the browser adds python
    assert spec["runtime"] == runtime  # read from the fetched tree: .python-version on dev, runtime.txt on v1

    # The browser path names the same remote's job after the script as well.
    browser_name = rules.git_job_name(remote, "train.py")
    assert browser_name != cli_name
    if len(f"job-{remote}_train.py") <= 128:
        assert browser_name == cli_name + "train.py"
    else:  # both are shortened to 63 + ".." + 63 characters, so they differ at the end
        assert browser_name[:65] == cli_name[:65] and browser_name.endswith("_train.py")
    assert re.fullmatch(r"[A-Za-z0-9_.-]{1,128}", cli_name)
    assert sorted(ArtifactCollection.objects.values_list("type_name", flat=True)) == ["job"]


def test_job_create_git_with_a_key_the_server_refuses(wandb_env, owner_key, owner, git_repo, git_ssh_server, tmp_path):
    require_wandb()
    env = wandb_env(
        owner_key, GIT_SSH_COMMAND=git_ssh_server.ssh_command(git_ssh_server.wrong_key), GIT_TERMINAL_PROMPT="0"
    )
    failed = job_create(
        env,
        "-p",
        "proj",
        "-e",
        "olivia",
        "-E",
        "train.py",
        "-g",
        "main",
        "git",
        git_ssh_server.url(git_repo.path),
        cwd=tmp_path,
    )
    assert "Permission denied (publickey)" in failed.stderr, failed.stdout + failed.stderr
    assert not ArtifactCollection.objects.filter(type_name="job").exists()
