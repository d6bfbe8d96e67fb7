"""What a GraphQL document may cost, checked once after parsing and before any resolver runs.

The executor expands fragments and resolves every field it is asked for, so a 613-byte document whose
fragments spread each other twice would make 16,384 resolver calls, and a fragment cycle would recurse
until Python gives up. This pass counts fields, aliases, depth and root fields as if every fragment were
expanded, without expanding anything: each fragment's totals are computed once (fragments in dependency
order, no recursion) and multiplied by its spreads, and it stops at the first cap broken. Type conditions
and @skip/@include are not evaluated, so the count is an upper bound of the executor's work.
"""

import re
from dataclasses import dataclass

from graphql.language import ast

from launchui.core import limits


class CostExceeded(Exception):
    """A limit of launchui/limits.py broken by the request: answered 400, with the limit's name."""

    def __init__(self, what: str, found: int | str, cap: int, setting: str):
        self.setting = setting
        super().__init__(f"The request is too costly: {what} ({found}) is over the limit of {cap:,} ({setting}).")


# A string, a block string or a comment (whose brackets do not count), or a bracket.
_BRACKET_TOKENS = re.compile(r'"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|#[^\n\r]*|[{}\[\]()]')
_OPENING = frozenset("{[(")


def check_text(document: str) -> None:
    """Caps on the text before the recursive parser sees it: its length and the nesting of its brackets."""
    if len(document) > limits.GRAPHQL_MAX_DOCUMENT_CHARS:
        raise CostExceeded(
            "the document's length in characters",
            f"{len(document):,}",
            limits.GRAPHQL_MAX_DOCUMENT_CHARS,
            "GRAPHQL_MAX_DOCUMENT_CHARS",
        )
    depth = 0
    for match in _BRACKET_TOKENS.finditer(document):
        token = match.group()
        if len(token) != 1:
            continue  # a string or a comment
        if token in _OPENING:
            depth += 1
            if depth > limits.GRAPHQL_MAX_NESTING:
                raise CostExceeded(
                    "the nesting of brackets",
                    f"more than {limits.GRAPHQL_MAX_NESTING}",
                    limits.GRAPHQL_MAX_NESTING,
                    "GRAPHQL_MAX_NESTING",
                )
        else:
            depth = max(depth - 1, 0)


@dataclass(frozen=True)
class Cost:
    fields: int = 0  # fields after fragment expansion
    aliases: int = 0  # aliased fields after fragment expansion
    depth: int = 0  # deepest field, 1 for the top level
    top: int = 0  # fields at the top level (root fields, for an operation)


def _spreads(selection_set: ast.SelectionSetNode) -> set[str]:
    """The fragment names spread anywhere inside a selection set."""
    names, stack = set(), [selection_set]
    while stack:
        current = stack.pop()
        for selection in current.selections:
            if isinstance(selection, ast.FragmentSpreadNode):
                names.add(selection.name.value)
            elif isinstance(selection, (ast.FieldNode, ast.InlineFragmentNode)) and selection.selection_set is not None:
                stack.append(selection.selection_set)
    return names


def _cost(selection_set: ast.SelectionSetNode, known: dict[str, Cost]) -> Cost:
    """The expanded cost of a selection set, given the cost of every fragment it spreads."""
    fields = aliases = depth = top = 0
    stack = [(selection_set, 1)]  # a selection set and the level of the fields directly in it
    while stack:
        current, level = stack.pop()
        for selection in current.selections:
            if isinstance(selection, ast.FieldNode):
                fields += 1
                aliases += selection.alias is not None
                depth = max(depth, level)
                top += level == 1
                if selection.selection_set is not None:
                    stack.append((selection.selection_set, level + 1))
            elif isinstance(selection, ast.InlineFragmentNode):
                stack.append((selection.selection_set, level))
            elif isinstance(selection, ast.FragmentSpreadNode):
                spread = known[selection.name.value]
                fields += spread.fields
                aliases += spread.aliases
                depth = max(depth, level - 1 + spread.depth)
                top += spread.top if level == 1 else 0
        _check(fields, aliases, depth)
    return Cost(fields, aliases, depth, top)


def _check(fields: int, aliases: int, depth: int) -> None:
    # The most specific cap first: 1,000 aliases break the field cap too, but aliases say what to change.
    if aliases > limits.GRAPHQL_MAX_ALIASES:
        raise CostExceeded(
            "the number of aliased fields", f"at least {aliases:,}", limits.GRAPHQL_MAX_ALIASES, "GRAPHQL_MAX_ALIASES"
        )
    if depth > limits.GRAPHQL_MAX_DEPTH:
        raise CostExceeded(
            "the depth of fields inside fields", f"at least {depth:,}", limits.GRAPHQL_MAX_DEPTH, "GRAPHQL_MAX_DEPTH"
        )
    if fields > limits.GRAPHQL_MAX_FIELDS:
        raise CostExceeded(
            "the number of fields after fragment expansion",
            f"at least {fields:,}",
            limits.GRAPHQL_MAX_FIELDS,
            "GRAPHQL_MAX_FIELDS",
        )


class FragmentError(Exception):
    """An undefined fragment, or fragments that spread each other in a cycle: answered 400."""


def check_document(document: ast.DocumentNode) -> dict[str, Cost]:
    """The cost of each operation of the document, by name ("" for an unnamed one); raises CostExceeded at
    the first limit broken and FragmentError for undefined fragments or fragment cycles."""
    definitions = document.definitions
    if len(definitions) > limits.GRAPHQL_MAX_DEFINITIONS:
        raise CostExceeded(
            "the number of operations and fragments",
            f"{len(definitions):,}",
            limits.GRAPHQL_MAX_DEFINITIONS,
            "GRAPHQL_MAX_DEFINITIONS",
        )
    fragments = {d.name.value: d for d in definitions if isinstance(d, ast.FragmentDefinitionNode)}
    needs = {name: _spreads(fragment.selection_set) for name, fragment in fragments.items()}
    for name, spread in needs.items():
        if missing := sorted(spread - set(fragments)):
            raise FragmentError(f"Unknown fragment {missing[0]!r} (spread in fragment {name!r}).")
    # Kahn's algorithm: a fragment is costed once all the fragments it spreads are; any left over are a cycle.
    known: dict[str, Cost] = {}
    waiting = {name: set(spread) for name, spread in needs.items()}
    spread_by: dict[str, list[str]] = {}
    for name, spread in needs.items():
        for inner in spread:
            spread_by.setdefault(inner, []).append(name)
    ready = [name for name, spread in waiting.items() if not spread]
    while ready:
        name = ready.pop()
        known[name] = _cost(fragments[name].selection_set, known)
        for outer in spread_by.get(name, ()):
            waiting[outer].discard(name)
            if not waiting[outer]:
                ready.append(outer)
    if cyclic := sorted(set(fragments) - set(known)):
        raise FragmentError(
            f"Fragments spread each other in a cycle: {', '.join(cyclic[:5])}{' …' if len(cyclic) > 5 else ''}."
        )
    costs = {}
    for definition in definitions:
        if not isinstance(definition, ast.OperationDefinitionNode):
            continue
        if missing := sorted(_spreads(definition.selection_set) - set(fragments)):
            raise FragmentError(f"Unknown fragment {missing[0]!r}.")
        cost = _cost(definition.selection_set, known)
        if cost.top > limits.GRAPHQL_MAX_ROOT_FIELDS:
            raise CostExceeded(
                f"the number of root fields of the {definition.operation.value}",
                f"{cost.top:,}",
                limits.GRAPHQL_MAX_ROOT_FIELDS,
                "GRAPHQL_MAX_ROOT_FIELDS",
            )
        costs[definition.name.value if definition.name else ""] = cost
    return costs


class ResultBudget:
    """Counts the values an answer holds, so a list times its fields cannot grow the answer without end.
    Checked before each resolver call and each value projected."""

    def __init__(self):
        self.cap = limits.GRAPHQL_MAX_RESULT_VALUES
        self.used = 0

    def spend(self, count: int = 1) -> None:
        self.used += count
        if self.used > self.cap:
            raise CostExceeded(
                "the number of values in the answer", f"more than {self.cap:,}", self.cap, "GRAPHQL_MAX_RESULT_VALUES"
            )


def clamp_page(name: str, value):
    """`first:` and `last:` are clamped to the largest page a list field serves; clients follow the cursor."""
    if name in ("first", "last") and isinstance(value, int) and not isinstance(value, bool):
        return min(value, limits.GRAPHQL_MAX_LIST_PAGE)
    return value
