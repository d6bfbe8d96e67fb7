"""`wandb verify --host <launchui>`: the real client's own end-to-end check of a server (issue 10 part 5)."""

import re
import subprocess

import pytest

from tests.wire.conftest import WANDB

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]

PASSING = [
    "Checking if logged in",
    "Checking signed URL upload",
    "Checking CORs configuration of the bucket",  # ❌ (a warning) before signed URLs answered CORS
    "Checking ability to send large payloads through proxy",
    "Checking wandb package version is up to date",
    "Checking logged metrics, saving and downloading a file",
    "Checking artifact save and download workflows",
]


def test_wandb_verify_passes_its_run_checks(wandb_env, live_server, owner, owner_key, tmp_path):
    # verify's large-payload check asks for the project of the entity named like the OS user: be "olivia".
    env = wandb_env(owner_key, USER="olivia", LOGNAME="olivia")
    done = subprocess.run(
        [WANDB, "verify", "--host", live_server.url], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=400
    )
    results = dict(re.findall(r"^(Checking [^.]+?)\.{3,}\s*(✅|❌)", done.stdout, re.M))
    assert {check: results.get(check) for check in PASSING} == dict.fromkeys(PASSING, "✅"), done.stdout
