"""Security review, issue 8, finding 2, in the browser: a YAML alias bomb, or JSON/YAML nested 3,000 deep,
typed into a web form is a form error beside its field, and writes nothing."""

import json

import pytest

from launchui.launch.models import RunQueue, RunQueueItem
from tests.launch.test_user_data_limits import ALIAS_BOMB, NESTED_JSON
from tests.web.helpers import text
from tests.web.test_launch_drawer import HX, fancy_queue, job, post  # noqa: F401 (fixtures)
from tests.web.test_launch_drawer import URL as LAUNCH_URL

pytestmark = pytest.mark.django_db

QUEUE_URL = "/launch/queues/new"


def queue_form(**changes) -> dict:
    data = {"entity": "acme", "name": "gpu-queue", "resource": "kubernetes", "config": "", "template_variables": ""}
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"config": ALIAS_BOMB}, "config", "anchors and aliases are not accepted"),
        ({"config": NESTED_JSON}, "config", "nested deeper than 64 levels (the limit)"),
        (
            {"config": "a:\n" + "".join("  " * i + "- \n" for i in range(1, 300))},
            "config",
            "nested deeper than 64 levels (the limit)",
        ),
        (
            {"template_variables": '[{"name": "x", "schema": ' + NESTED_JSON + "}]"},
            "template_variables",
            "nested deeper than 64 levels (the limit)",
        ),
    ],
)
def test_queue_form_refuses_a_yaml_alias_bomb_and_json_nested_three_thousand_deep(
    client, owner, team, changes, field, message
):
    client.force_login(owner)
    response = client.post(QUEUE_URL, queue_form(**changes))
    assert response.status_code == 200
    assert any(message in e for e in response.context["form"].errors[field]), response.context["form"].errors
    assert f'id="id_{field}_error"' in text(response)
    assert not RunQueue.objects.exists()


def test_launch_drawer_refuses_a_run_config_nested_three_thousand_deep(client, owner, job, fancy_queue):  # noqa: F811
    client.force_login(owner)
    for run_config in ('{"x": ' + NESTED_JSON + "}", json.dumps({"x": "y" * 300 * 1024})):
        response = client.post(LAUNCH_URL, post(run_config=run_config), headers=HX)
        assert response.status_code == 200
        errors = response.context["form"].errors["run_config"]
        assert any("(the limit)" in e for e in errors), errors
        assert 'id="id_run_config_error"' in text(response)
    assert not RunQueueItem.objects.exists()
