import json

import pytest

from launchui.launch.models import RunQueue
from tests.web.helpers import text

pytestmark = pytest.mark.django_db

URL = "/launch/queues/new"


def form(**changes) -> dict:
    data = {"entity": "acme", "name": "gpu-queue", "resource": "kubernetes", "config": "", "template_variables": ""}
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_form_offers_entities_where_user_is_admin(client, owner, member, team):
    client.force_login(owner)
    response = client.get(URL)
    assert response.context["form"].fields["entity"].choices == [("acme", "acme"), ("olivia", "olivia")]
    body = text(response)
    for label in ["Entity", "Name", "Resource", "Prioritization", "Configuration", "Template variables"]:
        assert f">{label}</label>" in body
    assert 'id="default-configs"' in body
    client.force_login(member)
    assert client.get(URL).context["form"].fields["entity"].choices == [("mateo", "mateo")]


def test_create_redirects_to_agents_tab(client, owner, team):
    client.force_login(owner)
    response = client.post(
        URL,
        form(
            prioritization="on",
            config="metadata:\n  namespace: '{{ns}}'\n",
            template_variables=json.dumps([{"name": "ns", "schema": {"type": "string"}}]),
        ),
    )
    assert response.status_code == 302
    assert response["Location"] == "/launch/acme/queues/gpu-queue/agents"
    queue = RunQueue.objects.get(entity=team, name="gpu-queue")
    assert queue.prioritization_mode == "V0"
    assert queue.config == {"resource_args": {"kubernetes": {"metadata": {"namespace": "{{ns}}"}}}}
    assert queue.created_by == owner
    assert queue.template_variables == [{"name": "ns", "schema": {"type": "string"}}]


def test_prioritization_unchecked_is_disabled(client, owner, team):
    client.force_login(owner)
    client.post(URL, form())
    assert RunQueue.objects.get().prioritization_mode == "DISABLED"


def test_member_of_team_cannot_create_its_queue(client, member, team):
    client.force_login(member)
    assert client.post(URL, form()).status_code == 403
    assert not RunQueue.objects.exists()


def test_outsider_gets_a_form_error_not_a_hint(client, outsider, team):
    client.force_login(outsider)
    response = client.post(URL, form())
    assert response.status_code == 200
    assert "Select a valid choice" in text(response)
    assert not RunQueue.objects.exists()


@pytest.mark.parametrize(
    "changes,field,message",
    [
        ({"name": "x" * 65}, "name", "Queue names have at most 64 characters (this one has 65)."),
        ({"name": "a/b"}, "name", "Use letters, digits, dots, dashes and underscores only"),
        ({"name": "a:b"}, "name", "Use letters, digits, dots, dashes and underscores only"),
        ({"name": ""}, "name", "This field is required."),
        ({"resource": "slurm"}, "resource", "Select a valid choice. slurm is not one of the available choices."),
        ({"config": '{"a": 1'}, "config", "Not valid JSON"),
        ({"config": "a: [1, 2\nb: }"}, "config", "nor YAML"),
        ({"config": "- 1\n- 2\n"}, "config", "The configuration must be a mapping"),
        ({"config": '{"x": "{{gpus}}"}'}, "template_variables", "no template variable of that name is declared"),
        ({"template_variables": "[{"}, "template_variables", "Template variables are not JSON"),
        (
            {"template_variables": '[{"name": "gpus", "schema": {"type": "float"}}]'},
            "template_variables",
            "type must be one of string, integer, number",
        ),
        (
            {"template_variables": '[{"name": "gpus", "schema": {"type": "integer", "minimum": 8, "maximum": 1}}]'},
            "template_variables",
            "minimum is greater than maximum",
        ),
    ],
)
def test_bad_input_writes_nothing_and_shows_message_beside_field(client, owner, team, changes, field, message):
    client.force_login(owner)
    response = client.post(URL, form(**changes))
    assert response.status_code == 200
    assert not RunQueue.objects.exists()
    errors = response.context["form"].errors[field]
    assert any(message in e for e in errors), errors
    body = text(response)
    assert f'id="id_{field}_error"' in body  # rendered beside the field


def test_duplicate_name_in_same_entity(client, owner, team, make_queue):
    make_queue(team, "gpu-queue")
    client.force_login(owner)
    response = client.post(URL, form())
    assert response.context["form"].errors["name"] == ["acme already has a queue named gpu-queue."]
    assert RunQueue.objects.count() == 1
    # the same name in another entity is fine
    assert client.post(URL, form(entity="olivia")).status_code == 302
