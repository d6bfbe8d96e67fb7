"""Reads of a run's stored stream: history, system metrics and console lines, each in a fixed number of
queries whatever the run's length. Callers have already scoped the run to the user (wire/ops/runs.py)."""

import json
import math
import operator
import posixpath
import re
from functools import reduce
from typing import Any

from django.db import connection
from django.db.models import Avg, Count, F, FloatField, Max, OuterRef, Q, Subquery, TextField, Value, Window
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Cast, Coalesce, Floor, NullIf, RowNumber

from launchui.core import limits
from launchui.core.json_values import NonFiniteDecoder
from launchui.projects import run_filters
from launchui.projects.models import Project, Run, RunFile, RunHistoryBucket, RunStreamLine


def clamp_samples(samples: Any, default: int = 500) -> int:
    """`samples` as the client sends it, within 1..RUN_HISTORY_MAX_SAMPLES."""
    if isinstance(samples, bool) or not isinstance(samples, int):
        samples = default
    return max(1, min(samples, limits.RUN_HISTORY_MAX_SAMPLES))


def _sampled(rows, samples: int):
    """At most `samples` rows of an ordered queryset, evenly spread, keeping the first and the last: one
    query. Row i (0-based) of n is kept when i*(s-1)/(n-1) reaches a new whole number."""
    rows = rows.annotate(
        rn=Window(RowNumber(), order_by=[F("step").asc(nulls_last=True), F("line").asc()]), n=Window(Count("id"))
    )
    if samples == 1:
        return rows.filter(rn=1)
    # n - 1 is 0 for a single row, and SQL evaluates the annotation even where n <= samples keeps the row:
    # NULLIF makes that division NULL instead of an error.
    spread = NullIf(F("n") - 1, Value(0))
    keep = Q(n__lte=samples) | Q(rn=1) | Q(bucket__gt=(F("rn") - 2) * (samples - 1) / spread)
    return rows.annotate(bucket=(F("rn") - 1) * (samples - 1) / spread).filter(keep)


def run_history_sample(run: Run, samples: int, *, file: str = RunStreamLine.HISTORY) -> list[dict]:
    """The run's history (or system-metric events) rows, sampled; W&B's `history(samples:)`: at most
    `samples` rows evenly spread, the first and the last kept. History is picked from the chart layer
    (RunHistoryBucket) in two small queries; events, and history older than the layer, scan the rows."""
    samples = clamp_samples(samples)
    if file == RunStreamLine.HISTORY and run.history_bucket_width is not None:
        buckets = list(
            RunHistoryBucket.objects.filter(run=run).order_by("index").values_list("first_step", "last_step")
        )
        steps = _spread(buckets, samples, exact=run.history_bucket_width == 1)
        if steps is not None:
            return _rows_at(run, steps, samples)
    rows = RunStreamLine.objects.filter(run=run, file=file)  # events have no step: ordered by line
    rows = _sampled(rows, samples)
    return [
        row.data or {}
        for row in sorted(rows.only("data", "step", "line"), key=lambda r: (r.step is None, r.step, r.line))
    ]


def run_sampled_history(run: Run, keys: list[str], samples: int, *, extremes: bool = False) -> list[dict]:
    """W&B's sampledHistory for one spec: rows holding any of `keys` (the first is the x axis, _step by
    default), reduced to those keys, at most `samples` of them with the first and the last.

    extremes=True is the chart's read: the steps are cut into at most `samples` equal ranges and, for each
    key, each range keeps its first point and its lowest and highest values, and the key's last point is
    kept: at most 3 x samples + 1 points a key, so a spike between two sampled rows is still drawn."""
    x_axis, wanted = (keys[0], keys[1:]) if len(keys) > 1 else ("_step", keys)
    samples = clamp_samples(samples)
    if run.history_bucket_width is not None:
        steps = _layer_steps(run, wanted, samples, extremes=extremes)
        if steps is not None:
            return _rows_at(run, steps, None if extremes else samples, keys=[x_axis, *wanted])
    matching = RunStreamLine.objects.filter(run=run, file=RunStreamLine.HISTORY, data__has_any_keys=wanted)
    if extremes:  # a run without the layer (history older than it): every matching row, at its own pace
        rows = _extremes_of(
            [(r.step or 0, r.data or {}) for r in matching.order_by("step", "line").only("step", "data")],
            wanted,
            samples,
        )
    else:
        rows = [
            (r.step or 0, r.data or {})
            for r in sorted(
                _sampled(matching, samples).only("data", "step", "line"),
                key=lambda r: (r.step is None, r.step, r.line),
            )
        ]
    return [{k: v for k, v in data.items() if k == x_axis or k in wanted} for _, data in rows]


def _spread(buckets: list[tuple[int, int]], samples: int, *, exact: bool) -> list[int] | None:
    """The steps of `samples` buckets evenly spread by position (first_step of each, and the last bucket's
    last step), as _sampled picks rows. None when the layer is too coarse to give that many (buckets wider
    than one step and no more buckets than samples): the caller then reads the rows."""
    n = len(buckets)
    if n == 0:
        return []
    if n <= samples:
        if not exact:
            return None
        return [first for first, _ in buckets]
    if samples == 1:
        return [buckets[0][0]]
    picks = {buckets[-(-k * (n - 1) // (samples - 1))][0] for k in range(samples - 1)}
    picks.add(buckets[-1][1])
    return sorted(picks)


def _layer_steps(run: Run, wanted: list[str], samples: int, *, extremes: bool) -> list[int] | None:
    """The steps to read for a sampledHistory spec, from the chart layer: one query over at most
    RUN_HISTORY_BUCKETS_MAX buckets, each reduced to the wanted keys' summaries in SQL."""
    buckets = _with_json(
        RunHistoryBucket.objects.filter(run=run).order_by("index"),
        ["index"],
        [KeyTransform(key, "data") for key in wanted],
    )
    if not extremes:
        present = []
        for _, *stats in buckets:
            held = [s for s in stats if s]
            if held:
                present.append((min(s[0] for s in held), max(s[1] for s in held)))
        return _spread(present, samples, exact=run.history_bucket_width == 1)
    steps: set[int] = set()
    for position in range(len(wanted)):
        held = [(index, stats[position]) for index, *stats in buckets if stats[position]]
        if not held:
            continue
        low, span = held[0][0], held[-1][0] - held[0][0] + 1
        groups: dict[int, list] = {}
        for index, stats in held:
            group = groups.get((index - low) * samples // span)
            if group is None:
                groups[(index - low) * samples // span] = list(stats)
            else:
                merge_bucket_stats(group, stats)
        for first, _, low_value, low_step, _, high_step in groups.values():
            steps.add(first)
            if low_value is not None:
                steps.update((low_step, high_step))
        steps.add(held[-1][1][1])
    return sorted(steps)


def merge_bucket_stats(have: list, stats: list) -> None:
    """Two summaries of a key in the chart layer, [first_step, last_step, min, min_step, max, max_step]
    (min and max null when no finite number was seen), as one, in place."""
    have[0], have[1] = min(have[0], stats[0]), max(have[1], stats[1])
    if stats[2] is not None and (have[2] is None or stats[2] < have[2]):
        have[2], have[3] = stats[2], stats[3]
    if stats[4] is not None and (have[4] is None or stats[4] > have[4]):
        have[4], have[5] = stats[4], stats[5]


def _extremes_of(rows: list[tuple[int, dict]], wanted: list[str], samples: int) -> list[tuple[int, dict]]:
    """extremes=True over rows already read (a run without the layer): the same points the layer gives."""
    if not rows:
        return []
    low, span = rows[0][0], rows[-1][0] - rows[0][0] + 1
    keep: set[int] = set()
    for key in wanted:
        groups: dict[int, list] = {}
        last = None
        for position, (step, data) in enumerate(rows):
            if key not in data:
                continue
            value = data[key]
            number = value if finite_number(value) else None
            stats = [position, position, number, position, number, position]
            group = groups.get((step - low) * samples // span)
            if group is None:
                groups[(step - low) * samples // span] = stats
            else:
                merge_bucket_stats(group, stats)
            last = position
        for first, _, low_value, low_at, _, high_at in groups.values():
            keep.add(first)
            if low_value is not None:
                keep.update((low_at, high_at))
        if last is not None:
            keep.add(last)
    return [rows[position] for position in sorted(keep)]


def finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _with_json(rows, fields: list[str], json_values: list) -> list[tuple]:
    """rows.values_list(*fields, *json_values), the JSON values decoded. On PostgreSQL they are read as
    text and decoded in one json.loads for the whole result: Django's JSONField decodes each value on its
    own, which costs more than the query for the thousand-row reads here."""
    names = {f"j{i}": value for i, value in enumerate(json_values)}
    if connection.vendor != "postgresql":
        return list(rows.annotate(**names).values_list(*fields, *names))
    as_text = {name: Cast(value, TextField()) for name, value in names.items()}
    found = list(rows.annotate(**as_text).values_list(*fields, *as_text))
    width = len(fields)
    texts = [text if text is not None else "null" for row in found for text in row[width:]]
    decoded = iter(json.loads("[" + ",".join(texts) + "]", cls=NonFiniteDecoder))
    return [(*row[:width], *(next(decoded) for _ in names)) for row in found]


def _rows_at(run: Run, steps: list[int], limit: int | None, *, keys: list[str] | None = None) -> list[dict]:
    """The history rows at these steps, in step order, in one indexed query; rows sharing a step beyond
    `limit` keep only their first. With `keys`, only the rows holding one of them (keys[0] aside, the x
    axis), reduced to those keys in SQL, so the rest of each row is never decoded (a JSON null reads as
    absent there)."""
    # On PostgreSQL the steps go as one array parameter: Django's IN list costs more to build than to run.
    wanted: Any = RawSQL("SELECT unnest(%s::bigint[])", (steps,)) if connection.vendor == "postgresql" else steps
    rows = RunStreamLine.objects.filter(run=run, file=RunStreamLine.HISTORY, step__in=wanted).order_by("step", "line")
    found: list[tuple[int, dict]]
    if keys is None:
        found = [(step, data or {}) for step, data in _with_json(rows, ["step"], [F("data")])]
    else:
        found = []
        for step, *values in _with_json(rows, ["step"], [KeyTransform(key, "data") for key in keys]):
            row = {key: value for key, value in zip(keys, values, strict=True) if value is not None}
            if len(row) > (keys[0] in row):
                found.append((step, row))
    if limit is not None and len(found) > limit:
        seen: set[int] = set()
        found = [(step, data) for step, data in found if not (step in seen or seen.add(step))]  # type: ignore[func-returns-value]
    return [data for _, data in found]


def run_history_page(run: Run, *, min_step: int, max_step: int | None, limit: int) -> list[dict]:
    """History rows with min_step <= _step < max_step, in step order, at most `limit` of them."""
    return [row.data or {} for row in _history_range(run, min_step, max_step).only("data")[:limit]]


def run_history_page_lines(run: Run, *, min_step: int, max_step: int | None, limit: int) -> list[str]:
    """run_history_page as the JSON lines the client parses (a page of scan_history). The stored JSON is
    passed through as text (jsonb's text on PostgreSQL, the stored text on SQLite), decoded and encoded again
    only where a row holds NaN or ±Infinity (stored tagged, core/json_values.py)."""
    rows = _history_range(run, min_step, max_step)
    texts = rows.annotate(json_text=Cast("data", TextField())).values_list("json_text", flat=True)[:limit]
    return [
        json.dumps(json.loads(text, cls=NonFiniteDecoder)) if '"$float"' in text else text
        for text in texts
        if text is not None
    ]


def _history_range(run: Run, min_step: int, max_step: int | None):
    rows = RunStreamLine.objects.filter(run=run, file=RunStreamLine.HISTORY, step__gte=min_step)
    if max_step is not None:
        rows = rows.filter(step__lt=max_step)
    return rows.order_by("step", "line")


def run_history_keys(run: Run) -> dict:
    """W&B's historyKeys: each key with how many rows hold it (by JSON type), and the last step."""
    return {"keys": history_keys(run), "lastStep": run_last_step(run)}


def history_keys(run: Run) -> dict:
    """The run's history keys as W&B names them, each with its rows by type and its latest value."""
    keys = (run.history_keys or {}).get("keys", {})
    return {
        key: {"typeCounts": entry["typeCounts"], "previousValue": entry.get("previousValue")}
        for key, entry in keys.items()
    }


def run_last_step(run: Run) -> int:
    last = RunStreamLine.objects.filter(run=run, file=RunStreamLine.HISTORY).aggregate(last=Max("step"))["last"]
    return -1 if last is None else last


def run_history_line_count(run: Run) -> int:
    return RunStreamLine.objects.filter(run=run, file=RunStreamLine.HISTORY).count()


def run_latest_events(run: Run) -> dict:
    """The run's latest system-metric sample: W&B's `systemMetrics`."""
    row = RunStreamLine.objects.filter(run=run, file=RunStreamLine.EVENTS).order_by("-line").only("data").first()
    return (row.data or {}) if row else {}


def run_console_lines(run: Run, *, after: int = -1, limit: int = 1000) -> list[tuple[int, str]]:
    """Console lines (output.log) after a line number, in order, at most `limit`."""
    rows = (
        RunStreamLine.objects.filter(run=run, file=RunStreamLine.OUTPUT, line__gt=after)
        .order_by("line")
        .values_list("line", "text")[:limit]
    )
    return list(rows)


def run_resume_facts(run: Run) -> dict:
    """Where a resumed run carries on (W&B's RunResumeStatus), in two queries: each file's next line (so
    the resumed run appends instead of overwriting), and the last history and events rows."""
    next_line = {RunStreamLine.HISTORY: 0, RunStreamLine.EVENTS: 0, RunStreamLine.OUTPUT: 0}
    for row in RunStreamLine.objects.filter(run=run).values("file").annotate(last=Max("line")):
        next_line[row["file"]] = row["last"] + 1
    tails: dict[str, dict] = {}
    lasts = Q(pk__in=[])
    for kind in (RunStreamLine.HISTORY, RunStreamLine.EVENTS):
        if next_line[kind]:
            lasts |= Q(file=kind, line=next_line[kind] - 1)
    for tail in RunStreamLine.objects.filter(lasts, run=run).only("file", "data"):
        tails[tail.file] = tail.data or {}
    return {"next_line": next_line, "tails": tails}


def run_console_line_count(run: Run) -> int:
    return RunStreamLine.objects.filter(run=run, file=RunStreamLine.OUTPUT).count()


# How the client writes a console line: "ERROR " for stderr, then an ISO timestamp, a space and the text.
_CONSOLE_LINE = re.compile(r"(?P<error>ERROR )?(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?) ?(?P<text>.*)", re.S)


def console_line_parts(text: str) -> tuple[str, str | None, str]:
    """(level, timestamp, content) of a stored console line."""
    match = _CONSOLE_LINE.fullmatch(text)
    if match is None:
        return "info", None, text
    return ("error" if match["error"] else "info"), match["ts"], match["text"]


def json_lines(rows: list[dict]) -> list[str]:
    """Rows as the JSON lines the client parses; NaN and ±Infinity as the tokens it sent (Python reads them)."""
    return [json.dumps(row) for row in rows]


def _like_regex(pattern: str) -> str:
    """W&B's file `pattern` is SQL LIKE (% and _), matched here as an anchored regular expression."""
    return "^" + "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern[:512]) + "$"


def run_files(run: Run, *, names: list[str] | None = None, pattern: str | None = None):
    """The run's uploaded files, by name; `names` (exact) and `pattern` (LIKE) narrow them."""
    files = RunFile.objects.filter(run=run)
    if names:
        # The client asks for a file as the user named it ("./notes.txt"); it uploaded it as "notes.txt".
        wanted = [posixpath.normpath(n) for n in names if isinstance(n, str) and n][: limits.GRAPHQL_MAX_LIST_PAGE]
        files = files.filter(name__in=wanted)
    if isinstance(pattern, str) and pattern:
        files = files.filter(name__regex=_like_regex(pattern))
    return files.order_by("name")


def project_runs(project, *, filters: Any = None, order: Any = None):
    """The project's runs matching W&B filters, in W&B order (run_filters.py); ValidationError on bad ones."""
    runs = Run.objects.filter(project=project).select_related("project__entity", "created_by")
    return run_filters.order_runs(run_filters.filter_runs(runs, filters), order)


def run_stream_facts(run_ids: list[int], *, events: bool = True) -> dict[int, dict]:
    """For a page of runs, in two queries whatever its size: each run's history line count and last step,
    and latest system metrics (what the run fragment reads; the keys are on the run, history_keys())."""
    facts = {pk: {"count": 0, "last_step": -1, "events": {}} for pk in run_ids}
    if not run_ids:
        return facts
    history = RunStreamLine.objects.filter(run_id__in=run_ids, file=RunStreamLine.HISTORY)
    for row in history.values("run_id").annotate(count=Count("id"), last=Max("step")):
        facts[row["run_id"]].update(count=row["count"], last_step=-1 if row["last"] is None else row["last"])
    if not events:
        return facts
    events_of = RunStreamLine.objects.filter(run_id__in=run_ids, file=RunStreamLine.EVENTS)
    if connection.vendor == "postgresql":
        latest = events_of.order_by("run_id", "-line").distinct("run_id").only("run_id", "data")
    else:  # no DISTINCT ON (SQLite): each run's last line number, then those lines; one query more
        last = events_of.values("run_id").annotate(last=Max("line")).values_list("run_id", "last")
        pairs = [Q(run_id=run_id, line=line) for run_id, line in last]
        latest = events_of.filter(reduce(operator.or_, pairs, Q(pk__in=[]))).only("run_id", "data")
    for event in latest:
        facts[event.run_id]["events"] = event.data or {}
    return facts


def project_for_user(user, entity_name: str, project_name: str):
    """The named project when the user is a member of its entity; None otherwise (one query)."""
    return (
        Project.objects.select_related("entity")
        .filter(entity__name=entity_name, name=project_name, entity__memberships__user=user)
        .first()
    )


def run_for_user(user, *, entity_name: str, project_name: str, run_name: str) -> Run | None:
    """A run by its address, only for members of its entity (one query); None for outsiders and missing runs
    alike, so that an outsider learns nothing."""
    return (
        Run.objects.filter(
            project__entity__name=entity_name,
            project__entity__memberships__user=user,
            project__name=project_name,
            name=run_name,
        )
        .select_related("project__entity", "created_by")
        .first()
    )


def projects_for_user(user):
    """Projects of every entity the user is a member of, with their run counts and latest run: the Projects
    page. Both are correlated subqueries, computed for the page's rows only (a join would multiply them)."""
    runs = Run.objects.filter(project=OuterRef("pk")).order_by()
    count = runs.values("project").annotate(n=Count("id")).values("n")
    latest = runs.order_by("-created_at").values("created_at")[:1]
    return (
        Project.objects.select_related("entity")
        .filter(entity__memberships__user=user)
        .annotate(run_count=Coalesce(Subquery(count), 0), last_run_at=Subquery(latest))
        .order_by("entity__name", "name")
    )


def runs_by_name(project: Project, names: list[str]) -> list[Run]:
    """The project's runs with these names, in the order named (one query)."""
    found = {run.name: run for run in Run.objects.filter(project=project, name__in=names)}
    return [found[name] for name in names if name in found]


# The system metrics the queue Monitor charts, as the client names them in wandb-events.jsonl (percentages).
SYSTEM_SERIES = {"cpu": "system.cpu", "memory": "system.memory_percent", "gpu": "system.gpu.0.gpu"}


def runs_system_metrics(run_ids: list[int], *, since: float, until: float, buckets: int) -> list[dict]:
    """The runs' CPU, memory and GPU (device 0) utilisation over time: their system-metrics rows averaged in
    `buckets` equal slices of [since, until) (unix seconds), one query whatever the runs' lengths. Returns
    [{"bucket": i, "cpu": avg|None, "memory": ..., "gpu": ..., "runs": how many runs reported}] for the
    slices with data, in order."""
    if not run_ids or until <= since:
        return []
    timestamp = Cast(KeyTextTransform("_timestamp", "data"), FloatField())
    width = (until - since) / buckets
    averages = {
        name: Avg(Cast(KeyTextTransform(key, "data"), FloatField()), filter=Q(data__has_key=key))
        for name, key in SYSTEM_SERIES.items()
    }
    rows = (
        RunStreamLine.objects.filter(run_id__in=run_ids, file=RunStreamLine.EVENTS, data__has_key="_timestamp")
        .annotate(ts=timestamp)
        .filter(ts__gte=since, ts__lt=until)
        .annotate(bucket=Floor((F("ts") - since) / width))
        .values("bucket")
        .annotate(runs=Count("run_id", distinct=True), **averages)
        .order_by("bucket")
    )
    return [{**row, "bucket": int(row["bucket"])} for row in rows]


def run_console_tail(run: Run, *, limit: int = 1000) -> list[tuple[int, str]]:
    """The last `limit` console lines, in order (one query on the (run, file, line) index)."""
    rows = (
        RunStreamLine.objects.filter(run=run, file=RunStreamLine.OUTPUT)
        .order_by("-line")
        .values_list("line", "text")[:limit]
    )
    return list(reversed(list(rows)))


def run_console_search(run: Run, text: str, *, limit: int = 1000) -> list[tuple[int, str]]:
    """Console lines containing `text` (case-insensitive), in order, at most `limit` (one query)."""
    rows = (
        RunStreamLine.objects.filter(run=run, file=RunStreamLine.OUTPUT, text__icontains=text[:200])
        .order_by("line")
        .values_list("line", "text")[:limit]
    )
    return list(rows)


def run_console_all(run: Run, *, page: int = 5000):
    """Every console line, in order, fetched `page` lines at a time (bounded memory for any length)."""
    after = -1
    while True:
        rows = run_console_lines(run, after=after, limit=page)
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1][0]
