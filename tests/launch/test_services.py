"""launch.services: queue validation, item push/pop/ack under concurrency, and the queue list counts."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from launchui.accounts.services import team_create, user_create
from launchui.launch import selectors
from launchui.launch.models import AgentStatusChange, LaunchAgent, RunQueue, RunQueueItem
from launchui.launch.services import (
    agent_register,
    agent_update_status,
    item_ack,
    item_fail,
    item_pop,
    item_push,
    queue_create,
    queue_update,
)
from tests.conftest import PASSWORD

GPUS = [{"name": "gpus", "schema": {"type": "integer", "minimum": 1, "maximum": 8, "default": 1}}]


@pytest.fixture
def queue(team, owner):
    return queue_create(entity=team, name="cpu", resource="local-process", created_by=owner)


def push(queue, n=1, **kwargs):
    return [item_push(queue=queue, run_spec={"job": f"job-{i}"}, created_by=None, **kwargs) for i in range(n)]


# --- queue_create ------------------------------------------------------------------------------------


def test_queue_create_stores_config_in_the_wandb_shape(team, owner):
    queue = queue_create(
        entity=team,
        name="docker-gpu",
        resource="local-container",
        config='gpus: "{{gpus}}"  # per run\n',
        template_variables=GPUS,
        created_by=owner,
    )
    queue.refresh_from_db()
    assert queue.config == {"resource_args": {"local-container": {"gpus": "{{gpus}}"}}}
    assert queue.config_text == 'gpus: "{{gpus}}"  # per run\n'  # what the admin typed, comment and all
    assert queue.template_variables == GPUS
    assert queue.resource_args == {"gpus": "{{gpus}}"}
    assert (queue.prioritization_mode, queue.access, queue.created_by) == ("DISABLED", "PROJECT", owner)


def test_queue_create_accepts_a_config_already_wrapped_in_resource_args(team, owner):
    queue = queue_create(
        entity=team,
        name="k8s",
        resource="kubernetes",
        config={"resource_args": {"kubernetes": {"metadata": {"namespace": "ml"}}}},
        created_by=owner,
    )
    assert queue.config == {"resource_args": {"kubernetes": {"metadata": {"namespace": "ml"}}}}


def test_queue_create_errors_are_keyed_by_field_and_nothing_is_written(team, owner):
    with pytest.raises(ValidationError) as exc:
        queue_create(
            entity=team,
            name="ok-name",
            resource="slurm",
            config="[1, 2]",
            template_variables=[{"name": "x", "schema": {"type": "boolean"}}],
            external_links=[{"url": "ftp://x"}],
            prioritization_mode="SOMETIMES",
            access="ALL",
            created_by=owner,
        )
    assert set(exc.value.message_dict) == {
        "resource",
        "config",
        "template_variables",
        "external_links",
        "prioritization_mode",
        "access",
    }
    assert "slurm" in exc.value.message_dict["resource"][0]
    assert "must be a mapping" in exc.value.message_dict["config"][0]
    assert not RunQueue.objects.exists()


def test_queue_create_refuses_a_bad_name(team, owner):
    with pytest.raises(ValidationError) as exc:
        queue_create(entity=team, name="no spaces", resource="local-process", created_by=owner)
    assert list(exc.value.message_dict) == ["name"]
    assert not RunQueue.objects.exists()


def test_queue_create_refuses_a_config_that_uses_an_undeclared_variable(team, owner):
    with pytest.raises(ValidationError) as exc:
        queue_create(
            entity=team, name="docker", resource="local-container", config={"gpus": "{{gpus}}"}, created_by=owner
        )
    assert exc.value.message_dict == {
        "template_variables": ["The config uses {{gpus}} but no template variable of that name is declared."]
    }
    assert not RunQueue.objects.exists()


def test_queue_create_refuses_a_yaml_date_instead_of_failing_on_save(team, owner):
    with pytest.raises(ValidationError) as exc:
        queue_create(entity=team, name="cpu", resource="local-process", config="since: 2024-01-01\n", created_by=owner)
    assert list(exc.value.message_dict) == ["config"]


def test_queue_names_are_unique_per_entity(team, owner, queue):
    with pytest.raises(ValidationError) as exc:
        queue_create(entity=team, name="cpu", resource="local-container", created_by=owner)
    assert exc.value.message_dict == {"name": ["acme already has a queue named cpu."]}
    # The same name in another entity is fine.
    other = queue_create(entity=owner.personal_entity, name="cpu", resource="local-process", created_by=owner)
    assert RunQueue.objects.filter(name="cpu").count() == 2
    assert other.entity.name == "olivia"


def test_queue_update_validates_like_create(queue):
    with pytest.raises(ValidationError) as exc:
        queue_update(queue=queue, config="{{nope", template_variables=None)
    assert list(exc.value.message_dict) == ["config"]
    queue.refresh_from_db()
    assert queue.config == {"resource_args": {"local-process": {}}}
    queue_update(queue=queue, config='{"env": ["A=1"]}')
    queue.refresh_from_db()
    assert queue.resource_args == {"env": ["A=1"]}


# --- push --------------------------------------------------------------------------------------------


def test_item_push_fills_the_queue_config_with_the_variable_values(team, owner):
    queue = queue_create(
        entity=team,
        name="docker",
        resource="local-container",
        config={"gpus": "{{gpus}}", "env": ["MODE=train"]},
        template_variables=GPUS,
        created_by=owner,
    )
    item = item_push(
        queue=queue, run_spec={"job": "acme/proj/job:v1"}, template_variable_values={"gpus": "4"}, created_by=owner
    )
    assert item.template_variable_values == {"gpus": 4}
    # The agent gets the queue's config with the values filled, typed; the resource defaults to the queue's.
    assert item.run_spec == {
        "job": "acme/proj/job:v1",
        "resource": "local-container",
        "resource_args": {"local-container": {"gpus": 4, "env": ["MODE=train"]}},
    }
    default = item_push(queue=queue, run_spec={}, created_by=owner)
    assert default.run_spec["resource_args"] == {"local-container": {"gpus": 1, "env": ["MODE=train"]}}
    queue.refresh_from_db()
    assert queue.resource_args == {"gpus": "{{gpus}}", "env": ["MODE=train"]}  # the template itself is kept


def test_item_push_refuses_bad_variable_values_and_writes_nothing(team, owner):
    queue = queue_create(
        entity=team,
        name="docker",
        resource="local-container",
        config={"gpus": "{{gpus}}"},
        template_variables=GPUS,
        created_by=owner,
    )
    with pytest.raises(ValidationError, match="above the maximum 8"):
        item_push(queue=queue, run_spec={}, template_variable_values={"gpus": 9}, created_by=owner)
    with pytest.raises(ValidationError, match="does not support the template variable"):
        item_push(queue=queue, run_spec={}, template_variable_values={"cpus": 2}, created_by=owner)
    assert not RunQueueItem.objects.exists()


def test_priority_is_ignored_unless_the_queue_is_prioritized(queue):
    (item,) = push(queue, priority=RunQueueItem.CRITICAL)
    assert item.priority == RunQueueItem.MEDIUM


# --- pop, lease, ack ---------------------------------------------------------------------------------


def test_pop_hands_out_items_in_arrival_order(queue):
    items = push(queue, 3)
    popped = [item_pop(queue=queue, agent_id=None) for _ in range(4)]
    assert [p.pk if p else None for p in popped] == [items[0].pk, items[1].pk, items[2].pk, None]
    assert all(p.state == RunQueueItem.LEASED and p.leased_at for p in popped[:3])


def test_prioritized_pop_takes_the_most_urgent_first_then_the_oldest(team, owner):
    queue = queue_create(entity=team, name="prio", resource="local-process", prioritization_mode="V0", created_by=owner)
    order = [RunQueueItem.LOW, RunQueueItem.CRITICAL, RunQueueItem.MEDIUM, RunQueueItem.CRITICAL, RunQueueItem.HIGH]
    items = [item_push(queue=queue, run_spec={}, priority=p, created_by=None) for p in order]
    popped = [item_pop(queue=queue, agent_id=None).pk for _ in items]
    assert popped == [items[1].pk, items[3].pk, items[4].pk, items[2].pk, items[0].pk]


def test_an_expired_lease_puts_the_item_back_at_its_place(queue):
    first, second, third = push(queue, 3)
    assert item_pop(queue=queue, agent_id=None).pk == first.pk
    assert item_pop(queue=queue, agent_id=None).pk == second.pk
    # The agent that took the first item never acked it; its lease runs out.
    expired = timezone.now() - timedelta(seconds=settings.LAUNCHUI_LEASE_SECONDS + 1)
    RunQueueItem.objects.filter(pk=first.pk).update(leased_at=expired)
    assert item_pop(queue=queue, agent_id=None).pk == first.pk  # before the third, which came later
    assert item_pop(queue=queue, agent_id=None).pk == third.pk
    assert item_pop(queue=queue, agent_id=None) is None


def test_item_ack_only_from_leased(queue, owner):
    agent = agent_register(entity=queue.entity, queues=[queue], hostname="h", config={}, version="", created_by=owner)
    pending, failed = push(queue, 2)
    assert item_ack(item=pending, run_name="run-1") is False
    leased = item_pop(queue=queue, agent_id=agent.pk)
    assert leased.pk == pending.pk
    assert item_ack(item=leased, run_name="run-1") is True
    leased.refresh_from_db()
    assert (leased.state, leased.associated_run_id, leased.claimed_at is not None) == ("CLAIMED", "run-1", True)
    assert item_ack(item=leased, run_name="run-2") is False  # already claimed
    leased.refresh_from_db()
    assert leased.associated_run_id == "run-1"

    item_fail(item=failed, message="boom", stage="build", file_paths=None)
    failed.refresh_from_db()
    assert item_ack(item=failed, run_name="run-3") is False
    failed.refresh_from_db()
    assert failed.state == RunQueueItem.FAILED


def test_an_agent_whose_lease_was_taken_over_cannot_ack(queue, owner):
    slow, fast = (
        agent_register(entity=queue.entity, queues=[queue], hostname=h, config={}, version="", created_by=owner)
        for h in ("slow", "fast")
    )
    push(queue)
    taken = item_pop(queue=queue, agent_id=slow.pk)
    RunQueueItem.objects.filter(pk=taken.pk).update(
        leased_at=timezone.now() - timedelta(seconds=settings.LAUNCHUI_LEASE_SECONDS + 1)
    )
    retaken = item_pop(queue=queue, agent_id=fast.pk)
    assert retaken.pk == taken.pk
    assert item_ack(item=taken, run_name="late") is False
    assert item_ack(item=retaken, run_name="on-time") is True


@pytest.mark.django_db(transaction=True)
def test_concurrent_pops_hand_out_each_item_exactly_once():
    """8 pollers, each with its own PostgreSQL connection, race for 50 items."""
    owner = user_create(username="olivia", password=PASSWORD)
    queue = queue_create(
        entity=team_create(name="acme", creator=owner), name="busy", resource="local-process", created_by=owner
    )
    items = push(queue, 50)
    threads_count = 8
    barrier = threading.Barrier(threads_count)
    taken: list[list[int]] = [[] for _ in range(threads_count)]
    errors: list[BaseException] = []

    def poll(slot: int) -> None:
        try:
            barrier.wait()
            while (item := item_pop(queue=queue, agent_id=None)) is not None:
                taken[slot].append(item.pk)
        except BaseException as exc:  # reported below: an exception in a thread would pass silently
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=poll, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    all_taken = [pk for slot in taken for pk in slot]
    assert sorted(all_taken) == sorted(item.pk for item in items)  # each one, exactly once
    assert sum(1 for slot in taken if slot) > 1  # the pollers really raced
    assert RunQueueItem.objects.filter(state=RunQueueItem.LEASED).count() == 50


def test_killed_is_final_even_when_a_late_polling_report_arrives(team, owner, queue):
    # wandb 0.31: a job that ends while the agent stops sends POLLING from the job's thread alongside KILLED.
    agent = agent_register(entity=team, queues=[queue], hostname="h", config={}, version="", created_by=owner)
    assert agent_update_status(agent_id=agent.pk, status=LaunchAgent.RUNNING) == 1
    agent.refresh_from_db()
    assert agent.reported_status == LaunchAgent.RUNNING
    assert agent_update_status(agent_id=agent.pk, status=LaunchAgent.KILLED) == 1
    seen = LaunchAgent.objects.get(pk=agent.pk).last_seen_at
    for late in (LaunchAgent.POLLING, LaunchAgent.RUNNING):
        assert agent_update_status(agent_id=agent.pk, status=late, reported_by=owner) == 1  # still "success"
    agent.refresh_from_db()
    assert agent.reported_status == LaunchAgent.KILLED and agent.last_seen_at > seen


def test_status_changes_are_recorded_once_each_and_a_repeat_costs_one_statement(
    team, owner, member, queue, django_assert_num_queries
):
    agent = agent_register(entity=team, queues=[queue], hostname="h", config={}, version="", created_by=owner)

    def timeline():
        return list(AgentStatusChange.objects.filter(agent=agent).order_by("at", "id").values_list("status", flat=True))

    assert timeline() == ["POLLING"]  # registration is the first entry
    previous = "POLLING"
    for status in ["POLLING", "POLLING", "RUNNING", "RUNNING", "POLLING", "KILLED", "POLLING", "RUNNING"]:
        if status == previous or previous == "KILLED":
            with django_assert_num_queries(1):  # the agent's every-tick report stays one statement
                assert agent_update_status(agent_id=agent.pk, status=status, reported_by=owner) == 1
        else:
            assert agent_update_status(agent_id=agent.pk, status=status, reported_by=owner) == 1
            previous = status
    # Repeats record nothing; reports after KILLED change nothing, so record nothing.
    assert timeline() == ["POLLING", "RUNNING", "POLLING", "KILLED"]
    # A teammate may not report for another's agent: nothing updated, nothing recorded.
    other = agent_register(entity=team, queues=[queue], hostname="h", config={}, version="", created_by=owner)
    assert agent_update_status(agent_id=other.pk, status="RUNNING", reported_by=member) == 0
    assert LaunchAgent.objects.get(pk=other.pk).reported_status == "POLLING"
    assert AgentStatusChange.objects.filter(agent=other).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_status_reports_record_each_change_once():
    """4 reporters, each with its own PostgreSQL connection, flip one agent between POLLING and RUNNING: the
    timeline never holds the same status twice in a row, and it ends with the stored status."""
    owner = user_create(username="olivia", password=PASSWORD)
    team = team_create(name="acme", creator=owner)
    queue = queue_create(entity=team, name="busy", resource="local-process", created_by=owner)
    agent = agent_register(entity=team, queues=[queue], hostname="h", config={}, version="", created_by=owner)
    threads_count = 4
    barrier = threading.Barrier(threads_count)
    errors: list[BaseException] = []

    def report(slot: int) -> None:
        try:
            barrier.wait()
            for n in range(40):
                status = LaunchAgent.RUNNING if (n + slot) % 2 else LaunchAgent.POLLING
                assert agent_update_status(agent_id=agent.pk, status=status, reported_by=owner) == 1
        except BaseException as exc:  # reported below: an exception in a thread would pass silently
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=report, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    timeline = list(AgentStatusChange.objects.filter(agent=agent).order_by("id").values_list("status", flat=True))
    assert len(timeline) > 2  # the reporters really raced
    assert all(a != b for a, b in zip(timeline, timeline[1:], strict=False)), timeline
    assert timeline[-1] == LaunchAgent.objects.get(pk=agent.pk).reported_status


# --- the queue list ----------------------------------------------------------------------------------


def test_queue_list_counts_waiting_items_and_live_agents(
    team, owner, member, outsider, queue, django_assert_num_queries
):
    idle = queue_create(entity=team, name="idle", resource="local-container", created_by=owner)
    mine = queue_create(entity=owner.personal_entity, name="mine", resource="local-process", created_by=owner)
    push(queue, 4)
    leased = item_pop(queue=queue, agent_id=None)
    expired = item_pop(queue=queue, agent_id=None)
    RunQueueItem.objects.filter(pk=expired.pk).update(
        leased_at=timezone.now() - timedelta(seconds=settings.LAUNCHUI_LEASE_SECONDS + 1)
    )
    item_ack(item=leased, run_name="r")  # claimed: no longer waiting
    live, killed, silent = (
        agent_register(entity=team, queues=[queue], hostname=h, config={}, version="", created_by=owner)
        for h in ("live", "killed", "silent")
    )
    LaunchAgent.objects.filter(pk=killed.pk).update(reported_status=LaunchAgent.KILLED)
    LaunchAgent.objects.filter(pk=silent.pk).update(
        last_seen_at=timezone.now() - timedelta(seconds=settings.LAUNCHUI_AGENT_OFFLINE_AFTER + 1)
    )

    with django_assert_num_queries(1):
        rows = {(q.entity.name, q.name): (q.queued_count, q.live_agent_count) for q in selectors.queue_list(user=owner)}
    # 2 pending + 1 expired lease wait; one agent of three is live.
    assert rows == {("acme", "cpu"): (3, 1), ("acme", "idle"): (0, 0), ("olivia", "mine"): (0, 0)}
    assert [q.name for q in selectors.queue_list(user=member)] == ["cpu", "idle"]
    assert list(selectors.queue_list(user=outsider)) == []
    assert [q.name for q in selectors.queue_list(user=owner, entity_name="olivia")] == [mine.name]
    assert [q.name for q in selectors.queue_list(user=owner, search="DL")] == [idle.name]
    assert [q.name for q in selectors.queue_list(user=owner, sort="-queued")][0] == "cpu"
    LaunchAgent.objects.filter(pk=live.pk).update(reported_status=LaunchAgent.KILLED)
    assert [q.name for q in selectors.unserved_queues(user=owner, limit=21)] == ["cpu"]
