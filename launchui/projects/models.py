"""Projects and the runs in them: the home that artifacts, jobs and launch all point down to."""

from django.conf import settings
from django.db import models
from django.db.models import F

from launchui.accounts.models import Entity
from launchui.core.json_values import json_field_options


class Project(models.Model):
    """Created on demand, as W&B does, whenever a run or queue names it."""

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Moved from the launch app; the table kept its name (migrations: launch 0004, projects 0001).
        db_table = "launch_project"
        constraints = [models.UniqueConstraint(fields=["entity", "name"], name="project_unique_per_entity")]

    def __str__(self) -> str:
        return f"{self.entity.name}/{self.name}"


class Run(models.Model):
    """The minimal run record the wandb client needs: created by UpsertBucket, fed by the file stream."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    name = models.CharField(max_length=128)
    display_name = models.CharField(max_length=255, blank=True)
    job_type = models.CharField(max_length=64, blank=True)
    config = models.JSONField(default=dict, **json_field_options())
    host = models.CharField(max_length=255, blank=True)
    notes = models.TextField(blank=True)
    tags = models.JSONField(default=list)
    group = models.CharField(max_length=128, blank=True)
    commit = models.CharField(max_length=64, blank=True)
    repo = models.CharField(max_length=512, blank=True)  # the git remote URL (UpsertBucket's jobRepo)
    program = models.CharField(max_length=255, blank=True)
    sweep_name = models.CharField(max_length=128, blank=True)
    # The latest wandb-summary.json the file stream (or UpsertBucket's summaryMetrics) sent, replaced whole.
    summary = models.JSONField(default=dict, **json_field_options())
    # W&B's historyKeys, kept up to date as history arrives (services._merge_history_keys), so reading
    # them never scans the rows: {"keys": {"a.b": {"typeCounts": [...], "previousValue": v, "step": s}},
    # "lines": the history lines counted so far (a retried chunk is not counted twice)}.
    history_keys = models.JSONField(default=dict, **json_field_options())
    # The chart layer (RunHistoryBucket): the steps each bucket spans, doubled whenever the run's buckets
    # pass HISTORY_BUCKETS_MAX, and how many buckets there are. NULL for a run whose history arrived before
    # the layer existed: its reads scan the rows, as they did.
    history_bucket_width = models.BigIntegerField(null=True, default=1)
    history_bucket_count = models.IntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    stop_requested = models.BooleanField(default=False)
    # Who asked the run to stop, and when (browser Stop, or the client's stopRun): shown with Stopping/Killed.
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    stopped_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The last time anyone asked whether the run should stop (RunStoppedStatus). The launch agent asks every
    # 10 s for as long as the run's process lives, and stops asking once it sees the process exit: the one
    # sign of the process itself, since a launched run shares the agent's wandb-core and its heartbeats go on.
    stop_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "launch_run"
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="run_unique_per_project")]
        # The project page's and api.runs()'s default order, newest first, exactly as run_filters.order_runs
        # writes it: the first page is read from the index, not sorted from all runs.
        indexes = [models.Index(F("project"), F("created_at").desc(), F("id").desc(), name="run_by_project_newest")]

    def __str__(self) -> str:
        return f"{self.project}/{self.name}"


class RunStreamLine(models.Model):
    """One line of a file-stream file, stored at its line number so a re-sent chunk replaces, never doubles.

    History rows and system-metric events are JSON objects (`data`); console lines are text. W&B reads them
    back by run, in line order (history also by step), so a row per line in PostgreSQL serves every read
    with one indexed range scan, and retries are plain upserts on (run, file, line).
    """

    HISTORY, EVENTS, OUTPUT = "h", "e", "o"
    FILES = {"wandb-history.jsonl": HISTORY, "wandb-events.jsonl": EVENTS, "output.log": OUTPUT}

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="stream_lines")
    file = models.CharField(max_length=1, choices=[(HISTORY, "history"), (EVENTS, "events"), (OUTPUT, "output")])
    line = models.IntegerField()
    step = models.BigIntegerField(null=True)  # history: the row's _step, the x axis of every history read
    data = models.JSONField(null=True, **json_field_options())
    text = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "file", "line"], name="run_stream_line_unique")]
        indexes = [models.Index(fields=["run", "file", "step"], name="run_stream_line_step")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.file}:{self.line}"


class RunHistoryBucket(models.Model):
    """The chart layer of a run's history, kept up to date as rows arrive (services._history_buckets): the
    rows whose step // width is `index`, summed up per top-level key as
    [first_step, last_step, min, min_step, max, max_step] (min and max over finite numbers, else null).

    A sampled read picks the steps to show from these (at most HISTORY_BUCKETS_MAX rows a run, whatever its
    length), then fetches only those rows: it never reads the whole history."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="history_buckets")
    index = models.BigIntegerField()
    first_step = models.BigIntegerField()
    last_step = models.BigIntegerField()
    data = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "index"], name="run_history_bucket_unique")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.index}"


class RunFile(models.Model):
    """A file the run uploaded (createRunFiles, then a PUT to its signed URL): wandb.save()d files, output.log,
    wandb-metadata.json, requirements.txt, config.yaml, wandb-summary.json, media. Re-uploading a name
    replaces it; the bytes live in storage under `storage_key`, one per (run, name)."""

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=512)
    size = models.BigIntegerField()
    md5 = models.CharField(max_length=24)
    storage_key = models.CharField(max_length=255)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["run", "name"], name="run_file_unique_name")]

    def __str__(self) -> str:
        return f"{self.run_id}:{self.name}"
