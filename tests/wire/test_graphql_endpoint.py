"""The /graphql door itself: auth, the client's quirks, bad input, scoping and query budgets."""

import base64
import json
import threading
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from launchui.accounts.models import ApiKey
from launchui.accounts.services import api_key_revoke
from launchui.launch.models import LaunchAgent, RunQueueItem
from launchui.launch.services import agent_register, item_push, queue_create
from launchui.wire import ids

# Requests the real wandb 0.31.0 client sent, copied from the project's shared captures (their API key is a
# placeholder), so that the test reads nothing outside the checkout.
CAPTURES = Path(__file__).parent / "captures"

POP = """mutation popFromRunQueue($entity: String!, $project: String!, $queueName: String!, $launchAgentId: ID) {
  popFromRunQueue(input: {entityName: $entity, projectName: $project, queueName: $queueName,
    launchAgentId: $launchAgentId}) { runQueueItemId runSpec } }"""
LAUNCH_AGENT = """query LaunchAgent($agentId: ID!) {
  launchAgent(id: $agentId) { id name runQueues hostname agentStatus stopPolling heartbeatAt } }"""
UPDATE_AGENT = """mutation updateLaunchAgent($agentId: ID!, $agentStatus: String){
  updateLaunchAgent(input: { launchAgentId: $agentId agentStatus: $agentStatus }) { success } }"""
ACK = """mutation ackRunQueueItem($itemId: ID!, $runId: String!) {
  ackRunQueueItem(input: { runQueueItemId: $itemId, runName: $runId }) { success } }"""
FAIL = """mutation failRunQueueItem($runQueueItemId: ID!, $message: String!, $stage: String!, $filePaths: [String!]) {
  failRunQueueItem(input: { runQueueItemId: $runQueueItemId message: $message stage: $stage filePaths: $filePaths }) {
  success } }"""
CREATE_AGENT = """mutation createLaunchAgent($entity: String!, $project: String!, $queues: [ID!]!, $hostname: String!,
  $agentConfig: JSONString, $version: String) {
  createLaunchAgent(input: {entityName: $entity, projectName: $project, runQueues: $queues,
    hostname: $hostname, agentConfig: $agentConfig, version: $version}) { launchAgentId } }"""


def auth(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"api:{key}".encode()).decode()}


def gql(client, key, query, variables=None, operation_name="", status=200):
    response = client.post(
        "/graphql",
        json.dumps({"query": query, "variables": variables, "operationName": operation_name}),
        content_type="application/json",
        **auth(key),
    )
    assert response.status_code == status, response.content
    return response.json()


# --- auth ---------------------------------------------------------------------------------------------


def test_missing_bad_and_revoked_keys_get_401(client, owner, owner_key):
    query = "query Viewer { viewer { id } }"
    assert client.post("/graphql", {"query": query}, content_type="application/json").status_code == 401
    assert gql(client, "local-" + "x" * 40, query, status=401)["errors"]
    key = ApiKey.objects.get(user=owner)
    api_key_revoke(key=key)
    assert gql(client, owner_key, query, status=401)["errors"][0]["message"].startswith("Invalid or revoked")
    response = client.post("/graphql", "{}", content_type="application/json", HTTP_AUTHORIZATION="Basic not-base64!!")
    assert response.status_code == 401


def test_viewer_answers_like_wandb(client, owner, owner_key, team):
    data = gql(
        client,
        owner_key,
        "query Viewer { viewer { id entity username email flags teams { edges { node { name } } } } }",
        operation_name="Viewer",
    )["data"]
    assert data["viewer"]["entity"] == "olivia"
    assert data["viewer"]["teams"] == {"edges": [{"node": {"name": "acme"}}]}
    assert ids.decode(data["viewer"]["id"], "User") == owner.pk


# --- the client's quirks --------------------------------------------------------------------------------


@pytest.mark.parametrize("operation_name", ["", None, "SomethingElse"])
def test_empty_null_or_mismatched_operation_name_runs_the_only_operation(client, owner_key, operation_name):
    body = gql(client, owner_key, "query GetDefaultEntity { viewer { id entity } }", operation_name=operation_name)
    assert body["data"]["viewer"]["entity"] == "olivia"
    assert "errors" not in body


def test_aliases_typename_and_fragments(client, owner_key, queue):
    body = gql(
        client,
        owner_key,
        """
        query Q($e: String!) { p: project(entityName: $e, name: "model-registry") { __typename
          queues: runQueues { ...Q } } }
        fragment Q on RunQueue { id name __typename }""",
        {"e": "acme"},
    )
    assert body == {
        "data": {
            "p": {
                "__typename": "Project",
                "queues": [{"id": ids.encode("RunQueue", queue.pk), "name": "gpu-queue", "__typename": "RunQueue"}],
            }
        }
    }


@pytest.mark.parametrize(
    "body, status",
    [
        ("not json", 400),
        ("[1, 2]", 400),
        ('{"query": ""}', 400),
        ('{"query": "query {"}', 400),
        ('{"query": "query { viewer { id } }", "variables": "nope"}', 400),
        ('{"query": "subscription S { x }"}', 400),
    ],
)
def test_malformed_requests_are_4xx_never_500(client, owner_key, body, status):
    response = client.post("/graphql", body, content_type="application/json", **auth(owner_key))
    assert response.status_code == status
    assert response.json()["errors"]


def test_unknown_fields_and_bad_ids_are_graphql_errors(client, owner_key, queue):
    assert gql(client, owner_key, "query { nothingHere { id } }")["errors"][0]["message"].startswith(
        "Cannot query field 'nothingHere'"
    )
    body = gql(
        client,
        owner_key,
        POP,
        {"entity": "acme", "project": "model-registry", "queueName": "gpu-queue", "launchAgentId": "!!!"},
    )
    assert "not a valid LaunchAgent id" in body["errors"][0]["message"]
    body = gql(
        client,
        owner_key,
        CREATE_AGENT,
        {
            "entity": "acme",
            "project": "model-registry",
            "queues": [ids.encode("RunQueue", queue.pk)],
            "hostname": "h",
            "agentConfig": "{not json",
            "version": None,
        },
    )
    assert "agentConfig is not valid JSON" in body["errors"][0]["message"]
    assert not LaunchAgent.objects.exists()


def test_the_hidden_run_ops_are_tolerated(client, owner_key):
    body = gql(
        client,
        owner_key,
        "query ServerFeaturesQuery { serverInfo { features { name isEnabled } } }",
        operation_name="ServerFeaturesQuery",
    )
    assert body == {"data": {"serverInfo": {"features": []}}}
    body = gql(
        client,
        owner_key,
        "query OrganizationCoreWeaveOrganizationID($entityName: String!) { "
        "entity(name: $entityName) { organization { coreWeaveOrganizationId } } }",
        {"entityName": "olivia"},
    )
    assert body == {"data": {"entity": {"organization": None}}}


# --- agent operations ----------------------------------------------------------------------------------


def test_pop_returns_run_spec_as_an_object_and_ack_claims(client, owner, owner_key, queue, agent):
    item = item_push(queue=queue, run_spec={"entity": "acme", "project": "p"}, created_by=owner)
    popped = gql(
        client,
        owner_key,
        POP,
        {
            "entity": "acme",
            "project": "model-registry",
            "queueName": "gpu-queue",
            "launchAgentId": ids.encode("LaunchAgent", agent.pk),
        },
    )
    result = popped["data"]["popFromRunQueue"]
    assert result["runQueueItemId"] == ids.encode("RunQueueItem", item.pk)
    assert result["runSpec"]["entity"] == "acme"  # an object, not a JSON string
    assert result["runSpec"]["resource"] == "local-container"
    again = gql(
        client,
        owner_key,
        POP,
        {
            "entity": "acme",
            "project": "model-registry",
            "queueName": "gpu-queue",
            "launchAgentId": ids.encode("LaunchAgent", agent.pk),
        },
    )
    assert again == {"data": {"popFromRunQueue": None}}
    acked = gql(client, owner_key, ACK, {"itemId": result["runQueueItemId"], "runId": "run123"})
    assert acked == {"data": {"ackRunQueueItem": {"success": True}}}
    assert gql(client, owner_key, ACK, {"itemId": result["runQueueItemId"], "runId": "run123"}) == {
        "data": {"ackRunQueueItem": {"success": False}}
    }
    item.refresh_from_db()
    assert (item.state, item.associated_run_id, item.agent_id) == (RunQueueItem.CLAIMED, "run123", agent.pk)


def test_launch_agent_always_answers_and_stop_polling_follows_the_flag(client, owner_key, agent):
    variables = {"agentId": ids.encode("LaunchAgent", agent.pk)}
    data = gql(client, owner_key, LAUNCH_AGENT, variables)["data"]["launchAgent"]
    assert data["name"] == agent.name and data["stopPolling"] is False
    assert data["runQueues"] == [ids.encode("RunQueue", agent.queues.get().pk)]
    LaunchAgent.objects.filter(pk=agent.pk).update(stop_requested=True)
    assert gql(client, owner_key, LAUNCH_AGENT, variables)["data"]["launchAgent"]["stopPolling"] is True
    agent.delete()  # deleted in the browser: the agent is told to stop, not crashed with an error
    body = gql(client, owner_key, LAUNCH_AGENT, variables)
    assert "errors" not in body and body["data"]["launchAgent"]["stopPolling"] is True
    assert gql(client, owner_key, UPDATE_AGENT, {**variables, "agentStatus": "KILLED"}) == {
        "data": {"updateLaunchAgent": {"success": False}}
    }


def test_update_launch_agent_records_status_and_rejects_unknown_ones(client, owner_key, agent):
    variables = {"agentId": ids.encode("LaunchAgent", agent.pk)}
    assert gql(client, owner_key, UPDATE_AGENT, {**variables, "agentStatus": "RUNNING"}) == {
        "data": {"updateLaunchAgent": {"success": True}}
    }
    agent.refresh_from_db()
    assert agent.reported_status == "RUNNING"
    body = gql(client, owner_key, UPDATE_AGENT, {**variables, "agentStatus": "DANCING"})
    assert "Unknown agent status" in body["errors"][0]["message"]


def test_fail_records_stage_message_and_files(client, owner, owner_key, queue, agent):
    item = item_push(queue=queue, run_spec={}, created_by=owner)
    body = gql(
        client,
        owner_key,
        FAIL,
        {
            "runQueueItemId": ids.encode("RunQueueItem", item.pk),
            "message": "boom",
            "stage": "run",
            "filePaths": ["x/error/error.log"],
        },
    )
    assert body == {"data": {"failRunQueueItem": {"success": True}}}
    item.refresh_from_db()
    assert (item.state, item.error_stage, item.error_message, item.error_file_paths) == (
        RunQueueItem.FAILED,
        "run",
        "boom",
        ["x/error/error.log"],
    )


# --- scoping: owner, member, outsider -------------------------------------------------------------------


def test_an_outsider_can_neither_see_nor_touch_the_teams_queue_agent_or_items(
    client, owner, member, outsider_key, member_key, queue, agent
):
    item = item_push(queue=queue, run_spec={}, created_by=owner)
    pop_vars = {
        "entity": "acme",
        "project": "model-registry",
        "queueName": "gpu-queue",
        "launchAgentId": ids.encode("LaunchAgent", agent.pk),
    }
    assert "not a member" in gql(client, outsider_key, POP, pop_vars)["errors"][0]["message"]
    assert (
        gql(client, outsider_key, LAUNCH_AGENT, {"agentId": ids.encode("LaunchAgent", agent.pk)})["data"][
            "launchAgent"
        ]["name"]
        == "deleted-agent"
    )
    assert gql(
        client, outsider_key, UPDATE_AGENT, {"agentId": ids.encode("LaunchAgent", agent.pk), "agentStatus": "KILLED"}
    )["data"]["updateLaunchAgent"] == {"success": False}
    body = gql(
        client,
        outsider_key,
        FAIL,
        {"runQueueItemId": ids.encode("RunQueueItem", item.pk), "message": "x", "stage": "agent"},
    )
    assert body["errors"][0]["message"] == "Run queue item not found."
    body = gql(
        client,
        outsider_key,
        'query P($e: String!) { project(entityName: $e, name: "model-registry") { runQueues { name } } }',
        {"e": "acme"},
    )
    assert body["data"]["project"] is None and body["errors"]
    agent.refresh_from_db()
    item.refresh_from_db()
    assert agent.reported_status == "POLLING" and item.state == RunQueueItem.PENDING
    # A member of the team may pop, for an agent they run (not for a teammate's: finding 10).
    assert gql(client, member_key, POP, pop_vars)["errors"][0]["message"] == "Unknown launch agent."
    mine = agent_register(entity=queue.entity, queues=[queue], hostname="h2", config={}, version="", created_by=member)
    assert gql(client, member_key, POP, {**pop_vars, "launchAgentId": ids.encode("LaunchAgent", mine.pk)})["data"][
        "popFromRunQueue"
    ]["runQueueItemId"]


def test_a_removed_member_is_refused_at_once_though_their_key_is_cached(client, owner, member, member_key, queue):
    """The key cache holds who the key is, never what they may reach: every operation checks membership."""
    from launchui.accounts.models import Membership
    from launchui.accounts.services import member_remove

    item_push(queue=queue, run_spec={}, created_by=owner)
    pop_vars = {"entity": "acme", "project": "model-registry", "queueName": queue.name}
    assert gql(client, member_key, POP, pop_vars)["data"]["popFromRunQueue"]["runQueueItemId"]  # key now cached
    member_remove(membership=Membership.objects.get(entity=queue.entity, user=member))
    item_push(queue=queue, run_spec={}, created_by=owner)
    assert "not a member" in gql(client, member_key, POP, pop_vars)["errors"][0]["message"]


def test_a_removed_members_own_agent_is_refused_at_once_on_the_agents_poll(client, owner, member, member_key, queue):
    """The agent's poll finds its queue and records its contact in one statement: it checks membership too."""
    from launchui.accounts.models import Membership
    from launchui.accounts.services import member_remove

    mine = agent_register(entity=queue.entity, queues=[queue], hostname="h", config={}, version="", created_by=member)
    agent_id = ids.encode("LaunchAgent", mine.pk)
    pop_vars = {"entity": "acme", "project": "model-registry", "queueName": queue.name, "launchAgentId": agent_id}
    item_push(queue=queue, run_spec={}, created_by=owner)
    assert gql(client, member_key, POP, pop_vars)["data"]["popFromRunQueue"]["runQueueItemId"]  # key now cached
    assert gql(client, member_key, LAUNCH_AGENT, {"agentId": agent_id})["data"]["launchAgent"]["stopPolling"] is False
    member_remove(membership=Membership.objects.get(entity=queue.entity, user=member))
    seen = LaunchAgent.objects.get(pk=mine.pk).last_seen_at
    item_push(queue=queue, run_spec={}, created_by=owner)
    assert "not a member" in gql(client, member_key, POP, pop_vars)["errors"][0]["message"]
    assert gql(client, member_key, LAUNCH_AGENT, {"agentId": agent_id})["data"]["launchAgent"]["stopPolling"] is True
    assert LaunchAgent.objects.get(pk=mine.pk).last_seen_at == seen  # no contact recorded for a non-member
    assert RunQueueItem.objects.filter(queue=queue, state=RunQueueItem.PENDING).count() == 1


def test_pop_hands_out_items_in_priority_then_age_order_with_expired_leases_back_in_place(owner, queue):
    from datetime import timedelta

    from django.utils import timezone

    from launchui.launch.services import item_pop

    RunQueue = type(queue)
    RunQueue.objects.filter(pk=queue.pk).update(prioritization_mode=RunQueue.PRIORITIZATION_V0)
    queue.refresh_from_db()
    low = item_push(queue=queue, run_spec={"n": "low"}, priority=3, created_by=owner)
    first_high = item_push(queue=queue, run_spec={"n": "high1"}, priority=1, created_by=owner)
    second_high = item_push(queue=queue, run_spec={"n": "high2"}, priority=1, created_by=owner)
    critical = item_push(queue=queue, run_spec={"n": "critical"}, priority=0, created_by=owner)
    assert item_pop(queue=queue, agent_id=None).pk == critical.pk
    popped = item_pop(queue=queue, agent_id=None)
    assert (popped.pk, popped.state, popped.run_spec["n"]) == (first_high.pk, RunQueueItem.LEASED, "high1")
    # first_high's lease expires unacked: it is handed out again before second_high.
    RunQueueItem.objects.filter(pk=first_high.pk).update(
        leased_at=timezone.now() - timedelta(seconds=settings.LAUNCHUI_LEASE_SECONDS + 1)
    )
    assert item_pop(queue=queue, agent_id=None).pk == first_high.pk
    assert [item_pop(queue=queue, agent_id=None).pk for _ in range(2)] == [second_high.pk, low.pk]
    assert item_pop(queue=queue, agent_id=None) is None


# --- query budgets: constant in the number of agents and items ------------------------------------------


def _count_queries(fn) -> int:
    with CaptureQueriesContext(connection) as captured:
        fn()
    return len(captured)


def test_agent_operations_use_a_fixed_number_of_queries(client, owner, owner_key, queue, agent):
    agent_id = ids.encode("LaunchAgent", agent.pk)

    def loop():
        gql(client, owner_key, LAUNCH_AGENT, {"agentId": agent_id})
        popped = gql(
            client,
            owner_key,
            POP,
            {"entity": "acme", "project": "model-registry", "queueName": "gpu-queue", "launchAgentId": agent_id},
        )["data"]["popFromRunQueue"]
        gql(client, owner_key, UPDATE_AGENT, {"agentId": agent_id, "agentStatus": "POLLING"})
        if popped:
            gql(client, owner_key, ACK, {"itemId": popped["runQueueItemId"], "runId": "r"})

    item_push(queue=queue, run_spec={}, created_by=owner)
    gql(client, owner_key, "query { viewer { id } }")  # settles the key's last_used_at
    few = _count_queries(loop)
    for n in range(40):
        agent_register(entity=queue.entity, queues=[queue], hostname=f"h{n}", config={}, version="", created_by=owner)
        item_push(queue=queue, run_spec={}, created_by=owner)
    many = _count_queries(loop)
    assert few == many
    # The key is cached after its first use: LaunchAgent 2 (its contact, one UPDATE ... RETURNING the agent; its
    # queue ids), pop 2 (the agent's contact RETURNING its queue, found by name among the user's entities; one
    # UPDATE that leases and returns the item), updateLaunchAgent 1, ack 2 (was 16 with a query per
    # authentication).
    assert many == 2 + 2 + 1 + 2, f"agent loop with an item: {many} queries"


def test_each_agent_call_has_a_small_budget(client, owner, owner_key, queue, agent):
    agent_id = ids.encode("LaunchAgent", agent.pk)
    gql(client, owner_key, "query { viewer { id } }")  # authenticates the key once: cached from here on
    # the agent's contact, one UPDATE ... RETURNING scoped by control, + its queue ids (and no query for the key)
    assert _count_queries(lambda: gql(client, owner_key, LAUNCH_AGENT, {"agentId": agent_id})) == 2
    # one scoped UPDATE
    assert (
        _count_queries(lambda: gql(client, owner_key, UPDATE_AGENT, {"agentId": agent_id, "agentStatus": "POLLING"}))
        == 1
    )
    # the agent's contact RETURNING its queue (scoped by membership and control) 1 + the pop, one UPDATE ...
    # RETURNING with no transaction
    empty_pop = _count_queries(
        lambda: gql(
            client,
            owner_key,
            POP,
            {"entity": "acme", "project": "model-registry", "queueName": "gpu-queue", "launchAgentId": agent_id},
        )
    )
    assert empty_pop == 2


# --- concurrency over HTTP ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_pollers_never_get_the_same_item(live_server, owner, owner_key, queue):
    items = {item_push(queue=queue, run_spec={"n": n}, created_by=owner).pk for n in range(60)}
    agent_ids = [
        ids.encode(
            "LaunchAgent",
            agent_register(
                entity=queue.entity, queues=[queue], hostname=f"h{n}", config={}, version="", created_by=owner
            ).pk,
        )
        for n in range(8)
    ]
    popped: list[int] = []
    errors: list[str] = []
    lock = threading.Lock()

    def poll(agent_id):
        session = requests.Session()
        session.auth = ("api", owner_key)
        while True:
            response = session.post(
                f"{live_server.url}/graphql",
                json={
                    "query": POP,
                    "operationName": "",
                    "variables": {
                        "entity": "acme",
                        "project": "model-registry",
                        "queueName": "gpu-queue",
                        "launchAgentId": agent_id,
                    },
                },
                timeout=30,
            )
            body = response.json()
            if response.status_code != 200 or "errors" in body:
                with lock:
                    errors.append(response.text)
                return
            result = body["data"]["popFromRunQueue"]
            if result is None:
                return
            with lock:
                popped.append(ids.decode(result["runQueueItemId"], "RunQueueItem"))

    threads = [threading.Thread(target=poll, args=(agent_id,)) for agent_id in agent_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert sorted(popped) == sorted(items), "every item handed out exactly once"
    assert RunQueueItem.objects.filter(state=RunQueueItem.LEASED).count() == 60


# --- replay of the real client's captured requests -----------------------------------------------------


@pytest.mark.parametrize("flow", ["agent", "agent-offline-mode", "agent-runs-code-job", "launch-to-queue"])
def test_captured_client_requests_never_get_a_500(db, client, flow):
    """Every GraphQL request the real 0.31.0 client sent in these flows, replayed against launchui with
    the capture's own user and queue names: none may crash the server."""
    from launchui.accounts.services import api_key_create, user_create

    path = CAPTURES / f"{flow}.jsonl"
    assert path.exists(), f"{path} is missing"
    alice = user_create(username="alice", password=None)
    key = api_key_create(user=alice, name="replay")[1]
    default = queue_create(entity=alice.personal_entity, name="default", resource="local-process", created_by=alice)
    replayed = 0
    for line in path.read_text().splitlines():
        request = json.loads(line)
        if request["path"] != "/graphql":
            continue
        response = client.post(
            "/graphql",
            json.dumps(
                {
                    "query": request["query"],
                    "variables": request["variables"],
                    "operationName": request["operationName"],
                }
            ),
            content_type="application/json",
            **auth(key),
        )
        assert response.status_code < 500, (request["op"], response.content)
        replayed += 1
        if request["op"] in ("Viewer", "ProjectRunQueues", "EntityIsTeam", "ServerFeaturesQuery", "GetDefaultEntity"):
            assert "errors" not in response.json(), (request["op"], response.content)
    assert replayed > 5
    assert default.pk


PUSH = """mutation pushToRunQueueByName($entityName: String!, $projectName: String!, $queueName: String!,
  $runSpec: JSONString!, $priority: Int) {
  pushToRunQueueByName(input: {entityName: $entityName, projectName: $projectName, queueName: $queueName,
    runSpec: $runSpec, priority: $priority}) { runQueueItemId runSpec } }"""


def test_push_returns_run_spec_as_a_string_and_refuses_a_project_of_another_entity(client, owner_key, queue):
    pushed = gql(
        client,
        owner_key,
        PUSH,
        {
            "entityName": "acme",
            "projectName": "model-registry",
            "queueName": "gpu-queue",
            "runSpec": json.dumps({"entity": "acme", "project": "vision"}),
        },
    )
    assert "errors" not in pushed, pushed
    result = pushed["data"]["pushToRunQueueByName"]
    assert isinstance(result["runSpec"], str)
    assert json.loads(result["runSpec"])["author"] == "olivia"
    refused = gql(
        client,
        owner_key,
        PUSH,
        {
            "entityName": "acme",
            "projectName": "model-registry",
            "queueName": "gpu-queue",
            "runSpec": json.dumps({"entity": "olivia", "project": "mine"}),
        },
    )
    assert "runs jobs in projects of acme, not olivia" in refused["errors"][0]["message"]
    assert RunQueueItem.objects.count() == 1
    bad = gql(
        client,
        owner_key,
        PUSH,
        {"entityName": "acme", "projectName": "model-registry", "queueName": "gpu-queue", "runSpec": "{not json"},
    )
    assert "runSpec is not valid JSON" in bad["errors"][0]["message"]


UPSERT_BUCKET = """mutation UpsertBucket($name: String, $project: String, $entity: String, $config: JSONString,
  $jobType: String) { upsertBucket(input: {name: $name, modelName: $project, entityName: $entity, config: $config,
  jobType: $jobType}) { bucket { id name config project { name entity { name } } } inserted } }"""
RUN_STATE = """query RunState($project: String!, $entity: String!, $name: String!) {
  project(name: $project, entityName: $entity) { run(name: $name) { state } } }"""
RUN_STOPPED = """query RunStoppedStatus($projectName: String, $entityName: String, $runId: String!) {
  project(name: $projectName, entityName: $entityName) { run(name: $runId) { stopped } } }"""


def test_run_lifecycle_through_upsert_bucket_and_the_file_stream(client, owner, owner_key, outsider_key, team):
    from launchui.projects.models import Run
    from launchui.projects.services import run_request_stop

    body = gql(
        client,
        owner_key,
        UPSERT_BUCKET,
        {"name": "r1", "project": "vision", "entity": "acme", "config": json.dumps({"lr": 0.1}), "jobType": "train"},
        operation_name="UpsertBucket",
    )
    bucket = body["data"]["upsertBucket"]
    assert bucket["inserted"] is True and bucket["bucket"]["project"] == {"name": "vision", "entity": {"name": "acme"}}
    state = lambda: gql(client, owner_key, RUN_STATE, {"project": "vision", "entity": "acme", "name": "r1"})[  # noqa
        "data"
    ]["project"]["run"]["state"]
    assert state() == "running"

    stream = "/files/acme/vision/r1/file_stream"
    response = client.post(stream, json.dumps({"files": {}}), content_type="application/json", **auth(owner_key))
    assert response.json()["stopped"] is False
    run_request_stop(run=Run.objects.get(name="r1"), by=None)
    assert (
        gql(client, owner_key, RUN_STOPPED, {"projectName": "vision", "entityName": "acme", "runId": "r1"})["data"][
            "project"
        ]["run"]["stopped"]
        is True
    )
    response = client.post(
        stream, json.dumps({"complete": True, "exitcode": 0}), content_type="application/json", **auth(owner_key)
    )
    assert response.json()["stopped"] is True
    assert state() == "finished"

    # Outsiders can neither stream into the run nor read it.
    assert client.post(stream, "{}", content_type="application/json", **auth(outsider_key)).status_code == 404
    assert client.post(stream, "[]", content_type="application/json", **auth(owner_key)).status_code == 400
    assert "errors" in gql(client, outsider_key, RUN_STATE, {"project": "vision", "entity": "acme", "name": "r1"})


def test_a_run_that_exits_non_zero_is_failed(client, owner_key, team):
    gql(client, owner_key, UPSERT_BUCKET, {"name": "r2", "project": "vision", "entity": "acme"})
    client.post(
        "/files/acme/vision/r2/file_stream",
        json.dumps({"complete": True, "exitcode": 3}),
        content_type="application/json",
        **auth(owner_key),
    )
    assert (
        gql(client, owner_key, RUN_STATE, {"project": "vision", "entity": "acme", "name": "r2"})["data"]["project"][
            "run"
        ]["state"]
        == "failed"
    )


def test_push_to_run_queue_fallback_by_queue_id(client, owner_key, outsider_key, queue):
    push = """mutation pushToRunQueue($queueID: ID!, $runSpec: JSONString!) {
      pushToRunQueue(input: {queueID: $queueID, runSpec: $runSpec}) { runQueueItemId } }"""
    variables = {"queueID": ids.encode("RunQueue", queue.pk), "runSpec": json.dumps({"project": "vision"})}
    pushed = gql(client, owner_key, push, variables)["data"]["pushToRunQueue"]
    item = RunQueueItem.objects.get(pk=ids.decode(pushed["runQueueItemId"], "RunQueueItem"))
    assert item.run_spec["entity"] == "acme" and item.run_spec["project"] == "vision"
    assert "not a member" in gql(client, outsider_key, push, variables)["errors"][0]["message"]
    assert RunQueueItem.objects.count() == 1


def test_a_default_resource_config_reads_the_same_before_and_after_its_queue(client, owner_key, team):
    made = gql(
        client,
        owner_key,
        """mutation C($e: String!, $r: String!, $c: JSONString!, $t: JSONString) {
      createDefaultResourceConfig(input: {entityName: $e, resource: $r, config: $c, templateVariables: $t}) {
      defaultResourceConfigID success } }""",
        {
            "e": "acme",
            "r": "kubernetes",
            "c": json.dumps({"resource_args": {"kubernetes": {"gpus": "{{g}}"}}}),
            "t": json.dumps({"g": {"schema": {"type": "integer"}}}),
        },
    )["data"]["createDefaultResourceConfig"]
    read = """query R($e: String!, $id: ID!) { entity(name: $e) { defaultResourceConfig(id: $id) {
      config resource templateVariables { name schema } } } }"""
    before = gql(client, owner_key, read, {"e": "acme", "id": made["defaultResourceConfigID"]})
    queue_id = gql(
        client,
        owner_key,
        """mutation Q($id: ID) { createRunQueue(input: {entityName: "acme",
      projectName: "model-registry", queueName: "k8s", access: PROJECT, defaultResourceConfigID: $id}) {
      success queueID } }""",
        {"id": made["defaultResourceConfigID"]},
    )["data"]["createRunQueue"]["queueID"]
    after = gql(client, owner_key, read, {"e": "acme", "id": queue_id})
    expected = {
        "config": {"resource_args": {"kubernetes": {"gpus": "{{g}}"}}},
        "resource": "kubernetes",
        "templateVariables": [{"name": "g", "schema": '{"type": "integer"}'}],
    }
    assert before["data"]["entity"]["defaultResourceConfig"] == expected
    assert after["data"]["entity"]["defaultResourceConfig"] == expected


STOP_RUN = """mutation StopRun($id: ID!) { stopRun(input: {id: $id}) { success } }"""


def test_stop_run_records_who_and_when_for_members_only(client, owner, member_key, outsider_key, team):
    """What `api.run(path).stop()` asks (through wandb-core), as the browser's Stop: members of the run's
    entity only; the first request's author and time are kept; each RunStoppedStatus question is recorded."""
    from launchui.projects.models import Run
    from launchui.projects.services import project_get_or_create
    from launchui.wire import ids

    run = Run.objects.create(project=project_get_or_create(entity=team, name="vision"), name="r1")
    run_id = ids.encode("Run", run.pk)
    refused = gql(client, outsider_key, STOP_RUN, {"id": run_id})
    assert refused["errors"][0]["message"] == "Run not found."
    assert Run.objects.get(pk=run.pk).stop_requested is False
    assert gql(client, member_key, STOP_RUN, {"id": run_id})["data"]["stopRun"]["success"] is True
    stopped = Run.objects.select_related("stopped_by").get(pk=run.pk)
    assert stopped.stop_requested and stopped.stopped_by.username == "mateo" and stopped.stop_requested_at
    assert stopped.stop_checked_at is None
    asked = gql(client, member_key, RUN_STOPPED, {"projectName": "vision", "entityName": "acme", "runId": "r1"})
    assert asked["data"]["project"]["run"]["stopped"] is True
    assert Run.objects.get(pk=run.pk).stop_checked_at is not None
