"""The chart layer of a run's history (RunHistoryBucket): kept at ingest, read by history(samples),
sampledHistory and the run page's charts instead of every row."""

import json

import pytest

from launchui.core import limits
from launchui.projects import selectors
from launchui.projects.models import Run, RunHistoryBucket
from launchui.projects.services import project_get_or_create, run_stream, run_upsert

pytestmark = pytest.mark.django_db

SPIKE_UP, SPIKE_DOWN = 4321, 8765


def loss(step: int) -> float:
    if step == SPIKE_UP:
        return 50.0
    if step == SPIKE_DOWN:
        return -50.0
    return 1.0 / (step + 1)


def stream(run: Run, start: int, stop: int) -> None:
    lines = [json.dumps({"_step": s, "loss": loss(s), "epoch": s // 100, "note": f"s{s}"}) for s in range(start, stop)]
    run_stream(
        run=run, complete=False, exit_code=None, files={"wandb-history.jsonl": {"offset": start, "content": lines}}
    )


def new_run(team, owner, name: str, steps: int) -> Run:
    run = run_upsert(project=project_get_or_create(entity=team, name="p"), name=name, created_by=owner)[0]
    for start in range(0, steps, 1000):
        stream(run, start, min(start + 1000, steps))
    return Run.objects.get(pk=run.pk)


def test_a_long_run_keeps_a_bounded_layer_and_its_reads_keep_first_last_and_the_spikes(team, owner):
    run = new_run(team, owner, "long", 10_000)
    assert run.history_bucket_width == 8  # 10,000 steps: doubled from 1 each time the cap was passed
    assert run.history_bucket_count == RunHistoryBucket.objects.filter(run=run).count() == 1250
    assert run.history_bucket_count <= limits.RUN_HISTORY_BUCKETS_MAX

    rows = selectors.run_history_sample(run, 500)
    steps = [row["_step"] for row in rows]
    assert len(rows) == 500 and steps == sorted(steps) and steps[0] == 0 and steps[-1] == 9999
    assert all(row["loss"] == loss(row["_step"]) and row["note"] == f"s{row['_step']}" for row in rows)

    sampled = selectors.run_sampled_history(run, ["_step", "loss"], 50)
    assert len(sampled) == 50 and sampled[0]["_step"] == 0 and sampled[-1]["_step"] == 9999
    assert all(set(row) == {"_step", "loss"} for row in sampled)

    chart = selectors.run_sampled_history(run, ["_step", "loss"], 50, extremes=True)
    chart_steps = [row["_step"] for row in chart]
    assert chart_steps == sorted(set(chart_steps)) and len(chart) <= 3 * 50 + 1
    assert {0, 9999, SPIKE_UP, SPIKE_DOWN} <= set(chart_steps)  # first, last, the highest and the lowest
    assert all(row["loss"] == loss(row["_step"]) for row in chart)
    # The same spikes are gone from the evenly spread sample: that is what the chart read is for.
    assert not {SPIKE_UP, SPIKE_DOWN} & {row["_step"] for row in sampled}

    # Another x axis: its value comes from the same rows.
    by_epoch = selectors.run_sampled_history(run, ["epoch", "loss"], 50, extremes=True)
    assert all(set(row) == {"epoch", "loss"} for row in by_epoch)
    assert {"epoch": SPIKE_UP // 100, "loss": 50.0} in by_epoch


def test_a_resent_chunk_leaves_the_layer_as_it_was(team, owner):
    run = new_run(team, owner, "r", 3000)
    before = list(RunHistoryBucket.objects.filter(run=run).order_by("index").values_list("index", "data"))
    stream(run, 1000, 2000)
    run.refresh_from_db()
    after = list(RunHistoryBucket.objects.filter(run=run).order_by("index").values_list("index", "data"))
    assert before == after and run.history_bucket_count == len(after)


def test_at_one_step_a_bucket_the_layer_reads_what_the_row_scan_reads(team, owner):
    """Below the cap every step is its bucket: the layer's answers equal those of a run without it."""
    run = new_run(team, owner, "exact", 1000)
    assert run.history_bucket_width == 1
    with_layer = (
        selectors.run_history_sample(run, 10),
        selectors.run_sampled_history(run, ["_step", "loss"], 10),
        selectors.run_sampled_history(run, ["_step", "loss"], 7, extremes=True),
    )
    run.history_bucket_width = None  # as a run streamed before the layer existed is read
    scanned = (
        selectors.run_history_sample(run, 10),
        selectors.run_sampled_history(run, ["_step", "loss"], 10),
        selectors.run_sampled_history(run, ["_step", "loss"], 7, extremes=True),
    )
    assert with_layer == scanned
    assert [row["_step"] for row in with_layer[1]] == [0, 111, 222, 333, 444, 555, 666, 777, 888, 999]


def test_a_chart_read_costs_the_same_queries_for_a_short_or_a_long_run(team, owner, django_assert_num_queries):
    short, long = new_run(team, owner, "short", 20), new_run(team, owner, "longer", 5000)
    for run in (short, long):
        with django_assert_num_queries(2):  # the layer's buckets, then the rows picked
            assert selectors.run_sampled_history(run, ["_step", "loss"], 500, extremes=True)
        with django_assert_num_queries(2):
            assert selectors.run_history_sample(run, 500)


def test_runs_streamed_before_the_layer_existed_are_read_from_their_rows(team, owner):
    run = run_upsert(project=project_get_or_create(entity=team, name="p"), name="old", created_by=owner)[0]
    Run.objects.filter(pk=run.pk).update(history_bucket_width=None)
    run.refresh_from_db()
    stream(run, 0, 600)
    assert not RunHistoryBucket.objects.filter(run=run).exists()
    assert [row["_step"] for row in selectors.run_sampled_history(run, ["_step", "loss"], 3)] == [0, 300, 599]
