"""Every user gets a personal entity, however the user was made: sign-up, create_user, Django's
createsuperuser, the admin's add form, or a future single sign-on backend."""

from django.conf import settings
from django.db.models.signals import post_save
from django.dispatch import receiver

from launchui.accounts.services import personal_entity_ensure


@receiver(post_save, sender=settings.AUTH_USER_MODEL, dispatch_uid="launchui.accounts.personal_entity")
def give_new_user_a_personal_entity(sender, instance, created: bool, raw: bool, **kwargs) -> None:
    if created and not raw:  # raw: loaddata, whose fixture carries its own entities
        personal_entity_ensure(instance)
