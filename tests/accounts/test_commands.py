"""manage.py create_api_key and create_user."""

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from launchui.accounts.models import ApiKey, Entity, Membership
from launchui.accounts.services import api_key_authenticate


def run(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_api_key_prints_only_the_raw_key(owner):
    out = run("create_api_key", "olivia", "--name", "ci runner")
    raw = out.strip()
    assert out == raw + "\n"
    key = api_key_authenticate(raw)
    assert (key.user, key.name) == (owner, "ci runner")


def test_create_api_key_default_name(owner):
    run("create_api_key", "olivia")
    assert ApiKey.objects.get(user=owner).name == "API key"


def test_create_api_key_for_an_unknown_user_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No user named 'nobody'"):
        run("create_api_key", "nobody")
    assert not ApiKey.objects.exists()


def test_create_api_key_refuses_a_deactivated_user(owner):
    User.objects.filter(pk=owner.pk).update(is_active=False)
    with pytest.raises(CommandError, match="deactivated"):
        run("create_api_key", "olivia")


def test_create_user_with_a_password(db):
    out = run("create_user", "ada", "--password", "a-long-enough-passphrase", "--email", "ada@example.com")
    assert out == "Created user ada with personal entity ada.\n"
    user = User.objects.get(username="ada")
    assert user.check_password("a-long-enough-passphrase")
    assert (user.email, user.is_staff, user.is_superuser) == ("ada@example.com", False, False)
    assert Membership.objects.get(user=user).entity == Entity.objects.get(name="ada", owner=user)


def test_create_user_generates_and_prints_a_password(db):
    out = run("create_user", "root", "--superuser")
    lines = out.splitlines()
    assert lines[0] == "Created superuser root with personal entity root."
    password = lines[1].removeprefix("Password: ")
    user = User.objects.get(username="root")
    assert user.check_password(password)
    assert user.is_staff and user.is_superuser


def test_create_user_refuses_weak_passwords_and_taken_names(owner):
    with pytest.raises(CommandError, match="Password refused: This password is too short"):
        run("create_user", "ada", "--password", "short")
    with pytest.raises(CommandError, match="An entity with this name already exists"):
        run("create_user", "olivia", "--password", "a-long-enough-passphrase")
    User.objects.create_user(username="noentity")  # e.g. made by createsuperuser
    with pytest.raises(CommandError, match="already exists"):
        run("create_user", "noentity", "--password", "a-long-enough-passphrase")
    assert sorted(User.objects.values_list("username", flat=True)) == ["noentity", "olivia"]
