"""Writes for users, entities, memberships and API keys."""

import secrets
import string

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from launchui.accounts.models import ApiKey, Entity, Membership
from launchui.accounts.names import personal_entity_name

API_KEY_PREFIX = "local-"
_KEY_ALPHABET = string.ascii_letters + string.digits


@transaction.atomic
def user_create(*, username: str, password: str | None, email: str = "") -> User:
    """A user and their personal entity named exactly after them, in which they are admin; a name already
    taken by an entity is refused here (sign-up form, create_user) rather than given a suffix."""
    if Entity.objects.filter(name__iexact=username).exists():
        raise ValidationError({"username": "An entity with this name already exists."})
    Entity(name=username).full_clean(validate_unique=False)
    # The post_save signal (accounts.signals) makes the personal entity, for every way a user is created.
    return User.objects.create_user(username=username, email=email, password=password)


@transaction.atomic
def personal_entity_ensure(user: User) -> Entity:
    """The user's personal entity, made with the user as its admin if they have none. Every user needs one:
    the wandb client works in the viewer's personal entity unless told otherwise."""
    entity = Entity.objects.filter(owner=user).first()
    if entity is not None:
        return entity
    name = personal_entity_name(user.username, lambda n: Entity.objects.filter(name__iexact=n).exists())
    entity = Entity.objects.create(name=name, owner=user)
    Membership.objects.create(entity=entity, user=user, role=Membership.ADMIN)
    return entity


@transaction.atomic
def team_create(*, name: str, creator: User) -> Entity:
    entity = Entity(name=name, is_team=True)
    if Entity.objects.filter(name__iexact=name).exists():
        raise ValidationError({"name": "An entity with this name already exists."})
    entity.full_clean()
    entity.save()
    Membership.objects.create(entity=entity, user=creator, role=Membership.ADMIN)
    return entity


def member_add(*, entity: Entity, username: str, role: str) -> Membership:
    if not entity.is_team:
        raise ValidationError({"username": "Personal entities have a single member."})
    user = User.objects.filter(username=username).first()
    if user is None:
        raise ValidationError({"username": f"No user named {username!r}."})
    membership, created = Membership.objects.get_or_create(entity=entity, user=user, defaults={"role": role})
    if not created:
        raise ValidationError({"username": f"{username} is already a member."})
    return membership


@transaction.atomic
def member_set_role(*, membership: Membership, role: str) -> Membership:
    if role == Membership.MEMBER and membership.is_admin:
        _ensure_another_admin(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def member_remove(*, membership: Membership) -> None:
    if not membership.entity.is_team:
        raise ValidationError("The owner of a personal entity cannot be removed.")
    if membership.is_admin:
        _ensure_another_admin(membership)
    membership.delete()


def _ensure_another_admin(membership: Membership) -> None:
    others = (
        Membership.objects.select_for_update()
        .filter(entity=membership.entity, role=Membership.ADMIN)
        .exclude(pk=membership.pk)
    )
    if not others.exists():
        raise ValidationError("A team needs at least one admin: make someone else admin first.")


def api_key_create(*, user: User, name: str) -> tuple[ApiKey, str]:
    """Returns the stored key and the raw key, which is never stored and must be shown once."""
    body = "".join(secrets.choice(_KEY_ALPHABET) for _ in range(40))
    raw = API_KEY_PREFIX + body
    key = ApiKey.objects.create(user=user, name=name.strip() or "API key", key_hash=ApiKey.hash_key(raw), hint=body[:6])
    return key, raw


def api_key_revoke(*, key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


# last_used_at is a coarse fact: writing it on every agent call would add a query to the hot path.
LAST_USED_RESOLUTION_SECONDS = 60


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key for a raw key, with its user loaded; one query, plus one write a minute at most."""
    key = (
        ApiKey.objects.select_related("user")
        .filter(key_hash=ApiKey.hash_key(raw_key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if key is None:
        return None
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key
