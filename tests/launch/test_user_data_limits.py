"""Security review, issue 8, finding 2: JSON and YAML from users are capped in size and nesting, and YAML
aliases are refused, in the one parser every form and wire operation uses (launchui/user_data.py)."""

import json
import time

import pytest
from django.core.exceptions import ValidationError

from launchui.core import limits, user_data
from launchui.launch.models import RunQueue, RunQueueItem
from launchui.launch.queue_config import parse_config_text, validate_template_variables
from launchui.launch.services import item_push, queue_create

# 370-odd bytes that PyYAML expands to 10^7 strings: 22 s and 425 MB in a web worker before the fix.
ALIAS_BOMB = "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 7)
)
NESTED_JSON = "[" * 3000 + "]" * 3000
NESTED_YAML = "a:\n" + "".join("  " * i + "- \n" for i in range(1, 200))  # block style, 200 levels


def messages(exc_info) -> str:
    return " ".join(exc_info.value.messages)


def test_yaml_alias_bomb_in_a_queue_config_is_refused_quickly():
    assert len(ALIAS_BOMB) < 450
    started = time.monotonic()
    with pytest.raises(ValidationError) as exc:
        parse_config_text(ALIAS_BOMB)
    assert time.monotonic() - started < 1
    assert "uses a YAML alias (*a0 at line 2): anchors and aliases are not accepted" in messages(exc)


def test_yaml_merge_keys_are_aliases_too():
    with pytest.raises(ValidationError, match="YAML alias"):
        parse_config_text("base: &b {cpu: 1}\njob:\n  <<: *b\n  gpu: 1\n")


@pytest.mark.django_db
def test_yaml_alias_bomb_writes_no_queue(team, owner):
    with pytest.raises(ValidationError) as exc:
        queue_create(entity=team, name="bomb", resource="kubernetes", config=ALIAS_BOMB, created_by=owner)
    assert "YAML alias" in " ".join(exc.value.message_dict["config"])
    assert not RunQueue.objects.exists()


@pytest.mark.parametrize("text", [NESTED_JSON, "a: " + NESTED_JSON, "{" * 3000, NESTED_YAML])
def test_json_or_yaml_nested_three_thousand_deep_is_refused_not_a_recursion_error(text):
    with pytest.raises(ValidationError) as exc:
        parse_config_text(text)
    assert "nested deeper than 64 levels (the limit)" in messages(exc) or "Not valid JSON" in messages(exc)
    if text != "{" * 3000:  # unbalanced: a syntax error is fine too, as long as it is not a 500
        assert "nested deeper than 64 levels" in messages(exc)


def test_nesting_up_to_the_cap_is_accepted():
    value: dict = {"leaf": 1}
    for _ in range(limits.USER_DATA_MAX_DEPTH - 1):
        value = {"k": value}
    assert parse_config_text(json.dumps(value)) == value
    with pytest.raises(ValidationError, match="nested deeper than"):
        parse_config_text(json.dumps({"k": value}))


def test_too_many_values_are_refused():
    text = json.dumps({"k": [0] * limits.USER_DATA_MAX_NODES}, separators=(",", ":"))
    assert len(text) < limits.USER_DATA_MAX_BYTES
    with pytest.raises(ValidationError, match="more than 50,000 values"):
        parse_config_text(text)
    with pytest.raises(ValidationError, match="more than 50,000 values"):
        parse_config_text("k:\n" + "- 0\n" * limits.USER_DATA_MAX_NODES)


def test_an_integer_of_five_thousand_digits_is_a_form_error():
    with pytest.raises(ValidationError):
        parse_config_text("n: " + "9" * 5000)
    with pytest.raises(ValidationError):
        parse_config_text('{"n": ' + "9" * 5000 + "}")


@pytest.mark.parametrize(
    "variables",
    [
        '[{"name": "x", "schema": ' + NESTED_JSON + "}]",
        [{"name": "x", "schema": {"type": "string", "enum": json.loads("[" * 70 + "]" * 70)}}],
        "x" * (limits.USER_DATA_MAX_BYTES + 1),
    ],
)
def test_template_variables_nested_too_deep_or_too_large_are_refused(variables):
    with pytest.raises(ValidationError, match="the limit"):
        validate_template_variables(variables)


@pytest.mark.django_db
def test_a_deeply_nested_run_spec_or_values_write_no_item(team, owner):
    queue = queue_create(entity=team, name="q", resource="local-process", created_by=owner)
    deep: list = []
    for _ in range(3000):  # built by code, as the wire's JSON objects are: no parser in between
        deep = [deep]
    with pytest.raises(ValidationError, match="nested deeper than"):
        item_push(queue=queue, run_spec={"overrides": {"run_config": {"x": deep}}}, created_by=owner)
    with pytest.raises(ValidationError, match="nested deeper than"):
        item_push(queue=queue, run_spec={}, template_variable_values={"x": deep}, created_by=owner)
    with pytest.raises(ValidationError, match="nested deeper than"):
        queue_create(entity=team, name="q2", resource="local-process", config={"x": deep}, created_by=owner)
    assert not RunQueueItem.objects.exists()
    assert RunQueue.objects.count() == 1


def test_loads_json_caps_size_before_parsing():
    with pytest.raises(ValidationError, match="larger than 256 KiB"):
        user_data.loads_json('"' + "x" * limits.USER_DATA_MAX_BYTES + '"', "The run config")
    with pytest.raises(json.JSONDecodeError):  # syntax errors stay the caller's to word
        user_data.loads_json("{", "The run config")
