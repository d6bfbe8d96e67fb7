"""Which run logged an artifact version and which runs used it, with the real wandb 0.31.0 client:
artifact.logged_by(), artifact.used_by(), run.logged_artifacts(), run.used_artifacts()."""

import json

import pytest

from launchui.artifacts.models import ArtifactUse
from tests.wire.conftest import run_python

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]

LOG_AND_USE = """
import os, pathlib, tempfile, wandb
os.chdir(tempfile.mkdtemp())
pathlib.Path("data.txt").write_text("rows")
with wandb.init(entity="acme", project="vision", id="maker") as run:
    art = wandb.Artifact("mnist", type="dataset")
    art.add_file("data.txt")
    run.log_artifact(art)
for user in ("trainer", "evaluator"):
    with wandb.init(entity="acme", project="vision", id=user) as run:
        run.use_artifact("mnist:latest")
        run.use_artifact("mnist:v0")  # the same version twice: one use
"""

READ = """
import json, wandb
api = wandb.Api()
art = api.artifact("acme/vision/mnist:v0")
maker = art.logged_by()
print(json.dumps({
    "logged_by": maker and maker.id,
    "used_by": sorted(r.id for r in art.used_by()),
    "logged": [a.name for a in api.run("acme/vision/maker").logged_artifacts()],
    "used": [a.name for a in api.run("acme/vision/trainer").used_artifacts()],
    "maker_used": [a.name for a in api.run("acme/vision/maker").used_artifacts()],
}))
"""


def test_logged_by_used_by_and_a_runs_artifacts_read_back_through_the_client(
    wandb_env, team, owner_key, member_key, outsider_key
):
    done = run_python(LOG_AND_USE, wandb_env(owner_key), timeout=240)
    assert done.returncode == 0, done.stderr
    assert ArtifactUse.objects.filter(artifact__collection__name="mnist").count() == 2

    read = run_python(READ, wandb_env(member_key), timeout=120)
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout.strip().splitlines()[-1]) == {
        "logged_by": "maker",
        "used_by": ["evaluator", "trainer"],
        "logged": ["mnist:v0"],
        "used": ["mnist:v0"],
        "maker_used": [],
    }

    outsider = run_python(READ, wandb_env(outsider_key), timeout=120)
    assert outsider.returncode != 0 and "Entity 'acme' not found" in outsider.stderr  # as if it did not exist
