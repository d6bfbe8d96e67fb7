"""Artifact and job listings and alias edits with the real wandb 0.31.0 client: `wandb job list`,
api.list_jobs, api.artifact_types / artifact_collections / artifacts, `wandb artifact ls`, and
`artifact.aliases` + `artifact.save()` feeding `wandb launch -j name:alias`."""

import json
import subprocess

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from wandb.sdk.artifacts._generated import PROJECT_ARTIFACT_COLLECTIONS_GQL, PROJECT_ARTIFACTS_GQL

from launchui.artifacts.models import Artifact, ArtifactAlias, ArtifactCollection
from launchui.artifacts.services import artifact_build
from launchui.core import limits
from launchui.launch.models import RunQueueItem
from launchui.launch.services import queue_create
from launchui.projects.services import project_get_or_create
from launchui.wire import ids
from tests.wire.conftest import WANDB, run_python
from tests.wire.test_graphql_endpoint import gql

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]


def wandb_cli(env, *args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([WANDB, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180)


def spec(image: str) -> bytes:
    return json.dumps(
        {
            "_version": "v0",
            "source_type": "image",
            "source": {"image": image},
            "input_types": {"wb_type": "typedDict", "params": {"type_map": {}}},
            "output_types": {"wb_type": "typedDict", "params": {"type_map": {}}},
            "runtime": "",
        }
    ).encode()


@pytest.fixture
def jobs(wandb_env, team, owner, owner_key, tmp_path):
    """acme/vision: job-python v0 (made by `wandb job create`; aliases "stable" and the image tag "3.12-slim"),
    its v1 (server-built, "latest"), and a dataset collection "mnist" v0."""
    made = wandb_cli(
        wandb_env(owner_key),
        *("job", "create", "-p", "vision", "-e", "acme", "-n", "job-python", "-a", "stable"),
        *("image", "python:3.12-slim"),
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    project = project_get_or_create(entity=team, name="vision")
    artifact_build(
        project=project,
        name="job-python",
        type_name="job",
        files={"wandb-job.json": spec("python:3.13-slim")},
        created_by=owner,
    )
    artifact_build(project=project, name="mnist", type_name="dataset", files={"a.txt": b"1"}, created_by=owner)
    return project


LIST_JOBS = """
import wandb
jobs = wandb.Api().list_jobs("acme", "vision")
for job in jobs:
    names = {e["node"]["artifactSequence"]["name"] for e in job["edges"]}
    print("JOB", names, [sorted(a["alias"] for a in e["node"]["aliases"]) for e in job["edges"]])
print("COUNT", len(jobs))
"""


def test_job_list_and_list_jobs_show_each_job_with_its_versions_and_aliases(
    wandb_env, jobs, member_key, outsider_key, tmp_path
):
    listed = wandb_cli(wandb_env(member_key), "job", "list", "-e", "acme", "-p", "vision", cwd=tmp_path)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    # Newest version first, aliases printed oldest first: v0's (stable), then v1's (latest).
    assert "job-python -- versions (3): stable,3.12-slim,latest" in listed.stderr, listed.stderr
    assert "mnist" not in listed.stderr

    api = run_python(LIST_JOBS, wandb_env(member_key))
    assert api.returncode == 0, api.stderr
    assert "JOB {'job-python'} [['latest'], ['3.12-slim', 'stable']]" in api.stdout and "COUNT 1" in api.stdout, (
        api.stdout
    )

    outsider = wandb_cli(wandb_env(outsider_key), "job", "list", "-e", "acme", "-p", "vision", cwd=tmp_path)
    assert "job-python" not in outsider.stdout + outsider.stderr
    outsider_api = run_python(LIST_JOBS, wandb_env(outsider_key))
    assert "job-python" not in outsider_api.stdout


READS = """
import wandb
api = wandb.Api()
print("TYPES", sorted(t.name for t in api.artifact_types(project="acme/vision")))
print("JOBTYPE", sorted(c.name for c in api.artifact_type("job", "acme/vision").collections()))
print("COLLS", sorted((c.name, c.type) for c in api.artifact_collections("acme/vision", "dataset")))
one = api.artifact_collection("job", "acme/vision/job-python")
print("ONE", one.name, one.type, one.entity, one.project)
print("ALIASES", sorted(one.aliases))
print("VERS", [(a.version, sorted(a.aliases)) for a in api.artifacts("job", "acme/vision/job-python")])
"""


def test_artifact_types_collections_and_versions_for_owner_and_member_and_not_outsider(
    wandb_env, jobs, owner_key, member_key, outsider_key, tmp_path
):
    for key in (owner_key, member_key):
        result = run_python(READS, wandb_env(key))
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "TYPES ['dataset', 'job']" in out, out
        assert "JOBTYPE ['job-python']" in out, out
        assert "COLLS [('mnist', 'dataset')]" in out, out
        assert "ONE job-python job acme vision" in out, out
        assert "ALIASES ['3.12-slim', 'latest', 'stable']" in out, out
        assert "VERS [('v1', ['latest']), ('v0', ['3.12-slim', 'stable'])]" in out, out

        ls = wandb_cli(wandb_env(key), "artifact", "ls", "acme/vision", cwd=tmp_path)
        assert ls.returncode == 0, ls.stdout + ls.stderr
        # One line per collection, its newest version: type, time, size, name (the client logs to stderr).
        lines = [
            line.split() for line in ls.stderr.splitlines() if line.startswith("wandb: ") and "WARNING" not in line
        ]
        assert [(w[1], w[-1]) for w in lines] == [("dataset", "mnist:v0"), ("job", "job-python:v1")], ls.stderr

    by_type = wandb_cli(wandb_env(owner_key), "artifact", "ls", "--type", "job", "acme/vision", cwd=tmp_path)
    assert "job-python:v1" in by_type.stderr and "mnist" not in by_type.stderr, by_type.stderr

    outsider = run_python(READS, wandb_env(outsider_key))
    assert outsider.returncode != 0 and "not a member" in outsider.stderr, outsider.stdout + outsider.stderr
    assert "job-python" not in outsider.stdout
    ls = wandb_cli(wandb_env(outsider_key), "artifact", "ls", "acme/vision", cwd=tmp_path)
    assert "job-python" not in ls.stdout + ls.stderr


ADD_PROD = """
import wandb
api = wandb.Api()
art = api.artifact("acme/vision/job-python:v0")
art.aliases.append("prod")
art.save()
print("PROD", api.artifact("acme/vision/job-python:prod").version)
"""

MOVE_PROD = """
import wandb
api = wandb.Api()
art = api.artifact("acme/vision/job-python:v1")
art.aliases.append("prod")
art.description = "promoted"
art.save()
old = api.artifact("acme/vision/job-python:v0")
old.aliases.remove("stable")
old.save()
print("PROD", api.artifact("acme/vision/job-python:prod").version, sorted(old.aliases))
"""


def job_aliases() -> dict:
    return dict(
        ArtifactAlias.objects.filter(collection__name="job-python").values_list("alias", "artifact__version_index")
    )


def test_member_moves_an_alias_with_save_and_launch_enqueues_that_version(
    wandb_env, jobs, team, owner, member_key, tmp_path
):
    queue_create(entity=team, name="cpu", resource="local-container", created_by=owner)
    added = run_python(ADD_PROD, wandb_env(member_key))
    assert added.returncode == 0, added.stderr
    assert "PROD v0" in added.stdout, added.stdout

    launched = wandb_cli(
        wandb_env(member_key),
        *("launch", "-j", "acme/vision/job-python:prod", "-q", "cpu", "-e", "acme", "-p", "vision"),
        cwd=tmp_path,
    )
    assert launched.returncode == 0, launched.stdout + launched.stderr
    item = RunQueueItem.objects.get()
    assert item.run_spec["job"] == "acme/vision/job-python:prod"

    moved = run_python(MOVE_PROD, wandb_env(member_key))
    assert moved.returncode == 0, moved.stderr
    assert "PROD v1 ['3.12-slim']" in moved.stdout, moved.stdout  # "prod" moved off v0, "stable" removed
    assert job_aliases() == {
        "3.12-slim": 0,
        "latest": 1,
        "prod": 1,
    }
    assert Artifact.objects.get(collection__name="job-python", version_index=1).description == "promoted"


BAD_ALIAS = """
import wandb
art = wandb.Api().artifact("acme/vision/job-python:v0")
art.aliases.append("v7")
art.save()
"""


def test_bad_alias_is_refused_with_the_alias_rule_and_nothing_changes(wandb_env, jobs, member_key):
    result = run_python(BAD_ALIAS, wandb_env(member_key))
    assert result.returncode != 0
    assert "not a version like v3" in result.stderr, result.stderr
    assert job_aliases() == {"3.12-slim": 0, "latest": 1, "stable": 0}


def test_outsider_cannot_edit_aliases_and_gets_the_missing_artifact_error(client, jobs, outsider_key):
    v0 = Artifact.objects.get(collection__name="job-python", version_index=0)
    answer = gql(
        client,
        outsider_key,
        "mutation A($input: AddAliasesInput!) { addAliases(input: $input) { success } }",
        {"input": {"artifactID": ids.encode("Artifact", v0.pk), "aliases": [{"alias": "prod"}]}},
    )
    missing = gql(
        client,
        outsider_key,
        "mutation A($input: AddAliasesInput!) { addAliases(input: $input) { success } }",
        {"input": {"artifactID": ids.encode("Artifact", 999999), "aliases": [{"alias": "prod"}]}},
    )
    assert answer["errors"][0]["message"] == missing["errors"][0]["message"] == "Artifact not found."
    assert not ArtifactAlias.objects.filter(alias="prod").exists()


def _versions(project, name, count):
    for i in range(count):
        artifact_build(project=project, name=name, type_name="dataset", files={"f.txt": str(i).encode()})


LIST_JOBS_DOC = """query ArtifactOfType($entityName: String!, $projectName: String!, $artifactTypeName: String!) {
  project(name: $projectName, entityName: $entityName) { artifactType(name: $artifactTypeName) {
    artifactCollections { edges { node { artifacts { edges { node {
      id state aliases { alias } artifactSequence { name } } } } } } } } } }"""


def test_listing_query_counts_do_not_grow_with_versions_or_collections(client, team, owner, owner_key):
    project = project_get_or_create(entity=team, name="vision")
    variables = {"entity": "acme", "project": "vision", "type": "dataset", "collection": "d0", "perPage": 50}

    def count(document, extra=None):
        with CaptureQueriesContext(connection) as captured:
            answer = gql(client, owner_key, document, {**variables, **(extra or {})})
        assert "errors" not in answer, answer
        return len(captured)

    _versions(project, "d0", 2)
    count(PROJECT_ARTIFACTS_GQL)  # the key's first use of the day writes its last-used time
    few = [count(PROJECT_ARTIFACTS_GQL), count(PROJECT_ARTIFACT_COLLECTIONS_GQL)]
    jobs_few = count(LIST_JOBS_DOC, {"entityName": "acme", "projectName": "vision", "artifactTypeName": "dataset"})
    _versions(project, "d0", 20)
    for n in range(1, 8):
        _versions(project, f"d{n}", 3)
    many = [count(PROJECT_ARTIFACTS_GQL), count(PROJECT_ARTIFACT_COLLECTIONS_GQL)]
    jobs_many = count(LIST_JOBS_DOC, {"entityName": "acme", "projectName": "vision", "artifactTypeName": "dataset"})
    assert few == many == [7, 4], (few, many)
    assert jobs_few == jobs_many == 6, (jobs_few, jobs_many)


def test_a_page_is_clamped_to_the_list_cap(client, team, owner, owner_key):
    project = project_get_or_create(entity=team, name="vision")
    _versions(project, "d0", 3)
    answer = gql(
        client,
        owner_key,
        PROJECT_ARTIFACTS_GQL,
        {"entity": "acme", "project": "vision", "type": "dataset", "collection": "d0", "perPage": 10**9},
    )
    page = answer["data"]["project"]["artifactType"]["artifactCollection"]["artifacts"]
    assert len(page["edges"]) == 3 and page["totalCount"] == 3 and not page["pageInfo"]["hasNextPage"]
    assert limits.GRAPHQL_MAX_LIST_PAGE == 1_000


def test_a_collection_by_id_is_shown_to_members_only(client, jobs, member_key, outsider_key):
    collection = ArtifactCollection.objects.get(name="job-python")
    document = "query C($id: ID!) { artifactCollection(id: $id) { name aliases { edges { node { alias } } } } }"
    variables = {"id": ids.encode("ArtifactSequence", collection.pk)}
    seen = gql(client, member_key, document, variables)["data"]["artifactCollection"]
    assert seen["name"] == "job-python"
    assert [e["node"]["alias"] for e in seen["aliases"]["edges"]] == ["3.12-slim", "latest", "stable"]
    assert gql(client, outsider_key, document, variables)["data"]["artifactCollection"] is None


def test_too_many_aliases_in_one_edit_are_refused_before_any_write(client, jobs, member_key):
    v0 = Artifact.objects.get(collection__name="job-python", version_index=0)
    aliases = [{"alias": f"a{i}"} for i in range(limits.ARTIFACT_ALIASES_MAX_PER_EDIT + 1)]
    answer = gql(
        client,
        member_key,
        "mutation A($input: AddAliasesInput!) { addAliases(input: $input) { success } }",
        {"input": {"artifactID": ids.encode("Artifact", v0.pk), "aliases": aliases}},
    )
    assert "At most 100 aliases" in answer["errors"][0]["message"]
    assert not ArtifactAlias.objects.filter(alias="a0").exists()
