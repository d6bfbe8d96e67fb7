"""Writes for projects and runs. The browser, the wire protocol and the job builds call these."""

from typing import Any, cast

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from launchui.accounts import selectors as account_selectors
from launchui.accounts.models import Entity
from launchui.projects.models import Project, Run

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


def run_request_stop(*, run: Run) -> None:
    """The run learns it through the file stream and the agent through RunStoppedStatus; it then stops."""
    Run.objects.filter(pk=run.pk).update(stop_requested=True)
    run.stop_requested = True


def run_delete(*, run: Run, by: User) -> None:
    """The run's author or an admin of its entity may delete it."""
    if run.created_by_id != by.pk:
        membership = account_selectors.membership_for(by, run.project.entity.name)
        if membership is None or not membership.is_admin:
            raise ValidationError("Only the run's author or an admin can delete it.")
    run.delete()


def run_upsert(*, project: Project, name: str, created_by: User | None, **fields: Any) -> tuple[Run, bool]:
    allowed = {"display_name", "job_type", "config", "host"}
    values = {k: v for k, v in fields.items() if k in allowed and v is not None}
    for label in ("display_name", "job_type", "host"):  # the client's labels, cut to their columns
        if label in values:
            column = cast(models.CharField, Run._meta.get_field(label))
            values[label] = str(values[label])[: column.max_length]
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


def run_stream(*, run: Run, complete: bool, exit_code: int | None) -> None:
    """The file stream's facts: contact, and completion with the exit code."""
    now = timezone.now()
    fields: dict[str, Any] = {"heartbeat_at": now}
    if complete:
        fields.update(completed_at=now, exit_code=exit_code if exit_code is not None else 0)
    Run.objects.filter(pk=run.pk).update(**fields)
