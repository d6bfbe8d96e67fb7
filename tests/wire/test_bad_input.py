"""Security review finding 5: bad input answers a 4xx or a GraphQL error the client prints, never a 500,
and writes nothing; NaN and ±Infinity in configs are kept, not refused."""

import base64
import json
import math

import pytest
from django.db import connection

from launchui.artifacts import services as artifact_services
from launchui.artifacts import storage
from launchui.artifacts.models import Artifact
from launchui.launch.models import LaunchAgent, ResourceConfig, RunQueue, RunQueueItem
from launchui.launch.services import agent_register, queue_create
from launchui.projects.models import Project, Run
from launchui.wire import ids

pytestmark = pytest.mark.django_db


def auth(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"api:{key}".encode()).decode()}


def gql(client, key, query, variables=None):
    response = client.post(
        "/graphql", json.dumps({"query": query, "variables": variables}), content_type="application/json", **auth(key)
    )
    assert response.status_code == 200, response.content
    return json.loads(response.content)


def error_of(answer: dict) -> str:
    assert answer.get("errors"), answer
    return answer["errors"][0]["message"]


@pytest.fixture
def queue(team, owner):
    return queue_create(entity=team, name="gpu", resource="local-container", created_by=owner)


@pytest.fixture
def agent(queue, owner):
    return agent_register(entity=queue.entity, queues=[queue], hostname="h1", config={}, version="0", created_by=owner)


POP = """mutation P($input: PopFromRunQueueInput!) { popFromRunQueue(input: $input) { runQueueItemId runSpec } }"""
CREATE_AGENT = """mutation C($input: CreateLaunchAgentInput!) { createLaunchAgent(input: $input) { launchAgentId } }"""
FAIL = """mutation F($input: FailRunQueueItemInput!) { failRunQueueItem(input: $input) { success } }"""
PUSH = """mutation P($input: PushToRunQueueByNameInput!) { pushToRunQueueByName(input: $input) { runQueueItemId } }"""
UPSERT_BUCKET = """mutation U($input: UpsertBucketInput!) { upsertBucket(input: $input) { bucket { id config } } }"""
RUN_CONFIG = """query R($e: String!, $p: String!, $r: String!) { project(entityName: $e, name: $p) {
  run(name: $r) { config } } }"""
QUEUE_ITEMS = """query Q($first: Int) { project(entityName: "acme", name: "model-registry") {
  runQueue(name: "gpu") { runQueueItems(first: $first) { edges { node { id } } } } } }"""
LAUNCH_AGENT = """query A($id: ID!) { launchAgent(id: $id) { id agentStatus stopPolling } }"""


# --- GraphQL arguments of the wrong type or shape ------------------------------------------------------


@pytest.mark.parametrize(
    "query, variables, message",
    [
        (POP, {"input": "acme/gpu"}, "input must be an object, not a string"),
        (POP, {"input": None}, "input is required"),
        (POP, {"input": {"entityName": ["acme"], "queueName": "gpu"}}, "input.entityName must be a String, not a list"),
        (POP, {"input": {"entityName": "acme", "queueName": {"$ne": 1}}}, "input.queueName must be a String"),
        (
            POP,
            {"input": {"entityName": "acme", "queueName": "gpu", "launchAgentId": "²"}},
            "'²' is not a valid LaunchAgent id",
        ),
        (LAUNCH_AGENT, {"id": ["x"]}, "id must be a ID, not a list"),
        (QUEUE_ITEMS, {"first": "abc"}, "first must be a whole number, not a string"),
        (QUEUE_ITEMS, {"first": -1}, "first must be between 0 and"),
        (QUEUE_ITEMS, {"first": 10**30}, "first must be between 0 and"),
        (
            CREATE_AGENT,
            {"input": {"entityName": "acme", "runQueues": "gpu", "hostname": "h"}},
            "input.runQueues must be a list of ID, not a string",
        ),
        (
            FAIL,
            {"input": {"runQueueItemId": "UnVuUXVldWVJdGVtOjE=", "message": "m", "filePaths": "a.log"}},
            "input.filePaths must be a list of String",
        ),
        (
            PUSH,
            {"input": {"entityName": "acme", "queueName": "gpu", "runSpec": "{}", "priority": "high"}},
            "input.priority must be a whole number",
        ),
        (
            PUSH,
            {"input": {"entityName": "acme", "queueName": "gpu", "runSpec": 5}},
            "input.runSpec must be a JSON string",
        ),
    ],
)
def test_wrong_type_or_shape_arguments_are_graphql_errors_not_500s(
    client, owner_key, queue, agent, query, variables, message
):
    assert message in error_of(gql(client, owner_key, query, variables))
    assert RunQueueItem.objects.count() == 0 and LaunchAgent.objects.count() == 1


def test_a_value_longer_than_its_column_is_a_graphql_error_and_writes_nothing(client, owner_key, team):
    # No rule checks an artifact digest's length before the database does: the refusal still reaches
    # the client as a GraphQL error, and the operation's transaction leaves no row behind.
    answer = gql(
        client,
        owner_key,
        """mutation A($input: CreateArtifactInput!) { createArtifact(input: $input) {
      artifact { id } } }""",
        {
            "input": {
                "entityName": "acme",
                "projectName": "p",
                "artifactCollectionName": "d",
                "artifactTypeName": "dataset",
                "digest": "x" * 500,
            }
        },
    )
    assert "cannot store a value sent to createArtifact" in error_of(answer)
    assert Artifact.objects.count() == 0


def test_a_page_cursor_that_is_not_ours_starts_at_the_beginning(client, owner, owner_key, team):
    project = Project.objects.create(entity=team, name="proj")
    artifact, _ = artifact_services.artifact_build(
        project=project, name="data", type_name="dataset", files={"a.txt": b"a"}, created_by=owner
    )
    query = """query F($id: ID!, $after: String, $first: Int) { artifact(id: $id) { __typename } }"""
    assert "errors" not in gql(client, owner_key, query, {"id": ids.encode("Artifact", artifact.pk)})
    files = """query F($p: String!, $after: String) { project(entityName: "acme", name: $p) {
      artifactCollectionMembership(name: "data:latest") { files(after: $after) { edges { node { name } } } } } }"""
    for after in ("²", "garbage", "-3", "99999999999999999999"):
        answer = gql(client, owner_key, files, {"p": "proj", "after": after})
        assert "errors" not in answer, answer
        edges = answer["data"]["project"]["artifactCollectionMembership"]["files"]["edges"]
        assert [e["node"]["name"] for e in edges] == ["a.txt"]


# --- NUL bytes -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query, variables, field",
    [
        (
            CREATE_AGENT,
            {"input": {"entityName": "acme", "runQueues": ["UNUSED"], "hostname": "h\x00st"}},
            "input.hostname",
        ),
        (FAIL, {"input": {"runQueueItemId": "1", "message": "boom\x00", "stage": "run"}}, "input.message"),
        (UPSERT_BUCKET, {"input": {"entityName": "acme", "modelName": "p\x00", "name": "r"}}, "input.modelName"),
        (
            UPSERT_BUCKET,
            {"input": {"entityName": "acme", "modelName": "p", "name": "r", "config": '{"note": "a\\u0000b"}'}},
            "config",
        ),
        (PUSH, {"input": {"entityName": "acme", "queueName": "gpu", "runSpec": '{"project": "p\\u0000"}'}}, "runSpec"),
        (
            """mutation A($input: CreateArtifactInput!) { createArtifact(input: $input) { artifact { id } } }""",
            {
                "input": {
                    "entityName": "acme",
                    "projectName": "p",
                    "artifactCollectionName": "d",
                    "artifactTypeName": "t",
                    "digest": "x",
                    "description": "about \x00",
                }
            },
            "input.description",
        ),
    ],
)
def test_nul_bytes_in_names_hostnames_messages_and_descriptions_are_graphql_errors(
    client, owner_key, queue, agent, query, variables, field
):
    variables = json.loads(json.dumps(variables).replace('"UNUSED"', json.dumps(ids.encode("RunQueue", queue.pk))))
    assert f"{field} contains a NUL character" in error_of(gql(client, owner_key, query, variables))
    assert Run.objects.count() == 0 and RunQueueItem.objects.count() == 0 and Artifact.objects.count() == 0


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/launch/acme%00/queues/gpu/"),
        ("get", "/entities/acme%00/members"),
        ("get", "/launch/acme/proj%00/jobs"),
        ("post", "/files/acme%00/p/r/file_stream"),
        ("get", "/launch?entity=acme%00"),
        ("get", "/artifacts/download/x%00y"),
    ],
)
def test_nul_in_url_paths_is_a_400_not_a_500(client, owner, owner_key, team, method, path):
    client.force_login(owner)
    response = getattr(client, method)(path, **auth(owner_key))
    assert response.status_code == 400
    assert b"NUL" in response.content


def test_out_of_range_ids_in_url_paths_are_404s(client, owner, team):
    # A guard: Django 5 already answers out-of-range integer lookups with no rows.
    client.force_login(owner)
    assert client.post("/launch/agents/99999999999999999999999999/stop").status_code == 404
    assert client.get("/launch/builds/99999999999999999999999999").status_code == 404


# --- NaN and Infinity in JSON-string inputs: kept, as ML configs hold them ------------------------------------

NON_FINITE = '{"lr": NaN, "clip": Infinity, "floor": -Infinity, "nested": {"w": [1, NaN]}}'


def _non_finite_ok(value: dict) -> None:
    assert math.isnan(value["lr"]) and value["clip"] == math.inf and value["floor"] == -math.inf
    assert value["nested"]["w"][0] == 1 and math.isnan(value["nested"]["w"][1])


def test_nan_and_infinity_in_a_run_config_round_trip_through_the_wire(client, owner, owner_key, team):
    answer = gql(
        client,
        owner_key,
        UPSERT_BUCKET,
        {"input": {"entityName": "acme", "modelName": "vision", "name": "r1", "config": NON_FINITE}},
    )
    assert "errors" not in answer, answer
    _non_finite_ok(json.loads(answer["data"]["upsertBucket"]["bucket"]["config"]))
    run = Run.objects.get(name="r1")
    _non_finite_ok(run.config)
    read = gql(client, owner_key, RUN_CONFIG, {"e": "acme", "p": "vision", "r": "r1"})
    _non_finite_ok(json.loads(read["data"]["project"]["run"]["config"]))
    with connection.cursor() as cursor:  # stored as jsonb, with the non-finite numbers tagged
        cursor.execute("SELECT config->'lr' FROM launch_run WHERE id = %s", [run.pk])
        assert json.loads(cursor.fetchone()[0]) == {"$float": "NaN"}


def test_nan_in_run_spec_agent_config_resource_config_and_metadata_is_kept(client, owner, owner_key, queue, agent):
    pushed = gql(
        client,
        owner_key,
        PUSH,
        {
            "input": {
                "entityName": "acme",
                "queueName": "gpu",
                "runSpec": json.dumps({"project": "vision", "overrides": {"run_config": "RC"}}).replace(
                    '"RC"', NON_FINITE
                ),
            }
        },
    )
    assert "errors" not in pushed, pushed
    popped = gql(client, owner_key, POP, {"input": {"entityName": "acme", "queueName": "gpu"}})
    _non_finite_ok(popped["data"]["popFromRunQueue"]["runSpec"]["overrides"]["run_config"])
    item = RunQueueItem.objects.get()
    client.force_login(owner)
    page = client.get(f"/launch/acme/queues/gpu/items/{item.pk}")
    assert page.status_code == 200 and b"NaN" in page.content and b"Infinity" in page.content

    made = gql(
        client,
        owner_key,
        CREATE_AGENT,
        {
            "input": {
                "entityName": "acme",
                "hostname": "h2",
                "runQueues": [ids.encode("RunQueue", queue.pk)],
                "agentConfig": NON_FINITE,
            }
        },
    )
    assert "errors" not in made, made
    _non_finite_ok(LaunchAgent.objects.get(hostname="h2").config)
    assert client.get("/launch/agents").status_code == 200

    upserted = gql(
        client,
        owner_key,
        """mutation U($input: UpsertRunQueueInput!) { upsertRunQueue(input: $input) {
      success } }""",
        {
            "input": {
                "entityName": "acme",
                "queueName": "gpu",
                "resourceType": "local-container",
                "resourceConfig": NON_FINITE,
            }
        },
    )
    assert "errors" not in upserted, upserted
    _non_finite_ok(RunQueue.objects.get(name="gpu").resource_args)
    assert client.get("/launch/acme/queues/gpu/config").status_code == 200
    resource = gql(
        client,
        owner_key,
        """mutation C($input: CreateDefaultResourceConfigInput!) {
      createDefaultResourceConfig(input: $input) { success } }""",
        {"input": {"entityName": "acme", "resource": "local-container", "config": NON_FINITE}},
    )
    assert "errors" not in resource, resource
    _non_finite_ok(ResourceConfig.objects.get().config)

    created = gql(
        client,
        owner_key,
        """mutation A($input: CreateArtifactInput!) { createArtifact(input: $input) {
      artifact { id metadata } } }""",
        {
            "input": {
                "entityName": "acme",
                "projectName": "vision",
                "artifactCollectionName": "d",
                "artifactTypeName": "dataset",
                "digest": "0" * 32,
                "metadata": NON_FINITE,
            }
        },
    )
    assert "errors" not in created, created
    _non_finite_ok(json.loads(created["data"]["createArtifact"]["artifact"]["metadata"]))


# --- the run file stream ------------------------------------------------------------------------------------


@pytest.mark.parametrize("exitcode", [10**30, -(10**30), 2**31, "0", 1.5, [1]])
def test_a_file_stream_exitcode_that_fits_no_column_is_a_400(client, owner, owner_key, team, exitcode):
    gql(client, owner_key, UPSERT_BUCKET, {"input": {"entityName": "acme", "modelName": "vision", "name": "r1"}})
    response = client.post(
        "/files/acme/vision/r1/file_stream",
        json.dumps({"complete": True, "exitcode": exitcode}),
        content_type="application/json",
        **auth(owner_key),
    )
    assert response.status_code == 400
    assert "exitcode must be a whole number" in response.json()["errors"][0]["message"]
    run = Run.objects.get(name="r1")
    assert run.completed_at is None and run.exit_code is None  # nothing half-written


# --- runSpec shapes the item page and the agent read -----------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        {"project": 5},
        {"project": ["vision"]},
        {"project": "vision", "overrides": "x"},
        {"project": "vision", "overrides": {"args": {"lr": 1}}},
        {"project": "vision", "overrides": {"run_config": [1]}},
    ],
)
def test_a_run_spec_of_the_wrong_shape_is_a_graphql_error(client, owner_key, queue, spec):
    answer = gql(
        client, owner_key, PUSH, {"input": {"entityName": "acme", "queueName": "gpu", "runSpec": json.dumps(spec)}}
    )
    assert any(word in error_of(answer) for word in ("project", "Overrides"))
    assert RunQueueItem.objects.count() == 0


# --- committed manifests and job specs ------------------------------------------------------------------------


def _pending_artifact_with_manifest(owner, team, manifest: dict, type_name="dataset") -> Artifact:
    project = Project.objects.create(entity=team, name="proj")
    artifact = artifact_services.artifact_create(
        project=project, collection_name="d", type_name=type_name, digest="f" * 32, created_by=owner
    )
    digest = storage.blob_save(json.dumps(manifest).encode())
    Artifact.objects.filter(pk=artifact.pk).update(manifest_digest=digest)
    return artifact


COMMIT = """mutation C($input: CommitArtifactInput!) { commitArtifact(input: $input) { artifact { id } } }"""


@pytest.mark.parametrize(
    "contents, message",
    [
        ({"a.txt": "not an object"}, "is not an object"),
        ({"a.txt": ["x"]}, "is not an object"),
        ({"a.txt": {"digest": "../../etc/passwd", "size": 1}}, "no valid md5 digest"),
        ({"a.txt": {"digest": 12345, "size": 1}}, "no valid md5 digest"),
        ({"a.txt": {"digest": "x" * 500, "size": 1}}, "no valid md5 digest"),
        ({"a.txt": {"digest": "1B2M2Y8AsgTpgAmY7PhCfg==", "size": 10**30}}, "invalid size"),
        ({"a\x00.txt": {"digest": "1B2M2Y8AsgTpgAmY7PhCfg==", "size": 0}}, "not a safe relative path"),
    ],
)
def test_a_committed_manifest_entry_that_is_not_an_object_or_has_a_bad_digest_is_refused(
    client, owner, owner_key, team, contents, message
):
    artifact = _pending_artifact_with_manifest(owner, team, {"version": 1, "contents": contents})
    answer = gql(client, owner_key, COMMIT, {"input": {"artifactID": ids.encode("Artifact", artifact.pk)}})
    assert message in error_of(answer)
    artifact.refresh_from_db()
    assert artifact.state == Artifact.PENDING and artifact.files.count() == 0


def test_a_job_spec_whose_source_type_is_longer_than_the_column_commits_as_unknown(client, owner, team):
    project = Project.objects.create(entity=team, name="proj")
    spec = json.dumps({"source_type": "repository-of-many-things" * 4, "source": {}}).encode()
    artifact, _ = artifact_services.artifact_build(
        project=project, name="job-x", type_name="job", files={"wandb-job.json": spec}, created_by=owner
    )
    assert artifact.state == Artifact.COMMITTED and artifact.job_source_type == ""
    client.force_login(owner)
    assert client.get("/launch/jobs").status_code == 200
    assert client.get("/launch/acme/proj/jobs/job-x").status_code == 200


# --- the real client ----------------------------------------------------------------------------------------


@pytest.mark.wandb
@pytest.mark.django_db(transaction=True)
def test_the_real_client_keeps_a_nan_run_config(wandb_env, owner, owner_key, team):
    from tests.wire.conftest import run_python

    script = """
import json, math, wandb
run = wandb.init(entity="acme", project="vision", id="nanrun", config={"lr": float("nan"), "clip": float("inf"),
                 "floor": float("-inf"), "epochs": 3})
run.finish()
config = wandb.Api().run("acme/vision/nanrun").config
print(json.dumps({k: repr(v) for k, v in sorted(config.items())}))
"""
    done = run_python(script, wandb_env(owner_key), timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    read = json.loads(done.stdout.strip().splitlines()[-1])
    # wandb 0.31 itself sends NaN as null (its upsertBucket carries "lr": {"value": null}) and ±Infinity as
    # the JSON literals: launchui serves back exactly what it was sent.
    assert {k: read[k] for k in ("clip", "epochs", "floor", "lr")} == {
        "clip": "inf",
        "epochs": "3",
        "floor": "-inf",
        "lr": "None",
    }, read
    config = Run.objects.get(name="nanrun").config
    assert config["clip"]["value"] == math.inf and config["floor"]["value"] == -math.inf
    assert config["lr"] == {"value": None}
