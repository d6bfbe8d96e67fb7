"""Job rules shared by the browser and the builder: W&B's default names, and what counts as a valid
image reference, git remote, ref, entry point, runtime and alias. Pure functions, no database."""

import base64
import hashlib
import ipaddress
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError

SAFE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
TAG_ALIAS_RE = re.compile(r"^[a-zA-Z0-9_\-.]+$")
RUNTIME_RE = re.compile(r"^3\.\d+$")

# The Docker reference grammar (distribution/reference): [registry[:port]/]path[:tag][@digest]
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_RE = re.compile(
    rf"^(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_COMPONENT}(?:/{_COMPONENT})*)(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)

SCP_LIKE_RE = re.compile(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9.-]+:(?!//)[^\s]+$")
GIT_REF_RE = re.compile(
    r"^(?!-)(?!.*\.\.)(?!.*//)(?!/)(?!.*/$)(?!.*\.lock$)(?!.*@\{)[^\s~^:?*\[\\\x00-\x1f\x7f]{1,255}$"
)


def make_artifact_name_safe(name: str) -> str:
    """What the wandb client does to names: unsafe characters become _, long names keep both ends."""
    cleaned = re.sub(r"[^a-zA-Z0-9_\-.]", "_", name)
    if len(cleaned) <= 128:
        return cleaned
    return cleaned[:63] + ".." + cleaned[-63:]


def validate_job_name(name: str) -> str:
    if len(name) > 128 or not SAFE_NAME_RE.match(name):
        raise ValidationError(
            f"Job names may use only letters, digits, dashes, underscores and dots. "
            f"Did you mean: {make_artifact_name_safe(name)}"
        )
    return name


def parse_image(reference: str) -> dict:
    """{'name', 'tag', 'digest'} of a Docker image reference, or a clear error."""
    reference = (reference or "").strip()
    match = IMAGE_RE.match(reference)
    if not match or len(reference) > 255:
        raise ValidationError(
            f"{reference!r} is not a Docker image reference: use name[:tag] or "
            "registry/name[:tag][@sha256:digest], lowercase."
        )
    return {"name": match.group("name"), "tag": match.group("tag"), "digest": match.group("digest")}


def image_job_name(reference: str) -> str:
    return make_artifact_name_safe("job-" + parse_image(reference)["name"])


def image_tag_alias(reference: str) -> str | None:
    tag = parse_image(reference)["tag"]
    return tag if tag and TAG_ALIAS_RE.match(tag) else None


def validate_git_remote(remote: str) -> str:
    """https://, ssh:// and scp-like git@host:path only: file://, ext::, fd:: and options are refused."""
    remote = (remote or "").strip()
    if not remote:
        raise ValidationError("Enter the repository's URL.")
    if remote.startswith("-") or any(c.isspace() or not c.isprintable() for c in remote) or len(remote) > 1000:
        raise ValidationError("A git remote cannot start with '-' or contain spaces or control characters.")
    lower = remote.lower()
    if lower.startswith("https://"):
        host = remote[8:].split("/", 1)[0].rsplit("@", 1)[-1]
        if not host or host.startswith("-") or "/" not in remote[8:]:
            raise ValidationError("An HTTPS remote looks like https://host/org/repo.git.")
        if "@" in remote[8:].split("/", 1)[0]:
            raise ValidationError("Put credentials in a stored git credential, not in the URL.")
        return remote
    if lower.startswith("ssh://"):
        rest = remote[6:]
        host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        if not host or host.startswith("-") or "/" not in rest:
            raise ValidationError("An SSH remote looks like ssh://git@host[:port]/org/repo.git.")
        if ":" in rest.split("/", 1)[0].rpartition("@")[0]:  # ssh://user:password@host/...
            raise ValidationError("Put credentials in a stored git credential, not in the URL.")
        return remote
    if SCP_LIKE_RE.match(remote) and "::" not in remote:
        host = remote.split("@", 1)[1].split(":", 1)[0]
        if host.startswith("-"):
            raise ValidationError("The remote's host cannot start with '-'.")
        return remote
    raise ValidationError(
        "Only https://, ssh:// and git@host:path remotes are allowed (not file://, ext::, fd:: or local paths)."
    )


def validate_git_ref(ref: str) -> str:
    ref = (ref or "").strip()
    if ref and not GIT_REF_RE.match(ref):
        raise ValidationError(f"{ref!r} is not a branch, tag or commit name.")
    return ref


def validate_entry_point(entry_point: str) -> list[str]:
    """'python train.py --x 1' or 'train.py' -> the command list; the script must stay in the tree."""
    import shlex

    entry_point = (entry_point or "").strip() or "main.py"  # as the services store it
    try:
        parts = shlex.split(entry_point)
    except ValueError as exc:
        raise ValidationError(f"The entry point cannot be parsed: {exc}.") from None
    if not parts:
        raise ValidationError("Enter an entry point, such as main.py.")
    script = script_of(parts)
    path = PurePosixPath(script)
    if path.is_absolute() or ".." in path.parts:
        raise ValidationError("The entry point must be a path inside the code, without '..'.")
    if parts[0].endswith(".py"):
        parts = ["python", *parts]
    return parts


def script_of(parts: list[str]) -> str:
    """The script file in an entry point command (the first argument ending in .py, else the program)."""
    return next((p for p in parts if p.endswith(".py")), parts[-1] if len(parts) > 1 else parts[0])


def clean_runtime(value: str | None) -> str | None:
    """'3.10.4' -> '3.10'; '' -> None; anything else is an error."""
    given = (value or "").strip()
    if not given:
        return None
    value = given.removeprefix("python-").removeprefix("python")
    parts = value.split(".")
    candidate = ".".join(parts[:2])
    if not RUNTIME_RE.match(candidate) or not all(p.isdigit() for p in parts):
        # Say what was typed ("python3", not "3") and what is expected: a major.minor version.
        raise ValidationError(f"{given!r} is not a Python version: give major and minor, like 3.11 or python3.11.")
    return candidate


REQUIREMENT_NAME_RE = re.compile(r"^\s*([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)")


def requirement_names(requirements: str) -> set[str]:
    """The normalised project names (PEP 503) a requirements.txt asks for: comments, options (-r, -e,
    --index-url), version specifiers (==, ~=, !=, >=), extras, markers and URLs are left out."""
    names = set()
    for line in requirements.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = REQUIREMENT_NAME_RE.match(line)
        if match:
            names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def git_job_name(remote: str, script: str) -> str:
    return make_artifact_name_safe(f"job-{remote}_{script}")


def code_artifact_name(source_name: str, script: str) -> str:
    path = f"{source_name}/{script}".replace("./", "").strip("/")
    return make_artifact_name_safe("code-" + path)


def code_job_name(code_name: str) -> str:
    return make_artifact_name_safe("job-" + code_name)


# --- where a git remote goes, and which stored credential may go there ---------------------------------

DEFAULT_PORTS = {"https": 443, "ssh": 22}
HOST_NAME_RE = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")


@dataclass(frozen=True)
class GitTarget:
    scheme: str  # "https" or "ssh"
    host: str  # lower case, IPv6 without brackets
    port: int
    path: str  # without the leading "/"

    @property
    def address(self) -> str:
        """host:port as people (and ssh's known_hosts) write it: [::1]:22, github.com:443."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def clean_host(host: str) -> str:
    """A host name or IP address in one spelling (lower case, no trailing dot, IPv6 unbracketed); or an error."""
    text = (host or "").strip().lower().rstrip(".")
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        pass
    if not HOST_NAME_RE.match(text) or len(text) > 253:
        raise ValidationError(f"{host!r} is not a host name or IP address (no scheme, port or path: e.g. github.com).")
    return text


def parse_git_remote(remote: str) -> GitTarget:
    """The transport, host, port and path a valid remote (validate_git_remote) connects to."""
    remote = validate_git_remote(remote)
    if remote.lower().startswith(("https://", "ssh://")):
        parts = urlsplit(remote)
        scheme = parts.scheme.lower()
        try:
            port = parts.port or DEFAULT_PORTS[scheme]
        except ValueError:
            raise ValidationError("The remote's port is not a number from 1 to 65535.") from None
        host, path = parts.hostname or "", parts.path
    else:  # user@host:path
        scheme, port = "ssh", 22
        host, _, path = remote.split("@", 1)[1].partition(":")
    return GitTarget(scheme=scheme, host=clean_host(host), port=port, path=path.lstrip("/"))


def clean_path_prefix(prefix: str) -> str:
    """A repository path prefix such as acme or acme/tools: whole segments, no dots or escapes."""
    text = (prefix or "").strip().strip("/")
    if not text:
        return ""
    if any(c.isspace() or c in "%?#\\" or not c.isprintable() for c in text) or any(
        segment in ("", ".", "..") for segment in text.split("/")
    ):
        raise ValidationError("A path prefix is a plain path such as acme or acme/tools (no '..', '%', '?', '#').")
    return text


def credential_applies_to(credential, remote: str) -> None:
    """Raise a ValidationError unless the stored credential may be sent to this remote: the same transport,
    exactly the host and port it is bound to, and a path under its path prefix. The one rule the form,
    the service and the worker (just before git runs) all apply."""
    target = parse_git_remote(remote)
    wants = "ssh" if credential.kind == "ssh" else "https"
    if target.scheme != wants:
        raise ValidationError(f"A {credential.get_kind_display()} credential cannot be used with this remote.")
    if not credential.host:
        raise ValidationError(
            f"The credential {credential.name} is not bound to a host: an admin of the entity "
            "must set its host on the Git credentials page before builds can use it."
        )
    bound = GitTarget(wants, credential.host, credential.port or DEFAULT_PORTS[wants], credential.path_prefix)
    if (target.host, target.port) != (bound.host, bound.port):
        raise ValidationError(f"The credential {credential.name} is only for {bound.address}, not {target.address}.")
    if bound.path:
        segments = target.path.split("/")
        if (
            "%" in target.path
            or any(s in (".", "..") for s in segments)
            or segments[: len(bound.path.split("/"))] != bound.path.split("/")
        ):
            raise ValidationError(
                f"The credential {credential.name} is only for repositories under {bound.host}/{bound.path}/."
            )


def known_hosts_alias(host: str, port: int) -> str:
    """The name ssh files a server's key under: host for port 22, [host]:port otherwise."""
    return host if port == 22 else f"[{host}]:{port}"


def clean_known_hosts(text: str, *, host: str, port: int | None) -> str:
    """known_hosts lines for the credential's own server (as ssh-keyscan prints them); or an error."""
    alias = known_hosts_alias(host, port or 22)
    lines = []
    for number, line in enumerate((text or "").strip().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        if fields[0].startswith("@"):
            raise ValidationError(f"Line {number}: markers such as {fields[0]} are not supported.")
        if len(fields) < 3:
            raise ValidationError(f"Line {number} is not 'host key-type key' (run: ssh-keyscan -p PORT HOST).")
        try:
            base64.b64decode(fields[2], validate=True)
        except ValueError:
            raise ValidationError(f"Line {number}: the key is not base64.") from None
        names = fields[0].split(",")
        if not any(name.startswith("|1|") or name.lower() == alias for name in names):
            raise ValidationError(f"Line {number} is for {fields[0]}, not for this credential's server {alias}.")
        lines.append(" ".join(fields[:3]))
    return "\n".join(lines) + "\n" if lines else ""


def known_hosts_fingerprints(text: str) -> list[str]:
    """'ssh-ed25519 SHA256:…' per key, as ssh-keygen -lf prints them."""
    found = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) >= 3:
            try:
                digest = hashlib.sha256(base64.b64decode(fields[2])).digest()
            except ValueError:
                continue
            found.append(f"{fields[1]} SHA256:{base64.b64encode(digest).decode().rstrip('=')}")
    return found


# --- a job's input types (wandb-job.json's input_types, or the version's metadata) -----------------------


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _wb_type_label(wb: Any) -> str:
    """A wandb TypeRegistry JSON type in words: number, string, list of number, number or none."""
    if not isinstance(wb, dict):
        return "any"
    kind = str(wb.get("wb_type") or wb.get("type") or "any")
    params = _mapping(wb.get("params"))
    if kind == "list":
        return f"list of {_wb_type_label(params.get('element_type'))}"
    if kind == "union":
        allowed = params.get("allowed_types")
        allowed = allowed if isinstance(allowed, list) else []
        return " or ".join(_wb_type_label(t) for t in allowed) or "any"
    if kind in ("typedDict", "object"):
        return "dict"
    return kind


def input_type_rows(input_types: Any, prefix: str = "") -> list[dict]:
    """A job's config inputs as rows of {key, type, default}, nested keys dotted. Reads both shapes wandb 0.31
    records: a TypeRegistry typedDict (wandb-job.json, from the run's config) and a JSON schema under
    "@wandb.config" (jobs with declared inputs, in the version's metadata)."""
    if not isinstance(input_types, dict):
        return []
    if "@wandb.config" in input_types:
        return input_type_rows(input_types["@wandb.config"], prefix)
    rows: list[dict] = []
    if isinstance(input_types.get("properties"), dict):  # JSON schema
        for key, schema in input_types["properties"].items():
            schema = schema if isinstance(schema, dict) else {}
            if schema.get("type") == "object" and isinstance(schema.get("properties"), dict):
                rows += input_type_rows(schema, f"{prefix}{key}.")
                continue
            row = {"key": f"{prefix}{key}", "type": str(schema.get("type") or "any")}
            if "default" in schema:
                row["default"] = schema["default"]
            rows.append(row)
        return rows
    params = _mapping(input_types.get("params"))
    type_map = params.get("type_map") if input_types.get("wb_type") == "typedDict" else None
    for key, wb in (type_map or {}).items():
        if isinstance(wb, dict) and wb.get("wb_type") == "typedDict":
            rows += input_type_rows(wb, f"{prefix}{key}.")
        else:
            rows.append({"key": f"{prefix}{key}", "type": _wb_type_label(wb)})
    return rows


def config_defaults(input_types: Any, run_config: Any) -> dict:
    """The run config the Launch drawer starts from, as W&B fills it: the config of the run that made the
    version (its values, without wandb's own _-keys), else the defaults its declared inputs record."""
    if isinstance(run_config, dict):
        values = {
            key: entry["value"]
            for key, entry in run_config.items()
            if not key.startswith("_") and isinstance(entry, dict) and "value" in entry
        }
        if values:
            return values
    defaults: dict = {}
    for row in input_type_rows(input_types):
        if "default" in row:
            target = defaults
            *parents, leaf = row["key"].split(".")
            for parent in parents:
                target = target.setdefault(parent, {})
            target[leaf] = row["default"]
    return defaults
