"""Writes for users, entities, memberships and API keys."""

import secrets
import string
import threading
import time

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from launchui.accounts.models import ApiKey, Entity, Membership
from launchui.accounts.names import is_reserved, personal_entity_name

API_KEY_PREFIX = "local-"
_KEY_ALPHABET = string.ascii_letters + string.digits
RESERVED_MESSAGE = "This name is reserved for launchui's own pages; choose another."


@transaction.atomic
def user_create(*, username: str, password: str | None, email: str = "") -> User:
    """A user and their personal entity named exactly after them, in which they are admin; a name already
    taken by an entity is refused here (sign-up form, create_user) rather than given a suffix."""
    if is_reserved(username):
        raise ValidationError({"username": RESERVED_MESSAGE})
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
    name = personal_entity_name(
        user.username, lambda n: is_reserved(n) or Entity.objects.filter(name__iexact=n).exists()
    )
    entity = Entity.objects.create(name=name, owner=user)
    Membership.objects.create(entity=entity, user=user, role=Membership.ADMIN)
    return entity


@transaction.atomic
def team_create(*, name: str, creator: User) -> Entity:
    entity = Entity(name=name, is_team=True)
    if is_reserved(name):
        raise ValidationError({"name": RESERVED_MESSAGE})
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
    # At once in this process; other web processes refuse it when their entry expires (the TTL below).
    _forget_key(key.key_hash)


# last_used_at is a coarse fact: writing it on every agent call would add a query to the hot path.
LAST_USED_RESOLUTION_SECONDS = 60
# Authenticated keys kept per web process, so that most calls cost no query: an agent authenticates 3 times
# per 10 s poll. A key revoked or a user deactivated elsewhere is refused within LAUNCHUI_API_KEY_CACHE_SECONDS.
# Unknown keys are never kept, and the size is capped, so no request can grow it without bound.
_KEY_CACHE_MAX_ENTRIES = 10_000
_key_cache: dict[str, tuple[float, tuple, tuple]] = {}  # key_hash -> (expires at, key row, user row)
_key_cache_lock = threading.Lock()
_KEY_FIELDS = ("id", "user_id", "name", "key_hash", "hint", "created_at", "last_used_at", "revoked_at")
_USER_FIELDS = (
    "id",
    "password",
    "last_login",
    "is_superuser",
    "username",
    "first_name",
    "last_name",
    "email",
    "is_staff",
    "is_active",
    "date_joined",
)


def _forget_key(key_hash: str) -> None:
    with _key_cache_lock:
        _key_cache.pop(key_hash, None)


def api_key_cache_clear() -> None:
    """Forget every cached key in this process (after a bulk change such as deactivating users)."""
    with _key_cache_lock:
        _key_cache.clear()


def _cached_key(key_hash: str) -> ApiKey | None:
    entry = _key_cache.get(key_hash)
    if entry is None or entry[0] < time.monotonic():
        return None
    # Fresh instances per call: threads of one process must not share mutable model objects.
    key = ApiKey.from_db("default", _KEY_FIELDS, entry[1])
    key.user = User.from_db("default", _USER_FIELDS, entry[2])
    return key


def _remember_key(key: ApiKey) -> None:
    ttl = settings.LAUNCHUI_API_KEY_CACHE_SECONDS
    if ttl <= 0:
        return
    with _key_cache_lock:
        if len(_key_cache) >= _KEY_CACHE_MAX_ENTRIES:
            _key_cache.clear()
        _key_cache[key.key_hash] = (
            time.monotonic() + ttl,
            tuple(getattr(key, f) for f in _KEY_FIELDS),
            tuple(getattr(key.user, f) for f in _USER_FIELDS),
        )


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The active key for a raw key, with its user loaded. No query while this process's cache holds the key
    (LAUNCHUI_API_KEY_CACHE_SECONDS), else one; plus one write a minute at most for last_used_at."""
    key_hash = ApiKey.hash_key(raw_key)
    key = _cached_key(key_hash)
    if key is None:
        key = (
            ApiKey.objects.select_related("user")
            .filter(key_hash=key_hash, revoked_at__isnull=True, user__is_active=True)
            .first()
        )
        if key is None:
            return None
        _remember_key(key)
    now = timezone.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        # The write checks the key is still active, so renewing the cache entry here never outlives a revoke.
        if not ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True, user__is_active=True).update(last_used_at=now):
            _forget_key(key_hash)
            return None
        key.last_used_at = now
        _remember_key(key)
    return key
