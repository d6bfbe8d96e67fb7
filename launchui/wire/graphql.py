"""A permissive GraphQL executor for the wandb client.

The client sends hand-written documents with fields, fragments and nullable inputs that a strict schema
would reject, and fails a call on any `errors` key. So the document is parsed only for its operation,
root fields and arguments; each root field has a resolver that returns plain data, in which a value may
be a callable of the field's arguments, called only when the client selects that field. The answer then
holds exactly the fields selected, by alias, with `__typename` and fragments honoured.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any

from django.contrib.auth.models import User
from django.db import DataError
from graphql import GraphQLError, GraphQLSyntaxError, Undefined, parse
from graphql.language import ast
from graphql.utilities import value_from_ast_untyped

from launchui.accounts.models import ApiKey
from launchui.core import limits
from launchui.core.http import public_base_url
from launchui.wire import cost, inputs
from launchui.wire.errors import WireError

logger = logging.getLogger(__name__)


@dataclass
class Context:
    user: User
    api_key: ApiKey
    request: Any = None
    cache: dict = field(default_factory=dict)

    @cached_property
    def base_url(self) -> str:
        """The address clients reach this server at, built only by the operations that hand out URLs."""
        return public_base_url(self.request)


Resolver = Callable[..., Any]
RESOLVERS: dict[str, dict[str, Resolver]] = {"query": {}, "mutation": {}}


def query(name: str) -> Callable[[Resolver], Resolver]:
    def register(fn: Resolver) -> Resolver:
        RESOLVERS["query"][name] = fn
        return fn

    return register


def mutation(name: str) -> Callable[[Resolver], Resolver]:
    def register(fn: Resolver) -> Resolver:
        RESOLVERS["mutation"][name] = fn
        return fn

    return register


class BadRequest(Exception):
    """The request itself is malformed: answered 400, which the client does not retry."""


def execute(*, document: str, variables: dict | None, operation_name: str | None, context: Context) -> dict:
    if not isinstance(document, str) or not document.strip():
        raise BadRequest("The request has no query.")
    if variables is not None and not isinstance(variables, dict):
        raise BadRequest("variables must be an object.")
    try:
        parsed = _parse(document)
    except GraphQLSyntaxError as exc:
        raise BadRequest(f"Syntax error: {exc.message}") from None
    except (cost.CostExceeded, cost.FragmentError) as exc:
        raise BadRequest(str(exc)) from None
    operation = _pick_operation(parsed, operation_name or None)  # the client sends "" for "no name"
    fragments = {d.name.value: d for d in parsed.definitions if isinstance(d, ast.FragmentDefinitionNode)}
    variables = _with_defaults(operation, variables or {})
    kind = operation.operation.value  # "query" | "mutation"
    if kind not in RESOLVERS:
        raise BadRequest(f"{kind} operations are not supported.")
    data: dict[str, Any] = {}
    errors: list[dict] = []
    budget = cost.ResultBudget()
    for selection in _fields(operation.selection_set, fragments, None, variables):
        key = selection.alias.value if selection.alias else selection.name.value
        name = selection.name.value
        if name == "__typename":
            data[key] = "Query" if kind == "query" else "Mutation"
            continue
        resolver = RESOLVERS[kind].get(name)
        if resolver is None:
            errors.append({"message": f"Cannot query field '{name}' on type '{kind.title()}'.", "path": [key]})
            data[key] = None
            continue
        try:
            budget.spend()
            value = resolver(context, **_arguments(selection, variables))
            data[key] = _project(value, selection.selection_set, fragments, variables, budget)
        except cost.CostExceeded as exc:  # resolved already: said beside the field, the others answered
            errors.append({"message": str(exc), "path": [key]})
            data[key] = None
        except WireError as exc:
            errors.append({"message": exc.message, "path": [key]})
            data[key] = None
        except TypeError as exc:
            if "argument" not in str(exc):
                raise
            errors.append({"message": f"Bad arguments for {name}: {exc}", "path": [key]})
            data[key] = None
        except DataError as exc:
            # A value the argument table let through but the database refuses (e.g. longer than its
            # column): the client's error, not a crash. The failed statement or atomic block is rolled back.
            logger.warning("%s: the database refused a value: %s", name, exc)
            errors.append(
                {
                    "message": f"The server cannot store a value sent to {name}: {str(exc).splitlines()[0][:200]}",
                    "path": [key],
                }
            )
            data[key] = None
    answer: dict[str, Any] = {"data": data}
    if errors:
        answer["errors"] = errors
    return answer


def _parse(document: str) -> ast.DocumentNode:
    """The parsed document, its cost checked (launchui/wire/cost.py) before anything is resolved."""
    if len(document) <= limits.PARSED_DOCUMENT_CACHE_MAX_CHARS:
        return _parse_cached(document)
    return _parse_checked(document)  # large documents are not kept: the cache's keys are bounded too


def _parse_checked(document: str) -> ast.DocumentNode:
    cost.check_text(document)
    parsed = parse(document, max_tokens=limits.GRAPHQL_MAX_TOKENS)
    cost.check_document(parsed)
    return parsed


# Agents send the same few documents every few seconds; the parsed tree is only ever read. Errors are not
# cached (lru_cache keeps only return values), so bad documents take no room.
_parse_cached = lru_cache(maxsize=limits.PARSED_DOCUMENT_CACHE_ENTRIES)(_parse_checked)


def _pick_operation(document: ast.DocumentNode, name: str | None) -> ast.OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, ast.OperationDefinitionNode)]
    if not operations:
        raise BadRequest("The document has no operation.")
    if name is None:
        return operations[0]
    for operation in operations:
        if operation.name and operation.name.value == name:
            return operation
    if len(operations) == 1:  # a mismatched name on a single-operation document is harmless
        return operations[0]
    raise BadRequest(f"Unknown operation named {name!r}.")


def _with_defaults(operation: ast.OperationDefinitionNode, variables: dict) -> dict:
    merged = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in merged and definition.default_value is not None:
            merged[name] = value_from_ast_untyped(definition.default_value, {})
    return merged


def _arguments(selection: ast.FieldNode, variables: dict) -> dict:
    args = {}
    for argument in selection.arguments or ():
        value = argument.value
        if isinstance(value, ast.VariableNode) and value.name.value not in variables:
            continue  # an unset variable is an absent argument
        args[argument.name.value] = _defined(value_from_ast_untyped(value, variables))
    return {name: cost.clamp_page(name, value) for name, value in inputs.check_arguments(args).items()}


def _defined(value: Any) -> Any:
    """Unset variables inside input objects come back as Undefined: treat them as absent."""
    if isinstance(value, dict):
        return {k: _defined(v) for k, v in value.items() if v is not Undefined}
    if isinstance(value, list):
        return [None if v is Undefined else _defined(v) for v in value]
    return None if value is Undefined else value


def _included(selection, variables: dict) -> bool:
    """@include(if:) and @skip(if:), which the client uses to ask for upload URLs only sometimes."""
    for directive in selection.directives or ():
        if directive.name.value not in ("include", "skip"):
            continue
        condition = next(
            (value_from_ast_untyped(a.value, variables) for a in directive.arguments if a.name.value == "if"), True
        )
        if bool(condition) != (directive.name.value == "include"):
            return False
    return True


def _fields(selection_set: ast.SelectionSetNode | None, fragments: dict, typename: str | None, variables: dict):
    """The field nodes of a selection set, fragments expanded (type conditions checked when known)."""
    for selection in selection_set.selections if selection_set else ():
        if not _included(selection, variables):
            continue
        if isinstance(selection, ast.FieldNode):
            yield selection
        elif isinstance(selection, ast.InlineFragmentNode):
            if _applies(selection.type_condition, typename):
                yield from _fields(selection.selection_set, fragments, typename, variables)
        elif isinstance(selection, ast.FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None:
                raise BadRequest(f"Unknown fragment {selection.name.value!r}.")
            if _applies(fragment.type_condition, typename):
                yield from _fields(fragment.selection_set, fragments, typename, variables)


# Interfaces and the concrete types that satisfy them, for type conditions on fragments.
IMPLEMENTS: dict[str, set[str]] = {
    "ArtifactCollection": {"ArtifactSequence", "ArtifactPortfolio"},
}


def _applies(condition: ast.NamedTypeNode | None, typename: str | None) -> bool:
    if condition is None or typename is None:
        return True
    wanted = condition.name.value
    return wanted == typename or typename in IMPLEMENTS.get(wanted, ())


def _project(
    value: Any, selection_set: ast.SelectionSetNode | None, fragments: dict, variables: dict, budget: cost.ResultBudget
) -> Any:
    if value is None or selection_set is None:
        return value
    if isinstance(value, (list, tuple)):
        budget.spend(len(value))
        return [_project(v, selection_set, fragments, variables, budget) for v in value]
    if not isinstance(value, dict):
        return value  # a scalar selected with sub-fields: hand it back as it is
    typename = value.get("__typename")
    out: dict[str, Any] = {}
    for selection in _fields(selection_set, fragments, typename, variables):
        key = selection.alias.value if selection.alias else selection.name.value
        name = selection.name.value
        budget.spend()
        raw = value.get(name)
        if callable(raw):
            raw = raw(**_arguments(selection, variables))
        if name == "__typename" and raw is None:
            raw = typename
        out[key] = _project(raw, selection.selection_set, fragments, variables, budget)
    return out


__all__ = ["BadRequest", "Context", "GraphQLError", "WireError", "execute", "mutation", "query"]
