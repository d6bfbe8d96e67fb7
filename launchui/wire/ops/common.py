"""Scoping shared by the operations: every lookup goes through the key's user's memberships."""

import json
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError

from launchui.accounts.models import Entity, Membership
from launchui.core import user_data
from launchui.wire import inputs
from launchui.wire.graphql import Context, WireError


def membership(ctx: Context, entity_name: str | None) -> Membership:
    """The key's membership in an entity; an outsider gets the same answer as for a missing entity."""
    name = entity_name or default_entity_name(ctx)
    cache_key = ("membership", name)
    if cache_key not in ctx.cache:
        ctx.cache[cache_key] = (
            Membership.objects.select_related("entity").filter(user=ctx.user, entity__name=name).first()
        )
    found = ctx.cache[cache_key]
    if found is None:
        raise WireError(f"Entity {name!r} not found, or this API key's user is not a member of it.")
    return found


def entity(ctx: Context, entity_name: str | None) -> Entity:
    return membership(ctx, entity_name).entity


def admin_entity(ctx: Context, entity_name: str | None, action: str) -> Entity:
    found = membership(ctx, entity_name)
    if not found.is_admin:
        raise WireError(f"Only admins of {found.entity.name} can {action}.")
    return found.entity


def default_entity_name(ctx: Context) -> str:
    if "default_entity" not in ctx.cache:
        personal = Entity.objects.filter(owner=ctx.user).values_list("name", flat=True).first()
        ctx.cache["default_entity"] = personal or ctx.user.username
    return ctx.cache["default_entity"]


def json_input(value: Any, what: str) -> Any:
    """A JSONString input: the client sends JSON text; an object is accepted too. NaN and ±Infinity are
    kept (ML configs hold them; the JSON fields store them, launchui/json_values.py)."""
    try:
        if value is None or isinstance(value, (dict, list)):
            value = user_data.check_value(value, what)
        else:
            value = user_data.loads_json(value, what)
    except (TypeError, json.JSONDecodeError) as exc:
        raise WireError(f"{what} is not valid JSON: {exc}") from None
    except ValidationError as exc:  # a size or depth cap
        raise WireError(" ".join(exc.messages)) from None
    inputs.refuse_nul(value, what)  # "\u0000" decodes to a NUL, which jsonb refuses
    return value


def object_input(value: Any, what: str, *, optional: bool = False) -> dict:
    """A JSONString input that must hold an object ({} when optional and absent)."""
    value = json_input(value, what)
    if value is None and optional:
        return {}
    try:
        return user_data.require_object(value, what)
    except ValidationError as exc:
        raise WireError(exc.messages[0]) from None


def whole_number(value: Any, what: str, low: int = inputs.INT32[0], high: int = inputs.INT32[1]) -> int | None:
    """An optional integer that must fit its column, for inputs outside GraphQL (the file stream)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise WireError(f"{what} must be a whole number between {low} and {high}.")
    return value


def offset_cursor(after: Any) -> int:
    """A page cursor launchui issued (a row offset); anything else starts at the beginning."""
    text = after if isinstance(after, str) else ""
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else 0


def iso(value) -> str | None:
    return value.isoformat() if value else None


def wire_error(exc: ValidationError | PermissionDenied | ValueError) -> WireError:
    """A domain rule's refusal as the GraphQL error the client prints ("field: message" per field)."""
    if isinstance(exc, ValidationError) and hasattr(exc, "message_dict"):
        return WireError(
            " ".join(
                msg if field == "__all__" else f"{field}: {msg}"
                for field, msgs in exc.message_dict.items()
                for msg in msgs
            )
        )
    return WireError(" ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc))
