"""The Launch drawer's form: it parses what was typed (shell-split args, JSON run config, typed template
values); launch.services.launch holds the rules, and its errors land beside the fields here."""

import json
import re
import shlex
from typing import cast

from django import forms
from django.core.exceptions import ValidationError

from launchui.core import user_data
from launchui.launch.models import RunQueueItem

VARIABLE_PREFIX = "var_"


def queue_key(queue) -> str:
    return f"{queue.entity.name}/{queue.name}"


def version_choices(versions) -> list[tuple[str, str]]:
    """latest first, then the other aliases, then every vN: what `entity/project/name:<this>` resolves."""
    latest: list[tuple[str, str]] = []
    aliased: list[tuple[str, str]] = []
    plain: list[tuple[str, str]] = []
    for version in versions:
        for alias in version.aliases.all():
            (latest if alias.alias == "latest" else aliased).append((alias.alias, f"{alias.alias} ({version.version})"))
        plain.append((version.version, version.version))
    return latest + aliased + plain


def _split(value: str, what: str) -> list[str]:
    try:
        return shlex.split(value or "")
    except ValueError as exc:  # "No closing quotation"
        raise ValidationError(f"{what} could not be split like a shell command line: {exc}.") from None


class LaunchForm(forms.Form):
    version = forms.CharField(label="Job version", widget=forms.Select)
    paste = forms.CharField(
        label="Paste from",
        required=False,
        widget=forms.Select,
        help_text="Fill the overrides from an earlier launch of this job.",
    )
    args = forms.CharField(label="Arguments", required=False, help_text='Split like a shell: --epochs 3 --note "a b"')
    entry_point = forms.CharField(
        label="Entry point", required=False, help_text="Optional, e.g. python train.py. Empty keeps the job's own."
    )
    run_config = forms.CharField(
        label="Run config (JSON)",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "class": "code"}),
        help_text='A JSON object of wandb.config values, e.g. {"lr": 0.01}.',
    )
    queue = forms.ChoiceField(
        label="Queue",
        error_messages={"invalid_choice": "Choose a queue of an entity you belong to.", "required": "Choose a queue."},
    )
    priority = forms.TypedChoiceField(
        label="Priority", choices=RunQueueItem.PRIORITIES, coerce=int, initial=RunQueueItem.MEDIUM
    )
    project = forms.ChoiceField(label="Destination project", required=False)
    new_project = forms.CharField(
        label="New project",
        required=False,
        max_length=128,
        help_text="Or type a new project name; it is created in the queue's entity.",
    )

    def __init__(self, *args, versions, queues, queue, projects, pastes, url: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.queue_obj = queue
        # Changing these re-renders part of the drawer (launch_views.job_launch, ?part=...).
        self.fields["paste"].widget.attrs.update(
            {
                "hx-get": f"{url}?part=overrides",
                "hx-include": "this",
                "hx-target": "#launch-overrides",
                "hx-swap": "outerHTML",
            }
        )
        self.fields["queue"].widget.attrs.update(
            {
                "hx-get": f"{url}?part=queue",
                "hx-include": "closest form",
                "hx-target": "#launch-queue-fields",
                "hx-swap": "outerHTML",
            }
        )
        self.fields["version"].widget.choices = version_choices(versions)
        self.fields["paste"].widget.choices = [("", "Nothing (start empty)")] + [
            (str(item.pk), _paste_label(item)) for item in pastes
        ]
        cast(forms.ChoiceField, self.fields["queue"]).choices = [(queue_key(q), queue_key(q)) for q in queues]
        entity_name = queue.entity.name if queue else "the queue's entity"
        cast(forms.ChoiceField, self.fields["project"]).choices = [("", "Choose a project")] + [
            (p.name, p.name) for p in projects
        ]
        self.fields["project"].error_messages["invalid_choice"] = (
            f"%(value)s is not a project of {entity_name}: a queue runs jobs in projects of its own entity."
        )
        self.fields["project"].help_text = f"A project of {entity_name}, the queue's entity."
        if queue is None or not queue.is_prioritized:
            self.fields["priority"].disabled = True
            self.fields["priority"].help_text = "Fixed at Medium: this queue has prioritization off."
        self.variable_names = []
        for variable in queue.template_variables if queue else []:
            name = VARIABLE_PREFIX + variable["name"]
            self.fields[name] = _variable_field(variable["name"], variable.get("schema") or {})
            self.variable_names.append(name)

    @property
    def variable_fields(self):
        return [self[name] for name in self.variable_names]

    def clean_args(self) -> list[str]:
        return _split(self.cleaned_data["args"], "The arguments")

    def clean_entry_point(self) -> list[str]:
        return _split(self.cleaned_data["entry_point"], "The entry point")

    def clean_run_config(self) -> dict:
        text = self.cleaned_data["run_config"].strip()
        if not text:
            return {}
        try:
            value = user_data.loads_json(text, "The run config")
        except json.JSONDecodeError as exc:
            raise ValidationError(f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.") from None
        return user_data.require_object(value, "The run config", example='{"lr": 0.01}')

    @property
    def destination(self) -> tuple[str | None, str]:
        """(entity or None, project): a typed "other-entity/project" keeps its entity, so launch() can say
        why it does not belong in this queue."""
        cleaned = getattr(self, "cleaned_data", {})
        typed = cleaned.get("new_project", "").strip()
        if typed:
            entity, _, project = typed.rpartition("/")
            return (entity or None), project
        return None, cleaned.get("project", "")

    def template_values(self) -> dict:
        return {
            name[len(VARIABLE_PREFIX) :]: self.cleaned_data[name]
            for name in self.variable_names
            if self.cleaned_data.get(name) not in (None, "")
        }

    def overrides(self) -> dict:
        """The overrides that parsed (an unparsable one is left out; the form shows its error)."""
        return {
            key: self.cleaned_data[key] for key in ("args", "run_config", "entry_point") if key in self.cleaned_data
        }

    def add_launch_errors(self, exc: ValidationError, keep_existing: bool = False) -> None:
        """launch()'s errors beside the fields: job -> version, project -> the project typed or chosen,
        template_variables -> the variable each message names. keep_existing: a field that already shows
        the form's own error keeps only that one."""
        if not hasattr(exc, "error_dict"):
            self.add_error(None, exc.messages)
            return
        for key, messages in exc.message_dict.items():
            for message in messages:
                field = self._field_for(key, message)
                if keep_existing and field in self.errors:
                    continue
                self.add_error(field, message)

    def _field_for(self, key: str, message: str) -> str | None:
        if key == "job":
            return "version"
        if key == "project":
            return "new_project" if self.cleaned_data.get("new_project") else "project"
        if key == "template_variables":
            match = re.match(r"([A-Za-z_][A-Za-z0-9_-]*): ", message)
            if match and VARIABLE_PREFIX + match.group(1) in self.fields:
                return VARIABLE_PREFIX + match.group(1)
        return None


def _paste_label(item) -> str:
    run = item.associated_run_id or "not started"
    version = str(item.run_spec.get("job", "")).rpartition(":")[2]
    return f"#{item.pk} · {run} · {version} · {item.queue.entity.name}/{item.queue.name}"


def _variable_field(name: str, schema: dict) -> forms.Field:
    """A typed input for a template variable: a select for enums, a number input with the admin's bounds,
    text otherwise. The values go to launch() as typed; it checks them against the schema."""
    kind = schema.get("type", "string")
    default = schema.get("default")
    hints = []
    if schema.get("description"):
        hints.append(schema["description"])
    widget: forms.Widget
    if "enum" in schema:
        choices = [(str(v), str(v)) for v in schema["enum"]]
        if default is None:
            choices.insert(0, ("", "Choose a value"))
        widget = forms.Select(choices=choices)
    elif kind in ("integer", "number"):
        attrs = {"step": "1" if kind == "integer" else "any"}
        for bound, attr in (("minimum", "min"), ("maximum", "max")):
            if bound in schema:
                attrs[attr] = schema[bound]
        widget = forms.NumberInput(attrs=attrs)
        if "minimum" in schema and "maximum" in schema:
            hints.append(f"{kind.capitalize()} from {schema['minimum']} to {schema['maximum']}.")
        elif "minimum" in schema:
            hints.append(f"{kind.capitalize()}, at least {schema['minimum']}.")
        elif "maximum" in schema:
            hints.append(f"{kind.capitalize()}, at most {schema['maximum']}.")
        else:
            hints.append(f"{kind.capitalize()}.")
    else:
        widget = forms.TextInput()
    if default is None:
        hints.append("Required.")
    return forms.CharField(
        label=name,
        required=False,
        widget=widget,
        initial="" if default is None else str(default),
        help_text=" ".join(hints),
    )
