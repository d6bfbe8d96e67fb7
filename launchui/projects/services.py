"""Writes for projects and runs. The browser, the wire protocol and the job builds call these."""

from typing import Any, cast

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from launchui.accounts import selectors as account_selectors
from launchui.accounts.models import Entity
from launchui.core import limits, storage, user_data
from launchui.projects import run_files
from launchui.projects.models import Project, Run, RunFile, RunHistoryBucket, RunStreamLine
from launchui.projects.selectors import finite_number, merge_bucket_stats

# Where W&B puts a run or an artifact whose client names no project.
DEFAULT_PROJECT = "uncategorized"


def validate_project_name(name: object) -> str:
    if not isinstance(name, str) or not name or len(name) > 128 or "/" in name:
        raise ValidationError(f"Project name {str(name)[:200]!r} is not valid.")
    return name


def project_get_or_create(*, entity: Entity, name: str) -> Project:
    validate_project_name(name)
    project, _ = Project.objects.get_or_create(entity=entity, name=name)
    return project


def run_request_stop(*, run: Run, by: User | None) -> bool:
    """Ask a run to stop. Its process learns it from its own stop check (every 15 s, through wandb-core) and
    is interrupted; its agent learns it from RunStoppedStatus (every 10 s) and ends the process after its
    stopped_run_timeout. The first request counts: who and when stay as they were. False if already asked."""
    now = timezone.now()
    asked = Run.objects.filter(pk=run.pk, stop_requested=False).update(
        stop_requested=True, stop_requested_at=now, stopped_by=by
    )
    if asked:
        run.stop_requested, run.stop_requested_at, run.stopped_by = True, now, by
    return bool(asked)


def run_stop_checked(*, run: Run) -> bool:
    """Someone watching the run's process asked whether it should stop (RunStoppedStatus): record when, as
    the sign that the process lives (projects/states.py), and answer. One UPDATE."""
    Run.objects.filter(pk=run.pk).update(stop_checked_at=timezone.now())
    return run.stop_requested


def run_delete(*, run: Run, by: User) -> None:
    """The run's author or an admin of its entity may delete it."""
    if run.created_by_id != by.pk:
        membership = account_selectors.membership_for(by, run.project.entity.name)
        if membership is None or not membership.is_admin:
            raise ValidationError("Only the run's author or an admin can delete it.")
    keys = list(RunFile.objects.filter(run=run).values_list("storage_key", flat=True))
    run.delete()
    transaction.on_commit(lambda: run_files.delete_files(keys))  # the stored bytes go with their rows


# UpsertBucket's text fields and their columns; each is cut to its column's length, as the client's labels are.
RUN_TEXT_FIELDS = ("display_name", "job_type", "host", "notes", "group", "commit", "repo", "program", "sweep_name")


def run_upsert(*, project: Project, name: str, created_by: User | None, **fields: Any) -> tuple[Run, bool]:
    """Create or update a run from what the client sends (UpsertBucket): absent (None) fields keep their
    value, so the client's later partial upserts (tags only, summary only) lose nothing."""
    allowed = {*RUN_TEXT_FIELDS, "config", "tags", "summary"}
    values = {k: v for k, v in fields.items() if k in allowed and v is not None}
    for label in RUN_TEXT_FIELDS:
        if label in values:
            max_length = cast(models.Field, Run._meta.get_field(label)).max_length
            values[label] = str(values[label])[:max_length] if max_length else str(values[label])
    if "tags" in values:
        values["tags"] = [str(tag)[:255] for tag in values["tags"]][:100]
    values["heartbeat_at"] = timezone.now()
    try:
        with transaction.atomic():
            run, inserted = Run.objects.update_or_create(
                project=project, name=name, defaults=values, create_defaults={**values, "created_by": created_by}
            )
    except IntegrityError:  # two upserts of a new run raced; the other one created it
        run, _ = Run.objects.update_or_create(project=project, name=name, defaults=values)
        inserted = False
    return run, inserted


def run_stream(*, run: Run, complete: bool, exit_code: int | None, files: dict | None = None) -> None:
    """The file stream's facts: contact, completion with the exit code, and the chunks of the run's files
    (history, summary, system metrics, console). A chunk is stored at its line numbers, so the client's
    retries of the same chunk replace it instead of doubling it; a bad chunk refuses the whole request
    (ValidationError) before anything is written."""
    lines, summary = _stream_chunks(files or {})
    now = timezone.now()
    fields: dict[str, Any] = {"heartbeat_at": now}
    if summary is not None:
        fields["summary"] = summary
    if complete:
        fields.update(completed_at=now, exit_code=exit_code if exit_code is not None else 0)
    with transaction.atomic():
        history = [line for line in lines if line.file == RunStreamLine.HISTORY]
        if history:
            locked = (
                Run.objects.select_for_update()
                .filter(pk=run.pk)
                .values("history_keys", "history_bucket_width", "history_bucket_count")
                .first()
            ) or {"history_keys": {}, "history_bucket_width": None, "history_bucket_count": 0}
            fields["history_keys"] = _merge_history_keys(locked["history_keys"] or {}, history)
            if locked["history_bucket_width"] is not None:
                fields["history_bucket_width"], fields["history_bucket_count"] = _history_buckets(
                    run, history, locked["history_bucket_width"], locked["history_bucket_count"]
                )
        if lines:
            for line in lines:
                line.run = run
            RunStreamLine.objects.bulk_create(
                lines,
                update_conflicts=True,
                unique_fields=["run", "file", "line"],
                update_fields=["step", "data", "text"],
                batch_size=1000,
            )
        Run.objects.filter(pk=run.pk).update(**fields)


def _stream_chunks(files: dict) -> tuple[list[RunStreamLine], dict | None]:
    """The stream lines and the latest summary in a file-stream body's `files`, checked and capped."""
    if not isinstance(files, dict):
        raise ValidationError("files must be an object of file names to chunks.")
    lines: dict[tuple[str, int], RunStreamLine] = {}
    summary = None
    count = 0
    for name, chunk in files.items():
        if not isinstance(chunk, dict):
            raise ValidationError(f"files[{name!r}] must be an object with offset and content.")
        offset, content = chunk.get("offset", 0), chunk.get("content") or []
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0 or not isinstance(content, list):
            raise ValidationError(f"files[{name!r}] needs a whole-number offset and a list of lines.")
        count += len(content)
        if count > limits.RUN_STREAM_MAX_LINES:
            raise ValidationError(
                f"The file stream request holds more than {limits.RUN_STREAM_MAX_LINES:,} lines (the limit)."
            )
        if offset + len(content) > 2**31 - 1:
            raise ValidationError(f"files[{name!r}]: the offset is too large.")
        if name == "wandb-summary.json":
            if content:  # the whole summary, re-sent each time: the last line is the latest
                summary = _json_line(content[-1], name)
            continue
        kind = RunStreamLine.FILES.get(name)
        if kind is None:
            continue  # a file launchui keeps only through createRunFiles
        for index, text in enumerate(content):
            if not isinstance(text, str):
                raise ValidationError(f"files[{name!r}] line {offset + index} is not text.")
            line = RunStreamLine(file=kind, line=offset + index)
            if kind == RunStreamLine.OUTPUT:
                line.text = text[: limits.RUN_CONSOLE_LINE_MAX_CHARS].replace("\x00", "")
            else:
                line.data = _json_line(text, f"{name} line {offset + index}")
                step = line.data.get("_step")
                if kind == RunStreamLine.HISTORY:
                    line.step = (
                        step
                        if isinstance(step, int) and not isinstance(step, bool) and abs(step) < 2**63
                        else offset + index
                    )
            lines[(kind, line.line)] = line  # a line sent twice in one request: the later one wins
    return list(lines.values()), summary


def _flat(row: dict, prefix: str = "") -> dict:
    """A history row's values by dotted key, as W&B names nested metrics ({"a": {"b": 1}} -> "a.b")."""
    flat = {}
    for key, value in row.items():
        if isinstance(value, dict) and value and not (len(value) == 1 and "$float" in value):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", list: "list", dict: "map", type(None): "nil"}.get(type(value), "unknown")


def _merge_history_keys(keys: dict, history: list[RunStreamLine]) -> dict:
    """historyKeys updated with a chunk of history rows: a key's latest value (by step) and its rows by
    type. Lines below the high-water mark were counted before (a retried chunk): their values still
    replace, but they are not counted again."""
    known = keys.setdefault("keys", {})
    seen = keys.get("lines", 0)
    for line in sorted(history, key=lambda line: line.line):
        for key, value in _flat(line.data or {}).items():
            entry = known.get(key)
            if entry is None:
                if len(known) >= limits.RUN_HISTORY_MAX_KEYS:
                    continue
                entry = known[key] = {"typeCounts": [], "step": None}
            if entry["step"] is None or line.step >= entry["step"]:
                entry.update(previousValue=value, step=line.step)
            if line.line >= seen:
                kind = _json_type(value)
                counts = entry["typeCounts"]
                found = next((c for c in counts if c["type"] == kind), None)
                if found is None:
                    counts.append({"type": kind, "count": 1})
                else:
                    found["count"] += 1
    keys["lines"] = max(seen, max(line.line for line in history) + 1)
    return keys


def _merge_key(into: dict, key: str, stats: list) -> None:
    if key in into:
        merge_bucket_stats(into[key], stats)
    else:
        into[key] = list(stats)


def _bucket_add(buckets: dict, index: int, step: int, data: dict) -> None:
    bucket = buckets.setdefault(index, {"first": step, "last": step, "data": {}})
    bucket["first"], bucket["last"] = min(bucket["first"], step), max(bucket["last"], step)
    for key, value in data.items():
        number = value if finite_number(value) else None
        if key not in bucket["data"] and len(bucket["data"]) >= limits.RUN_HISTORY_MAX_KEYS:
            continue
        if key in bucket["data"]:
            merge_bucket_stats(bucket["data"][key], [step, step, number, step, number, step])
        else:
            bucket["data"][key] = [step, step, number, step, number, step]


def _history_buckets(run: Run, history: list[RunStreamLine], width: int, count: int) -> tuple[int, int]:
    """Folds a chunk of history rows into the run's chart layer (RunHistoryBucket): the touched buckets are
    read, merged and written back, two queries. Past RUN_HISTORY_BUCKETS_MAX buckets the width doubles and
    the layer is rewritten at it (amortised: it happens log2(steps / max) times in a run's life). A retried
    chunk merges the same values again, which changes nothing. Returns the new (width, bucket count)."""
    touched: dict[int, dict] = {}
    for line in history:
        step = cast(int, line.step)  # a history line always has one (_stream_chunks)
        _bucket_add(touched, step // width, step, line.data or {})
    existing = RunHistoryBucket.objects.filter(run=run, index__in=list(touched)).only(
        "index", "first_step", "last_step", "data"
    )
    found = 0
    for old in existing:
        found += 1
        bucket = touched[old.index]
        bucket["first"], bucket["last"] = min(bucket["first"], old.first_step), max(bucket["last"], old.last_step)
        for key, stats in (old.data or {}).items():
            _merge_key(bucket["data"], key, stats)
    count += len(touched) - found
    if count > limits.RUN_HISTORY_BUCKETS_MAX:
        everything = {
            b.index: {"first": b.first_step, "last": b.last_step, "data": b.data or {}}
            for b in RunHistoryBucket.objects.filter(run=run).exclude(index__in=list(touched))
        }
        everything.update(touched)
        while len(everything) > limits.RUN_HISTORY_BUCKETS_MAX:
            width *= 2
            coarser: dict[int, dict] = {}
            for bucket in everything.values():
                merged = coarser.setdefault(
                    bucket["first"] // width, {"first": bucket["first"], "last": bucket["last"], "data": {}}
                )
                merged["first"], merged["last"] = (
                    min(merged["first"], bucket["first"]),
                    max(merged["last"], bucket["last"]),
                )
                for key, stats in bucket["data"].items():
                    _merge_key(merged["data"], key, stats)
            everything = coarser
        RunHistoryBucket.objects.filter(run=run).delete()
        touched, count = everything, len(everything)
    RunHistoryBucket.objects.bulk_create(
        [
            RunHistoryBucket(run=run, index=index, first_step=b["first"], last_step=b["last"], data=b["data"])
            for index, b in touched.items()
        ],
        update_conflicts=True,
        unique_fields=["run", "index"],
        update_fields=["first_step", "last_step", "data"],
        batch_size=500,
    )
    return width, count


def _json_line(text: object, what: str) -> dict:
    """One JSON object line. NaN and ±Infinity are kept (the JSON fields store them, core/json_values.py)."""
    if not isinstance(text, str):
        raise ValidationError(f"{what} is not text.")
    try:
        value = user_data.loads_json(text, what, max_bytes=limits.RUN_STREAM_MAX_LINE_BYTES)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        raise ValidationError(f"{what} is not a JSON object.") from None
    if not isinstance(value, dict):
        raise ValidationError(f"{what} is not a JSON object.")
    if "\\u0000" in text:  # a NUL character, which PostgreSQL's jsonb refuses
        raise ValidationError(f"{what} contains a NUL character.")
    return value


def validate_run_file_name(name: object) -> str:
    """A run file's path as the client names it (e.g. media/images/x.png): relative, no `..`, no NUL."""
    max_length = cast(models.Field, RunFile._meta.get_field("name")).max_length or 512
    if not isinstance(name, str) or not name or len(name) > max_length:
        raise ValidationError(f"Run file name {str(name)[:100]!r} is not valid (1 to 512 characters).")
    parts = name.replace("\\", "/").split("/")
    if name.startswith("/") or "\x00" in name or any(part in ("", ".", "..") for part in parts):
        raise ValidationError(f"Run file name {name[:100]!r} is not a relative path.")
    return name


def run_file_upload_urls(*, run: Run, names: object, base_url: str) -> list[dict]:
    """createRunFiles: a signed upload URL per file name; the file is listed once its bytes arrive."""
    if not isinstance(names, list) or len(names) > limits.RUN_FILES_MAX_PER_REQUEST:
        raise ValidationError(f"files must be a list of at most {limits.RUN_FILES_MAX_PER_REQUEST:,} names.")
    return [
        {"name": name, "uploadUrl": run_files.upload_url(base_url, run_id=run.pk, name=name)}
        for name in map(validate_run_file_name, names)
    ]


def run_file_receive(*, token: str, read, content_length: int | None = None) -> RunFile:
    """Bytes PUT to a run file's signed upload URL, streamed to storage (bounded memory), replacing an
    earlier upload of the same name. Raises signing.BadSignature, ValidationError or storage.TooLarge."""
    claims = run_files.read_upload_token(token)
    run = Run.objects.filter(pk=claims["r"]).first()
    if run is None:
        raise ValidationError("The run of this upload URL was deleted.")
    name = validate_run_file_name(claims["n"])
    key = run_files.storage_key(run.pk, name)
    size, md5 = storage.save_stream(read, key, max_bytes=settings.LAUNCHUI_MAX_UPLOAD_BYTES, announced=content_length)
    file, _ = RunFile.objects.update_or_create(
        run=run, name=name, defaults={"size": size, "md5": md5, "storage_key": key}
    )
    return file
