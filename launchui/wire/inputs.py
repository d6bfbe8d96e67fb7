"""The types of the wire's arguments, checked once before any resolver sees them.

launchui's executor is permissive about documents (the client's hand-written queries would fail a strict
schema), so it has no schema to type-check variables against. This table is that check for the argument and
input-field names the operations read: a value of the wrong type or shape, a NUL byte (PostgreSQL refuses it
in text) or an integer out of range is a GraphQL error naming the field, never a crash in a resolver.
Names are the same type wherever they appear (W&B's schema is consistent about them). Unknown names pass,
with only the NUL check.
"""

from typing import Any

from launchui.wire.errors import WireError

INT32 = (-(2**31), 2**31 - 1)  # GraphQL's Int

STRING = "String"
ID = "ID"
INT = "Int"
JSON = "JSONString"
OBJECT = "input object"

FIELD_TYPES: dict[str, Any] = {
    "input": OBJECT,
    **dict.fromkeys(
        [
            "entityName",
            "entity",
            "projectName",
            "project",
            "queueName",
            "name",
            "modelName",
            "runName",
            "hostname",
            "version",
            "message",
            "stage",
            "description",
            "displayName",
            "jobType",
            "host",
            "resource",
            "resourceType",
            "prioritizationMode",
            "access",
            "artifactTypeName",
            "artifactCollectionName",
            "digest",
            "digestAlgorithm",
            "clientID",
            "sequenceClientID",
            "agentStatus",
            "aliasName",
            "clientMutationId",
            "alias",
            "md5",
            "after",
            "before",
            "state",
        ],
        STRING,
    ),
    **dict.fromkeys(["id", "launchAgentId", "runQueueItemId", "queueID", "artifactID", "defaultResourceConfigID"], ID),
    **dict.fromkeys(
        [
            "runSpec",
            "config",
            "agentConfig",
            "metadata",
            "resourceConfig",
            "templateVariables",
            "templateVariableValues",
            "externalLinks",
        ],
        JSON,
    ),
    "priority": (INT, *INT32),
    "first": (INT, 0, INT32[1]),
    "last": (INT, 0, INT32[1]),
    "size": (INT, 0, 2**63 - 1),
    "runQueues": [ID],
    "queueIDs": [ID],
    "artifactCollectionNames": [STRING],
    "filePaths": [STRING],
    "aliases": [OBJECT],
    "artifactFiles": [OBJECT],
}


def check_arguments(args: dict) -> dict:
    """The arguments of one field, with IDs given as numbers turned into strings; WireError when a value
    does not fit its name's type."""
    if "input" in args and args["input"] is None:
        raise WireError("input is required.")  # every mutation's input is a non-null object
    return {name: _checked(name, value, FIELD_TYPES.get(name), name) for name, value in args.items()}


def _checked(name: str, value: Any, kind: Any, path: str) -> Any:
    if value is None:
        return None
    if isinstance(kind, list):
        if not isinstance(value, list):
            raise _wrong(path, f"a list of {_kind_name(kind[0])}", value)
        return [_checked(name, v, kind[0], f"{path}[{i}]") for i, v in enumerate(value)]
    if kind == OBJECT:
        if not isinstance(value, dict):
            raise _wrong(path, "an object", value)
        return {k: _checked(k, v, FIELD_TYPES.get(k), f"{path}.{k}") for k, v in value.items()}
    if kind == ID and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if kind in (STRING, ID):
        if not isinstance(value, str):
            raise _wrong(path, f"a {kind}", value)
    elif kind == JSON:
        if not isinstance(value, (str, dict, list)):
            raise _wrong(path, "a JSON string", value)
    elif isinstance(kind, tuple):
        _, low, high = kind
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong(path, "a whole number", value)
        if not low <= value <= high:
            raise WireError(f"{path} must be between {low} and {high}.")
        return value
    refuse_nul(value, path)
    return value


def refuse_nul(value: Any, what: str) -> None:
    """PostgreSQL stores no NUL character in text or jsonb: refuse it here, naming the field."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                raise WireError(f"{what} contains a NUL character.")
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _kind_name(kind: Any) -> str:
    return kind if isinstance(kind, str) else "whole numbers"


def _wrong(path: str, expected: str, value: Any) -> WireError:
    return WireError(f"{path} must be {expected}, not {_type_name(value)}.")


def _type_name(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)
