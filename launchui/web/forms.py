"""Forms parse and shape input; the rules themselves live in the services, whose errors land on fields."""

import dataclasses
from dataclasses import dataclass

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from launchui.accounts.models import Membership, entity_name_validator
from launchui.launch import queue_config
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
    if hasattr(entities, "values_list"):
        names = entities.values_list("name", flat=True)
    else:  # entities or their names
        names = (e if isinstance(e, str) else e.name for e in entities)
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


JSON_LIST_HELP = (
    'Instead of the tiles: a JSON list, e.g. [{"name": "gpus", "schema": {"type": "integer", "minimum": 1, '
    '"default": 1}}]. Leave it empty to use the tiles.'
)


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
        label="Template variables as JSON",
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


# --- template-variable tiles (W&B's "Parse configuration") ----------------------------------------

TILE_TYPES = [("string", "String"), ("integer", "Integer"), ("number", "Number")]


@dataclass
class VariableTile:
    """One {{name}} of a queue's config as the create and edit forms show it: the admin's text, per field,
    and the errors beside each field. Posted as variable=<name> and var-<name>-<field>."""

    name: str
    type: str = "string"
    default: str = ""
    minimum: str = ""
    maximum: str = ""
    enum: str = ""
    description: str = ""
    errors: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    FIELDS = ("type", "default", "minimum", "maximum", "enum", "description")

    @property
    def prefix(self) -> str:
        return f"var-{self.name}-"

    @property
    def types(self) -> list[tuple[str, str]]:
        return TILE_TYPES

    @property
    def inputs(self) -> list[dict]:
        """The text fields after Type, each with its label, value, help and errors."""
        labels = {
            "default": ("Default", ""),
            "minimum": ("Min", "Integers and numbers only."),
            "maximum": ("Max", ""),
            "enum": ("Allowed values", "Comma separated; empty allows any value."),
            "description": ("Description", ""),
        }
        return [
            {"name": name, "label": label, "help": help, "value": getattr(self, name), "errors": self.errors.get(name)}
            for name, (label, help) in labels.items()
        ]


def _text(value) -> str:
    return "" if value is None else str(value)


def tiles_from_variables(variables: list[dict]) -> list[VariableTile]:
    """Saved template variables ([{name, schema}]) as tiles, for the edit form."""
    tiles = []
    for variable in variables or []:
        schema = variable.get("schema") or {}
        tiles.append(
            VariableTile(
                name=variable["name"],
                type=schema.get("type", "string"),
                default=_text(schema.get("default")),
                minimum=_text(schema.get("minimum")),
                maximum=_text(schema.get("maximum")),
                enum=", ".join(map(str, schema.get("enum") or [])),
                description=_text(schema.get("description")),
            )
        )
    return tiles


def tiles_from_post(data) -> list[VariableTile]:
    """The tiles as posted, in their order; names that are not variable names are dropped."""
    names = dict.fromkeys(n for n in data.getlist("variable") if queue_config.VARIABLE_NAME_RE.match(n))
    tiles = []
    for name in names:
        tile = VariableTile(name=name)
        for f in VariableTile.FIELDS:
            setattr(tile, f, str(data.get(f"var-{name}-{f}", "")).strip() or getattr(tile, f))
        tiles.append(tile)
    return tiles


def tiles_for_config(config_text: str, previous: list[VariableTile]) -> tuple[list[VariableTile], str]:
    """Parse configuration: one tile per {{name}} of the config, in first-seen order, keeping what was
    already entered for a name; (tiles, error) with the config's error when it does not parse."""
    try:
        body = queue_config.parse_config_text(config_text)
    except ValidationError as exc:
        return previous, " ".join(exc.messages)
    kept = {tile.name: tile for tile in previous}
    return [kept.get(name) or VariableTile(name=name) for name in queue_config.template_names_in(body)], ""


def _cast(kind: str, text: str):
    """A tile's text as the type's value; ValueError when it is not one."""
    if kind == "integer":
        return int(text)
    if kind == "number":
        value = float(text)
        return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value
    return text


def variables_from_tiles(tiles: list[VariableTile]) -> list[dict] | None:
    """The tiles as template variables ([{name, schema}]), checked by queue_config's schema rule; None when a
    tile has errors, which are then set beside its fields (tile.errors)."""
    variables = []
    for tile in tiles:
        tile.errors = {}
        schema: dict = {"type": tile.type}
        if tile.type not in queue_config.VARIABLE_TYPES:
            tile.errors["type"] = ["Choose string, integer or number."]
            variables.append({"name": tile.name, "schema": schema})
            continue
        a_value = {"integer": "an integer", "number": "a number", "string": "a string"}[tile.type]
        for bound in ("minimum", "maximum"):
            text = getattr(tile, bound)
            if not text:
                continue
            if tile.type == "string":
                tile.errors[bound] = [f"{bound.capitalize()} applies to integers and numbers only."]
                continue
            try:
                schema[bound] = _cast(tile.type, text)
            except ValueError:
                tile.errors[bound] = [f"{text!r} is not {a_value}."]
        if tile.enum:
            options = []
            for option in (o.strip() for o in tile.enum.split(",") if o.strip()):
                try:
                    options.append(_cast(tile.type, option))
                except ValueError:
                    tile.errors["enum"] = [f"{option!r} is not {a_value}."]
                    break
            schema["enum"] = options
        if tile.default:
            try:
                schema["default"] = _cast(tile.type, tile.default)
            except ValueError:
                tile.errors["default"] = [f"{tile.default!r} is not {a_value}."]
        if tile.description:
            schema["description"] = tile.description
        if not tile.errors:
            try:
                schema = queue_config.validate_variable_schema(tile.name, schema)
            except ValidationError as exc:
                message = " ".join(exc.messages).replace(f"Template variable {tile.name!r}: ", "")
                where = "maximum" if "greater than maximum" in message else "default"
                tile.errors[where] = [message]
        variables.append({"name": tile.name, "schema": schema})
    return None if any(tile.errors for tile in tiles) else variables


def tiles_on_submit(data) -> tuple[list[VariableTile], list[dict] | str | None]:
    """A posted create or edit form's tiles, and the template variables to save: the JSON fallback when it
    is filled in, else the tiles' (None when a tile has errors, set beside its fields). Names the config uses
    that have no tile yet get one, so that the form shows them beside the service's "not declared" error."""
    tiles = tiles_from_post(data)
    json_text = str(data.get("template_variables", ""))
    if json_text.strip():
        return tiles, json_text
    variables = variables_from_tiles(tiles)
    parsed, _ = tiles_for_config(str(data.get("config", "")), [])
    known = {tile.name for tile in tiles}
    tiles += [tile for tile in parsed if tile.name not in known]
    return tiles, variables
