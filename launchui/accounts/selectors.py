"""Reads scoped to what a user may see. Every view and wire operation goes through these."""

from django.contrib.auth.models import User
from django.db.models import F, QuerySet

from launchui.accounts.models import ApiKey, Entity, Membership
from launchui.core import compiled


def member_entity_ids(user: User) -> QuerySet:
    """The ids of the user's entities, as a subquery: `entity_id__in=member_entity_ids(user)` is what the
    lists of queues and agents see."""
    return Membership.objects.filter(user=user).values("entity_id")


def is_active_member(user_id: int | None, entity_id: int | None) -> bool:
    """Whether this user is active and still a member of this entity: what a signed download URL's holder
    must be when the URL is used (one query)."""
    if user_id is None or entity_id is None:
        return False
    return Membership.objects.filter(user_id=user_id, user__is_active=True, entity_id=entity_id).exists()


def membership_for(user: User, entity_name: str) -> Membership | None:
    """The user's membership in the named entity, or None when they are an outsider."""
    return Membership.objects.select_related("entity").filter(user=user, entity__name=entity_name).first()


def _entity_names_sql(conn, *, user_id):
    rows = Membership.objects.filter(user_id=user_id).values_list("entity__name", "role", "entity__owner_id")
    return compiled.select_sql(rows, conn)


# Every list page reads it (the "All entities" filter): compiled once per connection, and sorted here rather
# than by PostgreSQL, whose collation-aware sort of a thousand names took longer than the rest of the query.
_ENTITY_NAMES = compiled.Statement(_entity_names_sql, user_id=int)


def entity_names_for_user(user: User) -> list[tuple[str, bool]]:
    """(entity name, whether the user is its admin) for each of the user's entities, their personal one
    first, then by name: a list page's entity filter and admin_entities_for_user's question (may they create
    anything?) in one query of names only (a user may belong to a thousand entities)."""
    rows = sorted(_ENTITY_NAMES.rows(user_id=user.pk), key=lambda row: (row[2] is None, row[0]))
    return [(name, role == Membership.ADMIN) for name, role, _ in rows]


def admin_entities_for_user(user: User) -> QuerySet[Entity]:
    return Entity.objects.filter(memberships__user=user, memberships__role=Membership.ADMIN).order_by("name")


def members_of(entity: Entity) -> QuerySet[Membership]:
    return entity.memberships.select_related("user").order_by("user__username")


def memberships_for_user(user: User) -> QuerySet[Membership]:
    """The user's memberships with their entities: personal entity first, then teams by name."""
    return (
        Membership.objects.select_related("entity")
        .filter(user=user)
        .order_by(F("entity__owner_id").desc(nulls_last=True), "entity__name")
    )


def api_keys_for_user(user: User) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(user=user).order_by("-created_at", "-id")
