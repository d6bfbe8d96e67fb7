"""The Launch drawer: access, the fields W&B shows in its order, htmx re-renders, launching, and bad
launches that show their error beside the field and write nothing."""

import json

import pytest

from launchui.artifacts.models import Artifact
from launchui.artifacts.services import artifact_build
from launchui.launch.models import RunQueueItem
from launchui.launch.services import launch, queue_create
from launchui.projects.models import Project
from launchui.projects.services import project_get_or_create
from tests.web.helpers import count_queries, text

pytestmark = pytest.mark.django_db

URL = "/launch/acme/train/jobs/job-trainer/launch"
HX = {"HX-Request": "true"}
VARIABLES = [
    {"name": "gpus", "schema": {"type": "integer", "minimum": 1, "maximum": 8, "default": 2}},
    {"name": "tier", "schema": {"type": "string", "enum": ["small", "large"], "default": "small"}},
]


def make_job(entity, *, project="train", name="job-trainer", image="python:3.12", aliases=(), user=None) -> Artifact:
    """An image job version, as `wandb job create image` would leave it."""
    spec = {
        "_version": "v0",
        "source_type": "image",
        "source": {"image": image},
        "input_types": {"wb_type": "typedDict", "params": {"type_map": {}}},
        "output_types": {"wb_type": "typedDict", "params": {"type_map": {}}},
        "runtime": "",
    }
    version, _ = artifact_build(
        project=project_get_or_create(entity=entity, name=project),
        name=name,
        type_name="job",
        files={"wandb-job.json": json.dumps(spec).encode()},
        aliases=list(aliases),
        created_by=user,
    )
    return version


@pytest.fixture
def job(team, owner):
    make_job(team, image="python:3.11", aliases=["stable"], user=owner)
    return make_job(team, image="python:3.12", user=owner)  # v1, latest


@pytest.fixture
def plain_queue(make_queue, team):
    return make_queue(team, "cpu")


@pytest.fixture
def fancy_queue(make_queue, team):
    return make_queue(
        team,
        "gpu",
        config={"gpus": "{{gpus}}", "tier": "{{tier}}"},
        template_variables=VARIABLES,
        prioritization_mode="V0",
    )


def post(**changes) -> dict:
    data = {
        "version": "latest",
        "args": "--epochs 3 --note 'two words'",
        "entry_point": "",
        "run_config": '{"lr": 0.1}',
        "queue": "acme/gpu",
        "priority": "1",
        "var_gpus": "4",
        "var_tier": "large",
        "project": "train",
        "new_project": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


# --- access ---------------------------------------------------------------------------------------


def test_drawer_is_for_members_of_the_jobs_entity(client, owner, member, outsider, job, plain_queue):
    for user, status in [(owner, 200), (member, 200), (outsider, 404)]:
        client.force_login(user)
        assert client.get(URL).status_code == status, user
        assert client.get(URL, headers=HX).status_code == status, user
    client.force_login(outsider)
    assert client.post(URL, post(queue="acme/cpu")).status_code == 404
    assert not RunQueueItem.objects.exists()


def test_unknown_job_is_404(client, owner, job):
    client.force_login(owner)
    assert client.get("/launch/acme/train/jobs/nope/launch").status_code == 404
    assert client.get("/launch/acme/other/jobs/job-trainer/launch").status_code == 404


def test_anonymous_goes_to_sign_in(client, job):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/login")


# --- the form -------------------------------------------------------------------------------------


def test_fields_in_wandb_order_with_labels(client, owner, job, plain_queue, fancy_queue):
    client.force_login(owner)
    body = text(client.get(URL + "?queue=acme/gpu"))
    labels = [
        "Job version",
        "Paste from",
        "Arguments",
        "Entry point",
        "Run config (JSON)",
        "Queue",
        "Priority",
        "gpus",
        "tier",
        "Destination project",
        "New project",
    ]
    positions = [body.index(f">{label}</label>") for label in labels]
    assert positions == sorted(positions)
    for field in [
        "version",
        "paste",
        "args",
        "entry_point",
        "run_config",
        "queue",
        "priority",
        "project",
        "new_project",
        "var_gpus",
        "var_tier",
    ]:
        assert f'<label for="id_{field}">' in body, field
    assert ">Launch now</button>" in body


def test_versions_latest_first_then_aliases_then_numbers(client, owner, job, plain_queue):
    client.force_login(owner)
    form = client.get(URL).context["form"]
    assert form.fields["version"].widget.choices == [
        ("latest", "latest (v1)"),
        ("stable", "stable (v0)"),
        ("v1", "v1"),
        ("v0", "v0"),
    ]
    assert form["version"].value() == "latest"


def test_queues_are_those_of_my_entities(client, owner, outsider, job, plain_queue, fancy_queue):
    queue_create(entity=owner.personal_entity, name="laptop", resource="local-process", created_by=owner)
    queue_create(entity=outsider.personal_entity, name="theirs", resource="local-process", created_by=outsider)
    client.force_login(owner)
    form = client.get(URL).context["form"]
    assert [v for v, _ in form.fields["queue"].choices] == ["acme/cpu", "acme/gpu", "olivia/laptop"]
    assert form["queue"].value() == "acme/cpu"  # the job's entity first


def test_priority_fixed_at_medium_when_prioritization_is_off(client, owner, job, plain_queue, fancy_queue):
    client.force_login(owner)
    body = text(client.get(URL + "?part=queue&queue=acme/cpu", headers=HX))
    assert body.lstrip().startswith('<div id="launch-queue-fields"')
    assert '<select name="priority" disabled' in body
    assert '<option value="2" selected>Medium</option>' in body
    assert "Fixed at Medium" in body
    assert "cpu has no template variables." in body
    body = text(client.get(URL + "?part=queue&queue=acme/gpu", headers=HX))
    assert 'name="priority" disabled' not in body and "Fixed at Medium" not in body


def test_template_variables_are_typed_inputs(client, owner, job, fancy_queue):
    client.force_login(owner)
    body = text(client.get(URL + "?part=queue&queue=acme/gpu", headers=HX))
    assert '<input type="number" name="var_gpus" value="2" step="1" min="1" max="8"' in body
    assert "Integer from 1 to 8." in body
    assert '<select name="var_tier"' in body and '<option value="large">large</option>' in body
    assert '<option value="small" selected>small</option>' in body


def test_destination_projects_are_the_queue_entitys(client, owner, job, fancy_queue):
    project_get_or_create(entity=fancy_queue.entity, name="eval")
    project_get_or_create(entity=owner.personal_entity, name="mine")
    queue_create(entity=owner.personal_entity, name="laptop", resource="local-process", created_by=owner)
    client.force_login(owner)
    form = client.get(URL).context["form"]
    assert [v for v, _ in form.fields["project"].choices] == ["", "eval", "train"]
    assert form["project"].value() == "train"  # the job's own project, as it is in the queue's entity
    form = client.get(URL + "?part=queue&queue=olivia/laptop", headers=HX).context["form"]
    assert [v for v, _ in form.fields["project"].choices] == ["", "mine"]


def test_paste_from_fills_overrides_from_an_earlier_launch(client, owner, team, job, plain_queue):
    earlier = launch(
        queue=plain_queue,
        run_spec={
            "job": "acme/train/job-trainer:v0",
            "project": "train",
            "overrides": {"args": ["--lr", "0.5 x"], "entry_point": [], "run_config": {"epochs": 7}},
        },
        created_by=owner,
    )
    other_job = make_job(team, name="job-other")
    launch(
        queue=plain_queue,
        run_spec={
            "job": f"acme/train/{other_job.collection.name}:v0",
            "project": "train",
            "overrides": {"args": ["--nope"]},
        },
        created_by=owner,
    )
    client.force_login(owner)
    form = client.get(URL).context["form"]
    pastes = form.fields["paste"].widget.choices
    assert [v for v, _ in pastes] == ["", str(earlier.pk)]
    body = text(client.get(URL + f"?part=overrides&paste={earlier.pk}", headers=HX))
    assert body.lstrip().startswith('<fieldset id="launch-overrides"')
    assert 'value="--lr &#x27;0.5 x&#x27;"' in body
    assert "&quot;epochs&quot;: 7" in body


# --- launching ------------------------------------------------------------------------------------


def test_launch_enqueues_the_run_spec_and_goes_to_the_overview(client, member, job, fancy_queue):
    client.force_login(member)
    response = client.post(URL, post())
    assert response.status_code == 302 and response["Location"] == "/launch/acme/queues/gpu/"
    item = RunQueueItem.objects.get()
    assert item.queue == fancy_queue and item.priority == 1 and item.created_by == member
    assert item.template_variable_values == {"gpus": 4, "tier": "large"}
    assert item.run_spec["job"] == "acme/train/job-trainer:latest"
    assert item.run_spec["entity"] == "acme" and item.run_spec["project"] == "train"
    assert item.run_spec["overrides"] == {
        "args": ["--epochs", "3", "--note", "two words"],
        "run_config": {"lr": 0.1},
        "entry_point": [],
    }
    assert item.run_spec["resource_args"] == {"local-container": {"gpus": 4, "tier": "large"}}
    assert f"as item #{item.pk}" in text(client.get(response["Location"]))


def test_launch_from_drawer_redirects_htmx(client, owner, job, plain_queue):
    client.force_login(owner)
    response = client.post(
        URL, post(queue="acme/cpu", priority="0", version="stable", entry_point="python t.py"), headers=HX
    )
    assert response.status_code == 200 and response["HX-Redirect"] == "/launch/acme/queues/cpu/"
    item = RunQueueItem.objects.get()
    assert item.priority == 2  # prioritization off: Medium whatever was posted
    assert item.run_spec["job"] == "acme/train/job-trainer:stable"
    assert item.run_spec["overrides"]["entry_point"] == ["python", "t.py"]


def test_launch_into_a_new_project_creates_it(client, owner, job, plain_queue):
    client.force_login(owner)
    assert client.post(URL, post(queue="acme/cpu", project="", new_project="fresh")).status_code == 302
    assert RunQueueItem.objects.get().run_spec["project"] == "fresh"
    assert Project.objects.filter(entity__name="acme", name="fresh").exists()


@pytest.mark.parametrize(
    "changes,field,message",
    [
        ({"run_config": '{"lr": '}, "run_config", "Not valid JSON"),
        ({"run_config": "[1, 2]"}, "run_config", "must be a JSON object"),
        ({"args": "--note 'unclosed"}, "args", "could not be split like a shell"),
        ({"var_gpus": "99"}, "var_gpus", "gpus: 99 is above the maximum 8."),
        ({"var_gpus": "0"}, "var_gpus", "gpus: 0 is below the minimum 1."),
        ({"var_gpus": "two"}, "var_gpus", "gpus: 'two' is not an integer."),
        ({"var_tier": "huge"}, "var_tier", "tier: 'huge' is not one of small, large."),
        ({"project": "elsewhere"}, "project", "elsewhere is not a project of acme"),
        ({"project": "", "new_project": "olivia/mine"}, "new_project", "runs jobs in projects of acme, not olivia"),
        ({"project": "", "new_project": ""}, "project", "Choose the destination project."),
        ({"version": "v9"}, "version", "acme/train/job-trainer:v9 not found"),
        ({"queue": "oscar/theirs"}, "queue", "Choose a queue of an entity you belong to."),
    ],
)
def test_bad_launch_shows_error_beside_field_and_writes_nothing(
    client, owner, outsider, job, fancy_queue, changes, field, message
):
    queue_create(entity=outsider.personal_entity, name="theirs", resource="local-process", created_by=outsider)
    project_get_or_create(entity=owner.personal_entity, name="elsewhere")
    projects = Project.objects.count()
    client.force_login(owner)
    for headers in ({}, HX):
        response = client.post(URL, post(**changes), headers=headers)
        assert response.status_code == 200
        assert any(message in e for e in response.context["form"].errors[field]), response.context["form"].errors
        body = text(response)
        assert f'id="id_{field}_error"' in body and message.replace("'", "&#x27;") in body
    assert text(client.post(URL, post(**changes), headers=HX)).lstrip().startswith('<form id="launch-form"')
    assert not RunQueueItem.objects.exists()
    assert Project.objects.count() == projects


def test_typed_values_are_kept_after_an_error(client, owner, job, fancy_queue):
    client.force_login(owner)
    body = text(client.post(URL, post(run_config="{", args="--x 1", var_gpus="5")))
    assert 'value="--x 1"' in body and 'name="var_gpus" value="5"' in body


# --- queries --------------------------------------------------------------------------------------


def test_drawer_queries_do_not_grow_with_versions_queues_or_earlier_launches(client, owner, team, job, make_queue):
    queue = make_queue(team, "q0")
    client.force_login(owner)
    few, _ = count_queries(client, URL)
    for i in range(5):
        make_job(team, image=f"python:3.{i}", aliases=[f"a{i}"])
        make_queue(team, f"q{i + 1}")
        launch(
            queue=queue,
            run_spec={"job": "acme/train/job-trainer:latest", "project": f"p{i}", "overrides": {"args": [str(i)]}},
            created_by=owner,
        )
    many, response = count_queries(client, URL)
    assert len(response.context["form"].fields["paste"].widget.choices) == 6
    assert len(response.context["form"].fields["version"].widget.choices) == 14
    assert few == many == 10, few  # exact, like the wire's query budgets (the 10th: the job's own config)
    assert many <= 12
