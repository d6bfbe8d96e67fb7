import re

import pytest

from launchui.accounts.models import ApiKey
from launchui.accounts.services import api_key_authenticate
from tests.web.helpers import text

pytestmark = pytest.mark.django_db


def test_create_shows_the_raw_key_once(client, owner):
    client.force_login(owner)
    response = client.post("/authorize", {"name": "gpu-box"})
    assert response.status_code == 200
    body = text(response)
    raw = re.search(r'<code id="new-key">(local-[A-Za-z0-9]{40})</code>', body).group(1)
    assert "it won't be shown again" in body
    assert 'data-copy="#new-key">Copy</button>' in body
    assert "no-store" in response["Cache-Control"]
    key = ApiKey.objects.get(user=owner)
    assert key.name == "gpu-box"
    assert api_key_authenticate(raw).pk == key.pk
    later = text(client.get("/authorize"))
    assert raw not in later
    assert f"local-{key.hint}…" in later and ">Active</span>" in later
    assert " s ago</time>" in later  # last used: the authenticate call above


def test_lists_only_own_keys(client, owner, owner_key, member_key):
    client.force_login(owner)
    body = text(client.get("/authorize"))
    assert "owner key" in body and "member key" not in body


def test_revoke(client, owner, owner_key):
    key = ApiKey.objects.get(user=owner)
    client.force_login(owner)
    response = client.post(f"/authorize/{key.pk}/revoke")
    assert response.status_code == 302 and response["Location"] == "/authorize"
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_authenticate(owner_key) is None
    body = text(client.get("/authorize"))
    assert ">Revoked</span>" in body and "Revoke owner key" not in body


def test_cannot_revoke_someone_elses_key(client, owner, member_key, member):
    key = ApiKey.objects.get(user=member)
    client.force_login(owner)
    assert client.post(f"/authorize/{key.pk}/revoke").status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert client.get(f"/authorize/{key.pk}/revoke").status_code == 405
