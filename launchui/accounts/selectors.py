"""Reads scoped to what a user may see. Every view and wire operation goes through these."""

from django.contrib.auth.models import User
from django.db.models import QuerySet

from launchui.accounts.models import Entity, Membership


def entities_for_user(user: User) -> QuerySet[Entity]:
    return Entity.objects.filter(memberships__user=user).order_by("-owner_id", "name")


def membership_for(user: User, entity_name: str) -> Membership | None:
    """The user's membership in the named entity, or None when they are an outsider."""
    return (Membership.objects.select_related("entity")
            .filter(user=user, entity__name=entity_name).first())


def admin_entities_for_user(user: User) -> QuerySet[Entity]:
    return Entity.objects.filter(memberships__user=user, memberships__role=Membership.ADMIN).order_by("name")


def members_of(entity: Entity) -> QuerySet[Membership]:
    return entity.memberships.select_related("user").order_by("user__username")
