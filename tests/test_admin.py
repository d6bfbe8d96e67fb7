"""The Django admin stays available to superusers, and only to them."""

import pytest
from django.contrib.auth.models import User

from launchui.accounts.services import api_key_create
from launchui.launch.services import queue_create

PAGES = [
    "/admin/",
    "/admin/accounts/entity/",
    "/admin/accounts/apikey/",
    "/admin/launch/runqueue/",
    "/admin/launch/launchagent/",
    "/admin/launch/runqueueitem/",
    "/admin/projects/run/",
    "/admin/jobs/jobbuild/",
    "/admin/jobs/gitcredential/",
    "/admin/artifacts/artifact/",
    "/admin/artifacts/artifactcollection/",
]


@pytest.mark.parametrize("url", PAGES)
def test_superusers_see_the_admin_and_others_do_not(client, owner, team, url):
    queue_create(entity=team, name="gpu", resource="kubernetes", created_by=owner)
    api_key_create(user=owner, name="k")
    client.force_login(owner)
    assert client.get(url).status_code == 302  # to the admin login: not staff
    User.objects.filter(pk=owner.pk).update(is_staff=True, is_superuser=True)
    assert client.get(url).status_code == 200
