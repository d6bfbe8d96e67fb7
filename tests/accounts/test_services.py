"""accounts.services: users and their personal entity, teams, memberships, API keys."""

import re
import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone
from wandb.sdk.lib.wbauth.validation import check_api_key

from launchui.accounts import services
from launchui.accounts.models import ApiKey, Entity, Membership
from launchui.accounts.services import (
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    member_add,
    member_remove,
    member_set_role,
    team_create,
    user_create,
)
from tests.conftest import PASSWORD

# --- users and teams ---------------------------------------------------------------------------------


def test_user_create_makes_a_personal_entity_with_the_user_as_admin(db):
    user = user_create(username="ada", password=PASSWORD, email="ada@example.com")
    assert user.check_password(PASSWORD)
    entity = Entity.objects.get(name="ada")
    assert entity.owner == user
    assert entity.is_team is False
    assert list(entity.memberships.values_list("user__username", "role")) == [("ada", Membership.ADMIN)]


def test_user_create_refuses_a_name_taken_by_an_entity_whatever_the_case(db, team):
    with pytest.raises(ValidationError) as exc:
        user_create(username="ACME", password=PASSWORD)
    assert exc.value.message_dict == {"username": ["An entity with this name already exists."]}
    assert not User.objects.filter(username="ACME").exists()


def test_user_create_refuses_a_name_that_is_not_a_valid_entity_name_and_writes_nothing(db):
    with pytest.raises(ValidationError) as exc:
        user_create(username="ada lovelace", password=PASSWORD)
    assert "name" in exc.value.message_dict
    assert not User.objects.filter(username="ada lovelace").exists()
    assert not Entity.objects.exists()


def test_team_create_makes_the_creator_its_admin(owner):
    team = team_create(name="research", creator=owner)
    assert team.is_team is True
    assert team.owner is None
    assert list(team.memberships.values_list("user__username", "role")) == [("olivia", Membership.ADMIN)]


def test_team_create_refuses_a_duplicate_name_whatever_the_case(owner, team):
    with pytest.raises(ValidationError) as exc:
        team_create(name="Acme", creator=owner)
    assert exc.value.message_dict == {"name": ["An entity with this name already exists."]}
    with pytest.raises(ValidationError):
        team_create(name="olivia", creator=owner)  # a personal entity's name
    assert Entity.objects.filter(is_team=True).count() == 1


@pytest.mark.parametrize("name", ["", "-leading-dash", "has space", "x" * 65, "dot.ted"])
def test_team_create_refuses_invalid_names(owner, name):
    with pytest.raises(ValidationError) as exc:
        team_create(name=name, creator=owner)
    assert "name" in exc.value.message_dict
    assert not Entity.objects.filter(is_team=True).exists()


# --- memberships -------------------------------------------------------------------------------------


def test_member_add(team, outsider):
    membership = member_add(entity=team, username="oscar", role=Membership.MEMBER)
    assert (membership.user, membership.role) == (outsider, Membership.MEMBER)


def test_member_add_refuses_unknown_users_existing_members_and_personal_entities(team, owner, outsider):
    with pytest.raises(ValidationError, match="No user named 'nobody'"):
        member_add(entity=team, username="nobody", role=Membership.MEMBER)
    with pytest.raises(ValidationError, match="mateo is already a member"):
        member_add(entity=team, username="mateo", role=Membership.ADMIN)
    with pytest.raises(ValidationError, match="Personal entities have a single member"):
        member_add(entity=owner.personal_entity, username="oscar", role=Membership.MEMBER)
    assert Membership.objects.get(entity=team, user__username="mateo").role == Membership.MEMBER


def test_member_set_role_promotes_and_demotes(team, owner, member):
    mateo = Membership.objects.get(entity=team, user=member)
    member_set_role(membership=mateo, role=Membership.ADMIN)
    olivia = Membership.objects.get(entity=team, user=owner)
    member_set_role(membership=olivia, role=Membership.MEMBER)  # mateo is admin now
    assert dict(team.memberships.values_list("user__username", "role")) == {
        "olivia": Membership.MEMBER,
        "mateo": Membership.ADMIN,
    }


def test_the_last_admin_can_be_neither_demoted_nor_removed(team, owner):
    olivia = Membership.objects.get(entity=team, user=owner)
    with pytest.raises(ValidationError, match="at least one admin"):
        member_set_role(membership=olivia, role=Membership.MEMBER)
    with pytest.raises(ValidationError, match="at least one admin"):
        member_remove(membership=olivia)
    olivia.refresh_from_db()
    assert olivia.role == Membership.ADMIN


def test_member_remove(team, member):
    member_remove(membership=Membership.objects.get(entity=team, user=member))
    assert list(team.memberships.values_list("user__username", flat=True)) == ["olivia"]


def test_an_admin_can_leave_when_another_admin_remains(team, owner, member):
    member_set_role(membership=Membership.objects.get(entity=team, user=member), role=Membership.ADMIN)
    member_remove(membership=Membership.objects.get(entity=team, user=owner))
    assert list(team.memberships.values_list("user__username", flat=True)) == ["mateo"]


def test_the_owner_of_a_personal_entity_cannot_be_removed(owner):
    with pytest.raises(ValidationError, match="cannot be removed"):
        member_remove(membership=owner.personal_entity.memberships.get())
    assert owner.personal_entity.memberships.count() == 1


# --- API keys ----------------------------------------------------------------------------------------


def test_api_key_format_is_accepted_by_the_wandb_client(owner):
    key, raw = api_key_create(user=owner, name="laptop")
    assert re.fullmatch(r"local-[A-Za-z0-9]{40}", raw)
    assert check_api_key(raw) is None  # the check wandb login runs before sending a key
    assert re.fullmatch(r"^([a-z0-9]+-)?[A-Za-z0-9_]{40,}$", raw)
    assert key.hint == raw[len("local-") :][:6]
    assert key.name == "laptop"


def test_only_the_hash_of_an_api_key_is_stored(owner):
    key, raw = api_key_create(user=owner, name="laptop")
    stored = ApiKey.objects.filter(pk=key.pk).values().get()
    assert stored["key_hash"] == ApiKey.hash_key(raw)
    assert not any(raw[len("local-") :] in str(value) for value in stored.values())


def test_api_keys_are_unique_and_a_blank_name_gets_a_default(owner):
    raws = {api_key_create(user=owner, name="  ")[1] for _ in range(20)}
    assert len(raws) == 20
    assert set(ApiKey.objects.values_list("name", flat=True)) == {"API key"}


def test_api_key_authenticate_finds_the_user(owner, member):
    _, raw = api_key_create(user=owner, name="laptop")
    api_key_create(user=member, name="other")
    key = api_key_authenticate(raw)
    assert key.user == owner
    assert api_key_authenticate(raw + "x") is None
    assert api_key_authenticate("local-" + "a" * 40) is None


def test_a_revoked_key_does_not_authenticate(owner):
    key, raw = api_key_create(user=owner, name="laptop")
    api_key_revoke(key=key)
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_authenticate(raw) is None
    revoked_at = key.revoked_at
    api_key_revoke(key=key)  # revoking twice keeps the first time
    key.refresh_from_db()
    assert key.revoked_at == revoked_at


def test_the_key_of_a_deactivated_user_does_not_authenticate(owner):
    _, raw = api_key_create(user=owner, name="laptop")
    User.objects.filter(pk=owner.pk).update(is_active=False)
    assert api_key_authenticate(raw) is None


def test_last_used_at_is_written_at_most_once_a_minute(owner, django_assert_num_queries):
    key, raw = api_key_create(user=owner, name="laptop")
    assert key.last_used_at is None
    with django_assert_num_queries(2):  # the lookup, then the first use is recorded
        api_key_authenticate(raw)
    key.refresh_from_db()
    first_use = key.last_used_at
    assert first_use is not None
    with django_assert_num_queries(0):  # within the resolution, and cached by this process: no query
        api_key_authenticate(raw)
    services.api_key_cache_clear()  # as in another web process
    with django_assert_num_queries(1):  # within the resolution: read only
        api_key_authenticate(raw)
    key.refresh_from_db()
    assert key.last_used_at == first_use

    stale = timezone.now() - timedelta(seconds=services.LAST_USED_RESOLUTION_SECONDS + 1)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=stale)
    services.api_key_cache_clear()
    api_key_authenticate(raw)
    key.refresh_from_db()
    assert key.last_used_at > stale


# --- the per-process API key cache: the bound on revocation ----------------------------------------------


def test_a_cached_key_costs_no_query_and_a_key_revoked_here_is_refused_at_once(owner, django_assert_num_queries):
    key, raw = api_key_create(user=owner, name="agent")
    assert api_key_authenticate(raw).user == owner
    with django_assert_num_queries(0):
        assert api_key_authenticate(raw).pk == key.pk
    api_key_revoke(key=key)
    assert api_key_authenticate(raw) is None


def test_a_key_revoked_by_another_web_process_is_refused_within_the_cache_bound(owner, settings):
    settings.LAUNCHUI_API_KEY_CACHE_SECONDS = 1
    key, raw = api_key_create(user=owner, name="agent")
    assert api_key_authenticate(raw) is not None  # cached here
    # Another process revokes it: this process's cache is not told, so it may accept the key for the bound ...
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    assert api_key_authenticate(raw) is not None
    time.sleep(1.1)
    # ... and no longer.
    assert api_key_authenticate(raw) is None


def test_a_user_deactivated_by_another_web_process_is_refused_within_the_cache_bound(owner, settings):
    settings.LAUNCHUI_API_KEY_CACHE_SECONDS = 1
    _, raw = api_key_create(user=owner, name="agent")
    assert api_key_authenticate(raw) is not None
    User.objects.filter(pk=owner.pk).update(is_active=False)
    time.sleep(1.1)
    assert api_key_authenticate(raw) is None


def test_the_minutely_last_used_write_does_not_renew_a_key_revoked_elsewhere(owner, settings):
    settings.LAUNCHUI_API_KEY_CACHE_SECONDS = 3600
    key, raw = api_key_create(user=owner, name="agent")
    api_key_authenticate(raw)
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    # Its cached last use is older than the resolution: the write finds the key revoked and refuses it.
    services._key_cache[key.key_hash] = (
        time.monotonic() + 3600,
        tuple(
            timezone.now() - timedelta(hours=1) if f == "last_used_at" else getattr(key, f)
            for f in services._KEY_FIELDS
        ),
        services._key_cache[key.key_hash][2],
    )
    assert api_key_authenticate(raw) is None
    assert api_key_authenticate(raw) is None  # and forgets it


def test_the_key_cache_keeps_no_unknown_keys_and_is_capped(owner, settings, monkeypatch):
    services.api_key_cache_clear()
    assert api_key_authenticate("local-" + "x" * 40) is None
    assert services._key_cache == {}
    monkeypatch.setattr(services, "_KEY_CACHE_MAX_ENTRIES", 3)
    raws = [api_key_create(user=owner, name=f"k{n}")[1] for n in range(5)]
    for raw in raws:
        assert api_key_authenticate(raw) is not None
    assert 0 < len(services._key_cache) <= 3
