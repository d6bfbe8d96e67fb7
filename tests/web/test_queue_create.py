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
    for label in ["Entity", "Name", "Resource", "Prioritization", "Configuration", "Template variables as JSON"]:
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


def test_parse_configuration_gives_a_tile_per_placeholder_keeping_entered_values(client, owner):
    client.force_login(owner)
    config = "spec:\n  gpus: '{{gpus}}'\n  image: 'train:{{tag}}'\n  again: '{{ gpus }}'\n"
    response = client.post(
        "/launch/queues/variables", {"config": config, "variable": ["gpus", "gone"], "var-gpus-default": "4"}
    )
    tiles = response.context["tiles"]
    assert [(t.name, t.type, t.default) for t in tiles] == [("gpus", "string", "4"), ("tag", "string", "")]
    body = text(response)
    assert 'name="var-gpus-default" value="4"' in body and "var-gone-" not in body


def test_parse_configuration_says_why_a_config_does_not_parse(client, owner):
    client.force_login(owner)
    response = client.post("/launch/queues/variables", {"config": "a: [1, 2\nb: }", "variable": ["gpus"]})
    assert "nor YAML" in response.context["tiles_error"]
    assert 'id="variable-tiles-error"' in text(response)


def test_parse_configuration_needs_a_signed_in_user(client):
    response = client.post("/launch/queues/variables", {"config": "{}"})
    assert response.status_code == 302 and "/login" in response["Location"]


@pytest.mark.parametrize(
    "tile,field,message",
    [
        ({"type": "float"}, "type", "Choose string, integer or number."),
        ({"type": "integer", "default": "2.5"}, "default", "'2.5' is not an integer."),
        ({"type": "string", "minimum": "1"}, "minimum", "Minimum applies to integers and numbers only."),
        ({"type": "number", "maximum": "x"}, "maximum", "'x' is not a number."),
        ({"type": "integer", "minimum": "8", "maximum": "1"}, "maximum", "minimum is greater than maximum."),
        ({"type": "integer", "enum": "1, two"}, "enum", "'two' is not an integer."),
        ({"type": "integer", "minimum": "1", "default": "0"}, "default", "gpus: 0 is below the minimum 1."),
    ],
)
def test_bad_tile_shows_its_error_beside_its_field_and_writes_nothing(client, owner, team, tile, field, message):
    client.force_login(owner)
    data = form(config='{"gpus": "{{gpus}}"}', variable="gpus", **{f"var-gpus-{k}": v for k, v in tile.items()})
    response = client.post(URL, data)
    assert response.status_code == 200
    assert not RunQueue.objects.exists()
    assert f'<p class="error" id="var-gpus-{field}-error">{message}</p>' in text(response).replace("&#x27;", "'")
