"""Property test of /graphql: every served operation, with the real client's documents and variables
mutated (wrong types, NUL bytes, huge numbers, NaN, nested objects, missing keys), as the owner, a member
and an outsider of the team, never answers 5xx and always answers JSON.

The operations come from the resolver registry, so a new operation is fuzzed without touching this file:
through each captured document that selects it, and through a plain document with every argument name
the table of wire/inputs.py knows.
"""

import base64
import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from launchui.accounts.models import ApiKey
from launchui.accounts.services import api_key_create
from launchui.artifacts.services import artifact_build
from launchui.launch.services import agent_register, item_push, queue_create
from launchui.projects.models import Project
from launchui.wire import ids, inputs, ops  # noqa: F401  (ops registers the resolvers)
from launchui.wire.graphql import RESOLVERS

CAPTURED = json.loads((Path(__file__).parent / "captures" / "client_documents.json").read_text())["documents"]


def _plain_document(kind: str, name: str) -> str:
    if kind == "mutation":
        return f"mutation Fuzz($input: {name}Input) {{ {name}(input: $input) {{ __typename }} }}"
    return (
        f"query Fuzz($id: ID, $name: String, $entityName: String, $first: Int, $after: String) {{ "
        f"{name}(id: $id, name: $name, entityName: $entityName, first: $first, after: $after) {{ __typename }} }}"
    )


CASES = [(d["query"], d["variables"]) for d in CAPTURED] + [
    (_plain_document(kind, name), None) for kind, names in RESOLVERS.items() for name in sorted(names)
]


def test_every_operation_is_fuzzed_and_every_captured_one_is_served():
    served = {name for names in RESOLVERS.values() for name in names}
    plain = {
        name
        for query, _ in CASES
        for name in served
        if query.startswith(("mutation Fuzz", "query Fuzz")) and f" {name}(" in query
    }
    assert plain == served
    assert {root for d in CAPTURED for root in d["roots"]} <= served
    assert len(CAPTURED) >= 20


def _nul_text():
    return st.text(max_size=8).map(lambda s: s + "\x00" + s)


BAD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([-1, 0, 2**31, 2**63, 10**30, "²", "abc", "-1", "", "1e400", "٣"]),
    st.floats(allow_nan=True, allow_infinity=True),
    _nul_text(),
    st.text(max_size=30),
    st.just("x" * 300),
    st.just("y" * 5000),
    st.sampled_from(
        [
            '{"lr": NaN, "x": Infinity, "y": -Infinity}',
            '{"a": "\\u0000"}',
            "[1, 2]",
            "{",
            '"just a string"',
            '{"overrides": {"args": {"a": 1}, "run_config": [1]}}',
            '{"overrides": "x", "project": 5}',
            '{"project": ["a"], "job": {"x": 1}}',
        ]
    ),
    st.lists(st.one_of(st.integers(), st.text(max_size=5)), max_size=3),
    st.dictionaries(st.text(max_size=6), st.one_of(st.integers(), st.text(max_size=6), st.none()), max_size=3),
)


@st.composite
def mutated_variables(draw, query: str, base: dict | None, real: dict):
    """A copy of the variables with a few values replaced by bad ones or removed, at the top level or
    inside an input object; often filled with the names and ids of real rows first, so that the
    operations get past their lookups."""
    variables = json.loads(json.dumps(base or {}))
    if query.startswith("mutation Fuzz"):
        variables["input"] = {}
    if draw(st.integers(min_value=0, max_value=3)) > 0:
        for target in [variables] + [v for v in variables.values() if isinstance(v, dict)]:
            plain = query.startswith(("mutation Fuzz", "query Fuzz"))
            for key, value in real.items():
                if key in target or (plain and target is not variables or query.startswith("query Fuzz")):
                    target[key] = value
    containers = [variables] + [v for v in variables.values() if isinstance(v, dict)]
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        container = draw(st.sampled_from(containers))
        key = draw(st.sampled_from(sorted({*container, *inputs.FIELD_TYPES})))
        if draw(st.integers(min_value=0, max_value=5)) == 0:
            container.pop(key, None)
        else:
            container[key] = draw(BAD_VALUES)
    return variables


def _auth(key: str) -> dict:
    return {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"api:{key}".encode()).decode()}


def _body(query: str, variables: dict) -> str:
    # Python writes NaN as the bare literal, which the endpoint refuses as not JSON (a 400); inside a
    # JSON-string variable (runSpec, config...) NaN is accepted, which the sampled strings cover.
    return json.dumps({"query": query, "variables": variables, "operationName": ""})


@pytest.fixture
def world(transactional_db, owner, member, outsider, team):
    """The team's queue, agent, item and job artifact, and keys for its owner, a member and an outsider.
    transactional_db: requests run in autocommit as in production (a refused write aborts no test transaction)."""
    queue = queue_create(entity=team, name="gpu", resource="local-container", created_by=owner)
    agent = agent_register(entity=team, queues=[queue], hostname="h", config={}, version="0", created_by=owner)
    item = item_push(queue=queue, run_spec={"project": "p"}, created_by=owner)
    project = Project.objects.create(entity=team, name="proj")
    artifact, _ = artifact_build(
        project=project,
        name="job-x",
        type_name="job",
        files={"wandb-job.json": b'{"source_type": "image"}'},
        created_by=owner,
    )
    keys = [api_key_create(user=user, name="fuzz")[1] for user in (owner, member, outsider)]
    real = {
        "entityName": "acme",
        "entity": "acme",
        "queueName": "gpu",
        "projectName": "proj",
        "project": "proj",
        "name": "job-x:latest",
        "modelName": "proj",
        "id": ids.encode("Artifact", artifact.pk),
        "artifactID": ids.encode("Artifact", artifact.pk),
        "queueID": ids.encode("RunQueue", queue.pk),
        "launchAgentId": ids.encode("LaunchAgent", agent.pk),
        "runQueueItemId": ids.encode("RunQueueItem", item.pk),
        "runSpec": '{"project": "proj", "overrides": {"run_config": {"lr": NaN}}}',
        "agentConfig": '{"max_jobs": Infinity}',
        "config": '{"lr": {"value": -Infinity}}',
    }
    return keys, real


def test_graphql_never_answers_5xx_to_mutated_client_requests(world, client):
    keys, real = world
    assert ApiKey.objects.count() == 3

    @settings(
        max_examples=800,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(case=st.sampled_from(CASES), key=st.sampled_from(keys), data=st.data())
    def check(case, key, data):
        query, base = case
        variables = data.draw(mutated_variables(query, base, real))
        response = client.post("/graphql", _body(query, variables), content_type="application/json", **_auth(key))
        assert response.status_code < 500, (query, variables, response.content[:500])
        answer = json.loads(response.content)  # valid JSON, NaN literals allowed as the client reads them
        assert isinstance(answer, dict)
        assert all(isinstance(error.get("message"), str) for error in answer.get("errors", []))

    check()


def test_nan_variables_in_the_body_are_a_400_not_a_500(client, owner_key):
    # A guard: the body itself is strict JSON; NaN travels inside JSON-string variables.
    body = json.dumps({"query": "query { viewer { id } }", "variables": {"x": math.nan}})
    response = client.post("/graphql", body, content_type="application/json", **_auth(owner_key))
    assert response.status_code == 400
