"""api.runs("entity/project", filters=..., order=...) and api.projects(entity) from the real client (issue 10):
W&B's common filters and orders, evaluated in SQL, paged at a fixed number of queries, for members only."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from launchui.projects.services import project_get_or_create, run_stream, run_upsert
from tests.wire.conftest import run_python
from tests.wire.test_graphql_endpoint import gql

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]


def _run(project, owner, name, *, lr, loss, tags=(), state="finished", display=None):
    run, _ = run_upsert(
        project=project,
        name=name,
        created_by=owner,
        display_name=display or f"run-{name}",
        config={"lr": {"value": lr}, "opt": {"value": "adam" if lr < 0.05 else "sgd"}},
        tags=list(tags),
        summary={"loss": loss},
    )
    lines = [json.dumps({"_step": i, "loss": loss + i}) for i in range(3)]
    run_stream(
        run=run,
        complete=state != "running",
        exit_code=0 if state == "finished" else 1,
        files={"wandb-history.jsonl": {"offset": 0, "content": lines}},
    )
    return run


@pytest.fixture
def vision(team, owner):
    project = project_get_or_create(entity=team, name="vision")
    _run(project, owner, "a", lr=0.01, loss=0.9, tags=["baseline"])
    _run(project, owner, "b", lr=0.1, loss=0.2, tags=["gpu", "baseline"])
    _run(project, owner, "c", lr=0.03, loss=0.5, tags=["gpu"], state="failed")
    _run(project, owner, "d", lr=0.3, loss=float("nan"), state="running", display="odd one")
    project_get_or_create(entity=team, name="audio")
    return project


QUERIES = {
    "all": ({}, "+created_at"),
    "finished": ({"state": "finished"}, "+created_at"),
    "not_finished": ({"state": {"$ne": "finished"}}, "+created_at"),
    "gpu": ({"tags": {"$in": ["gpu"]}}, "+created_at"),
    "lr_gt": ({"config.lr": {"$gt": 0.02}}, "+created_at"),
    "lr_value_lte": ({"config.lr.value": {"$lte": 0.03}}, "-created_at"),
    "opt_in": ({"config.opt": {"$in": ["sgd"]}}, "+created_at"),
    "loss_lt": ({"summary_metrics.loss": {"$lt": 0.6}}, "+summary_metrics.loss"),
    "by_loss_desc": ({"state": {"$in": ["finished", "failed"]}}, "-summary_metrics.loss"),
    "regex": ({"display_name": {"$regex": "^run-[ab]$"}}, "+created_at"),
    "or": ({"$or": [{"tags": "baseline"}, {"display_name": "odd one"}]}, "+created_at"),
    "and": ({"$and": [{"tags": "gpu"}, {"summary_metrics.loss": {"$gt": 0.3}}]}, "+created_at"),
}
EXPECTED = {
    "all": ["a", "b", "c", "d"],
    "finished": ["a", "b"],
    "not_finished": ["c", "d"],
    "gpu": ["b", "c"],
    "lr_gt": ["b", "c", "d"],
    "lr_value_lte": ["c", "a"],
    "opt_in": ["b", "d"],
    "loss_lt": ["b", "c"],
    "by_loss_desc": ["a", "c", "b"],
    "regex": ["a", "b"],
    "or": ["a", "b", "d"],
    "and": ["c"],
}


def test_runs_are_filtered_and_ordered_as_w_and_b_filters_say(wandb_env, vision, owner_key):
    script = f"""
import json, wandb
api = wandb.Api()
out = {{}}
for label, (filters, order) in {json.dumps(QUERIES)}.items():
    runs = api.runs("acme/vision", filters=filters, order=order, per_page=2)
    out[label] = [run.id for run in runs]
    out[label + "_len"] = len(runs)
run = api.runs("acme/vision", filters={{"state": "finished"}}, order="-summary_metrics.loss")[0]
out["first"] = [run.id, run.summary["loss"], run.config["lr"], run.tags, run.lastHistoryStep]
out["projects"] = sorted(p.name for p in api.projects("acme"))
print(json.dumps(out))
"""
    read = run_python(script, wandb_env(owner_key), timeout=180)
    assert read.returncode == 0, read.stderr
    answer = json.loads(read.stdout.strip().splitlines()[-1])
    assert {label: answer[label] for label in QUERIES} == EXPECTED
    assert all(answer[label + "_len"] == len(EXPECTED[label]) for label in QUERIES)  # runCount agrees
    assert answer["first"] == ["a", 0.9, 0.01, ["baseline"], 2]
    assert answer["projects"] == ["audio", "vision"]


RUNS = """query Runs($cursor: String, $perPage: Int, $filters: JSONString, $order: String) {
  project(name: "vision", entityName: "acme") { internalId runCount(filters: $filters)
    runs(filters: $filters, after: $cursor, first: $perPage, order: $order) {
      edges { node { id name state config summaryMetrics systemMetrics historyLineCount historyKeys tags
                     user { name } } cursor }
      pageInfo { endCursor hasNextPage } } } }"""


def test_a_page_of_runs_costs_the_same_queries_for_2_or_40_runs(client, vision, owner, owner_key):
    def queries(per_page):
        with CaptureQueriesContext(connection) as captured:
            answer = gql(client, owner_key, RUNS, {"perPage": per_page, "order": "-created_at"})
        assert "errors" not in answer, answer
        return len(captured), answer["data"]["project"]["runs"]["edges"]

    queries(2)  # the key's first use of the day writes its last-used time
    few, edges = queries(2)
    for i in range(36):
        _run(vision, owner, f"x{i}", lr=0.5, loss=i)
    many, edges_many = queries(40)
    assert len(edges) == 2 and len(edges_many) == 40
    assert few == many
    assert edges_many[-1]["node"]["historyLineCount"] == 3 and edges_many[-1]["node"]["historyKeys"]["lastStep"] == 2


def test_a_filter_launchui_cannot_read_is_an_error_the_client_prints(client, vision, owner_key):
    for filters, message in (
        (json.dumps({"config.lr": {"$where": "1"}}), "$where"),
        (json.dumps({"bogus": 1}), "cannot be filtered by 'bogus'"),
        (
            json.dumps(
                {
                    "$or": [
                        {
                            "$or": [
                                {
                                    "$or": [
                                        {"$or": [{"$or": [{"$or": [{"$or": [{"$or": [{"$or": [{"name": "a"}]}]}]}]}]}]}
                                    ]
                                }
                            ]
                        }
                    ]
                }
            ),
            "deeper than 8",
        ),
    ):
        answer = gql(client, owner_key, RUNS, {"filters": filters})
        assert message in answer["errors"][0]["message"], answer


def test_an_outsider_lists_no_runs_of_the_entity(wandb_env, vision, outsider_key, member_key):
    script = """
import json, wandb
api = wandb.Api()
out = {}
for path in ("acme/vision", "nowhere/vision"):
    try:
        out[path] = [r.id for r in api.runs(path)]
    except Exception as exc:
        out[path] = type(exc).__name__ + ": " + str(exc).replace("acme", "X").replace("nowhere", "X")
print(json.dumps(out))
"""
    member = json.loads(run_python(script, wandb_env(member_key)).stdout.strip().splitlines()[-1])
    assert member["acme/vision"] == ["a", "b", "c", "d"]
    outsider = json.loads(run_python(script, wandb_env(outsider_key)).stdout.strip().splitlines()[-1])
    assert "not found" in outsider["acme/vision"]
    assert outsider["acme/vision"] == outsider["nowhere/vision"]  # nothing tells the entity exists
