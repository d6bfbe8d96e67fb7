"""Forms parse and shape input; the rules themselves live in the services, whose errors land on fields."""

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from launchui.accounts.models import Membership, entity_name_validator
from launchui.launch.liveness import OFFLINE, STATUS_LABELS
from launchui.launch.models import LaunchAgent, RunQueue

ALL = [("", "All entities")]


def add_service_errors(form: forms.Form, exc: ValidationError, aliases: dict[str, str] | None = None) -> None:
    """Put a service's ValidationError beside the matching fields; the rest above the form."""
    if not hasattr(exc, "error_dict"):
        form.add_error(None, exc.messages)
        return
    for field, messages in exc.message_dict.items():
        field = (aliases or {}).get(field, field)
        form.add_error(field if field in form.fields else None, messages)


def entity_choices(entities) -> list[tuple[str, str]]:
    # Names only: a user may belong to a thousand entities, and model instances cost more than the query.
    names = entities.values_list("name", flat=True) if hasattr(entities, "values_list") else (e.name for e in entities)
    return [(name, name) for name in names]


class EntityFilterField(forms.CharField):
    """The "All entities" filter of the list pages: one of the user's entity names, or "" for all. Not a
    ChoiceField: that normalizes every choice when they are set, 6.6 ms for a user in 1,000 entities (a fifth
    of the Launch page); these are plain (name, name) pairs already. templates/web/_entity_filter.html
    renders them."""

    def __init__(self) -> None:
        super().__init__(required=False, label="Entity")
        self.choices: list[tuple[str, str]] = ALL
        self.names: set[str] = set()

    def set_entities(self, entities) -> None:
        self.choices = ALL + entity_choices(entities)
        self.names = {name for name, _ in self.choices[1:]}

    def validate(self, value) -> None:
        super().validate(value)
        if value and value not in self.names:
            raise ValidationError("Select a valid choice.", code="invalid_choice")


class SignupForm(forms.Form):
    username = forms.CharField(
        max_length=64, validators=[entity_name_validator], help_text="Also the name of your personal entity."
    )
    email = forms.EmailField(required=False)
    password1 = forms.CharField(label="Password", strip=False, widget=forms.PasswordInput)
    password2 = forms.CharField(label="Confirm password", strip=False, widget=forms.PasswordInput)

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError("This username is taken.")
        return username

    def clean(self):
        cleaned = super().clean()
        p1, p2 = cleaned.get("password1"), cleaned.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", "The two passwords differ.")
        elif p1:
            user = User(username=cleaned.get("username", ""), email=cleaned.get("email", ""))
            try:
                password_validation.validate_password(p1, user)
            except ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class QueueFilterForm(forms.Form):
    entity = EntityFilterField()
    search = forms.CharField(required=False, label="Search queues", max_length=64)
    sort = forms.ChoiceField(
        required=False,
        widget=forms.HiddenInput,
        choices=[
            (s, s)
            for s in (
                "name",
                "-name",
                "entity",
                "-entity",
                "resource",
                "-resource",
                "queued",
                "-queued",
                "agents",
                "-agents",
            )
        ],
    )

    def __init__(self, *args, entities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entity"].set_entities(entities)


class AgentFilterForm(forms.Form):
    STATUSES = [(s, STATUS_LABELS[s]) for s in (LaunchAgent.POLLING, LaunchAgent.RUNNING, LaunchAgent.KILLED, OFFLINE)]
    entity = EntityFilterField()
    status = forms.ChoiceField(required=False, label="Status", choices=[("", "Any status"), *STATUSES])

    def __init__(self, *args, entities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entity"].set_entities(entities)


JSON_LIST_HELP = 'JSON list, e.g. [{"name": "gpus", "schema": {"type": "integer", "minimum": 1, "default": 1}}]'


class QueueConfigForm(forms.Form):
    """The fields a queue's admin edits; queue_create and queue_update validate them."""

    prioritization = forms.BooleanField(
        required=False,
        label="Prioritization",
        help_text="When on, people choose a priority when they enqueue and higher priorities run first.",
    )
    config = forms.CharField(
        required=False,
        label="Configuration",
        strip=False,
        widget=forms.Textarea(attrs={"rows": 14, "spellcheck": "false", "class": "code"}),
        help_text="JSON or YAML. Use {{name}} for a template variable.",
    )
    template_variables = forms.CharField(
        required=False,
        label="Template variables",
        help_text=JSON_LIST_HELP,
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "code"}),
    )

    @property
    def prioritization_mode(self) -> str:
        on = self.cleaned_data.get("prioritization")
        return RunQueue.PRIORITIZATION_V0 if on else RunQueue.PRIORITIZATION_DISABLED


class QueueCreateForm(QueueConfigForm):
    entity = forms.ChoiceField(label="Entity")
    name = forms.CharField(label="Name", max_length=200)  # the service gives the precise length message
    resource = forms.ChoiceField(label="Resource", choices=RunQueue.RESOURCES)

    field_order = ["entity", "name", "resource", "prioritization", "config", "template_variables"]

    def __init__(self, *args, admin_entities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entity"].choices = entity_choices(admin_entities)


class QueueEditForm(QueueConfigForm):
    external_links = forms.CharField(
        required=False,
        label="External links",
        help_text='JSON list, e.g. [{"label": "Grafana", "url": "https://…"}]',
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "code"}),
    )


class TeamCreateForm(forms.Form):
    name = forms.CharField(label="Team name", max_length=200)


class MemberAddForm(forms.Form):
    username = forms.CharField(label="Username", max_length=150)
    role = forms.ChoiceField(label="Role", choices=Membership.ROLES, initial=Membership.MEMBER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=Membership.ROLES)


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(
        label="Key name", max_length=100, required=False, help_text="Where you will use it, e.g. “gpu-box agent”."
    )
