"""Queue configuration rules: names, config text (JSON or YAML), template variables and their values.

Pure functions with no database access, shared by the forms and the wire protocol so both obey one rule.
"""

import json
import math
import re
from typing import Any

import yaml
from django.core.exceptions import ValidationError

from launchui.core import user_data
from launchui.core.limits import USER_DATA_MAX_BYTES

RESOURCES = ("local-container", "local-process", "kubernetes", "sagemaker", "gcp-vertex")
QUEUE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TEMPLATE_RE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_-]*)\s*\}\}")
VARIABLE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
VARIABLE_TYPES = ("string", "integer", "number")
MAX_CONFIG_BYTES = USER_DATA_MAX_BYTES

# What W&B pre-fills for the resources whose config has required keys.
DEFAULT_CONFIGS: dict[str, str] = {
    "local-container": "{}\n",
    "local-process": "{}\n",
    "kubernetes": json.dumps({"metadata": {"namespace": "default"}, "spec": {}}, indent=2) + "\n",
    "sagemaker": json.dumps(
        {
            "RoleArn": "<REQUIRED>",
            "ResourceConfig": {"InstanceType": "ml.m4.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 2},
            "OutputDataConfig": {"S3OutputPath": "<REQUIRED>"},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        },
        indent=2,
    )
    + "\n",
    "gcp-vertex": json.dumps(
        {
            "spec": {
                "worker_pool_specs": [
                    {
                        "machine_spec": {"machine_type": "n1-standard-4"},
                        "replica_count": 1,
                        "container_spec": {"image_uri": "${image_uri}"},
                    }
                ],
                "staging_bucket": "<REQUIRED>",
            },
            "run": {"restart_job_on_worker_restart": False},
        },
        indent=2,
    )
    + "\n",
}


def validate_queue_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationError("Enter a queue name.")
    if len(name) > 64:
        raise ValidationError(f"Queue names have at most 64 characters (this one has {len(name)}).")
    if not QUEUE_NAME_RE.match(name):
        raise ValidationError(
            "Use letters, digits, dots, dashes and underscores only, starting with a letter or digit."
        )
    return name


def validate_resource(resource: str) -> str:
    if resource not in RESOURCES:
        raise ValidationError(f"Unknown resource {resource!r}: choose one of {', '.join(RESOURCES)}.")
    return resource


def parse_config_text(text: str) -> dict:
    """A resource config typed as JSON or YAML; must be a mapping. Empty text is {}."""
    text = text or ""
    user_data.check_size(text, "The configuration", MAX_CONFIG_BYTES)
    if not text.strip():
        return {}
    try:
        value = user_data.loads_json(text, "The configuration")
    except json.JSONDecodeError as json_error:
        try:
            # Aliases refused: 370 bytes of nested anchors would expand to megabytes, stored and re-read.
            value = user_data.loads_yaml(text, "The configuration")
        except yaml.YAMLError as yaml_error:
            mark = getattr(yaml_error, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(yaml_error, "problem", None) or str(yaml_error)
            hint = (
                ' In YAML, quote template placeholders: "{{name}}".'
                if re.search(r"(^|[:\-\[,]\s*)\{\{", text, re.MULTILINE)
                else ""
            )
            raise ValidationError(
                f"Not valid JSON ({json_error.msg} at line {json_error.lineno}) nor YAML ({problem}{where}).{hint}"
            ) from None
    if not isinstance(value, dict):
        raise ValidationError(
            "The configuration must be a mapping of keys to values, not "
            f"{type(value).__name__ if value is not None else 'empty'}."
        )
    ensure_json_storable(value, "The configuration")
    return value


def ensure_json_storable(value: Any, what: str) -> None:
    """YAML yields dates, sets, bytes and .nan; JSON yields NaN and Infinity. None of them can be stored
    in a JSON column (PostgreSQL refuses NaN), so they are refused here, where the message can say why.
    Values built by code (the wire's objects) get their size and depth checked here too."""
    user_data.check_value(value, what)
    try:
        json.dumps(value, allow_nan=False)
    except ValueError:
        raise ValidationError(f"{what} holds NaN or Infinity, which JSON cannot store.") from None
    except TypeError as exc:
        raise ValidationError(f"{what} holds a value JSON cannot store ({exc}); quote it to keep it as text.") from None


def template_names_in(value: Any) -> list[str]:
    """The {{names}} used anywhere in a config, in first-seen order."""
    seen: dict[str, None] = {}
    for match in TEMPLATE_RE.finditer(json.dumps(value)):
        seen.setdefault(match.group(1), None)
    return list(seen)


def validate_variable_schema(name: str, schema: Any) -> dict:
    if isinstance(schema, str):
        try:
            schema = user_data.loads_json(schema, f"Template variable {name!r}: schema")
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Template variable {name!r}: schema is not JSON ({exc.msg}).") from None
    if not isinstance(schema, dict):
        raise ValidationError(f"Template variable {name!r}: schema must be an object.")
    kind = schema.get("type")
    if kind not in VARIABLE_TYPES:
        raise ValidationError(f"Template variable {name!r}: type must be one of {', '.join(VARIABLE_TYPES)}.")
    allowed = {"type", "enum", "minimum", "maximum", "default", "description", "title"}
    if unknown := sorted(set(schema) - allowed):
        raise ValidationError(f"Template variable {name!r}: unknown schema keys {', '.join(unknown)}.")
    if "enum" in schema:
        enum = schema["enum"]
        if not isinstance(enum, list) or not enum:
            raise ValidationError(f"Template variable {name!r}: enum must be a non-empty list.")
        for option in enum:
            _check_type(name, kind, option, "enum value")
    for bound in ("minimum", "maximum"):
        if bound in schema:
            if kind == "string":
                raise ValidationError(f"Template variable {name!r}: {bound} applies to numbers only.")
            _check_type(name, "number", schema[bound], bound)
    if "minimum" in schema and "maximum" in schema and schema["minimum"] > schema["maximum"]:
        raise ValidationError(f"Template variable {name!r}: minimum is greater than maximum.")
    if "default" in schema:
        # Kept cast ("3" -> 3), so a default fills the template with the same type as a given value.
        schema = {**schema, "default": validate_variable_value(name, schema, schema["default"])}
    return schema


def _check_type(name: str, kind: str, value: Any, what: str) -> None:
    ok = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
    }[kind]
    if not ok:
        raise ValidationError(f"Template variable {name!r}: {what} {value!r} is not of type {kind}.")


def validate_template_variables(variables: Any) -> list[dict]:
    """[{name, schema}] with unique names and valid schemas; schema may arrive as a JSON string."""
    if variables in (None, ""):
        return []
    if isinstance(variables, str):
        try:
            variables = user_data.loads_json(variables, "Template variables")
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Template variables are not JSON ({exc.msg}).") from None
    user_data.check_value(variables, "Template variables")
    if isinstance(variables, dict):  # {"name": {"schema": {...}}} as the SDK tests write it
        variables = [{"name": k, "schema": (v or {}).get("schema", v)} for k, v in variables.items()]
    if not isinstance(variables, list):
        raise ValidationError("Template variables must be a list of {name, schema}.")
    result, names = [], set()
    for entry in variables:
        if not isinstance(entry, dict) or "name" not in entry:
            raise ValidationError("Each template variable needs a name and a schema.")
        name = str(entry["name"])
        if not VARIABLE_NAME_RE.match(name):
            raise ValidationError(f"Template variable name {name!r} is not valid.")
        if name in names:
            raise ValidationError(f"Template variable {name!r} is declared twice.")
        names.add(name)
        result.append({"name": name, "schema": validate_variable_schema(name, entry.get("schema"))})
    return result


def validate_variable_value(name: str, schema: dict, value: Any) -> Any:
    kind = schema["type"]
    if kind in ("integer", "number") and isinstance(value, str):
        try:
            value = int(value) if kind == "integer" else float(value)
        except ValueError:
            raise ValidationError(
                f"{name}: {value!r} is not {'an integer' if kind == 'integer' else 'a number'}."
            ) from None
    _check_type(name, kind, value, "value")
    if "enum" in schema and value not in schema["enum"]:
        raise ValidationError(f"{name}: {value!r} is not one of {', '.join(map(str, schema['enum']))}.")
    if "minimum" in schema and value < schema["minimum"]:
        raise ValidationError(f"{name}: {value} is below the minimum {schema['minimum']}.")
    if "maximum" in schema and value > schema["maximum"]:
        raise ValidationError(f"{name}: {value} is above the maximum {schema['maximum']}.")
    return value


def resolve_variable_values(variables: list[dict], values: dict | None) -> dict:
    """Checked values for every declared variable: given, else the default. Unknown keys are refused."""
    values = dict(user_data.check_value(values or {}, "Template variable values"))
    declared = {v["name"]: v["schema"] for v in variables}
    if unknown := sorted(set(values) - set(declared)):
        raise ValidationError(f"This queue does not support the template variable(s) {', '.join(unknown)}.")
    resolved, problems = {}, []
    for name, schema in declared.items():  # every variable's problem, not only the first one's
        try:
            if name in values:
                resolved[name] = validate_variable_value(name, schema, values[name])
            elif "default" in schema:
                resolved[name] = schema["default"]
            else:
                raise ValidationError(f"{name}: a value is required.")
        except ValidationError as exc:
            problems += exc.messages
    if problems:
        raise ValidationError(problems)
    return resolved


def fill_template(value: Any, values: dict) -> Any:
    """Substitute {{name}}; a string that is only a placeholder takes the value's own type."""
    if isinstance(value, dict):
        return {k: fill_template(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_template(v, values) for v in value]
    if isinstance(value, str):
        whole = TEMPLATE_RE.fullmatch(value.strip())
        if whole and whole.group(1) in values:
            return values[whole.group(1)]
        return TEMPLATE_RE.sub(lambda m: str(values.get(m.group(1), m.group(0))), value)
    return value


def validate_external_links(links: Any) -> list[dict]:
    if links in (None, ""):
        return []
    if isinstance(links, str):
        try:
            links = user_data.loads_json(links, "External links")
        except json.JSONDecodeError as exc:
            raise ValidationError(f"External links are not JSON ({exc.msg}).") from None
    user_data.check_value(links, "External links")
    if isinstance(links, dict):
        links = links.get("links", [{"label": k, "url": v} for k, v in links.items()])
    if not isinstance(links, list):
        raise ValidationError("External links must be a list of {label, url}.")
    result = []
    for link in links:
        if not isinstance(link, dict) or not link.get("url"):
            raise ValidationError("Each external link needs a URL.")
        url = str(link["url"]).strip()
        if not re.match(r"^https?://", url):
            raise ValidationError(f"External link {url!r} must start with http:// or https://.")
        result.append({"label": str(link.get("label") or url)[:100], "url": url})
    return result
