import pytest
from django.test import override_settings

from launchui.launch.models import RunQueue
from launchui.launch.services import item_push
from tests.web.helpers import count_queries, text

pytestmark = pytest.mark.django_db


@pytest.fixture
def queues(owner, team, make_queue, make_agent):
    gpu = make_queue(team, "gpu-queue", "kubernetes")
    cpu = make_queue(team, "cpu-queue")
    mine = make_queue(owner.personal_entity, "laptop", "local-process")
    make_agent(gpu)
    item_push(queue=cpu, run_spec={}, created_by=owner)
    item_push(queue=cpu, run_spec={}, created_by=owner)
    return gpu, cpu, mine


def rows(response) -> list[str]:
    return [q.name for q in response.context["page"].object_list]


def test_lists_every_visible_queue_with_state_and_counts(client, owner, queues):
    client.force_login(owner)
    response = client.get("/launch")
    assert rows(response) == ["cpu-queue", "gpu-queue", "laptop"]
    body = text(response)
    assert '<option value="" selected>All entities</option>' in body
    assert '<label for="id_entity">Entity</label>' in body
    assert '<label for="id_search">Search queues</label>' in body
    assert ">Active</span>" in body and ">Not running</span>" in body
    assert 'href="/launch/acme/queues/gpu-queue/"' in body
    cpu = response.context["page"].object_list[0]
    assert (cpu.queued_count, cpu.live_agent_count) == (2, 0)
    assert ">Create queue</a>" in body


def test_queue_links_are_what_reverse_gives_even_for_names_that_need_quoting(client, owner, team):
    """The rows build their links with the queue_url filter (one reverse per process), not {% url %}. Queue
    names are letters, digits, dots, dashes and underscores; this row is written past that check so that the
    filter's quoting is checked too."""
    from django.urls import reverse

    RunQueue.objects.create(entity=team, name="odd name & <queue>?", resource="kubernetes", created_by=owner)
    client.force_login(owner)
    body = text(client.get("/launch"))
    overview = reverse("queue_overview", args=["acme", "odd name & <queue>?"])
    recent = reverse("queue_recent", args=["acme", "odd name & <queue>?"])
    assert overview == "/launch/acme/queues/odd%20name%20&%20%3Cqueue%3E%3F/"
    assert f'href="{overview.replace("&", "&amp;")}"' in body
    assert f'hx-get="{recent.replace("&", "&amp;")}"' in body
    # The rows are written in Python (queue_rows): the name is escaped wherever it is shown.
    assert '">odd name &amp; &lt;queue&gt;?</a></td><td>acme</td><td>Kubernetes</td>' in body
    assert 'aria-label="Recent items of acme/odd name &amp; &lt;queue&gt;?"' in body


def test_entity_options_are_escaped_one_by_one_even_when_joined():
    """select_options escapes all names in one html.escape call, joined by NUL; a text holding NUL itself
    (no entity name can) must not shift the options."""
    from launchui.web.templatetags.launchui_tags import _escape_all

    assert _escape_all(["a&b", "<c>", ""]) == ["a&amp;b", "&lt;c&gt;", ""]
    assert _escape_all(["x\x00<", "y"]) == ["x\x00&lt;", "y"]


def test_member_sees_team_queues_but_not_others_personal_ones(client, member, queues):
    client.force_login(member)
    assert rows(client.get("/launch")) == ["cpu-queue", "gpu-queue"]


def test_outsider_sees_no_team_queue(client, outsider, queues):
    client.force_login(outsider)
    response = client.get("/launch?entity=acme")  # not one of their entities: the filter is dropped
    assert rows(response) == []
    assert "No queues yet." in text(response)
    assert client.get("/launch/acme/queues/gpu-queue/").status_code == 404


def test_filter_by_entity_and_search(client, owner, queues):
    client.force_login(owner)
    assert rows(client.get("/launch?entity=olivia")) == ["laptop"]
    assert rows(client.get("/launch?entity=acme&search=GPU")) == ["gpu-queue"]
    assert 'value="acme" selected' in text(client.get("/launch?entity=acme"))
    assert '<option value="olivia">olivia</option>' in text(client.get("/launch?entity=acme"))


@pytest.mark.parametrize(
    "sort,expected",
    [
        ("name", ["cpu-queue", "gpu-queue", "laptop"]),
        ("-name", ["laptop", "gpu-queue", "cpu-queue"]),
        ("-queued", ["cpu-queue", "gpu-queue", "laptop"]),
        ("queued", ["gpu-queue", "laptop", "cpu-queue"]),
        ("-agents", ["gpu-queue", "cpu-queue", "laptop"]),
        ("resource", ["gpu-queue", "cpu-queue", "laptop"]),
        ("nonsense", ["cpu-queue", "gpu-queue", "laptop"]),
    ],
)
def test_sort(client, owner, queues, sort, expected):
    client.force_login(owner)
    assert rows(client.get(f"/launch?sort={sort}")) == expected
    # Each shape is its own compiled statement (entity chosen or not); a search runs the same builders
    # uncompiled ("p" is in every name here).
    assert rows(client.get(f"/launch?sort={sort}&entity=acme")) == [name for name in expected if name != "laptop"]
    assert rows(client.get(f"/launch?sort={sort}&search=p")) == expected


@pytest.mark.parametrize("count_visible_only_up_to", [1000, 0], ids=["visible queues' items", "one index pass"])
def test_queued_sort_pages_across_queues_with_and_without_waiting_items(
    client, owner, outsider, team, make_queue, make_agent, monkeypatch, count_visible_only_up_to
):
    """The queued-count sorts rank every visible queue by its waiting items (liveness.waiting_q), ties by
    entity then name, the queues without a waiting item included, in both directions; a page may hold both
    kinds (page 2 here). Leased items wait again once their lease expired; claimed ones never do. Both ways
    of counting (the visible queues' items, or every queue's in one pass past COUNT_VISIBLE_ONLY_UP_TO) give
    the same pages, and an outsider's busy queue shows in neither."""
    from launchui.launch.selectors import LaunchQueues

    monkeypatch.setattr(LaunchQueues, "COUNT_VISIBLE_ONLY_UP_TO", count_visible_only_up_to)
    foreign = make_queue(outsider.personal_entity, "busy")
    for _ in range(5):
        item_push(queue=foreign, run_spec={}, created_by=outsider)
    from datetime import timedelta

    from django.utils import timezone

    from launchui.launch.models import RunQueueItem

    settings_page = 3
    waiting = {("acme", "a"): 2, ("acme", "b"): 0, ("acme", "c"): 1, ("acme", "d"): 0}
    waiting |= {("olivia", "a"): 1, ("olivia", "b"): 2, ("olivia", "c"): 0}
    entities = {"acme": team, "olivia": owner.personal_entity}
    for (entity, name), count in waiting.items():
        queue = make_queue(entities[entity], name)
        for _ in range(count):
            item_push(queue=queue, run_spec={}, created_by=owner)
        # Not waiting: leased within its lease, and claimed.
        for state in (RunQueueItem.LEASED, RunQueueItem.CLAIMED):
            item = item_push(queue=queue, run_spec={}, created_by=owner)
            RunQueueItem.objects.filter(pk=item.pk).update(state=state, leased_at=timezone.now())
    expired = item_push(queue=RunQueue.objects.get(entity=team, name="d"), run_spec={}, created_by=owner)
    RunQueueItem.objects.filter(pk=expired.pk).update(
        state=RunQueueItem.LEASED, leased_at=timezone.now() - timedelta(days=1)
    )
    waiting[("acme", "d")] = 1  # its lease expired: it waits again
    make_agent(RunQueue.objects.get(entity=team, name="c"))

    descending = sorted(waiting, key=lambda key: (-waiting[key], key))
    assert descending == [
        ("acme", "a"),
        ("olivia", "b"),
        ("acme", "c"),
        ("acme", "d"),
        ("olivia", "a"),
        ("acme", "b"),
        ("olivia", "c"),
    ]
    ascending = sorted(waiting, key=lambda key: (waiting[key], key))
    client.force_login(owner)
    for sort, expected in (("-queued", descending), ("queued", ascending)):
        shown = []
        for page in (1, 2, 3):
            with override_settings(LAUNCHUI_PAGE_SIZE=settings_page):
                response = client.get(f"/launch?sort={sort}&page={page}")
            for queue in response.context["page"].object_list:
                key = (queue.entity.name, queue.name)
                shown.append(key)
                assert queue.queued_count == waiting[key], key
                assert queue.live_agent_count == (1 if key == ("acme", "c") else 0), key
        assert shown == expected, sort
    body = text(client.get("/launch?sort=-queued"))
    assert '<td class="num">2</td><td class="num">0</td></tr>' in body
    assert 'href="/launch/acme/queues/a/">a</a></td><td>acme</td>' in body


def test_sort_headers_toggle_direction(client, owner, queues):
    client.force_login(owner)
    body = text(client.get("/launch?sort=name"))
    assert 'aria-sort="ascending"><a href="?sort=-name"' in body
    assert '<a href="?sort=queued"' in body


def test_htmx_request_gets_the_table_partial_and_a_clean_url(client, owner, queues):
    client.force_login(owner)
    response = client.get("/launch?entity=acme&search=&sort=entity", headers={"HX-Request": "true"})
    body = text(response)
    assert body.lstrip().startswith('<section id="queue-table"')
    assert "<html" not in body
    assert response["HX-Push-Url"] == "/launch?entity=acme"
    assert "HX-Request" in response["Vary"]


def test_history_restore_gets_the_whole_page(client, owner, queues):
    client.force_login(owner)
    response = client.get("/launch", headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in text(response)


def test_pagination(client, owner, queues, settings):
    settings.LAUNCHUI_PAGE_SIZE = 2
    client.force_login(owner)
    first = client.get("/launch?sort=name")
    assert rows(first) == ["cpu-queue", "gpu-queue"]
    assert "Page 1 of 2" in text(first)
    assert 'href="?sort=name&amp;page=2"' in text(first)
    assert rows(client.get("/launch?sort=name&page=2")) == ["laptop"]
    assert rows(client.get("/launch?sort=name&page=99")) == ["laptop"]


@pytest.mark.parametrize("query", ["", "?sort=-queued", "?sort=queued", "?entity=acme", "?sort=agents&page=2"])
def test_query_count_does_not_grow_with_queues(client, owner, team, query):
    """Session, user, the user's entities (names and whether admin), the page count, the page's rows: the
    queued-count sorts rank by one grouped count of the waiting items, in the rows' query."""
    client.force_login(owner)

    def make(n, start):
        queues = RunQueue.objects.bulk_create(
            RunQueue(entity=team, name=f"q-{start + i:04d}", resource="kubernetes", created_by=owner) for i in range(n)
        )
        for queue in queues[::3]:
            item_push(queue=queue, run_spec={}, created_by=owner)

    make(3, 0)
    few, response = count_queries(client, f"/launch{query}")
    assert len(rows(response)) == 3  # page 2 of one page shows the last page
    make(297, 3)
    many, response = count_queries(client, f"/launch{query}")
    assert len(rows(response)) == 50
    assert few == many == 5, few  # exact, like the wire's query budgets


def test_create_queue_button_needs_an_admin_entity(client, owner):
    from launchui.accounts.models import Membership

    Membership.objects.filter(user=owner).update(role=Membership.MEMBER)
    client.force_login(owner)
    assert ">Create queue</a>" not in text(client.get("/launch"))
    assert client.get("/launch/queues/new").status_code == 403
