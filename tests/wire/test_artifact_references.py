"""An artifact's reference entries (file://, s3://, ...) are listed with its files: the client downloads only
the entries the server lists, so an unlisted reference never arrived (found by `wandb verify`, issue 10)."""

import json

import pytest

from launchui.artifacts.models import ArtifactFile
from tests.wire.conftest import run_python

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]

LOG_AND_DOWNLOAD = """
import json, os, pathlib, wandb
outside = pathlib.Path("outside"); outside.mkdir(exist_ok=True)
(outside / "ref.txt").write_text("referenced")
pathlib.Path("inside.txt").write_text("uploaded")
with wandb.init(entity="acme", project="vision", id="logs-ref") as run:
    art = wandb.Artifact("with-ref", type="dataset")
    art.add_file("inside.txt")
    art.add_reference((outside / "ref.txt").resolve().as_uri())
    run.log_artifact(art)
with wandb.init(entity="acme", project="vision", id="uses-ref") as run:
    used = run.use_artifact("with-ref:latest")
    root = used.download(root="got")
print(json.dumps({"files": sorted(os.listdir(root)), "ref": open(os.path.join(root, "ref.txt")).read()}))
"""


def test_a_reference_entry_is_listed_and_the_client_downloads_it(wandb_env, team, owner_key):
    done = run_python(LOG_AND_DOWNLOAD, wandb_env(owner_key), timeout=240)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer == {"files": ["inside.txt", "ref.txt"], "ref": "referenced"}
    ref = ArtifactFile.objects.get(name="ref.txt")
    assert ref.ref.startswith("file://") and ref.ref.endswith("/outside/ref.txt")
