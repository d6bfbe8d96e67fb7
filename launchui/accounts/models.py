import hashlib

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

# W&B entity names: letters, digits, dashes and underscores (they appear in URLs and run paths).
ENTITY_NAME_RE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
entity_name_validator = RegexValidator(
    ENTITY_NAME_RE,
    "Use 1-64 letters, digits, dashes or underscores, starting with a letter or digit.",
)


class Entity(models.Model):
    """A user's personal entity (named after the username) or a team."""

    name = models.CharField(max_length=64, unique=True, validators=[entity_name_validator])
    is_team = models.BooleanField(default=False)
    # Set for personal entities only.
    owner = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="personal_entity",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "entities"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    ADMIN = "admin"
    MEMBER = "member"
    ROLES = [(ADMIN, "Admin"), (MEMBER, "Member")]

    entity = models.ForeignKey(Entity, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=ROLES, default=MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity", "user"], name="one_membership_per_user")]

    def __str__(self) -> str:
        return f"{self.user} in {self.entity} ({self.role})"

    @property
    def is_admin(self) -> bool:
        return self.role == self.ADMIN


class ApiKey(models.Model):
    """A secret for the wandb client. Only its SHA-256 is kept; the key is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64, unique=True)
    # The first characters after the prefix, so a person can tell keys apart.
    hint = models.CharField(max_length=16)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @staticmethod
    def hash_key(raw_key: str) -> str:
        # Keys are 238-bit random strings, so a fast hash is enough and keeps the lookup to one indexed query.
        return hashlib.sha256(raw_key.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
