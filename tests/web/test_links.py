"""Rows of links are built by launchui_tags.route (each route reversed once per process, the arguments put
into it), not {% url %}: they must be exactly what reverse() gives, quoting included."""

import pytest
from django.urls import reverse

from launchui.web.templatetags.launchui_tags import route

ODD = "odd name & <queue>?#%ü"  # past the name validators (no "/": no route accepts it), so quoting is checked too


@pytest.mark.parametrize(
    "name,args",
    [
        ("queue_overview", ["acme", ODD]),
        ("queue_agents", [ODD, "gpu-queue"]),
        ("queue_item", ["acme", ODD, 12]),
        ("item_delete", ["acme", "gpu-queue", 987654]),
        ("item_stop", [ODD, ODD, 1]),
        ("item_priority", ["acme", "gpu.queue_1", 3]),
        ("run", ["acme", ODD, "run-1"]),
        ("agent", [7]),
        ("agent_stop", [123456789]),
        ("agent_delete", [1]),
        ("launch", []),
    ],
)
def test_route_is_what_reverse_gives(name, args):
    assert route(name, *args) == reverse(name, args=args)


def test_route_follows_the_script_prefix():
    from django.urls import get_script_prefix, set_script_prefix

    try:
        set_script_prefix("/sub/")
        assert route("agent", 5) == reverse("agent", args=[5]) == "/sub/launch/agents/5"
        # Rows written in Python read the prefix once per table and pass it.
        assert route("agent", 5, prefix=get_script_prefix()) == "/sub/launch/agents/5"
    finally:
        set_script_prefix("/")
    assert route("agent", 5) == "/launch/agents/5"
