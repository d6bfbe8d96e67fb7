"""The project page (/<entity>/<project>, the client's "View project" address), the Projects list, the compare
data of selected runs, and the entity names refused because fixed addresses would shadow their pages."""

import json

import pytest
from django.core.exceptions import ValidationError
from django.urls import get_resolver
from django.urls.resolvers import URLResolver

from launchui.accounts.names import RESERVED_ENTITY_NAMES
from launchui.accounts.services import team_create, user_create
from launchui.launch.models import RunQueueItem
from launchui.launch.services import item_push
from launchui.projects.services import project_get_or_create, run_stream, run_upsert
from tests.web.helpers import count_queries, text

pytestmark = pytest.mark.django_db


def make_run(project, user, name, *, loss, lr=0.01, tags=(), exit_code=0, steps=3, display=None):
    run, _ = run_upsert(
        project=project,
        name=name,
        created_by=user,
        display_name=display or f"run-{name}",
        config={"lr": {"value": lr}},
        tags=list(tags),
        summary={"loss": loss},
    )
    lines = [json.dumps({"_step": i, "loss": loss + i}) for i in range(steps)]
    run_stream(
        run=run,
        complete=exit_code is not None,
        exit_code=exit_code,
        files={"wandb-history.jsonl": {"offset": 0, "content": lines}},
    )
    return run


@pytest.fixture
def vision(team, owner, queue):
    project = project_get_or_create(entity=team, name="vision")
    make_run(project, owner, "a1", loss=0.9, tags=["baseline"])
    make_run(project, owner, "b2", loss=0.2, lr=0.1, tags=["gpu"])
    make_run(project, owner, "c3", loss=0.5, exit_code=1, tags=["gpu"])
    make_run(project, owner, "d4", loss=0.7, exit_code=None, display="live one")
    launched(queue, owner, "b2", "acme/vision/job-train:v0")
    return project


def launched(queue, user, run_name, job):
    """An item of the queue that an agent claimed and whose run is run_name."""
    item = item_push(queue=queue, run_spec={"job": job, "project": "vision"}, created_by=user)
    RunQueueItem.objects.filter(pk=item.pk).update(state=RunQueueItem.CLAIMED, associated_run_id=run_name)


def names(response) -> list[str]:
    return [row.run.name for row in response.context["rows"]]


def test_lists_runs_with_state_job_queue_user_and_links_to_each_run(client, owner, vision):
    client.force_login(owner)
    response = client.get("/acme/vision")
    assert names(response) == ["d4", "c3", "b2", "a1"]  # newest first
    states = {row.run.name: row.state for row in response.context["rows"]}
    assert states == {"a1": "finished", "b2": "finished", "c3": "failed", "d4": "running"}
    body = text(response)
    assert 'href="/acme/vision/runs/b2">run-b2</a>' in body
    assert ">acme/vision/job-train:v0</td>" in body
    assert ">gpu-queue</a>" in body
    assert ">Failed</span>" in body and ">Running</span>" in body
    assert '<label for="id_state">State</label>' in body


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=finished", ["b2", "a1"]),
        ("state=failed", ["c3"]),
        ("tag=gpu", ["c3", "b2"]),
        ("queue=gpu-queue", ["b2"]),
        ("job=job-train", ["b2"]),
        ("q=LIVE", ["d4"]),
        ("sort=summary_metrics.loss", ["b2", "c3", "d4", "a1"]),
        ("sort=-summary_metrics.loss&state=finished", ["a1", "b2"]),
        ("sort=config.lr", ["a1", "c3", "d4", "b2"]),
        ("sort=state", ["c3", "a1", "b2", "d4"]),  # failed, finished, running
        ("sort=queue", ["b2", "a1", "c3", "d4"]),
    ],
)
def test_filters_and_sorts_as_the_wire_does(client, owner, vision, query, expected):
    client.force_login(owner)
    assert names(client.get(f"/acme/vision?{query}")) == expected


def test_picked_summary_column_shows_values_and_sorts(client, owner, vision):
    client.force_login(owner)
    response = client.get("/acme/vision?summary=loss&config=lr&sort=-summary_metrics.loss")
    assert [row.summary_cells for row in response.context["rows"]] == [[0.9], [0.7], [0.5], [0.2]]
    assert [row.config_cells for row in response.context["rows"]][0] == [0.01]
    assert 'aria-sort="descending"><a href="?summary=loss&amp;config=lr&amp;sort=summary_metrics.loss"' in text(
        response
    )


def test_bad_sort_is_said_not_a_500(client, owner, vision):
    client.force_login(owner)
    response = client.get("/acme/vision?sort=nonsense")
    assert response.status_code == 200
    assert "Cannot sort by &#x27;nonsense&#x27;" in text(response)
    assert names(response) == ["d4", "c3", "b2", "a1"]


def test_htmx_filter_answers_the_table_and_pushes_the_address(client, owner, vision):
    client.force_login(owner)
    response = client.get("/acme/vision?state=failed&tag=", headers={"HX-Request": "true"})
    assert response.headers["HX-Push-Url"] == "/acme/vision?state=failed"
    assert text(response).startswith('\n<section id="run-table"') or text(response).lstrip().startswith(
        '<section id="run-table"'
    )


def test_member_sees_the_page_and_outsider_gets_404(client, member, outsider, vision):
    client.force_login(member)
    assert names(client.get("/acme/vision?state=failed")) == ["c3"]
    client.force_login(outsider)
    assert client.get("/acme/vision").status_code == 404
    assert client.get("/acme/nothing").status_code == 404
    assert client.get("/acme/vision/compare?runs=a1").status_code == 404
    assert client.get("/acme/vision/compare/data?runs=a1&key=loss").status_code == 404


def test_query_count_is_constant_in_the_number_of_runs(client, owner, vision, queue):
    client.force_login(owner)
    few, _ = count_queries(client, "/acme/vision?summary=loss")
    for i in range(30):
        make_run(vision, owner, f"x{i}", loss=i, tags=["bulk"])
        launched(queue, owner, f"x{i}", "acme/vision/job-x:v1")
    many, response = count_queries(client, "/acme/vision?summary=loss")
    assert len(response.context["rows"]) == 34
    assert many == few


def test_projects_list_shows_projects_of_my_entities_only(client, owner, outsider, vision):
    project_get_or_create(entity=owner.personal_entity, name="scratch")
    client.force_login(owner)
    response = client.get("/projects")
    listed = [(p.entity.name, p.name, p.run_count) for p in response.context["page"].object_list]
    assert listed == [("acme", "vision", 4), ("olivia", "scratch", 0)]
    assert 'href="/acme/vision"' in text(response)
    client.force_login(outsider)
    assert list(client.get("/projects").context["page"].object_list) == []


def test_top_bar_links_to_projects(client, owner):
    client.force_login(owner)
    assert '<a href="/projects">Projects</a>' in text(client.get("/launch"))


def test_compare_data_merges_runs_on_one_step_axis(client, owner, vision):
    make_run(vision, owner, "e5", loss=0.1, steps=5)
    client.force_login(owner)
    page = client.get("/acme/vision/compare?runs=a1&runs=e5&runs=missing")
    assert [run.name for run in page.context["runs"]] == ["a1", "e5"]
    assert 'data-chart-src="/acme/vision/compare/data?runs=a1&amp;runs=e5&amp;key=loss"' in text(page)
    queries, response = count_queries(client, "/acme/vision/compare/data?runs=a1&runs=e5&key=loss")
    data = response.json()
    assert data["x"] == [0, 1, 2, 3, 4]
    assert [s["label"] for s in data["series"]] == ["run-a1", "run-e5"]
    assert data["series"][0]["values"] == pytest.approx([0.9, 1.9, 2.9, None, None], nan_ok=False) or data["series"][0][
        "values"
    ][:3] == pytest.approx([0.9, 1.9, 2.9])
    assert data["series"][0]["values"][3:] == [None, None]
    assert data["series"][1]["values"] == pytest.approx([0.1, 1.1, 2.1, 3.1, 4.1])
    assert queries <= 8


# --- names the fixed addresses would shadow ---------------------------------------------------------------


def _fixed_first_segments() -> set[str]:
    segments = set()
    for pattern in get_resolver().url_patterns:
        patterns = pattern.url_patterns if isinstance(pattern, URLResolver) and not str(pattern.pattern) else [pattern]
        for inner in patterns:
            first = str(inner.pattern).lstrip("^").split("/", 1)[0]
            if first and "<" not in first:
                segments.add(first.rstrip("$"))
    return segments


def test_every_fixed_address_is_a_reserved_entity_name(settings):
    fixed = _fixed_first_segments() | {settings.STATIC_URL.strip("/")}
    assert {"launch", "entities", "authorize", "login", "admin", "graphql", "files", "projects"} <= fixed
    assert fixed <= RESERVED_ENTITY_NAMES, fixed - RESERVED_ENTITY_NAMES


@pytest.mark.parametrize("name", ["launch", "Entities", "admin", "graphql", "files", "authorize", "projects"])
def test_reserved_names_are_refused_for_teams_and_users(owner, name):
    with pytest.raises(ValidationError, match="reserved"):
        team_create(name=name, creator=owner)
    with pytest.raises(ValidationError, match="reserved"):
        user_create(username=name, password="x-long-password-1")


def test_signup_with_a_reserved_name_shows_the_error_by_the_field(client, settings):
    settings.LAUNCHUI_SIGNUP_ENABLED = True
    response = client.post(
        "/signup", {"username": "launch", "email": "", "password1": "Zq8v-long-pass", "password2": "Zq8v-long-pass"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["username"] == [
        "This name is reserved for launchui's own pages; choose another."
    ]


def test_create_team_page_refuses_a_reserved_name(client, owner):
    client.force_login(owner)
    response = client.post("/entities", {"name": "graphql"})
    assert response.status_code == 200
    assert "reserved for launchui" in text(response)


# --- queue pages link a launched item's run to its run page -------------------------------------------------


def test_queue_overview_recent_rows_and_item_page_link_to_the_run(client, owner, vision, queue):
    item = RunQueueItem.objects.get(associated_run_id="b2")
    waiting = item_push(queue=queue, run_spec={"project": "vision"}, created_by=owner)
    client.force_login(owner)
    for url in ["/launch/acme/queues/gpu-queue/", "/launch/acme/queues/gpu-queue/recent"]:
        body = text(client.get(url))
        assert '<a href="/acme/vision/runs/b2">b2</a>' in body, url
        assert f'href="/launch/acme/queues/gpu-queue/items/{item.pk}">Item #{item.pk}</a>' in body
        assert f'href="/launch/acme/queues/gpu-queue/items/{waiting.pk}">Item #{waiting.pk}</a>' in body
    body = text(client.get(f"/launch/acme/queues/gpu-queue/items/{item.pk}"))
    assert '<dd class="mono"><a href="/acme/vision/runs/b2">b2</a></dd>' in body
    assert '<a href="/acme/vision/runs/b2">View run b2</a>' in body


# --- the job page's Runs tab --------------------------------------------------------------------------------


def test_job_page_lists_runs_of_each_version_with_state_and_chosen_metric(client, owner, outsider, team, queue):
    from tests.web.jobs_helpers import image_job

    image_job(team, owner, project="vision")
    project = project_get_or_create(entity=team, name="vision")
    job = "acme/vision/job-ghcr.io_acme_train"
    make_run(project, owner, "r1", loss=0.4)
    make_run(project, owner, "r2", loss=0.8, exit_code=2)
    make_run(project, owner, "other", loss=0.1)
    launched(queue, owner, "r1", f"{job}:v0")
    launched(queue, owner, "r2", f"{job}:latest")
    launched(queue, owner, "other", "acme/vision/job-else:v0")
    client.force_login(owner)
    url = "/launch/acme/vision/jobs/job-ghcr.io_acme_train"
    queries, response = count_queries(client, url + "?metric=loss")
    runs = response.context["runs"]
    assert [(r.run.name, r.version, r.state) for r in runs] == [("r2", "latest", "failed"), ("r1", "v0", "finished")]
    assert response.context["metric"] == "loss"
    body = text(response)
    assert '<a href="/acme/vision/runs/r2">run-r2</a>' in body
    assert '<td class="num">0.8</td>' in body and '<td class="num">0.4</td>' in body
    assert ">Failed</span>" in body
    for i in range(5):
        make_run(project, owner, f"more{i}", loss=i)
        launched(queue, owner, f"more{i}", f"{job}:v0")
    assert count_queries(client, url + "?metric=loss")[0] == queries
    client.force_login(outsider)
    assert client.get(url).status_code == 404
