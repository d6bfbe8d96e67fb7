import pytest

from launchui.accounts.models import Entity, Membership
from tests.web.helpers import text

pytestmark = pytest.mark.django_db

MEMBERS = "/entities/acme/members"


def test_entities_lists_own_entities_with_role(client, member, team):
    client.force_login(member)
    response = client.get("/entities")
    assert [(m.entity.name, m.role) for m in response.context["memberships"]] == [
        ("mateo", "admin"),
        ("acme", "member"),
    ]
    body = text(response)
    assert "Personal" in body and "Team" in body and ">Create team</button>" in body


def test_create_team_makes_creator_admin(client, member):
    client.force_login(member)
    response = client.post("/entities", {"name": "research"})
    assert response.status_code == 302 and response["Location"] == "/entities/research/members"
    assert Membership.objects.get(entity__name="research", user=member).role == "admin"


@pytest.mark.parametrize(
    "name,message",
    [
        ("acme", "An entity with this name already exists."),
        ("ACME", "An entity with this name already exists."),
        ("a/b", "Use 1-64 letters, digits"),
        ("x" * 65, "at most 64 characters"),
    ],
)
def test_create_team_refuses_bad_names(client, member, team, name, message):
    client.force_login(member)
    response = client.post("/entities", {"name": name})
    assert response.status_code == 200
    assert any(message in e for e in response.context["form"].errors["name"])
    assert 'id="id_name_error"' in text(response)
    assert Entity.objects.filter(is_team=True).count() == 1


def test_members_page_access(client, owner, member, outsider, team):
    client.force_login(member)
    body = text(client.get(MEMBERS))
    assert "olivia" in body and "mateo" in body
    assert "Add member" not in body and "Save role" not in body
    client.force_login(outsider)
    assert client.get(MEMBERS).status_code == 404


def test_admin_adds_member(client, owner, outsider, team):
    client.force_login(owner)
    response = client.post(MEMBERS, {"username": "oscar", "role": "member"})
    assert response.status_code == 302
    assert Membership.objects.get(entity=team, user=outsider).role == "member"


@pytest.mark.parametrize(
    "username,message",
    [
        ("nobody", "No user named 'nobody'."),
        ("mateo", "mateo is already a member."),
    ],
)
def test_add_member_errors(client, owner, team, username, message):
    client.force_login(owner)
    response = client.post(MEMBERS, {"username": username, "role": "member"})
    assert response.status_code == 200
    assert response.context["form"].errors["username"] == [message]
    assert 'id="id_username_error"' in text(response)
    assert Membership.objects.filter(entity=team).count() == 2


def test_member_cannot_change_members(client, member, outsider, team):
    theirs = Membership.objects.get(entity=team, user=member)
    client.force_login(member)
    assert client.post(MEMBERS, {"username": "oscar", "role": "admin"}).status_code == 403
    assert client.post(f"{MEMBERS}/{theirs.pk}/role", {"role": "admin"}).status_code == 403
    assert client.post(f"{MEMBERS}/{theirs.pk}/remove").status_code == 403
    client.force_login(outsider)
    assert client.post(MEMBERS, {"username": "oscar", "role": "admin"}).status_code == 404
    assert client.post(f"{MEMBERS}/{theirs.pk}/remove").status_code == 404
    assert Membership.objects.filter(entity=team).count() == 2
    theirs.refresh_from_db()
    assert theirs.role == "member"


def test_admin_changes_role_and_removes(client, owner, member, team):
    theirs = Membership.objects.get(entity=team, user=member)
    client.force_login(owner)
    client.post(f"{MEMBERS}/{theirs.pk}/role", {"role": "admin"})
    theirs.refresh_from_db()
    assert theirs.role == "admin"
    client.post(f"{MEMBERS}/{theirs.pk}/remove")
    assert not Membership.objects.filter(pk=theirs.pk).exists()


def test_last_admin_cannot_step_down(client, owner, team):
    mine = Membership.objects.get(entity=team, user=owner)
    client.force_login(owner)
    response = client.post(f"{MEMBERS}/{mine.pk}/role", {"role": "member"}, follow=True)
    assert "A team needs at least one admin" in text(response)
    response = client.post(f"{MEMBERS}/{mine.pk}/remove", follow=True)
    assert "A team needs at least one admin" in text(response)
    mine.refresh_from_db()
    assert mine.role == "admin"


def test_membership_of_another_entity_is_not_reachable(client, owner, member, team):
    other = Membership.objects.get(entity__name="mateo", user=member)
    client.force_login(owner)
    assert client.post(f"{MEMBERS}/{other.pk}/remove").status_code == 404
    assert Membership.objects.filter(pk=other.pk).exists()


def test_personal_entity_members_page(client, owner):
    client.force_login(owner)
    body = text(client.get("/entities/olivia/members"))
    assert "A personal entity has one member." in body
    response = client.post("/entities/olivia/members", {"username": "x", "role": "member"})
    assert "Personal entities have a single member." in text(response)
