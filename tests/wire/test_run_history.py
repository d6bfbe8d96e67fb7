"""Runs on the wire (issue 10): what a run reports through the file stream is kept, and wandb.Api() reads it
back: history, sampled history, the full scan, summary, config, system metrics, console output."""

import json
import math

import pytest

from launchui.projects import selectors
from launchui.projects.models import Run, RunStreamLine
from launchui.projects.services import project_get_or_create, run_upsert
from tests.wire.conftest import run_python
from tests.wire.test_graphql_endpoint import auth, gql

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]

LOG_1000_STEPS = """
import wandb
run = wandb.init(entity="acme", project="vision", id="r1000", name="long-run", notes="first try",
                 tags=["baseline", "gpu"], group="sweep-a", job_type="train",
                 config={"lr": 0.01, "layers": [64, 32], "nan_value": float("nan")})
for step in range(1000):
    run.log({"loss": 1.0 / (step + 1), "acc": step / 1000, "weird": float("nan") if step == 7 else step})
    if step % 100 == 0:
        print(f"step {step} done")
print("progress 10%", end="\\r")
print("progress 100%")
run.summary["best"] = float("inf")
run.finish()
"""

READ_RUN = """
import json, wandb
api = wandb.Api()
run = api.run("acme/vision/r1000")
full = run.history(pandas=False)
sampled = run.history(keys=["loss"], samples=10, pandas=False)
scan = list(run.scan_history())
print(json.dumps({
    "id": run.id, "name": run.name, "state": run.state, "tags": run.tags,
    "notes": run.notes, "group": run.group, "job_type": run.job_type, "config": dict(run.config),
    "summary": {k: v for k, v in run.summary.items() if not k.startswith("_")},
    "system_metrics": run.system_metrics, "history_line_count": run.lastHistoryStep,
    "full": full, "sampled": sampled, "scan": scan,
    "logs": [[line.number, line.level, line.content] for line in run.console_logs()],
    "system": run.history(stream="system", pandas=False),
}))
"""


def _last_json(stdout: str) -> dict:
    return json.loads(stdout.strip().splitlines()[-1])


def test_a_run_of_1000_steps_reads_back_through_the_api(wandb_env, team, owner_key):
    logged = run_python(LOG_1000_STEPS, wandb_env(owner_key, WANDB_X_STATS_SAMPLING_INTERVAL="0.1"), timeout=240)
    assert logged.returncode == 0, logged.stderr
    run = Run.objects.get(project__name="vision", name="r1000")
    assert RunStreamLine.objects.filter(run=run, file=RunStreamLine.HISTORY).count() == 1000

    read = run_python(READ_RUN, wandb_env(owner_key), timeout=240)
    assert read.returncode == 0, read.stderr
    answer = _last_json(read.stdout)
    assert (answer["id"], answer["name"], answer["state"]) == ("r1000", "long-run", "finished")
    assert answer["tags"] == ["baseline", "gpu"]
    assert (answer["notes"], answer["group"], answer["job_type"]) == ("first try", "sweep-a", "train")
    assert answer["config"] == {"lr": 0.01, "layers": [64, 32], "nan_value": None}  # wandb 0.31 sends NaN as null
    assert answer["summary"]["best"] == math.inf
    assert answer["summary"]["loss"] == 1 / 1000 and answer["summary"]["acc"] == 0.999
    assert answer["history_line_count"] == 999  # lastHistoryStep, from historyKeys

    # history(): 500 samples of the 1,000 rows, the first and the last kept, in step order.
    steps = [row["_step"] for row in answer["full"]]
    assert len(steps) == 500 and steps[0] == 0 and steps[-1] == 999 and steps == sorted(set(steps))
    # history(keys=, samples=): at most `samples` points, only the x axis and the keys asked for.
    assert [row["_step"] for row in answer["sampled"]] == [0, 111, 222, 333, 444, 555, 666, 777, 888, 999]
    assert all(set(row) == {"_step", "loss"} for row in answer["sampled"])
    assert answer["sampled"][-1]["loss"] == 1 / 1000
    # scan_history(): every row, in order, NaN kept.
    assert [row["_step"] for row in answer["scan"]] == list(range(1000))
    assert math.isnan(answer["scan"][7]["weird"])
    assert answer["scan"][500]["loss"] == 1 / 501 and answer["scan"][500]["weird"] == 500

    # Console: one line per print, the carriage-returned progress line kept once, as its last text.
    contents = [content for _, _, content in answer["logs"]]
    assert contents == [f"step {s} done" for s in range(0, 1000, 100)] + ["progress 100%"]
    assert [number for number, _, _ in answer["logs"]] == list(range(11))
    # System metrics were sampled and stored.
    assert RunStreamLine.objects.filter(run=run, file=RunStreamLine.EVENTS).exists()
    assert any(key.startswith("system.") for key in answer["system_metrics"])
    events = RunStreamLine.objects.filter(run=run, file=RunStreamLine.EVENTS).count()
    assert len(answer["system"]) == min(events, 500) and any(k.startswith("system.") for k in answer["system"][-1])


def test_member_reads_a_run_and_an_outsider_is_told_it_does_not_exist(wandb_env, team, owner, member_key, outsider_key):
    run, _ = run_upsert(project=project_get_or_create(entity=team, name="vision"), name="r1", created_by=owner)
    Run.objects.filter(pk=run.pk).update(summary={"loss": 0.5})
    script = """
import json, wandb
api = wandb.Api()
out = {}
for path in ("acme/vision/r1", "acme/vision/missing"):
    try:
        out[path] = api.run(path).summary["loss"]
    except Exception as exc:
        out[path] = type(exc).__name__ + ": " + str(exc).replace("missing", "X").replace("r1", "X")
print(json.dumps(out))
"""
    member = _last_json(run_python(script, wandb_env(member_key)).stdout)
    assert member["acme/vision/r1"] == 0.5
    outsider = _last_json(run_python(script, wandb_env(outsider_key)).stdout)
    assert "Error" in str(outsider["acme/vision/r1"])
    assert outsider["acme/vision/r1"] == outsider["acme/vision/missing"]  # nothing tells the run exists


def _stream(client, key, body, run="r1"):
    return client.post(
        f"/files/acme/vision/{run}/file_stream", json.dumps(body), content_type="application/json", **auth(key)
    )


@pytest.fixture
def streamed_run(team, owner):
    run, _ = run_upsert(project=project_get_or_create(entity=team, name="vision"), name="r1", created_by=owner)
    return run


def _history(run):
    return list(
        RunStreamLine.objects.filter(run=run, file=RunStreamLine.HISTORY)
        .order_by("line")
        .values_list("line", "step", "data")
    )


def test_a_file_stream_chunk_sent_twice_is_stored_once(client, owner_key, streamed_run):
    chunk = {
        "files": {
            "wandb-history.jsonl": {
                "offset": 0,
                "content": ['{"_step": 0, "loss": 1.0}', '{"_step": 1, "loss": NaN, "x": Infinity}'],
            }
        }
    }
    assert _stream(client, owner_key, chunk).status_code == 200
    assert _stream(client, owner_key, chunk).status_code == 200  # the client's retry
    later = {"files": {"wandb-history.jsonl": {"offset": 2, "content": ['{"_step": 2, "loss": 0.5}']}}}
    assert _stream(client, owner_key, later).status_code == 200
    rows = _history(streamed_run)
    assert [(line, step) for line, step, _ in rows] == [(0, 0), (1, 1), (2, 2)]
    assert math.isnan(rows[1][2]["loss"]) and rows[1][2]["x"] == math.inf  # stored faithfully


def test_a_console_line_resent_at_its_offset_replaces_it(client, owner_key, streamed_run):
    for content in (["epoch 1", "10%"], ["50%"], ["100%"]):
        offset = 0 if content == ["epoch 1", "10%"] else 1
        body = {"files": {"output.log": {"offset": offset, "content": content}}}
        assert _stream(client, owner_key, body).status_code == 200
    lines = RunStreamLine.objects.filter(run=streamed_run, file=RunStreamLine.OUTPUT).order_by("line")
    assert list(lines.values_list("line", "text")) == [(0, "epoch 1"), (1, "100%")]


def test_the_summary_is_replaced_by_the_latest_one(client, owner_key, streamed_run):
    for summary in ('{"loss": 1, "best": NaN}', '{"loss": 0.25, "best": -Infinity}'):
        body = {"files": {"wandb-summary.json": {"offset": 0, "content": [summary]}}}
        assert _stream(client, owner_key, body).status_code == 200
    streamed_run.refresh_from_db()
    assert streamed_run.summary == {"loss": 0.25, "best": -math.inf}


@pytest.mark.parametrize("line", ["not json", "[1, 2]", '{"a": "\\u0000"}', '{"a": ' * 100 + "1" + "}" * 100])
def test_a_bad_history_line_refuses_the_whole_chunk_and_writes_nothing(client, owner_key, streamed_run, line):
    body = {
        "files": {"wandb-history.jsonl": {"offset": 0, "content": ['{"_step": 0, "loss": 1}', line]}},
        "complete": True,
        "exitcode": 0,
    }
    response = _stream(client, owner_key, body)
    assert response.status_code == 400
    assert "wandb-history.jsonl line 1" in response.json()["errors"][0]["message"]
    assert _history(streamed_run) == []
    streamed_run.refresh_from_db()
    assert streamed_run.completed_at is None


def test_a_file_stream_request_over_the_line_cap_is_refused(client, owner_key, streamed_run, settings):
    body = {"files": {"output.log": {"offset": 0, "content": ["x"] * 10_001}}}
    response = _stream(client, owner_key, body)
    assert response.status_code == 400
    assert "more than 10,000 lines" in response.json()["errors"][0]["message"]
    assert not RunStreamLine.objects.filter(run=streamed_run).exists()


def test_a_long_console_line_is_cut_to_the_cap(client, owner_key, streamed_run):
    body = {"files": {"output.log": {"offset": 0, "content": ["y" * 100_000]}}}
    assert _stream(client, owner_key, body).status_code == 200
    assert len(RunStreamLine.objects.get(run=streamed_run).text) == 16 * 1024


def test_an_outsider_cannot_stream_into_a_run(client, outsider_key, streamed_run):
    body = {"files": {"wandb-history.jsonl": {"offset": 0, "content": ['{"_step": 0}']}}}
    assert _stream(client, outsider_key, body).status_code == 404
    assert _history(streamed_run) == []


RUN_READS = """query Run($entity: String!, $project: String!, $name: String!, $specs: [JSONString!]!) {
  project(name: $project, entityName: $entity) { run(name: $name) {
    id name tags config summaryMetrics systemMetrics historyLineCount historyKeys
    history(samples: 500) events(samples: 500) sampledHistory(specs: $specs)
    logLineCount logLines(first: 1000) { edges { node { number line } } pageInfo { endCursor hasNextPage } }
  } } }"""


def _queries_to_read(client, key, run, rows):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    lines = [json.dumps({"_step": i, "loss": i / 7}) for i in range(rows)]
    body = {
        "files": {
            "wandb-history.jsonl": {"offset": 0, "content": lines},
            "wandb-events.jsonl": {"offset": 0, "content": ['{"system.cpu": 3}'] * rows},
            "output.log": {"offset": 0, "content": [f"line {i}" for i in range(rows)]},
        }
    }
    assert _stream(client, key, body, run=run.name).status_code == 200

    with CaptureQueriesContext(connection) as queries:
        answer = gql(
            client,
            key,
            RUN_READS,
            {
                "entity": "acme",
                "project": "vision",
                "name": run.name,
                "specs": [json.dumps({"keys": ["_step", "loss"], "samples": 20})],
            },
        )
    assert "errors" not in answer, answer
    read = answer["data"]["project"]["run"]
    assert read["historyLineCount"] == rows and read["historyKeys"]["lastStep"] == rows - 1
    assert len(read["history"]) == min(rows, 500) and len(read["sampledHistory"][0]) == min(rows, 20)
    return len(queries)


def test_reading_a_run_costs_the_same_queries_for_10_or_2000_rows(client, team, owner, owner_key):
    project = project_get_or_create(entity=team, name="vision")
    small = run_upsert(project=project, name="small", created_by=owner)[0]
    large = run_upsert(project=project, name="large", created_by=owner)[0]
    # history(samples) and sampledHistory each cost two: the chart layer's buckets, then the rows picked.
    assert _queries_to_read(client, owner_key, small, 10) == _queries_to_read(client, owner_key, large, 2000) == 13


def test_history_keys_are_flattened_kept_latest_and_not_counted_twice_on_retry(client, owner_key, streamed_run):
    first = {
        "files": {
            "wandb-history.jsonl": {
                "offset": 0,
                "content": [
                    '{"_step": 0, "loss": 1.0, "dict": {"val1": 1.0}}',
                    '{"_step": 1, "loss": NaN, "dict": {"val1": 2.0}}',
                ],
            }
        }
    }
    second = {"files": {"wandb-history.jsonl": {"offset": 2, "content": ['{"_step": 2, "loss": 0.5, "tag": "x"}']}}}
    for body in (first, first, second, second):  # each chunk retried once
        assert _stream(client, owner_key, body).status_code == 200
    keys = selectors.run_history_keys(Run.objects.get(pk=streamed_run.pk))
    assert keys["lastStep"] == 2
    assert keys["keys"]["loss"] == {"typeCounts": [{"type": "number", "count": 3}], "previousValue": 0.5}
    assert keys["keys"]["dict.val1"] == {"typeCounts": [{"type": "number", "count": 2}], "previousValue": 2.0}
    assert keys["keys"]["tag"] == {"typeCounts": [{"type": "string", "count": 1}], "previousValue": "x"}


RESUME = """
import wandb
run = wandb.init(entity="acme", project="vision", id="resumed", resume="allow")
for i in range(5):
    run.log({"loss": float(i)})
print("session done")
run.finish()
"""
RESUME_STATUS = """query RunResumeStatus($project: String, $entity: String, $name: String!) {
  model(name: $project, entityName: $entity) { bucket(name: $name, missingOk: true) {
    historyLineCount logLineCount historyTail } } }"""


def test_a_resumed_run_appends_its_history_and_console_instead_of_overwriting(
    wandb_env, client, team, owner_key, outsider_key
):
    for _ in range(2):
        done = run_python(RESUME, wandb_env(owner_key), timeout=120)
        assert done.returncode == 0, done.stderr
    run = Run.objects.get(name="resumed")
    assert _history(run) == [(line, line, ANY_ROW) for line in range(10)]  # steps 5..9 after 0..4, none lost
    console = RunStreamLine.objects.filter(run=run, file=RunStreamLine.OUTPUT).order_by("line")
    assert [text.split(" ", 1)[1] for text in console.values_list("text", flat=True)] == ["session done"] * 2
    variables = {"entity": "acme", "project": "vision", "name": "resumed"}
    status = gql(client, owner_key, RESUME_STATUS, variables)["data"]["model"]["bucket"]
    assert (status["historyLineCount"], status["logLineCount"]) == (10, 2)
    assert json.loads(json.loads(status["historyTail"])[-1])["_step"] == 9
    refused = gql(client, outsider_key, RESUME_STATUS, variables)
    assert refused["data"]["model"] is None and "not found" in refused["errors"][0]["message"]


class _AnyRow:
    def __eq__(self, other):
        return isinstance(other, dict) and "loss" in other


ANY_ROW = _AnyRow()


UPSERT = """mutation U($input: UpsertBucketInput!) { upsertBucket(input: $input) {
  bucket { id tags notes group commit sweepName summaryMetrics } inserted } }"""


def test_upsert_bucket_keeps_every_field_the_client_sends_and_later_partial_upserts_lose_none(client, team, owner_key):
    first = {
        "entityName": "acme",
        "modelName": "vision",
        "name": "full",
        "displayName": "Full",
        "notes": "n1",
        "tags": ["a", "b"],
        "groupName": "g",
        "jobType": "train",
        "commit": "abc123",
        "jobRepo": "https://github.com/acme/vision.git",
        "state": "finished",  # not kept: the state is derived (launch/liveness.py)
        "jobProgram": "train.py",
        "host": "gpu-1",
        "sweep": "sw1",
        "config": '{"lr": {"value": 0.1}}',
        "summaryMetrics": '{"loss": 0.25, "best": NaN}',
    }
    answer = gql(client, owner_key, UPSERT, {"input": first})
    assert "errors" not in answer, answer
    run_id = answer["data"]["upsertBucket"]["bucket"]["id"]
    later = gql(client, owner_key, UPSERT, {"input": {"id": run_id, "tags": ["c"]}})  # the public API's update
    assert later["data"]["upsertBucket"]["bucket"]["tags"] == ["c"]
    run = Run.objects.get(name="full")
    assert (
        run.display_name,
        run.notes,
        run.group,
        run.job_type,
        run.commit,
        run.repo,
        run.program,
        run.host,
        run.sweep_name,
    ) == ("Full", "n1", "g", "train", "abc123", "https://github.com/acme/vision.git", "train.py", "gpu-1", "sw1")
    assert run.tags == ["c"] and run.config == {"lr": {"value": 0.1}}
    assert run.summary["loss"] == 0.25 and math.isnan(run.summary["best"])


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("tags", "not-a-list", "tags must be a list of strings"),
        ("summaryMetrics", "{nope", "summaryMetrics is not valid JSON"),
    ],
)
def test_upsert_bucket_refuses_bad_tags_and_summaries_with_a_message(client, team, owner_key, field, value, message):
    answer = gql(
        client, owner_key, UPSERT, {"input": {"entityName": "acme", "modelName": "vision", "name": "bad", field: value}}
    )
    assert message in answer["errors"][0]["message"]
    assert not Run.objects.filter(name="bad").exists()


def test_sampled_history_refuses_more_specs_than_the_cap(client, owner_key, streamed_run):
    specs = [json.dumps({"keys": ["loss"], "samples": 10})] * 9
    query = """query($specs: [JSONString!]!) { project(name: "vision", entityName: "acme") { run(name: "r1") {
      sampledHistory(specs: $specs) } } }"""
    answer = gql(client, owner_key, query, {"specs": specs})
    assert "at most 8" in answer["errors"][0]["message"]
