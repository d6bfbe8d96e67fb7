"""manage.py seed_demo [--password P]: a demo user, a team and three queues. Safe to run again.

bin/run calls it on every start. It creates what is missing and leaves what exists alone, except the
demo password, which it sets only when it creates the user or when --password is given.
"""

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from launchui.accounts.models import Entity, Membership
from launchui.accounts.services import member_add, member_set_role, team_create, user_create
from launchui.launch.models import RunQueue
from launchui.launch.queue_config import DEFAULT_CONFIGS
from launchui.launch.services import queue_create

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "launchui-demo"
DEMO_TEAM = "ml-team"

# name, resource, config, template variables
# (name, resource, config (a dict, or YAML text), template variables)
DEMO_QUEUES: list[tuple[str, str, dict | str, list[dict]]] = [
    ("cpu-local", "local-process", {}, []),
    (
        "docker-gpu",
        "local-container",
        {"gpus": "{{gpus}}"},
        [
            {
                "name": "gpus",
                "schema": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 8,
                    "default": 1,
                    "description": "GPUs per run (docker run --gpus)",
                },
            }
        ],
    ),
    ("sagemaker-prod", "sagemaker", DEFAULT_CONFIGS["sagemaker"], []),
]


class Command(BaseCommand):
    help = f"Create the demo user '{DEMO_USERNAME}', team '{DEMO_TEAM}' and a few queues, when missing. Idempotent."

    def add_arguments(self, parser):
        parser.add_argument("--password", help=f"Set the demo user's password (default on creation: {DEMO_PASSWORD}).")

    @transaction.atomic
    def handle(self, *args, password: str | None, **options) -> None:
        user = User.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            user = self._create_user(password or DEMO_PASSWORD)
            self.stdout.write(f"Created user {DEMO_USERNAME}.")
        elif password is not None:
            user.set_password(password)
            user.save(update_fields=["password"])
            self.stdout.write(f"Set the password of {DEMO_USERNAME}.")

        team = Entity.objects.filter(name__iexact=DEMO_TEAM).first()
        if team is None:
            team = team_create(name=DEMO_TEAM, creator=user)
            self.stdout.write(f"Created team {DEMO_TEAM}.")
        elif not team.is_team:
            raise CommandError(f"{DEMO_TEAM!r} is a user's personal entity, not a team; rename it to seed the demo.")
        membership = Membership.objects.filter(entity=team, user=user).first()
        if membership is None:
            member_add(entity=team, username=user.username, role=Membership.ADMIN)
        elif not membership.is_admin:
            member_set_role(membership=membership, role=Membership.ADMIN)

        for name, resource, config, variables in DEMO_QUEUES:
            if RunQueue.objects.filter(entity=team, name=name).exists():
                continue
            try:
                queue_create(
                    entity=team,
                    name=name,
                    resource=resource,
                    config=config,
                    template_variables=variables,
                    created_by=user,
                )
            except ValidationError as exc:
                raise CommandError(f"Queue {name}: {' '.join(exc.messages)}") from None
            self.stdout.write(f"Created queue {DEMO_TEAM}/{name} ({resource}).")

        if password is not None or user.check_password(DEMO_PASSWORD):
            self.stdout.write(f"Demo login: {DEMO_USERNAME} / {password or DEMO_PASSWORD}")
        else:
            self.stdout.write(
                f"Demo login: {DEMO_USERNAME} (password changed; reset it with manage.py seed_demo --password ...)"
            )

    def _create_user(self, password: str) -> User:
        if Entity.objects.filter(name__iexact=DEMO_USERNAME).exists():
            raise CommandError(f"An entity named {DEMO_USERNAME!r} exists without its user; cannot seed the demo.")
        try:
            return user_create(username=DEMO_USERNAME, password=password)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
