"""Forms of the Jobs pages: they parse input; the job rules live in launchui/jobs (services and rules),
whose ValidationErrors land beside the fields."""

from typing import cast

from django import forms

from launchui.jobs.models import GitCredential
from launchui.web.forms import EntityFilterField, entity_choices

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".zip")


class MultipleFileInput(forms.FileInput):
    allow_multiple_selected = True


class UploadField(forms.Field):
    """Uploaded files as they came: empty files are fine (an __init__.py), the service checks the rest."""

    def __init__(self, *, multiple: bool = False, **kwargs):
        self.multiple = multiple
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def clean(self, value):
        if self.multiple:
            return [f for f in (value or []) if f]
        return value or None


class JobForm(forms.Form):
    """The fields every kind of job has."""

    entity = forms.ChoiceField(label="Entity")
    project = forms.CharField(label="Project", help_text="Created if it does not exist yet.")
    name = forms.CharField(
        label="Name",
        required=False,
        help_text="Optional: by default W&B's name for the source.",
    )
    description = forms.CharField(label="Description", required=False, widget=forms.Textarea(attrs={"rows": 2}))
    aliases = forms.CharField(
        label="Aliases", required=False, help_text="Comma separated, e.g. stable, candidate. latest is always added."
    )

    # W&B's default name for each kind of source (jobs/rules.py: image_job_name, git_job_name, code_job_name).
    name_rule = ""

    def __init__(self, *args, entities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entity"].choices = entity_choices(entities)
        if self.name_rule:
            self.fields["name"].help_text = f"Optional: by default W&B's name for the source, {self.name_rule}."

    def clean_aliases(self) -> list[str]:
        return list(dict.fromkeys(a.strip() for a in self.cleaned_data["aliases"].split(",") if a.strip()))


class ImageJobForm(JobForm):
    name_rule = "job-<image-name>"
    image = forms.CharField(
        label="Image",
        strip=True,
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
        help_text="registry/name[:tag], e.g. ghcr.io/acme/train:1.4. The tag becomes an alias.",
    )

    field_order = ["entity", "project", "image", "name", "description", "aliases"]


ENTRY_POINT_HELP = "The script to run, relative to the code's root, e.g. train.py or python train.py --epochs 3."
RUNTIME_HELP = "Optional, e.g. 3.11. Otherwise runtime.txt or .python-version, else the server's default."


class GitJobForm(JobForm):
    name_rule = "job-<git-remote-url>_<path-to-script>"
    remote = forms.CharField(
        label="Repository URL",
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
        help_text="https://host/org/repo.git or git@host:org/repo.git",
    )
    ref = forms.CharField(
        label="Branch, tag or commit", required=False, help_text="Optional: the default branch otherwise."
    )
    entry_point = forms.CharField(label="Entry point", required=False, initial="main.py", help_text=ENTRY_POINT_HELP)
    runtime = forms.CharField(label="Python version", required=False, help_text=RUNTIME_HELP)
    credential = forms.ChoiceField(
        label="Credential",
        required=False,
        help_text="For a private repository: an HTTPS token or SSH key stored for "
        "the entity under Entities → Git credentials.",
    )

    field_order = [
        "entity",
        "project",
        "remote",
        "ref",
        "entry_point",
        "runtime",
        "credential",
        "name",
        "description",
        "aliases",
    ]

    def __init__(self, *args, credentials: dict, **kwargs):
        """credentials: {entity name: [GitCredential]} for the user's entities."""
        super().__init__(*args, **kwargs)
        groups = [
            (
                entity,
                [(str(c.pk), f"{c.name} ({c.get_kind_display()}) for {c.server or 'no server yet'}") for c in creds],
            )
            for entity, creds in credentials.items()
            if creds
        ]
        cast(forms.ChoiceField, self.fields["credential"]).choices = [("", "None (public repository)"), *groups]


class CodeJobForm(JobForm):
    name_rule = "job-<code-artifact-name>"
    folder = UploadField(
        label="Folder",
        multiple=True,
        widget=MultipleFileInput(attrs={"webkitdirectory": True}),
        help_text="The folder with your script and requirements.txt; .git, wandb and __pycache__ are left out.",
    )
    archive = UploadField(
        label="Or one archive",
        widget=forms.FileInput(attrs={"accept": ",".join(ARCHIVE_SUFFIXES)}),
        help_text=".zip or .tar.gz of the folder.",
    )
    # The folder's relative paths, in file order; app.js fills it (Django keeps only each file's base name).
    paths = forms.CharField(required=False, widget=forms.HiddenInput)
    entry_point = forms.CharField(label="Entry point", required=False, initial="main.py", help_text=ENTRY_POINT_HELP)
    runtime = forms.CharField(label="Python version", required=False, help_text=RUNTIME_HELP)

    field_order = [
        "entity",
        "project",
        "folder",
        "archive",
        "paths",
        "entry_point",
        "runtime",
        "name",
        "description",
        "aliases",
    ]


class JobAliasForm(forms.Form):
    """Add an alias to a version of the Job page, moving it from the version it named."""

    alias = forms.CharField(
        label="Alias", max_length=128, help_text="e.g. prod. It moves here from the version that has it."
    )
    version = forms.ChoiceField(label="Version")

    def __init__(self, *args, versions, **kwargs):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["version"]).choices = [(v.version, v.version) for v in versions]


class JobDescriptionForm(forms.Form):
    description = forms.CharField(
        label="Description", required=False, widget=forms.Textarea(attrs={"rows": 3}), strip=True
    )


class JobFilterForm(forms.Form):
    entity = EntityFilterField()

    def __init__(self, *args, entities, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["entity"].set_entities(entities)


class SecretTextarea(forms.Textarea):
    """Never renders its value back: a private key is not echoed into the page after an error."""

    def format_value(self, value):
        return None


class GitCredentialForm(forms.Form):
    name = forms.CharField(label="Name", max_length=100, help_text="e.g. github-deploy")
    kind = forms.ChoiceField(label="Kind", choices=GitCredential.KINDS, initial=GitCredential.HTTPS)
    username = forms.CharField(
        label="Username",
        required=False,
        max_length=255,
        help_text="HTTPS only. For a GitHub token, any name such as x-access-token.",
    )
    password = forms.CharField(
        label="Password or token",
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text="HTTPS only. Stored encrypted; never shown again.",
    )
    private_key = forms.CharField(
        label="Private key",
        required=False,
        strip=False,
        widget=SecretTextarea(attrs={"rows": 6, "spellcheck": "false", "class": "code", "autocomplete": "off"}),
        help_text="SSH only: -----BEGIN OPENSSH PRIVATE KEY----- … Stored encrypted; never shown again.",
    )

    host = forms.CharField(
        label="Host",
        max_length=253,
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
        help_text="The git server it is for, e.g. github.com. Builds send the credential to this host only.",
    )
    port = forms.IntegerField(
        label="Port", required=False, min_value=1, max_value=65535, help_text="Optional: 443 for HTTPS, 22 for SSH."
    )
    path_prefix = forms.CharField(
        label="Repositories under",
        required=False,
        max_length=255,
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
        help_text="Optional path prefix, e.g. acme for github.com/acme/…",
    )
    known_hosts = forms.CharField(
        label="Known hosts",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "class": "code"}),
        help_text="SSH only, optional: the server's keys (ssh-keyscan -p PORT HOST). "
        "Left empty, the key seen on the first build is recorded and required "
        "afterwards.",
    )

    field_order = ["name", "kind", "host", "port", "path_prefix", "username", "password", "private_key", "known_hosts"]

    @property
    def secret(self) -> str:
        data = self.cleaned_data
        return data.get("private_key", "") if data.get("kind") == GitCredential.SSH else data.get("password", "")


class GitCredentialBindForm(forms.Form):
    """The server of a stored credential: binds a credential saved before binding existed, or re-binds one."""

    host = GitCredentialForm.base_fields["host"]
    port = GitCredentialForm.base_fields["port"]
    path_prefix = GitCredentialForm.base_fields["path_prefix"]
    known_hosts = GitCredentialForm.base_fields["known_hosts"]
