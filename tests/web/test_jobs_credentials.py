"""Git credentials of an entity: members list them (never the secret), admins add and delete them."""

import pytest

from launchui.jobs import secrets
from launchui.jobs.models import GitCredential
from launchui.jobs.services import credential_create
from tests.web.helpers import count_queries, text

pytestmark = pytest.mark.django_db

URL = "/entities/acme/git-credentials"
SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-secret-key-body\n-----END OPENSSH PRIVATE KEY-----\n"
)


def https_form(**changes) -> dict:
    data = {
        "name": "github",
        "kind": "https",
        "host": "github.com",
        "port": "",
        "path_prefix": "",
        "username": "bot",
        "password": "ghp_s3cret-token",
        "private_key": "",
        "known_hosts": "",
    }
    data.update(changes)
    return data


@pytest.fixture
def stored(team, owner):
    return credential_create(
        entity=team,
        name="github",
        kind="https",
        username="bot",
        secret="ghp_s3cret-token",
        host="github.com",
        created_by=owner,
    )


def test_admin_sees_the_form_and_the_list_without_secrets(client, owner, stored):
    credential_create(
        entity=stored.entity, name="deploy", kind="ssh", secret=SSH_KEY, host="github.com", created_by=owner
    )
    client.force_login(owner)
    response = client.get(URL)
    body = text(response)
    for label in [
        "Name",
        "Kind",
        "Host",
        "Port",
        "Repositories under",
        "Username",
        "Password or token",
        "Private key",
        "Known hosts",
    ]:
        assert f">{label}</label>" in body
    for header in ["Name", "Kind", "Server", "Username", "Created"]:
        assert f'<th scope="col">{header}</th>' in body
    assert "github" in body and "deploy" in body and "SSH key" in body and "HTTPS" in body
    assert "ghp_s3cret-token" not in body and "secret-key-body" not in body
    assert 'aria-label="Delete github"' in body


def test_entity_pages_link_here(client, owner, team):
    client.force_login(owner)
    assert f'href="{URL}"' in text(client.get("/entities"))
    assert 'href="/launch/jobs"' in text(client.get("/entities"))


def test_member_lists_but_cannot_add_or_delete(client, member, stored):
    client.force_login(member)
    body = text(client.get(URL))
    assert "github" in body and "ghp_s3cret-token" not in body
    assert "Only admins of acme can add or delete its git credentials." in body
    assert "Add credential" not in body and "Delete github" not in body
    assert client.post(URL, https_form(name="mine")).status_code == 403
    assert client.post(f"{URL}/{stored.pk}/delete").status_code == 403
    assert list(GitCredential.objects.values_list("name", flat=True)) == ["github"]


def test_outsider_gets_404_everywhere(client, outsider, stored):
    client.force_login(outsider)
    assert client.get(URL).status_code == 404
    assert client.post(URL, https_form(name="mine")).status_code == 404
    assert client.post(f"{URL}/{stored.pk}/delete").status_code == 404
    assert GitCredential.objects.count() == 1


def test_credential_of_another_entity_cannot_be_deleted_through_mine(client, owner, outsider, stored):
    client.force_login(outsider)
    response = client.post(f"/entities/oscar/git-credentials/{stored.pk}/delete")
    assert response.status_code == 404
    assert GitCredential.objects.filter(pk=stored.pk).exists()


def test_admin_adds_https_credential_encrypted(client, owner, team):
    client.force_login(owner)
    response = client.post(URL, https_form())
    assert response.status_code == 302 and response["Location"] == URL
    credential = GitCredential.objects.get()
    assert (credential.entity, credential.kind, credential.username, credential.created_by) == (
        team,
        "https",
        "bot",
        owner,
    )
    assert b"ghp_s3cret-token" not in bytes(credential.secret_encrypted)
    assert secrets.decrypt(credential.secret_encrypted) == "ghp_s3cret-token"
    assert "Credential github saved." in text(client.get(URL))


def test_admin_adds_ssh_key(client, owner, team):
    client.force_login(owner)
    client.post(URL, https_form(name="deploy", kind="ssh", username="", password="", private_key=SSH_KEY))
    credential = GitCredential.objects.get()
    assert credential.kind == "ssh" and secrets.decrypt(credential.secret_encrypted) == SSH_KEY


@pytest.mark.parametrize(
    "changes,field,message",
    [
        ({"name": ""}, "name", "This field is required."),
        ({"name": "github"}, "name", "acme already has a credential named github."),
        ({"kind": "ftp"}, "kind", "Select a valid choice."),
        ({"username": ""}, "username", "HTTPS credentials need a username."),
        ({"password": ""}, "password", "Enter the password, token or private key."),
        ({"kind": "ssh", "private_key": "just a password"}, "private_key", "Paste an SSH private key"),
        ({"kind": "ssh", "private_key": ""}, "private_key", "Enter the password, token or private key."),
        ({"host": ""}, "host", "This field is required."),
        ({"host": "https://github.com/acme"}, "host", "is not a host name or IP address"),
        ({"port": "70000"}, "port", "less than or equal to 65535"),
        ({"path_prefix": "acme/../other"}, "path_prefix", "A path prefix is a plain path"),
        ({"known_hosts": "github.com ssh-ed25519 AAAA"}, "known_hosts", "Known hosts are for SSH credentials only."),
        (
            {"kind": "ssh", "private_key": SSH_KEY, "known_hosts": "gitlab.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5"},
            "known_hosts",
            "Line 1 is for gitlab.com, not for this credential's server github.com.",
        ),
        (
            {
                "kind": "ssh",
                "private_key": SSH_KEY,
                "port": "2222",
                "known_hosts": "github.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5",
            },
            "known_hosts",
            "not for this credential's server [github.com]:2222",
        ),
        (
            {"kind": "ssh", "private_key": SSH_KEY, "known_hosts": "github.com ssh-ed25519 not*base64"},
            "known_hosts",
            "Line 1: the key is not base64.",
        ),
    ],
)
def test_bad_input_is_shown_beside_the_field_and_secrets_are_not_echoed(client, owner, stored, changes, field, message):
    client.force_login(owner)
    response = client.post(URL, https_form(**{"name": "other", **changes}))
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors[field])
    body = text(response)
    assert f'id="id_{field}_error"' in body
    assert "ghp_s3cret-token" not in body and "just a password" not in body and "secret-key-body" not in body
    assert "no-store" in response["Cache-Control"]
    assert GitCredential.objects.count() == 1


def test_admin_deletes(client, owner, stored):
    client.force_login(owner)
    response = client.post(f"{URL}/{stored.pk}/delete")
    assert response.status_code == 302 and response["Location"] == URL
    assert not GitCredential.objects.exists()
    assert client.get(f"{URL}/{stored.pk}/delete").status_code == 405


def test_personal_entity_owner_is_its_admin(client, owner):
    client.force_login(owner)
    client.post("/entities/olivia/git-credentials", https_form())
    assert GitCredential.objects.get().entity == owner.personal_entity


def test_queries_do_not_grow_with_credentials(client, owner, team):
    client.force_login(owner)
    few, _ = count_queries(client, URL)
    for i in range(10):
        credential_create(
            entity=team, name=f"c{i}", kind="https", username="u", secret="s", host="github.com", created_by=owner
        )
    many, _ = count_queries(client, URL)
    assert many == few == 4, few  # exact, like the wire's query budgets


def test_credentials_show_the_server_they_are_bound_to(client, owner, member, team):
    credential_create(
        entity=team,
        name="gh",
        kind="https",
        username="bot",
        secret="tok",
        host="github.com",
        path_prefix="acme",
        created_by=owner,
    )
    key_line = "[git.example.com]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGZha2Uga2V5IGZvciB0ZXN0cw=="
    credential_create(
        entity=team,
        name="deploy",
        kind="ssh",
        secret=SSH_KEY,
        host="git.example.com",
        port=2222,
        known_hosts=key_line,
        created_by=owner,
    )
    credential_create(entity=team, name="fresh", kind="ssh", secret=SSH_KEY, host="gitlab.com", created_by=owner)
    client.force_login(member)
    body = text(client.get(URL))
    assert "github.com/acme/" in body and "git.example.com:2222" in body
    assert "Host key ssh-ed25519 SHA256:" in body and "Host key: recorded on the first build" in body


def test_legacy_unbound_credential_is_flagged_and_an_admin_binds_it(client, owner, member, outsider, stored):
    GitCredential.objects.filter(pk=stored.pk).update(host="")  # as migration 0002 leaves older credentials
    bind = f"{URL}/{stored.pk}/server"
    client.force_login(member)
    assert "Not bound to a server: builds cannot use it" in text(client.get(URL))
    assert client.post(bind, {"host": "evil.example"}).status_code == 403
    client.force_login(outsider)
    assert client.post(bind, {"host": "evil.example"}).status_code == 404
    client.force_login(owner)
    assert 'aria-label="Server of github"' in text(client.get(URL))
    response = client.post(bind, {"host": "not a host", "port": "", "path_prefix": ""})
    assert "is not a host name or IP address" in " ".join(response.context["form"].errors["host"])
    stored.refresh_from_db()
    assert stored.host == ""
    response = client.post(bind, {"host": "github.com", "port": "", "path_prefix": "acme/", "known_hosts": ""})
    assert response.status_code == 302 and response["Location"] == URL
    stored.refresh_from_db()
    assert (stored.host, stored.port, stored.path_prefix, stored.server) == (
        "github.com",
        None,
        "acme",
        "github.com/acme/",
    )
    assert secrets.decrypt(stored.secret_encrypted) == "ghp_s3cret-token"
