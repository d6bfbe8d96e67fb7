"""launch.queue_config: config text, template variable schemas and values. Pure functions, no database."""

import pytest
from django.core.exceptions import ValidationError

from launchui.launch.queue_config import (
    DEFAULT_CONFIGS,
    fill_template,
    parse_config_text,
    resolve_variable_values,
    template_names_in,
    validate_external_links,
    validate_queue_name,
    validate_template_variables,
)


def messages(exc_info) -> str:
    return " ".join(exc_info.value.messages)


# --- config text -------------------------------------------------------------------------------------


def test_json_config():
    assert parse_config_text('{"env": ["A=1"], "gpus": "{{gpus}}"}') == {"env": ["A=1"], "gpus": "{{gpus}}"}


def test_yaml_config_keeps_types():
    text = "# the team's defaults\nnamespace: ml\nreplicas: 2\nspot: true\nargs:\n  - --epochs\n  - '{{epochs}}'\n"
    assert parse_config_text(text) == {
        "namespace": "ml",
        "replicas": 2,
        "spot": True,
        "args": ["--epochs", "{{epochs}}"],
    }


@pytest.mark.parametrize("text", ["", "   \n", None])
def test_empty_config_is_an_empty_mapping(text):
    assert parse_config_text(text) == {}


@pytest.mark.parametrize("resource", sorted(DEFAULT_CONFIGS))
def test_the_default_configs_parse(resource):
    assert isinstance(parse_config_text(DEFAULT_CONFIGS[resource]), dict)


def test_a_yaml_error_names_its_line_and_column():
    with pytest.raises(ValidationError) as exc:
        parse_config_text("spec:\n  containers: [a, b\nmetadata: {}\n")
    text = messages(exc)
    assert text.startswith("Not valid JSON")
    assert "nor YAML" in text
    assert "at line 3, column" in text


def test_an_unquoted_yaml_placeholder_gets_a_hint():
    with pytest.raises(ValidationError) as exc:
        parse_config_text("gpus: {{gpus}}\n")
    assert 'quote template placeholders: "{{name}}"' in messages(exc)


@pytest.mark.parametrize(
    "text, kind", [("[1, 2]", "list"), ('"just text"', "str"), ("42", "int"), ("- a\n- b\n", "list"), ("null", "empty")]
)
def test_a_config_must_be_a_mapping(text, kind):
    with pytest.raises(ValidationError) as exc:
        parse_config_text(text)
    assert messages(exc) == f"The configuration must be a mapping of keys to values, not {kind}."


@pytest.mark.parametrize(
    "text, why",
    [
        ('{"timeout": NaN}', "NaN or Infinity"),
        ("timeout: .inf\n", "NaN or Infinity"),
        ("start: 2024-01-01\n", "quote it to keep it as text"),
        ("blob: !!binary aGVsbG8=\n", "quote it to keep it as text"),
    ],
)
def test_values_json_cannot_store_are_refused(text, why):
    with pytest.raises(ValidationError) as exc:
        parse_config_text(text)
    assert why in messages(exc)


def test_an_oversized_config_is_refused():
    with pytest.raises(ValidationError, match="larger than 256 KiB"):
        parse_config_text('{"a": "' + "x" * 256 * 1024 + '"}')


def test_template_names_in_first_seen_order():
    config = {"a": "{{ gpus }}", "b": ["--lr={{lr}}", "{{gpus}}"], "c": {"d": "{{image-tag}}"}}
    assert template_names_in(config) == ["gpus", "lr", "image-tag"]


# --- names and links ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["cpu", "gpu-a100.spot_1", "  padded  "])
def test_valid_queue_names(name):
    assert validate_queue_name(name) == name.strip()


@pytest.mark.parametrize(
    "name, error",
    [
        ("", "Enter a queue name"),
        ("-x", "starting with a letter or digit"),
        ("a/b", "Use letters"),
        ("q" * 65, "at most 64 characters"),
    ],
)
def test_invalid_queue_names(name, error):
    with pytest.raises(ValidationError, match=error):
        validate_queue_name(name)


def test_external_links():
    assert validate_external_links([{"label": "Runbook", "url": " https://wiki/run "}, {"url": "http://x"}]) == [
        {"label": "Runbook", "url": "https://wiki/run"},
        {"label": "http://x", "url": "http://x"},
    ]
    assert validate_external_links('{"Grafana": "https://grafana/d/1"}') == [
        {"label": "Grafana", "url": "https://grafana/d/1"}
    ]
    with pytest.raises(ValidationError, match="must start with http"):
        validate_external_links([{"label": "x", "url": "javascript:alert(1)"}])


# --- template variable schemas -----------------------------------------------------------------------

GPUS = {"name": "gpus", "schema": {"type": "integer", "minimum": 1, "maximum": 8, "default": 1}}
SIZE = {"name": "size", "schema": {"type": "string", "enum": ["small", "large"]}}
LR = {"name": "lr", "schema": {"type": "number", "minimum": 0, "maximum": 1}}


def test_valid_variables_and_the_shapes_they_arrive_in():
    assert validate_template_variables([GPUS, SIZE, LR]) == [GPUS, SIZE, LR]
    assert validate_template_variables('[{"name": "gpus", "schema": "{\\"type\\": \\"integer\\"}"}]') == [
        {"name": "gpus", "schema": {"type": "integer"}}
    ]
    assert validate_template_variables({"size": {"schema": SIZE["schema"]}}) == [SIZE]
    assert validate_template_variables(None) == []
    assert validate_template_variables("") == []


@pytest.mark.parametrize(
    "schema, error",
    [
        ({"type": "boolean"}, "type must be one of string, integer, number"),
        ({}, "type must be one of"),
        ("not json", "schema is not JSON"),
        ([1, 2], "schema must be an object"),
        ({"type": "string", "pattern": ".*"}, "unknown schema keys pattern"),
        ({"type": "integer", "enum": [1, "2"]}, "enum value '2' is not of type integer"),
        ({"type": "integer", "enum": [1, True]}, "enum value True is not of type integer"),
        ({"type": "string", "enum": ["a", 1]}, "enum value 1 is not of type string"),
        ({"type": "string", "enum": []}, "enum must be a non-empty list"),
        ({"type": "integer", "minimum": 8, "maximum": 1}, "minimum is greater than maximum"),
        ({"type": "string", "minimum": 1}, "minimum applies to numbers only"),
        ({"type": "number", "maximum": "10"}, "maximum '10' is not of type number"),
        ({"type": "integer", "minimum": 1, "default": 0}, "0 is below the minimum 1"),
        ({"type": "integer", "default": "many"}, "'many' is not an integer"),
        ({"type": "string", "enum": ["a", "b"], "default": "c"}, "'c' is not one of a, b"),
    ],
)
def test_invalid_schemas_are_refused_with_the_reason(schema, error):
    with pytest.raises(ValidationError) as exc:
        validate_template_variables([{"name": "v", "schema": schema}])
    assert error in messages(exc)


@pytest.mark.parametrize(
    "variables, error",
    [
        ([GPUS, GPUS], "'gpus' is declared twice"),
        ([{"schema": {"type": "string"}}], "needs a name"),
        ([{"name": "bad name", "schema": {"type": "string"}}], "name 'bad name' is not valid"),
        ("{not json", "not JSON"),
        (42, "must be a list"),
    ],
)
def test_invalid_variable_lists(variables, error):
    with pytest.raises(ValidationError) as exc:
        validate_template_variables(variables)
    assert error in messages(exc)


# --- resolving values --------------------------------------------------------------------------------


def test_values_are_checked_and_defaults_fill_the_rest():
    assert resolve_variable_values([GPUS, SIZE], {"size": "large"}) == {"gpus": 1, "size": "large"}
    assert resolve_variable_values([GPUS, SIZE], {"gpus": 4, "size": "small"}) == {"gpus": 4, "size": "small"}
    assert resolve_variable_values([], None) == {}


def test_numbers_typed_as_text_are_cast():
    resolved = resolve_variable_values([GPUS, SIZE, LR], {"gpus": "3", "size": "small", "lr": "0.01"})
    assert resolved == {"gpus": 3, "size": "small", "lr": 0.01}
    assert type(resolved["gpus"]) is int


@pytest.mark.parametrize(
    "values, error",
    [
        ({"size": "small", "color": "red"}, "does not support the template variable(s) color"),
        ({"size": "medium"}, "size: 'medium' is not one of small, large"),
        ({}, "size: a value is required"),
        ({"size": "small", "gpus": 0}, "gpus: 0 is below the minimum 1"),
        ({"size": "small", "gpus": "9"}, "gpus: 9 is above the maximum 8"),
        ({"size": "small", "gpus": "2.5"}, "gpus: '2.5' is not an integer"),
        ({"size": "small", "gpus": 2.5}, "value 2.5 is not of type integer"),
        ({"size": "small", "gpus": True}, "value True is not of type integer"),
        ({"size": "small", "lr": "nan"}, "value nan is not of type number"),
        ({"size": "small", "lr": "fast"}, "'fast' is not a number"),
    ],
)
def test_bad_values_are_refused(values, error):
    with pytest.raises(ValidationError) as exc:
        resolve_variable_values([GPUS, SIZE, LR], values)
    assert error in messages(exc)


# --- filling the template ----------------------------------------------------------------------------


def test_fill_template_keeps_the_type_of_a_whole_placeholder():
    config = {
        "gpus": "{{gpus}}",
        "lr": " {{ lr }} ",
        "flag": "{{spot}}",
        "args": ["--gpus={{gpus}}", "--size", "{{size}}"],
        "nested": {"count": "{{gpus}}"},
        "untouched": 7,
        "unknown": "{{other}}",
    }
    filled = fill_template(config, {"gpus": 2, "lr": 0.5, "spot": False, "size": "large"})
    assert filled == {
        "gpus": 2,
        "lr": 0.5,
        "flag": False,
        "args": ["--gpus=2", "--size", "large"],
        "nested": {"count": 2},
        "untouched": 7,
        "unknown": "{{other}}",
    }
    assert type(filled["gpus"]) is int
    assert config["gpus"] == "{{gpus}}"  # the queue's own config is not changed


def test_a_default_typed_as_text_is_stored_cast_so_it_fills_with_its_type():
    (variable,) = validate_template_variables([{"name": "gpus", "schema": {"type": "integer", "default": "3"}}])
    assert variable["schema"]["default"] == 3
    assert fill_template({"gpus": "{{gpus}}"}, resolve_variable_values([variable], {})) == {"gpus": 3}
