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


def test_an_in_list_of_ids_is_compiled_for_a_page_and_read_uncompiled_past_it(team, queue, make_agent, monkeypatch):
    """IdsStatement: up to COMPILE_UP_TO ids, one statement compiled once and padded with 0 (no row's id);
    a longer list runs the same builder once. Both answer as the ORM, in one query each."""
    agents = [make_agent(queue, f"box-{i}") for i in range(3)]
    built = []

    def hostnames(conn, *, entity_id, ids):
        built.append(len(ids))
        queryset = LaunchAgent.objects.filter(entity_id=entity_id, pk__in=ids).order_by("pk")
        return compiled.select_sql(queryset.values_list("hostname"), conn)

    statement = compiled.IdsStatement(hostnames, entity_id=int)
    ids = [agent.pk for agent in agents]
    assert statement.rows(ids[:2], entity_id=team.pk) == [("box-0",), ("box-1",)]
    assert statement.rows(ids[2:], entity_id=team.pk) == [("box-2",)]
    assert statement.rows(ids, entity_id=team.pk + 1000) == []
    assert built == [compiled.IdsStatement.COMPILE_UP_TO]  # compiled once, for a whole page of ids
    monkeypatch.setattr(compiled.IdsStatement, "COMPILE_UP_TO", 2)
    with CaptureQueriesContext(connection) as captured:
        assert statement.rows(ids, entity_id=team.pk) == [("box-0",), ("box-1",), ("box-2",)]
    assert len(captured) == 1 and built[-1] == 3  # the same builder, once, with the ids it was given
