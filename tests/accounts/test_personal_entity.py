"""Finding 16: every user has a personal entity, however the user was made (createsuperuser, the admin,
User.objects.create_user, a future single sign-on backend), so the wandb client's default entity exists."""

import base64
import importlib
import json

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management import call_command

from launchui.accounts.models import Entity, Membership
from launchui.accounts.services import api_key_create, team_create

PASSWORD = "correct-horse-battery-staple"


def assert_personal_entity(user: User, name: str) -> None:
    entity = Entity.objects.get(owner=user)
    assert entity.name == name and not entity.is_team
    assert list(Membership.objects.filter(entity=entity).values_list("user_id", "role")) == [(user.pk, "admin")]


def viewer_entity(client, user: User) -> tuple[str, dict | None]:
    """The viewer's default entity, then that entity as the wire resolves it (None: 'Entity not found')."""
    raw = api_key_create(user=user, name="k")[1]
    headers = {"HTTP_AUTHORIZATION": "Basic " + base64.b64encode(f"api:{raw}".encode()).decode()}

    def gql(query, variables=None):
        response = client.post(
            "/graphql",
            json.dumps({"query": query, "variables": variables or {}}),
            content_type="application/json",
            **headers,
        )
        assert response.status_code == 200, response.content
        return response.json()["data"]

    name = gql("query { viewer { entity } }")["viewer"]["entity"]
    return name, gql("query E($n: String) { entity(name: $n) { name isTeam } }", {"n": name})["entity"]


def test_user_made_by_createsuperuser_has_a_personal_entity_the_wandb_client_can_use(db, client, monkeypatch):
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", PASSWORD)
    call_command("createsuperuser", "--noinput", username="root", email="root@example.com", verbosity=0)
    user = User.objects.get(username="root")
    assert_personal_entity(user, "root")
    assert viewer_entity(client, user) == ("root", {"name": "root", "isTeam": False})


def test_user_made_by_create_user_has_a_personal_entity(db):
    assert_personal_entity(User.objects.create_user(username="ada", password=PASSWORD), "ada")


def test_user_added_in_the_admin_has_a_personal_entity(db, client):
    admin = User.objects.create_superuser(username="boss", password=PASSWORD)
    client.force_login(admin)
    response = client.post(
        "/admin/auth/user/add/",
        {"username": "grace", "usable_password": "true", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert_personal_entity(User.objects.get(username="grace"), "grace")


def test_a_new_user_named_like_an_existing_team_gets_a_suffixed_personal_entity(db):
    founder = User.objects.create_user(username="founder", password=PASSWORD)
    team = team_create(name="Acme", creator=founder)
    user = User.objects.create_user(username="acme", password=PASSWORD)
    assert_personal_entity(user, "acme-2")
    assert Entity.objects.get(pk=team.pk).owner is None  # the team is untouched
    assert_personal_entity(User.objects.create_user(username="ACME", password=PASSWORD), "ACME-3")


def test_a_username_with_characters_entity_names_refuse_is_made_a_valid_name(db):
    assert_personal_entity(User.objects.create_user(username="ada.l+dev@x", password=PASSWORD), "ada-l-dev-x")
    assert_personal_entity(User.objects.create_user(username="_", password=PASSWORD), "user")


def test_saving_an_existing_user_again_does_not_make_another_entity(db):
    user = User.objects.create_user(username="ada", password=PASSWORD)
    user.first_name = "Ada"
    user.save()
    assert Entity.objects.filter(owner=user).count() == 1


def test_the_data_migration_gives_existing_users_without_one_a_personal_entity(db):
    lacking = User.objects.create_user(username="old", password=PASSWORD)
    Entity.objects.filter(owner=lacking).delete()  # as createsuperuser left users before the signal
    kept = User.objects.create_user(username="kept", password=PASSWORD)
    migration = importlib.import_module("launchui.accounts.migrations.0002_personal_entity_for_every_user")
    migration.add_missing_personal_entities(apps, None)
    assert_personal_entity(lacking, "old")
    assert_personal_entity(kept, "kept")


@pytest.mark.parametrize("username", ["has space", "x" * 65])
def test_user_create_still_refuses_names_that_are_not_entity_names(db, username):
    from django.core.exceptions import ValidationError

    from launchui.accounts.services import user_create

    with pytest.raises(ValidationError):
        user_create(username=username, password=PASSWORD)
    assert not User.objects.exists() and not Entity.objects.exists()
