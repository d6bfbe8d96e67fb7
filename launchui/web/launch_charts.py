"""The Monitor tab's numbers and the geometry of its charts, drawn by the template as inline SVG.

Pure functions over items already read (launch.selectors.items_since): no queries here.
"""

import math
from datetime import datetime, timedelta

from django.utils import timezone

from launchui.launch.liveness import ITEM_STATUS_LABELS
from launchui.launch.selectors import ItemRow
from launchui.projects.states import RunState, run_state

STATUSES = list(ITEM_STATUS_LABELS)  # queued, idle, pending, running, stopping, finished, failed, crashed, killed
# Distinct fills for stacked bars; every chart also names its statuses in a legend and a table.
COLOURS = {
    "queued": "#f4b400",
    "idle": "#e37400",
    "pending": "#a142f4",
    "running": "#1a73e8",
    "stopping": "#b06000",
    "finished": "#188038",
    "failed": "#d93025",
    "crashed": "#8c1d18",
    "killed": "#80868b",
}
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 240, 64, 32, 12


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s" if seconds % 60 else f"{seconds // 60} min"
    hours, rest = divmod(seconds, 3600)
    return f"{hours} h {rest // 60} min" if rest // 60 else f"{hours} h"


def day_buckets(now: datetime | None = None, days: int = 7) -> list[tuple[datetime, datetime, str]]:
    """(start, end, label) for the last `days` local days, oldest first; the last one ends now."""
    now = timezone.localtime(now or timezone.now())
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    buckets = []
    for back in range(days - 1, -1, -1):
        start = today - timedelta(days=back)
        end = min(start + timedelta(days=1), now)
        buckets.append((start, end, start.strftime("%a %d %b")))
    return buckets


def _bucket_of(when: datetime, buckets) -> int | None:
    for index, (start, end, _) in enumerate(buckets):
        if start <= when < end or (index == len(buckets) - 1 and start <= when <= end):
            return index
    return None


def _nice_max(value: float) -> float:
    if value <= 0:
        return 2  # an empty chart still gets whole-number grid lines
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (2, 4, 6, 8, 10):  # even, so the middle grid line is a round number too
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def bar_chart(rows: list[dict], keys: list[str], colours: dict[str, str], fmt=str) -> dict:
    """Stacked bars: rows are [{"label", "values": {key: number}}]. Returns rects, axis ticks and labels."""
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    top = _nice_max(max((sum(r["values"].values()) for r in rows), default=0))
    slot = plot_w / max(len(rows), 1)
    bar = slot * 0.6
    bars, labels = [], []
    for index, row in enumerate(rows):
        x = LEFT + index * slot + (slot - bar) / 2
        y = TOP + plot_h
        for key in keys:
            value = row["values"].get(key, 0)
            if not value:
                continue
            h = plot_h * value / top
            y -= h
            bars.append(
                {
                    "x": round(x, 1),
                    "y": round(y, 1),
                    "w": round(bar, 1),
                    "h": round(h, 1),
                    "colour": colours[key],
                    "title": f"{row['label']}: {fmt(value)} {key}".rstrip(),
                }
            )
        labels.append({"x": round(LEFT + index * slot + slot / 2, 1), "text": row["label"]})
    ticks = [
        {"y": round(TOP + plot_h - plot_h * f, 1), "text": fmt(top * f if top * f % 1 else int(top * f))}
        for f in (0, 0.5, 1)
    ]
    return {
        **_frame(plot_h),
        "bars": bars,
        "labels": labels,
        "ticks": ticks,
    }


def monitor(rows: list[ItemRow], now: datetime | None = None) -> dict:
    """Status counts per day (stacked), average time queued per day, and the errors, newest first."""
    now = now or timezone.now()
    buckets = day_buckets(now)
    counts = [dict.fromkeys(STATUSES, 0) for _ in buckets]
    waits: list[list[float]] = [[] for _ in buckets]
    errors = []
    for row in rows:
        item = row.item
        index = _bucket_of(timezone.localtime(item.created_at), buckets)
        if index is None:
            continue
        counts[index][row.status] += 1
        if item.claimed_at:
            waits[index].append((item.claimed_at - item.created_at).total_seconds())
        if row.status in ("failed", "crashed"):
            errors.append(
                {
                    "at": item.updated_at,
                    "item": item,
                    "job": row.job_name,
                    "stage": item.error_stage or ("run" if row.run else ""),
                    "message": item.error_message or row.status_reason,
                    "files": item.error_file_paths,
                }
            )
    errors.sort(key=lambda e: e["at"], reverse=True)
    status_rows = [
        {"label": label, "values": counts[i], "total": sum(counts[i].values())}
        for i, (_, _, label) in enumerate(buckets)
    ]
    wait_rows = [
        {
            "label": label,
            "count": len(waits[i]),
            "average": sum(waits[i]) / len(waits[i]) if waits[i] else None,
            "values": {"average": sum(waits[i]) / len(waits[i]) if waits[i] else 0},
        }
        for i, (_, _, label) in enumerate(buckets)
    ]
    used = [s for s in STATUSES if any(row[s] for row in counts)]
    totals = {s: sum(row[s] for row in counts) for s in STATUSES}
    all_waits = [w for bucket in waits for w in bucket]
    return {
        "status_chart": bar_chart(status_rows, STATUSES, COLOURS),
        "status_rows": status_rows,
        "statuses": [(s, ITEM_STATUS_LABELS[s], COLOURS[s]) for s in used],
        "status_summary": ", ".join(f"{totals[s]} {ITEM_STATUS_LABELS[s].lower()}" for s in used) or "no items",
        "total": len(rows),
        "wait_chart": bar_chart(wait_rows, ["average"], {"average": "#1a73e8"}, fmt=duration_text),
        "wait_rows": wait_rows,
        "wait_summary": (
            f"{len(all_waits)} items claimed, on average {duration_text(sum(all_waits) / len(all_waits))} "
            f"after they were created; longest {duration_text(max(all_waits))}"
            if all_waits
            else "no item was claimed by an agent"
        ),
        "errors": errors,
        "since": buckets[0][0],
    }


# --- the queue's runs over the window: a timeline, and their system metrics -------------------------------

TIMELINE_MAX_RUNS = 200  # bars drawn (newest first); the table lists the same runs
TIMELINE_MAX_LANES = 24  # overlapping runs stack in lanes; beyond this they share the last lane
RUN_COLOURS = {
    "running": COLOURS["running"],
    "finished": COLOURS["finished"],
    "failed": COLOURS["failed"],
    "crashed": COLOURS["crashed"],
    "killed": COLOURS["killed"],
}
METRIC_COLOURS = {"cpu": "#1a73e8", "memory": "#188038", "gpu": "#e37400"}
METRIC_LABELS = {"cpu": "CPU", "memory": "Memory", "gpu": "GPU"}
METRIC_BUCKETS = 168  # one an hour over 7 days


def _x(when: float, since: float, until: float) -> float:
    plot_w = WIDTH - LEFT - 8
    return round(LEFT + plot_w * min(max((when - since) / (until - since), 0.0), 1.0), 1)


def _time_labels(buckets) -> list[dict]:
    since, until = buckets[0][0].timestamp(), buckets[-1][1].timestamp()
    return [{"x": _x(start.timestamp() + 43200, since, until), "text": start.strftime("%a")} for start, _, _ in buckets]


def timeline(runs: list[dict], now: datetime | None = None) -> dict:
    """One bar per run from its start to its end (or now), coloured by its state, stacked in lanes so that
    overlapping runs do not hide each other. `runs` are {"name", "project", "state", "state_label", "start",
    "end"}, newest first; at most TIMELINE_MAX_RUNS are drawn."""
    now = now or timezone.now()
    buckets = day_buckets(now)
    since, until = buckets[0][0].timestamp(), now.timestamp()
    shown = sorted(runs[:TIMELINE_MAX_RUNS], key=lambda r: r["start"])
    lane_ends: list[float] = []
    placed = []
    for run in shown:
        start, end = run["start"].timestamp(), run["end"].timestamp()
        lane = next((i for i, last in enumerate(lane_ends) if last <= start), None)
        if lane is None:
            if len(lane_ends) < TIMELINE_MAX_LANES:
                lane_ends.append(end)
                lane = len(lane_ends) - 1
            else:
                lane = len(lane_ends) - 1
        lane_ends[lane] = max(lane_ends[lane], end)
        placed.append((run, lane, start, end))
    plot_h = HEIGHT - BOTTOM - TOP
    lane_h = plot_h / max(len(lane_ends), 1)
    bars = []
    for run, lane, start, end in placed:
        x = _x(start, since, until)
        bars.append(
            {
                **run,
                "x": x,
                "y": round(TOP + lane * lane_h + lane_h * 0.15, 1),
                "w": max(round(_x(end, since, until) - x, 1), 2.0),  # a short run stays visible
                "h": round(max(lane_h * 0.7, 1.0), 1),
                "colour": RUN_COLOURS.get(run["state"], COLOURS["killed"]),
                "duration": duration_text(end - start),
            }
        )
    used = [s for s in RUN_COLOURS if any(r["state"] == s for r in shown)]
    return {
        **_frame(plot_h),
        "labels": _time_labels(buckets),
        "bars": bars,
        "states": [(s, s.capitalize(), RUN_COLOURS[s]) for s in used],
        "total": len(runs),
        "shown": len(shown),
    }


def _frame(plot_h: float) -> dict:
    """The size and axes' places that every Monitor chart's template reads."""
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - 8,
        "bottom": TOP + plot_h,
        "label_y": HEIGHT - 10,
    }


def metrics_chart(points: list[dict], now: datetime | None = None) -> dict:
    """Lines of average CPU, memory and GPU utilisation (percent) of the queue's runs per hour; `points` from
    projects.selectors.runs_system_metrics over the same 7 days in METRIC_BUCKETS slices."""
    now = now or timezone.now()
    buckets = day_buckets(now)
    since, until = buckets[0][0].timestamp(), now.timestamp()
    width = (until - since) / METRIC_BUCKETS
    plot_h = HEIGHT - BOTTOM - TOP
    lines = []
    for key in ("cpu", "memory", "gpu"):
        coords = [
            f"{_x(since + (p['bucket'] + 0.5) * width, since, until)},"
            f"{round(TOP + plot_h - plot_h * min(max(p[key], 0), 100) / 100, 1)}"
            for p in points
            if p.get(key) is not None
        ]
        if coords:
            lines.append(
                {"key": key, "label": METRIC_LABELS[key], "colour": METRIC_COLOURS[key], "points": " ".join(coords)}
            )
    rows = [
        {
            "at": datetime.fromtimestamp(since + p["bucket"] * width, tz=timezone.get_current_timezone()),
            "runs": p["runs"],
            "cpu": p.get("cpu"),
            "memory": p.get("memory"),
            "gpu": p.get("gpu"),
        }
        for p in points
    ]
    return {
        **_frame(plot_h),
        "labels": _time_labels(buckets),
        "ticks": [{"y": round(TOP + plot_h - plot_h * f, 1), "text": f"{int(f * 100)}%"} for f in (0, 0.5, 1)],
        "lines": lines,
        "rows": rows,
    }


def run_bars(rows: list[ItemRow], now: datetime | None = None) -> list[dict]:
    """The runs of the items (those that reported), newest first, as timeline() takes them: each with its
    state derived by projects/states.py."""
    now = now or timezone.now()
    bars = []
    for row in rows:
        run = row.run
        if run is None:
            continue
        state = run_state(run, now)
        end = run.completed_at or (now if state == RunState.RUNNING else run.heartbeat_at) or run.created_at
        bars.append(
            {
                "name": run.name,
                "label": run.display_name or run.name,
                "project": run.project.name,
                "state": str(state.value),
                "state_label": str(state.label),
                "start": run.created_at,
                "end": max(end, run.created_at),
                "pk": run.pk,
            }
        )
    return bars
