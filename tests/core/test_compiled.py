"""Statements compiled once per connection (launchui/core/compiled.py) answer as the ORM code they come from,
with each call's values, and refuse a builder whose parameter the ORM does not bind."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.db.models.functions import Upper
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from launchui.core import compiled
from launchui.launch.models import LaunchAgent


def _agents_seen_since(conn, entity_id, since):
    queryset = LaunchAgent.objects.filter(entity_id=entity_id, last_seen_at__gte=since).order_by("pk")
    return compiled.select_sql(queryset.values_list("pk", "hostname", "last_seen_at", "config"), conn)


def test_a_compiled_select_answers_as_its_queryset_with_each_calls_values(team, queue, make_agent):
    first, second = make_agent(queue, "box-1"), make_agent(queue, "box-2")
    LaunchAgent.objects.filter(pk=first.pk).update(last_seen_at=timezone.now() - timedelta(hours=1))
    built = []
    statement = compiled.Statement(
        lambda conn, **values: built.append(1) or _agents_seen_since(conn, **values), entity_id=int, since=datetime
    )
    for since in (timezone.now() - timedelta(days=1), timezone.now() - timedelta(minutes=5)):
        expected = list(
            LaunchAgent.objects.filter(entity_id=team.pk, last_seen_at__gte=since)
            .order_by("pk")
            .values_list("pk", "hostname", "last_seen_at", "config")
        )
        assert statement.rows(entity_id=team.pk, since=since) == expected  # converted: datetimes, JSON
    assert [row[0] for row in statement.rows(entity_id=team.pk, since=timezone.now() - timedelta(days=1))] == [
        first.pk,
        second.pk,
    ]
    assert statement.rows(entity_id=team.pk + 1000, since=timezone.now() - timedelta(days=1)) == []
    assert len(built) == 1  # compiled once for this connection, then only executed


def test_a_compiled_update_changes_only_the_rows_its_values_select_and_is_counted(queue, make_agent):
    first, second = make_agent(queue, "box-1"), make_agent(queue, "box-2")
    statement = compiled.Statement(
        lambda conn, agent_id, hostname: compiled.update_sql(
            LaunchAgent.objects.filter(pk=agent_id), {"hostname": hostname}, conn
        ),
        agent_id=int,
        hostname=str,
    )
    with CaptureQueriesContext(connection) as captured:
        assert statement.execute(agent_id=second.pk, hostname="renamed") == 1
    assert len(captured) == 1  # through Django's cursor: query counts and pins see it
    assert LaunchAgent.objects.get(pk=second.pk).hostname == "renamed"
    assert LaunchAgent.objects.get(pk=first.pk).hostname == "box-1"
    assert statement.execute(agent_id=second.pk + 1000, hostname="nobody") == 0


def test_a_parameter_the_orm_does_not_bind_is_refused_when_compiled(db):
    # The builder ignores `hostname`: its value would be frozen in (here, absent from) the cached SQL.
    statement = compiled.Statement(
        lambda conn, agent_id, hostname: compiled.select_sql(
            LaunchAgent.objects.filter(pk=agent_id).values_list("pk"), conn
        ),
        agent_id=int,
        hostname=str,
    )
    with pytest.raises(ValueError, match="hostname"):
        statement.rows(agent_id=1, hostname="box-1")


def _agents_of_entity(conn, entity_id):
    queryset = (
        LaunchAgent.objects.filter(entity_id=entity_id)
        .select_related("entity")
        .only("name", "config", "entity__name")
        .annotate(upper_name=Upper("name"))
        .order_by("pk")
    )
    return compiled.select_instances(queryset, conn)


def test_a_compiled_select_of_instances_loads_them_as_the_orm_does(team, queue, make_agent):
    """select_instances: the fields only() asks for (the rest deferred), the select_related() row, the
    annotations, and each field's conversion (JSON here)."""
    make_agent(queue, "box-1"), make_agent(queue, "box-2")
    statement = compiled.Statement(_agents_of_entity, entity_id=int)
    expected = list(
        LaunchAgent.objects.filter(entity_id=team.pk)
        .select_related("entity")
        .only("name", "config", "entity__name")
        .annotate(upper_name=Upper("name"))
        .order_by("pk")
    )
    agents = statement.rows(entity_id=team.pk)
    assert [(a.pk, a.name, a.config, a.upper_name) for a in agents] == [
        (a.pk, a.name, a.config, a.upper_name) for a in expected
    ]
    with CaptureQueriesContext(connection) as captured:
        assert [a.entity.name for a in agents] == ["acme", "acme"]  # joined, not read again
    assert len(captured) == 0
    assert agents[0].get_deferred_fields() == expected[0].get_deferred_fields() and "hostname" in (
        agents[0].get_deferred_fields()
    )
    assert statement.rows(entity_id=team.pk + 1000) == []


def test_an_in_list_of_ids_is_bound_at_its_fixed_length(db):
    assert compiled.ids_bound("a", 3, [7]) == {"a0": 7, "a1": 0, "a2": 0}
    with pytest.raises(ValueError, match="4 ids for a statement of 3"):
        compiled.ids_bound("a", 3, [1, 2, 3, 4])
