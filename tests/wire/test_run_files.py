"""Run files on the wire (issue 10): createRunFiles answers signed upload URLs, the client's uploads are kept,
and wandb.Api().run().files() lists them and file.download() returns their bytes, for members only."""

import json

import pytest

from launchui.accounts.models import Membership
from launchui.projects.models import Run, RunFile
from launchui.projects.services import project_get_or_create, run_upsert
from tests.wire.conftest import run_python
from tests.wire.test_graphql_endpoint import gql

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]

SAVE_FILES = """
import os, tempfile, wandb
os.chdir(tempfile.mkdtemp())  # the files it writes stay out of the checkout
run = wandb.init(entity="acme", project="vision", id="rfiles", config={"lr": 0.1})
with open("notes.txt", "w") as f:
    f.write("saved by wandb.save\\n" * 100)
wandb.save("notes.txt", policy="now")
run.log({"loss": 1.0})
print("hello from the run")
run.finish()
"""

LIST_AND_DOWNLOAD = """
import json, os, tempfile, wandb
os.chdir(tempfile.mkdtemp())
api = wandb.Api()
run = api.run("acme/vision/rfiles")
files = {f.name: f.size for f in run.files()}
f = run.file("notes.txt")
f.download(root="out", replace=True)
print(json.dumps({"files": files, "notes": open("out/notes.txt").read(), "md5": f.md5,
                  "output": open(run.file("output.log").download(root="out", replace=True).name).read()}))
"""


def test_saved_files_and_the_runs_own_files_are_listed_and_downloaded(wandb_env, team, owner_key, tmp_path):
    saved = run_python(SAVE_FILES, wandb_env(owner_key), timeout=180)
    assert saved.returncode == 0, saved.stderr
    run = Run.objects.get(name="rfiles")
    names = set(RunFile.objects.filter(run=run).values_list("name", flat=True))
    assert {
        "notes.txt",
        "output.log",
        "wandb-metadata.json",
        "requirements.txt",
        "config.yaml",
        "wandb-summary.json",
    } <= names

    read = run_python(LIST_AND_DOWNLOAD, wandb_env(owner_key), timeout=180)
    assert read.returncode == 0, read.stderr
    answer = json.loads(read.stdout.strip().splitlines()[-1])
    assert answer["files"]["notes.txt"] == len("saved by wandb.save\n" * 100)
    assert answer["notes"] == "saved by wandb.save\n" * 100
    assert answer["md5"] == RunFile.objects.get(run=run, name="notes.txt").md5
    assert "hello from the run" in answer["output"]


FILES_QUERY = """query RunFiles($entity: String!, $project: String!, $name: String!) {
  project(name: $project, entityName: $entity) { run(name: $name) { fileCount
    files(first: 50) { edges { node { name url sizeBytes } } } } } }"""
CREATE_RUN_FILES = """mutation CreateRunFiles($entity: String!, $project: String!, $run: String!, $files: [String!]!) {
  createRunFiles(input: {entityName: $entity, projectName: $project, runName: $run, files: $files}) {
    runID uploadHeaders files { name uploadUrl } } }"""


def _uploaded(client, key, names=("a.txt",)):
    answer = gql(
        client, key, CREATE_RUN_FILES, {"entity": "acme", "project": "vision", "run": "r1", "files": list(names)}
    )
    return answer


@pytest.fixture
def run_with_file(client, team, owner, owner_key):
    run, _ = run_upsert(project=project_get_or_create(entity=team, name="vision"), name="r1", created_by=owner)
    url = _uploaded(client, owner_key)["data"]["createRunFiles"]["files"][0]["uploadUrl"]
    assert (
        client.put(
            "/" + url.split("://", 1)[1].split("/", 1)[1], b"first", content_type="application/octet-stream"
        ).status_code
        == 200
    )
    assert (
        client.put(
            "/" + url.split("://", 1)[1].split("/", 1)[1], b"second version", content_type="application/octet-stream"
        ).status_code
        == 200
    )  # a re-upload replaces
    return run


def test_a_reuploaded_run_file_is_stored_once_with_its_latest_bytes(client, owner_key, run_with_file):
    file = RunFile.objects.get(run=run_with_file)
    assert (file.name, file.size) == ("a.txt", len(b"second version"))
    read = gql(client, owner_key, FILES_QUERY, {"entity": "acme", "project": "vision", "name": "r1"})
    node = read["data"]["project"]["run"]["files"]["edges"][0]["node"]
    response = client.get("/" + node["url"].split("://", 1)[1].split("/", 1)[1])
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"second version"


def test_a_member_lists_run_files_and_an_outsider_gets_what_a_missing_run_gets(
    client, member_key, outsider_key, run_with_file
):
    variables = {"entity": "acme", "project": "vision", "name": "r1"}
    member = gql(client, member_key, FILES_QUERY, variables)["data"]["project"]["run"]
    assert member["fileCount"] == 1
    outsider = gql(client, outsider_key, FILES_QUERY, variables)
    missing = gql(client, outsider_key, FILES_QUERY, {**variables, "entity": "nowhere"})
    assert outsider["data"]["project"] is None
    assert outsider["errors"][0]["message"].replace("acme", "X") == missing["errors"][0]["message"].replace(
        "nowhere", "X"
    )
    refused = _uploaded(client, outsider_key)
    assert refused["data"]["createRunFiles"] is None and "not found" in refused["errors"][0]["message"]


def test_a_download_url_stops_working_when_its_holder_leaves_the_entity(client, member, member_key, run_with_file):
    read = gql(client, member_key, FILES_QUERY, {"entity": "acme", "project": "vision", "name": "r1"})
    url = read["data"]["project"]["run"]["files"]["edges"][0]["node"]["url"]
    Membership.objects.filter(user=member).delete()
    assert client.get("/" + url.split("://", 1)[1].split("/", 1)[1]).status_code == 403


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b", "", "x" * 513, "a\x00b"])
def test_a_run_file_name_that_is_not_a_relative_path_is_refused(client, team, owner, owner_key, name):
    run_upsert(project=project_get_or_create(entity=team, name="vision"), name="r1", created_by=owner)
    answer = _uploaded(client, owner_key, [name])
    assert answer["data"]["createRunFiles"] is None
    assert answer["errors"][0]["message"]


def test_create_run_files_refuses_more_names_than_the_cap(client, team, owner, owner_key):
    run_upsert(project=project_get_or_create(entity=team, name="vision"), name="r1", created_by=owner)
    answer = _uploaded(client, owner_key, [f"f{i}.txt" for i in range(1001)])
    assert "at most 1,000 names" in answer["errors"][0]["message"]
