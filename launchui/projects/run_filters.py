"""W&B's run filters and orders (api.runs(path, filters=..., order=...)) as one bounded SQL query.

The client sends MongoDB-style JSON: {"state": "finished"}, {"tags": {"$in": ["a"]}},
{"config.lr": {"$gt": 0.01}}, {"summary_metrics.loss": {"$lt": 0.5}}, {"display_name": {"$regex": "^x"}},
{"$and": [...]}, {"$or": [...]}. Each field maps to a column or a JSON path of the config (stored as the
client sends it, {"lr": {"value": 0.01}}) or the summary. The filter's size and nesting are capped; an
unknown field or operator is a ValidationError the client prints.
"""

import re
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Case, F, Q, QuerySet, Value, When
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Coalesce
from django.utils import timezone

from launchui.projects.states import RunState

MAX_CONDITIONS = 50
MAX_DEPTH = 8
COLUMNS = {
    "name": "name",
    "display_name": "display_name",
    "displayName": "display_name",
    "group": "group",
    "job_type": "job_type",
    "jobType": "job_type",
    "created_at": "created_at",
    "createdAt": "created_at",
    "heartbeat_at": "heartbeat_at",
    "heartbeatAt": "heartbeat_at",
    "host": "host",
    "notes": "notes",
}
COMPARISONS = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte", "$eq": "exact", "$in": "in"}
_SEGMENT = re.compile(r"[^\x00]{1,256}")


class _Translation:
    def __init__(self, now):
        self.now = now
        self.annotations: dict[str, Any] = {}
        self.conditions = 0

    def alias(self, expression) -> str:
        name = f"filter_{len(self.annotations)}"
        self.annotations[name] = expression
        return name

    def q(self, filters: Any, depth: int = 1) -> Q:
        if not isinstance(filters, dict):
            raise ValidationError("filters must be a JSON object.")
        if depth > MAX_DEPTH:
            raise ValidationError(f"filters are nested deeper than {MAX_DEPTH} levels (the limit).")
        combined = Q()
        for key, value in filters.items():
            if key in ("$and", "$or"):
                if not isinstance(value, list):
                    raise ValidationError(f"{key} takes a list of filters.")
                parts = [self.q(part, depth + 1) for part in value]
                joined = Q()
                for part in parts:
                    joined = (joined & part) if key == "$and" else (joined | part)
                combined &= joined if parts else Q()
            else:
                combined &= self.field(key, value)
        return combined

    def field(self, key: str, value: Any) -> Q:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise ValidationError(f"filters hold more than {MAX_CONDITIONS} conditions (the limit).")
        if key == "state":
            return self.state(value)
        if key == "tags":
            return self.tags(value)
        if key in COLUMNS:
            return self.compare(COLUMNS[key], value, text=COLUMNS[key])
        root, _, path = key.partition(".")
        if root in ("config", "summary_metrics", "summaryMetrics", "summary") and path:
            segments = path.split(".")
            if root == "config" and segments[-1] != "value":
                segments.append("value")  # the client stores each config value as {"value": ...}
            column = "config" if root == "config" else "summary"
            if not all(_SEGMENT.fullmatch(s) for s in segments):
                raise ValidationError(f"The filter key {key[:100]!r} is not valid.")
            json_value: Any = F(column)
            for segment in segments:
                json_value = KeyTransform(segment, json_value)
            text = KeyTextTransform(segments[-1], _parent(column, segments))
            return self.compare(self.alias(json_value), value, text=self.alias(text))
        raise ValidationError(f"Runs cannot be filtered by {key[:100]!r}.")

    def compare(self, target: str, value: Any, *, text: str) -> Q:
        if not isinstance(value, dict):
            return Q(**{target: value})
        combined = Q()
        for operator, operand in value.items():
            if operator == "$regex":
                if not isinstance(operand, str) or len(operand) > 1000:
                    raise ValidationError("$regex takes a regular expression of at most 1,000 characters.")
                combined &= Q(**{f"{text}__regex": operand})
            elif operator in ("$ne", "$nin"):
                lookup = "in" if operator == "$nin" else "exact"
                combined &= ~Q(**{f"{target}__{lookup}": _operand(operator, operand)})
            elif operator == "$exists":
                combined &= Q(**{f"{target}__isnull": not operand})
            elif operator in COMPARISONS:
                combined &= Q(**{f"{target}__{COMPARISONS[operator]}": _operand(operator, operand)})
            else:
                raise ValidationError(f"The filter operator {str(operator)[:50]!r} is not supported.")
        return combined

    def tags(self, value: Any) -> Q:
        if isinstance(value, str):
            return Q(tags__contains=[value])
        if isinstance(value, dict) and set(value) <= {"$in", "$nin", "$all"}:
            combined = Q()
            for operator, tags in value.items():
                tags = _operand("$in", tags)
                if not all(isinstance(t, str) for t in tags):
                    raise ValidationError("Tags are strings.")
                any_of = Q(pk__in=[])
                for tag in tags:
                    any_of |= Q(tags__contains=[tag])
                if operator == "$in":
                    combined &= any_of
                elif operator == "$nin":
                    combined &= ~any_of if tags else Q()
                else:
                    combined &= Q(tags__contains=tags)
            return combined
        raise ValidationError("tags filters take a tag or {$in|$nin|$all: [tags]}.")

    def state(self, value: Any) -> Q:
        states = value.get("$in") if isinstance(value, dict) else [value]
        negate = False
        if isinstance(value, dict) and set(value) == {"$ne"}:
            states, negate = [value["$ne"]], True
        elif isinstance(value, dict) and set(value) == {"$nin"}:
            states, negate = value["$nin"], True
        if not isinstance(states, list) or not all(s in RunState.values for s in states):
            raise ValidationError(f"state filters take one of {', '.join(RunState.values)}, or $in/$ne/$nin.")
        combined = Q(pk__in=[])
        for state in states:
            combined |= state_q(state, self.now)
        return ~combined if negate else combined


def _parent(column: str, segments: list[str]):
    parent: Any = F(column)
    for segment in segments[:-1]:
        parent = KeyTransform(segment, parent)
    return parent


def _operand(operator: str, operand: Any) -> Any:
    if operator in ("$in", "$nin"):
        if not isinstance(operand, list) or len(operand) > 1000:
            raise ValidationError(f"{operator} takes a list of at most 1,000 values.")
    elif isinstance(operand, (dict, list)):
        raise ValidationError(f"{operator} takes a single value.")
    return operand


def state_q(state: str, now) -> Q:
    """The runs in a W&B state, as projects/states.run_status derives it from the run's own facts, for a query
    (Stopping counts as running, as the client reads it)."""
    silent_since = now - timedelta(seconds=settings.LAUNCHUI_RUN_CRASHED_AFTER)
    allowance = timedelta(seconds=settings.LAUNCHUI_RUN_UNWATCHED_AFTER)
    # A completion counts unless it came after the process was known gone (states.run_status).
    finished = Q(completed_at__isnull=False) & (
        Q(stop_checked_at__isnull=True) | Q(completed_at__lte=F("stop_checked_at") + allowance)
    )
    gone = Q(stop_checked_at__lt=now - allowance)
    if state == RunState.FINISHED:
        return finished & Q(exit_code=0)
    if state == RunState.FAILED:
        return finished & ~Q(exit_code=0) & Q(stop_requested=False)
    if state == RunState.KILLED:
        return (finished & ~Q(exit_code=0) & Q(stop_requested=True)) | (~finished & gone & Q(stop_requested=True))
    alive = Q(heartbeat_at__gte=silent_since) | Q(heartbeat_at__isnull=True, created_at__gte=silent_since)
    if state in (RunState.RUNNING, RunState.STOPPING):
        return ~finished & ~gone & alive
    return ~finished & ((gone & Q(stop_requested=False)) | (~gone & ~alive))  # crashed


def filter_runs(runs: QuerySet, filters: Any) -> QuerySet:
    """The runs matching W&B filters; a ValidationError for filters launchui cannot read."""
    if not filters:
        return runs
    translation = _Translation(timezone.now())
    condition = translation.q(filters)
    if translation.annotations:
        runs = runs.alias(**translation.annotations)
    return runs.filter(condition)


def runtime_expression() -> Any:
    """A run's runtime as the pages show it: from creation to its end, or to its last heartbeat."""
    return Coalesce(F("completed_at"), F("heartbeat_at"), F("created_at")) - F("created_at")


def state_expression(now) -> Case:
    """The run's W&B state as a SQL value (state_q for each state), so that pages can sort by it."""
    return Case(*[When(state_q(state, now), then=Value(state)) for state in RunState.values], default=Value(""))


def order_runs(runs: QuerySet, order: Any, *, extra: dict[str, Any] | None = None) -> QuerySet:
    """W&B orders: [+-]created_at, heartbeat_at, name, display_name, runtime, state, summary_metrics.KEY,
    config.KEY[.value]; `extra` adds orders a caller annotates (a page's job or queue). Runs without the key
    come last either way. Ties are broken by id so pages never overlap."""
    text = order if isinstance(order, str) and order else "-created_at"
    descending = text.startswith("-")
    key = text.lstrip("+-")
    expression: Any
    if extra and key in extra:
        expression = extra[key]
    elif key in COLUMNS:
        expression = F(COLUMNS[key])
    elif key == "runtime":
        expression = runtime_expression()
    elif key == "state":
        expression = state_expression(timezone.now())
    else:
        root, _, path = key.partition(".")
        if root not in ("config", "summary_metrics", "summaryMetrics", "summary") or not path:
            raise ValidationError(f"Runs cannot be ordered by {key[:100]!r}.")
        segments = path.split(".")
        if root == "config" and segments[-1] != "value":
            segments.append("value")
        expression = F("config" if root == "config" else "summary")
        for segment in segments:
            expression = KeyTransform(segment, expression)
    if key in COLUMNS and not runs.model._meta.get_field(COLUMNS[key]).null:
        # A column that is never NULL is ordered without NULLS LAST (the same order): the plain form is what
        # an index can declare on SQLite too, so run_by_project_newest serves the default order on both.
        ordered = expression.desc() if descending else expression.asc()
    else:
        ordered = expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
    return runs.order_by(ordered, "-id" if descending else "id")
