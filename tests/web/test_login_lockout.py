"""Finding 7: no login rate limit (50 wrong passwords in 18 s all got the normal answer). django-axes now
locks a username, and separately a client address, after LAUNCHUI_LOGIN_FAILURE_LIMIT failures for
LAUNCHUI_LOGIN_COOLOFF seconds; staff unlock in the admin or with manage.py axes_reset_*."""

import base64
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from tests.conftest import PASSWORD
from tests.web.helpers import text

pytestmark = pytest.mark.django_db


def sign_in(client, username, password, ip="203.0.113.7", **extra):
    return client.post("/login", {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


def test_login_rate_limit_50_wrong_passwords_are_locked_out_after_the_limit(client, owner):
    assert django_settings.AXES_FAILURE_LIMIT == 5
    answers = [sign_in(client, owner.username, f"guess-{n}").status_code for n in range(50)]
    assert answers == [200] * 4 + [429] * 46  # the 5th failure locks
    locked = sign_in(client, owner.username, PASSWORD)  # even the right password, while locked
    assert locked.status_code == 429
    body = text(locked)
    assert "<h1>Sign-in locked</h1>" in body
    assert "Too many failed sign-ins for olivia or from your address (5 in a row)" in body
    assert "refused for 15 min after the last failed attempt" in body
    assert "_auth_user_id" not in client.session


def test_login_lockout_is_per_username_from_any_address(client, owner, member):
    for n in range(5):
        sign_in(client, owner.username, "wrong", ip=f"198.51.100.{n}")  # a different address each time
    assert sign_in(client, owner.username, PASSWORD, ip="192.0.2.1").status_code == 429
    assert sign_in(client, member.username, PASSWORD, ip="192.0.2.1").status_code == 302  # others unaffected


def test_login_lockout_is_per_client_address_across_usernames(client, owner, member, outsider):
    for name in ["alice", "bob", "carol", "dave", outsider.username]:  # spraying many usernames
        sign_in(client, name, "wrong", ip="203.0.113.9")
    assert sign_in(client, member.username, PASSWORD, ip="203.0.113.9").status_code == 429
    assert sign_in(client, member.username, PASSWORD, ip="203.0.113.10").status_code == 302


def test_login_lockout_ends_after_the_cooloff(client, owner):
    for _ in range(5):
        sign_in(client, owner.username, "wrong")
    assert sign_in(client, owner.username, PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=timezone.now() - django_settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert sign_in(client, owner.username, PASSWORD).status_code == 302


def test_a_successful_sign_in_resets_the_count(client, owner):
    for _ in range(4):
        sign_in(client, owner.username, "wrong")
    assert sign_in(client, owner.username, PASSWORD).status_code == 302
    client.post("/logout")
    for _ in range(4):
        assert sign_in(client, owner.username, "wrong").status_code == 200
    assert sign_in(client, owner.username, PASSWORD).status_code == 302


@pytest.mark.parametrize(
    "command, args", [("axes_reset_username", ["olivia"]), ("axes_reset_ip", ["203.0.113.7"]), ("axes_reset", [])]
)
def test_manage_py_axes_reset_unlocks(client, owner, command, args):
    for _ in range(5):
        sign_in(client, owner.username, "wrong")
    assert sign_in(client, owner.username, PASSWORD).status_code == 429
    call_command(command, *args, verbosity=0)
    assert sign_in(client, owner.username, PASSWORD).status_code == 302


def test_admin_lists_and_deletes_access_attempts_to_unlock(client, owner, member):
    for _ in range(5):
        sign_in(client, owner.username, "wrong")
    member.is_staff = member.is_superuser = True
    member.save()
    admin = client.__class__()
    admin.force_login(member)
    listing = text(admin.get("/admin/axes/accessattempt/"))
    assert "olivia" in listing and "203.0.113.7" in listing
    attempt = AccessAttempt.objects.get(username="olivia")
    admin.post(
        "/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"}
    )
    assert not AccessAttempt.objects.exists()
    assert sign_in(client, owner.username, PASSWORD).status_code == 302


def test_behind_the_tls_proxy_the_address_is_the_one_the_proxy_appended(client, owner, member, settings):
    settings.BEHIND_TLS_PROXY = True
    for n in range(5):
        # A client forging X-Forwarded-For entries cannot dodge the per-address count.
        sign_in(client, f"nobody{n}", "wrong", ip="10.0.0.1", HTTP_X_FORWARDED_FOR=f"1.1.1.{n}, 198.51.100.20")
    assert (
        sign_in(client, member.username, PASSWORD, ip="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.20").status_code
        == 429
    )
    # Another client behind the same proxy is not locked.
    assert (
        sign_in(client, member.username, PASSWORD, ip="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.21").status_code
        == 302
    )
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.20"}


def test_api_key_authentication_is_not_affected_by_a_locked_sign_in(client, owner, owner_key):
    for _ in range(5):
        sign_in(client, owner.username, "wrong", ip="127.0.0.1")
    auth = "Basic " + base64.b64encode(f"api:{owner_key}".encode()).decode()
    response = client.post(
        "/graphql", {"query": "query { viewer { username } }"}, content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert response.status_code == 200 and response.json()["data"]["viewer"]["username"] == "olivia"
