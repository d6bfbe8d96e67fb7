"""manage.py create_api_key USERNAME [--name NAME]: prints only the new raw key, for scripts.

export WANDB_API_KEY="$(./manage.py create_api_key alice --name laptop)"
"""

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from launchui.accounts.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a user and print the raw key (shown only this once) on stdout."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="API key", help="A label that tells keys apart (default: 'API key').")

    def handle(self, *args, username: str, name: str, **options) -> None:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}: create one with manage.py create_user {username}.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is deactivated: a key would not authenticate.")
        _, raw = api_key_create(user=user, name=name)
        self.stdout.write(raw)
