"""An artifact listing's `order` and `filters` are applied or refused by name, never ignored."""

import json

import pytest
from wandb.sdk.artifacts._generated import PROJECT_ARTIFACT_COLLECTIONS_GQL, PROJECT_ARTIFACTS_GQL

from launchui.artifacts.services import artifact_build
from launchui.projects.services import project_get_or_create
from tests.wire.conftest import run_python
from tests.wire.test_graphql_endpoint import gql

VARIABLES = {"entity": "acme", "project": "vision", "type": "dataset", "collection": "d0", "perPage": 50}


@pytest.fixture
def three_versions(team, owner):
    project = project_get_or_create(entity=team, name="vision")
    for i in range(3):
        artifact_build(project=project, name="d0", type_name="dataset", files={"f.txt": str(i).encode()})
    return project


def _indexes(answer) -> list[int]:
    assert "errors" not in answer, answer
    edges = answer["data"]["project"]["artifactType"]["artifactCollection"]["artifacts"]["edges"]
    return [edge["node"]["versionIndex"] for edge in edges]


@pytest.mark.django_db
def test_versions_are_ordered_as_asked_and_other_orders_and_filters_are_refused(client, three_versions, owner_key):
    def ask(**extra):
        return gql(client, owner_key, PROJECT_ARTIFACTS_GQL, {**VARIABLES, **extra})

    assert _indexes(ask(filters=json.dumps({"state": "COMMITTED"}))) == [2, 1, 0]  # what api.artifacts sends
    assert _indexes(ask(order="versionIndex")) == [0, 1, 2]
    assert _indexes(ask(order="-createdAt")) == [2, 1, 0]
    refused = ask(order="size")
    assert "unsupported order: 'size'" in refused["errors"][0]["message"]
    refused = ask(filters=json.dumps({"aliases.alias": "best"}))
    assert 'unsupported filters: {"aliases.alias": "best"}' in refused["errors"][0]["message"]
    collections = gql(
        client, owner_key, PROJECT_ARTIFACT_COLLECTIONS_GQL, {**VARIABLES, "filters": json.dumps({"name": "d0"})}
    )
    assert "does not filter or order artifact collections" in collections["errors"][0]["message"]


ORDERED = """
import json, wandb
api = wandb.Api()
print(json.dumps([a.version for a in api.artifacts("dataset", "acme/vision/d0", order="versionIndex")]))
"""


@pytest.mark.wandb
@pytest.mark.django_db(transaction=True)
def test_the_client_lists_versions_in_the_order_it_asks(wandb_env, three_versions, member_key):
    done = run_python(ORDERED, wandb_env(member_key))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["v0", "v1", "v2"]
