"""Users made before the post_save signal (e.g. by createsuperuser) get the personal entity they lack."""

from django.conf import settings
from django.db import migrations

from launchui.accounts.names import personal_entity_name


def add_missing_personal_entities(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Entity = apps.get_model("accounts", "Entity")
    Membership = apps.get_model("accounts", "Membership")
    for user in User.objects.filter(personal_entity__isnull=True).order_by("pk").iterator():
        name = personal_entity_name(user.username, lambda n: Entity.objects.filter(name__iexact=n).exists())
        entity = Entity.objects.create(name=name, owner=user)
        Membership.objects.create(entity=entity, user=user, role="admin")


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunPython(add_missing_personal_entities, migrations.RunPython.noop),
    ]
