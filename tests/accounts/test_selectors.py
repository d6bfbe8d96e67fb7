"""accounts.selectors: what a user may see, and in which order the pages list it."""

import pytest

from launchui.accounts import selectors
from launchui.accounts.models import Membership
from launchui.accounts.services import team_create


@pytest.mark.django_db
def test_entity_names_list_the_personal_entity_first_then_teams_by_name(owner, member, outsider):
    for name in ("zeta", "Alpha", "acme-2", "acme"):
        team_create(name=name, creator=owner)
    beta = team_create(name="beta", creator=member)
    Membership.objects.create(entity=beta, user=owner, role=Membership.MEMBER)
    assert selectors.entity_names_for_user(owner) == [
        ("olivia", True),
        ("Alpha", True),
        ("acme", True),
        ("acme-2", True),
        ("beta", False),
        ("zeta", True),
    ]
    assert selectors.entity_names_for_user(outsider) == [(outsider.username, True)]
