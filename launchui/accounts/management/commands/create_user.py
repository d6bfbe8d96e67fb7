"""manage.py create_user USERNAME [--password P] [--email E] [--superuser]: a user with their personal entity.

Unlike Django's createsuperuser, this goes through accounts.services.user_create, so the user gets the
personal entity (named after them, with them as admin) that W&B clients expect.
"""

import secrets

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from launchui.accounts.services import user_create


class Command(BaseCommand):
    help = "Create a user and their personal entity. Without --password a random password is generated and printed."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--password", help="Checked by the password validators. Default: a random one, printed.")
        parser.add_argument("--email", default="")
        parser.add_argument(
            "--superuser", action="store_true", help="Also make the user staff and superuser (Django admin at /admin/)."
        )

    def handle(self, *args, username: str, password: str | None, email: str, superuser: bool, **options) -> None:
        generated = password is None
        if password is None:
            password = secrets.token_urlsafe(12)
        else:
            try:
                validate_password(password)
            except ValidationError as exc:
                raise CommandError("Password refused: " + " ".join(exc.messages)) from None
        try:
            user = user_create(username=username, password=password, email=email)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        except IntegrityError:  # the username exists (its entity may have another name, e.g. alice-2)
            raise CommandError(f"A user named {username!r} already exists.") from None
        if superuser:
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
        kind = "superuser" if superuser else "user"
        self.stdout.write(f"Created {kind} {username} with personal entity {username}.")
        if generated:
            self.stdout.write(f"Password: {password}")
