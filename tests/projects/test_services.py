"""Projects and runs: the writes the wire and the pages share (projects/services.py)."""

import pytest
from django.core.exceptions import ValidationError

from launchui.projects.models import Run
from launchui.projects.services import project_get_or_create, run_delete, run_upsert


@pytest.fixture
def member_run(team, member):
    project = project_get_or_create(entity=team, name="vision")
    return run_upsert(project=project, name="r1", created_by=member)[0]


def test_run_author_deletes_their_run(member_run, member):
    run_delete(run=member_run, by=member)
    assert not Run.objects.exists()


def test_entity_admin_deletes_a_members_run(member_run, owner):
    run_delete(run=member_run, by=owner)
    assert not Run.objects.exists()


def test_member_cannot_delete_another_members_run(member_run, owner, member, team):
    project = project_get_or_create(entity=team, name="vision")
    owners_run = run_upsert(project=project, name="r2", created_by=owner)[0]
    with pytest.raises(ValidationError, match="author or an admin"):
        run_delete(run=owners_run, by=member)
    assert Run.objects.count() == 2


def test_outsider_cannot_delete_a_run(member_run, outsider):
    with pytest.raises(ValidationError):
        run_delete(run=member_run, by=outsider)
    assert Run.objects.count() == 1


def test_project_name_rule_refuses_a_slash(team):
    with pytest.raises(ValidationError):
        project_get_or_create(entity=team, name="a/b")


@pytest.mark.parametrize("rows", [1, 2, 7])
def test_a_sampled_stream_of_one_or_few_rows_is_returned_whole(team, owner, rows):
    """A run's system metrics often have one line when first read: sampling must not divide by n - 1 = 0."""
    from launchui.projects.models import RunStreamLine
    from launchui.projects.selectors import run_history_sample
    from launchui.projects.services import run_stream

    run, _ = run_upsert(project=project_get_or_create(entity=team, name="p"), name="r", created_by=owner)
    events = [f'{{"system.cpu": {i}, "_timestamp": {i}}}' for i in range(rows)]
    run_stream(run=run, complete=False, exit_code=None, files={"wandb-events.jsonl": {"offset": 0, "content": events}})

    def cpu(samples):
        return [row["system.cpu"] for row in run_history_sample(run, samples, file=RunStreamLine.EVENTS)]

    assert cpu(500) == list(range(rows))
    assert cpu(1) == [0]
    assert cpu(2) == ([0] if rows == 1 else [0, rows - 1])  # first and last kept
