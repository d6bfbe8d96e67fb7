"""The one safe way to read JSON or YAML a user typed or sent: queue configs, template variables, run
configs, launch overrides, in web forms and on the wire.

Sizes and nesting are capped (launchui/limits.py) before anything is built from the text, and YAML
aliases are refused while composing, so 370 bytes of nested anchors cannot expand into megabytes. A limit
broken is a ValidationError naming it (a form error beside the field, a GraphQL error on the wire); a
syntax error is left as the parser's own exception, so each caller keeps its message.
"""

import json
from collections.abc import Iterable
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import Resolver
from yaml.scanner import Scanner

from launchui.core.limits import (
    USER_DATA_MAX_BYTES,
    USER_DATA_MAX_DEPTH,
    USER_DATA_MAX_NODES,
)

try:
    from yaml._yaml import CParser
except ImportError:  # PyYAML built without libyaml: the pure-Python parser, slower, same caps
    HAVE_LIBYAML = False
else:
    HAVE_LIBYAML = True


def _refuse(message: str) -> ValidationError:
    return ValidationError(message, code="limit")


def check_size(text: str | bytes, what: str, max_bytes: int = USER_DATA_MAX_BYTES) -> None:
    size = len(text) if isinstance(text, bytes) or len(text) > max_bytes else len(text.encode())
    if size > max_bytes:
        raise _refuse(f"{what} is larger than {max_bytes // 1024} KiB (the limit).")


def _too_deep(what: str, max_depth: int) -> ValidationError:
    return _refuse(f"{what} is nested deeper than {max_depth} levels (the limit).")


def check_value(
    value: Any,
    what: str,
    *,
    max_depth: int = USER_DATA_MAX_DEPTH,
    max_nodes: int | None = USER_DATA_MAX_NODES,
    max_bytes: int | None = USER_DATA_MAX_BYTES,
) -> Any:
    """The value unchanged, if its nesting, number of values and (when max_bytes) JSON size are within the
    caps. Walked with an explicit stack: a value nested 3,000 deep must not raise RecursionError here, nor
    in the recursive code (json.dumps, templates, merges) that runs after this check."""
    stack = [(value, 1)]
    nodes = 0
    while stack:
        current, depth = stack.pop()
        nodes += 1
        if max_nodes is not None and nodes > max_nodes:
            raise _refuse(f"{what} holds more than {max_nodes:,} values (the limit).")
        children: Iterable[Any]
        if isinstance(current, dict):
            children = current.values()
        elif isinstance(current, (list, tuple)):
            children = current
        else:
            continue
        if depth > max_depth:
            raise _too_deep(what, max_depth)
        stack.extend((child, depth + 1) for child in children)
    if max_bytes is not None:
        try:
            size = len(json.dumps(value, separators=(",", ":"), default=str))
        except ValueError:  # a circular reference: only from code, but never a 500
            raise _refuse(f"{what} refers to itself.") from None
        if size > max_bytes:
            raise _refuse(f"{what} is larger than {max_bytes // 1024} KiB (the limit).")
    return value


def require_object(value: Any, what: str, example: str = "") -> dict:
    """The one "it must be a JSON object" rule; each door words its own error from the ValidationError."""
    if not isinstance(value, dict):
        raise ValidationError(f"{what} must be a JSON object{', e.g. ' + example if example else ''}.")
    return value


def loads_json(
    text: str | bytes,
    what: str,
    *,
    max_bytes: int = USER_DATA_MAX_BYTES,
    max_depth: int = USER_DATA_MAX_DEPTH,
    max_nodes: int | None = USER_DATA_MAX_NODES,
    **kwargs,
) -> Any:
    """json.loads within the caps. Syntax errors raise json.JSONDecodeError (ValueError) as json does."""
    check_size(text, what, max_bytes)
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:  # the C decoder stops near 1,000 levels; the cap is lower
        raise _too_deep(what, max_depth) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # an integer of more than 4,300 digits, or a refused constant (NaN)
        raise ValidationError(f"{what} holds a value that cannot be read ({exc}).") from None
    return check_value(value, what, max_depth=max_depth, max_nodes=max_nodes, max_bytes=None)


class _Refused(yaml.YAMLError):
    """Raised while composing; becomes a ValidationError naming the limit."""


class _Capped(Composer):
    """PyYAML's composer, refusing aliases and deep nesting while composing, before any value is built."""

    max_depth = USER_DATA_MAX_DEPTH
    max_nodes = USER_DATA_MAX_NODES

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _Refused(
                f"uses a YAML alias (*{event.anchor} at line {event.start_mark.line + 1}): anchors and "
                "aliases are not accepted, write the values out"
            )
        self._nodes = getattr(self, "_nodes", 0) + 1
        if self._nodes > self.max_nodes:
            raise _Refused(f"holds more than {self.max_nodes:,} values (the limit)")
        nested = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        if nested:
            self._depth = getattr(self, "_depth", 0) + 1
            if self._depth > self.max_depth:
                raise _Refused(f"is nested deeper than {self.max_depth} levels (the limit)")
        try:
            return super().compose_node(parent, index)
        finally:
            if nested:
                self._depth -= 1


class _PyCappedSafeLoader(_Capped, Reader, Scanner, Parser, SafeConstructor, Resolver):
    def __init__(self, stream):
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)


# A string annotation: _CCappedSafeLoader exists only with libyaml.
_CappedSafeLoader: "type[_PyCappedSafeLoader | _CCappedSafeLoader]" = _PyCappedSafeLoader

if HAVE_LIBYAML:

    class _CCappedSafeLoader(_Capped, CParser, SafeConstructor, Resolver):
        """libyaml's parser (events, ~9x faster than PyYAML's own) under the same capped composer."""

        def __init__(self, stream):
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)

    _CappedSafeLoader = _CCappedSafeLoader


def _load(text: str) -> Any:
    """yaml.load(text, Loader=_CappedSafeLoader), spelled out: PyYAML's stubs accept only its own loaders."""
    loader = _CappedSafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def loads_yaml(text: str, what: str, *, max_bytes: int = USER_DATA_MAX_BYTES) -> Any:
    """One YAML document within the caps, no aliases. Syntax errors raise yaml.YAMLError as PyYAML does."""
    check_size(text, what, max_bytes)
    try:
        value = _load(text)
    except _Refused as exc:
        raise _refuse(f"{what} {exc}.") from None
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(getattr(exc, "problem", "")):  # libyaml's own stop, at 1,000 levels
            raise _too_deep(what, USER_DATA_MAX_DEPTH) from None
        raise
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise ValidationError(f"{what} holds a value that cannot be read ({exc}).") from None
    return check_value(value, what, max_bytes=None)
