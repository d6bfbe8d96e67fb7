import pytest
from django.contrib.auth.models import User

from launchui.accounts.models import Entity, Membership
from tests.conftest import PASSWORD
from tests.web.helpers import text

pytestmark = pytest.mark.django_db


def test_login_page_has_labelled_fields_and_sign_in_button(client):
    body = text(client.get("/login"))
    assert '<label for="id_username">Username</label>' in body
    assert '<label for="id_password">Password</label>' in body
    assert ">Sign in</button>" in body


def test_login_then_lands_on_launch(client, owner):
    response = client.post("/login", {"username": "olivia", "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/launch"


def test_wrong_password_shows_an_error(client, owner):
    response = client.post("/login", {"username": "olivia", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in text(response)


def test_pages_need_a_signed_in_user(client):
    for url in ["/launch", "/launch/agents", "/entities", "/authorize", "/launch/queues/new"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login?next=")


def test_root_redirects_to_launch(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/launch"


def test_logout_is_a_post(client, owner):
    client.force_login(owner)
    assert client.get("/logout").status_code == 405
    response = client.post("/logout")
    assert response.status_code == 302
    assert client.get("/launch").status_code == 302


def test_signup_creates_user_and_personal_entity(client):
    response = client.post("/signup", {"username": "nadia", "email": "", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/launch"
    user = User.objects.get(username="nadia")
    assert Membership.objects.get(user=user, entity__name="nadia").role == Membership.ADMIN
    assert client.get("/launch").status_code == 200  # signed in


def test_signup_refuses_a_taken_name_and_writes_nothing(client, team):
    response = client.post("/signup", {"username": "acme", "password1": PASSWORD, "password2": PASSWORD})
    assert response.status_code == 200
    assert "An entity with this name already exists." in text(response)
    assert not User.objects.filter(username="acme").exists()


def test_signup_refuses_mismatched_passwords_and_bad_names(client):
    response = client.post("/signup", {"username": "a/b", "password1": PASSWORD, "password2": PASSWORD + "x"})
    body = text(response)
    assert "Use 1-64 letters, digits" in body
    assert "The two passwords differ." in body
    assert not Entity.objects.exists()


def test_signup_disabled_is_404_and_link_hidden(client, settings):
    settings.LAUNCHUI_SIGNUP_ENABLED = False
    assert client.get("/signup").status_code == 404
    assert client.post("/signup", {"username": "x"}).status_code == 404
    assert 'href="/signup"' not in text(client.get("/login"))


def test_signup_link_shown_when_enabled(client):
    assert 'href="/signup"' in text(client.get("/login"))
