"""Security review, issue 8 ("Hardening"), findings 10, 11 and 13: the browser and the wire (/graphql) follow
one permission rule for agents and queue items, an item's author is whoever pushed it, and an outsider cannot
tell a foreign id from a missing one. Owner (olivia, admin of acme), member (mateo), outsider (oscar)."""

import json

import pytest

from launchui.accounts.models import Entity
from launchui.launch.models import LaunchAgent, ResourceConfig, RunQueue, RunQueueItem
from launchui.launch.services import agent_register, item_ack, item_pop, item_push, queue_create
from launchui.wire import ids
from tests.wire.test_graphql_endpoint import gql

pytestmark = pytest.mark.django_db

UPDATE_AGENT = """mutation updateLaunchAgent($agentId: ID!, $agentStatus: String){
  updateLaunchAgent(input: { launchAgentId: $agentId agentStatus: $agentStatus }) { success } }"""
DELETE_ITEM = """mutation DeleteFromRunQueue($queueID: ID!, $runQueueItemId: ID!) {
  deleteFromRunQueue(input: { queueID: $queueID runQueueItemId: $runQueueItemId }) { success } }"""
PUSH_BY_NAME = """mutation pushToRunQueueByName($entityName: String!, $projectName: String!, $queueName: String!,
  $runSpec: JSONString!) { pushToRunQueueByName(input: {entityName: $entityName, projectName: $projectName,
  queueName: $queueName, runSpec: $runSpec}) { runQueueItemId runSpec } }"""
PUSH = """mutation pushToRunQueue($queueID: ID!, $runSpec: JSONString!) {
  pushToRunQueue(input: {queueID: $queueID, runSpec: $runSpec}) { runQueueItemId } }"""
ITEMS = """query Q($e: String!, $q: String!) { project(entityName: $e, name: "model-registry") {
  runQueue(name: $q) { runQueueItems { edges { node { id runSpec } } } } } }"""


@pytest.fixture
def queue(team, owner):
    return queue_create(entity=team, name="gpu", resource="local-container", created_by=owner)


def _agent(queue, user, hostname="h1"):
    return agent_register(
        entity=queue.entity,
        queues=[queue],
        hostname=hostname,
        config={"max_jobs": 1},
        version="wandb@0.31.0",
        created_by=user,
    )


def _status(agent) -> str:
    return LaunchAgent.objects.get(pk=agent.pk).reported_status


# --- finding 10: agents ------------------------------------------------------------------------------------


def test_finding10_member_cannot_mark_a_teammates_agent_killed_on_either_door(
    client, queue, owner, member, outsider, owner_key, member_key, outsider_key
):
    agent = _agent(queue, owner)  # started with olivia's key
    variables = {"agentId": ids.encode("LaunchAgent", agent.pk), "agentStatus": "KILLED"}

    body = gql(client, member_key, UPDATE_AGENT, variables)
    assert body["errors"][0]["message"] == (
        f"Only the user who started agent {agent.name} or an admin of acme can stop, delete or report for it."
    )
    assert gql(client, member_key, UPDATE_AGENT, {"agentId": variables["agentId"]})["errors"]  # nor touch it
    client.force_login(member)
    assert client.post(f"/launch/agents/{agent.pk}/stop").status_code == 403
    assert _status(agent) == LaunchAgent.POLLING and not LaunchAgent.objects.get(pk=agent.pk).stop_requested

    # The outsider learns nothing, on either door.
    assert gql(client, outsider_key, UPDATE_AGENT, variables) == {"data": {"updateLaunchAgent": {"success": False}}}
    client.force_login(outsider)
    assert client.post(f"/launch/agents/{agent.pk}/stop").status_code == 404
    assert _status(agent) == LaunchAgent.POLLING

    # The agent's own user (here also the admin) may, on both doors.
    client.force_login(owner)
    assert client.post(f"/launch/agents/{agent.pk}/stop").status_code == 302
    assert gql(client, owner_key, UPDATE_AGENT, variables) == {"data": {"updateLaunchAgent": {"success": True}}}
    assert _status(agent) == LaunchAgent.KILLED


def test_finding10_a_member_controls_the_agent_they_started_and_an_admin_controls_every_agent(
    client, queue, owner, member, owner_key, member_key
):
    mine = _agent(queue, member)  # what `wandb launch-agent` with mateo's key registers
    theirs = _agent(queue, owner, "h2")
    mine_id = ids.encode("LaunchAgent", mine.pk)
    assert gql(client, member_key, UPDATE_AGENT, {"agentId": mine_id, "agentStatus": "RUNNING"}) == {
        "data": {"updateLaunchAgent": {"success": True}}
    }
    assert _status(mine) == LaunchAgent.RUNNING

    # The browser shows mateo Stop for his own agent only, and lets him use it.
    client.force_login(member)
    page = client.get("/launch/acme/queues/gpu/agents").content.decode()
    assert page.count(">Stop</button>") == 1
    assert f"/launch/agents/{mine.pk}/stop" in page and f"/launch/agents/{theirs.pk}/stop" not in page
    assert client.post(f"/launch/agents/{mine.pk}/stop").status_code == 302
    assert LaunchAgent.objects.get(pk=mine.pk).stop_requested

    # An admin of the entity controls a member's agent too.
    assert gql(client, owner_key, UPDATE_AGENT, {"agentId": mine_id, "agentStatus": "KILLED"}) == {
        "data": {"updateLaunchAgent": {"success": True}}
    }
    assert _status(mine) == LaunchAgent.KILLED


def test_finding10_a_member_cannot_pop_for_a_teammates_agent(client, queue, owner, member_key):
    theirs = _agent(queue, owner)
    item_push(queue=queue, run_spec={}, created_by=owner)
    body = gql(
        client,
        member_key,
        """mutation P($id: ID) { popFromRunQueue(input: {entityName: "acme",
      projectName: "model-registry", queueName: "gpu", launchAgentId: $id}) { runQueueItemId } }""",
        {"id": ids.encode("LaunchAgent", theirs.pk)},
    )
    assert body["errors"][0]["message"] == "Unknown launch agent."
    assert RunQueueItem.objects.get().state == RunQueueItem.PENDING


# --- finding 10: items -------------------------------------------------------------------------------------


def _running_item(queue, owner, member):
    agent = _agent(queue, owner)
    item = item_push(queue=queue, run_spec={}, created_by=member)
    popped = item_pop(queue=queue, agent_id=agent.pk)
    assert item_ack(item=popped, run_name="r1")
    return item


@pytest.mark.parametrize("who", ["owner", "member"])
def test_finding10_nobody_deletes_a_running_item_through_graphql_as_the_browser_forbids(
    client, queue, owner, member, owner_key, member_key, who
):
    item = _running_item(queue, owner, member)  # mateo's own item, taken by an agent
    user, key = {"owner": (owner, owner_key), "member": (member, member_key)}[who]
    body = gql(
        client,
        key,
        DELETE_ITEM,
        {"queueID": ids.encode("RunQueue", queue.pk), "runQueueItemId": ids.encode("RunQueueItem", item.pk)},
    )
    assert body["errors"][0]["message"] == f"Item {item.pk} was taken by an agent meanwhile: stop its run instead."
    client.force_login(user)
    page = client.post(f"/launch/acme/queues/gpu/items/{item.pk}/delete", follow=True).content.decode()
    assert f"Item {item.pk} was taken by an agent meanwhile" in page
    assert RunQueueItem.objects.get(pk=item.pk).state == RunQueueItem.CLAIMED


def test_finding10_a_waiting_item_is_cancelled_by_members_on_both_doors_and_never_by_an_outsider(
    client, queue, owner, member, member_key, outsider_key
):
    on_wire = item_push(queue=queue, run_spec={}, created_by=owner)
    in_browser = item_push(queue=queue, run_spec={}, created_by=owner)
    variables = {"queueID": ids.encode("RunQueue", queue.pk), "runQueueItemId": ids.encode("RunQueueItem", on_wire.pk)}
    body = gql(client, outsider_key, DELETE_ITEM, variables)
    assert body["errors"][0]["message"] == "Queue not found, or this API key's user is not a member of its entity."
    assert gql(client, member_key, DELETE_ITEM, variables) == {"data": {"deleteFromRunQueue": {"success": True}}}
    client.force_login(member)
    assert client.post(f"/launch/acme/queues/gpu/items/{in_browser.pk}/delete").status_code == 302
    assert not RunQueueItem.objects.exists()


# --- finding 11: the author --------------------------------------------------------------------------------


def test_finding11_an_items_author_is_the_user_who_pushed_it_not_run_spec_author(client, queue, member, member_key):
    spoofed = json.dumps({"project": "vision", "author": "olivia"})
    by_name = gql(
        client,
        member_key,
        PUSH_BY_NAME,
        {"entityName": "acme", "projectName": "model-registry", "queueName": "gpu", "runSpec": spoofed},
    )
    assert json.loads(by_name["data"]["pushToRunQueueByName"]["runSpec"])["author"] == "mateo"
    gql(client, member_key, PUSH, {"queueID": ids.encode("RunQueue", queue.pk), "runSpec": spoofed})
    items = list(RunQueueItem.objects.order_by("pk"))
    assert [(i.created_by, i.run_spec["author"]) for i in items] == [(member, "mateo")] * 2

    # The wire shows mateo ...
    edges = gql(client, member_key, ITEMS, {"e": "acme", "q": "gpu"})["data"]["project"]["runQueue"]["runQueueItems"][
        "edges"
    ]
    assert [e["node"]["runSpec"]["author"] for e in edges] == ["mateo", "mateo"]
    # ... and so do the pages.
    client.force_login(member)
    response = client.get("/launch/acme/queues/gpu/")
    assert [i.author for i in response.context["page"].object_list] == ["mateo", "mateo"]
    assert response.content.decode().count("<td>mateo</td>") == 2
    page = client.get(f"/launch/acme/queues/gpu/items/{items[0].pk}").content.decode()
    assert "<dt>Author</dt><dd>mateo</dd>" in page


def test_finding11_a_stored_spec_author_is_never_displayed_as_the_author(client, queue, member):
    # An item stored before the fix (or pushed without launch()) keeps a foreign "author" in its spec.
    item = item_push(queue=queue, run_spec={"project": "vision", "author": "olivia"}, created_by=member)
    client.force_login(member)
    page = client.get(f"/launch/acme/queues/gpu/items/{item.pk}").content.decode()
    assert "<dt>Author</dt><dd>mateo</dd>" in page


# --- finding 13: a foreign id answers like a missing one -----------------------------------------------

MISSING = 987654321


# Every wire operation that takes a queue, agent, item or resource config id: (query, variables(q, a, i, c)).
# Those naming an entity use oscar's own ("mine" is his queue), so only the id is foreign.
OPERATIONS = {
    "pushToRunQueue": (PUSH, lambda q, a, i, c: {"queueID": q, "runSpec": "{}"}),
    "deleteFromRunQueue": (DELETE_ITEM, lambda q, a, i, c: {"queueID": q, "runQueueItemId": i}),
    "deleteRunQueues": (
        "mutation D($ids: [ID!]!) { deleteRunQueues(input: {queueIDs: $ids}) { success } }",
        lambda q, a, i, c: {"ids": [q]},
    ),
    "createLaunchAgent": (
        """mutation C($q: [ID!]!) { createLaunchAgent(input: {entityName: "oscar",
        projectName: "model-registry", runQueues: $q, hostname: "h"}) { launchAgentId } }""",
        lambda q, a, i, c: {"q": [q]},
    ),
    "launchAgent": ("query L($id: ID!) { launchAgent(id: $id) { name stopPolling } }", lambda q, a, i, c: {"id": a}),
    "updateLaunchAgent": (UPDATE_AGENT, lambda q, a, i, c: {"agentId": a, "agentStatus": "KILLED"}),
    "popFromRunQueue": (
        """mutation P($a: ID) { popFromRunQueue(input: {entityName: "oscar",
        projectName: "model-registry", queueName: "mine", launchAgentId: $a}) { runQueueItemId } }""",
        lambda q, a, i, c: {"a": a},
    ),
    "ackRunQueueItem": (
        'mutation A($i: ID!) { ackRunQueueItem(input: {runQueueItemId: $i, runName: "r"}) { success } }',
        lambda q, a, i, c: {"i": i},
    ),
    "failRunQueueItem": (
        'mutation F($i: ID!) { failRunQueueItem(input: {runQueueItemId: $i, message: "m", '
        'stage: "agent"}) { success } }',
        lambda q, a, i, c: {"i": i},
    ),
    "updateRunQueueItemWarning": (
        "mutation W($i: ID!) { updateRunQueueItemWarning(input: {runQueueItemId: $i, "
        'message: "m", stage: "agent"}) { success } }',
        lambda q, a, i, c: {"i": i},
    ),
    "createRunQueue": (
        """mutation R($c: ID) { createRunQueue(input: {entityName: "oscar", projectName:
        "model-registry", queueName: "q2", defaultResourceConfigID: $c}) { success } }""",
        lambda q, a, i, c: {"c": c},
    ),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_finding13_an_outsider_gets_the_same_answer_for_a_foreign_id_and_a_missing_one(
    client, queue, owner, outsider, outsider_key, operation
):
    queue_create(
        entity=Entity.objects.get(owner=outsider), name="mine", resource="local-container", created_by=outsider
    )
    agent = _agent(queue, owner)
    item = item_push(queue=queue, run_spec={}, created_by=owner)
    config = ResourceConfig.objects.create(entity=queue.entity, resource="local-container", config={}, created_by=owner)
    query, make = OPERATIONS[operation]
    foreign_ids = (
        ids.encode("RunQueue", queue.pk),
        ids.encode("LaunchAgent", agent.pk),
        ids.encode("RunQueueItem", item.pk),
        ids.encode("DefaultResourceConfig", config.pk),
    )
    missing_ids = (
        ids.encode("RunQueue", MISSING),
        ids.encode("LaunchAgent", MISSING),
        ids.encode("RunQueueItem", MISSING),
        ids.encode("DefaultResourceConfig", MISSING),
    )

    def answer(given_ids) -> str:
        text = json.dumps(gql(client, outsider_key, query, make(*given_ids)), sort_keys=True)
        for given in given_ids:  # an id may be echoed back ("Resource config <id> not found")
            text = text.replace(given, "<id>")
        return text

    assert answer(foreign_ids) == answer(missing_ids)
    # And nothing of acme's changed.
    assert LaunchAgent.objects.get(pk=agent.pk).reported_status == LaunchAgent.POLLING
    assert RunQueueItem.objects.get(pk=item.pk).state == RunQueueItem.PENDING
    assert RunQueue.objects.filter(pk=queue.pk).exists()
