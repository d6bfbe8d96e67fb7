"""Job rules shared by the browser and the builder: W&B's default names, and what counts as a valid
image reference, git remote, ref, entry point, runtime and alias. Pure functions, no database."""

import re
from pathlib import PurePosixPath

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
    rf"^(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_COMPONENT}(?:/{_COMPONENT})*)(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$")

SCP_LIKE_RE = re.compile(r"^[A-Za-z0-9_.-]+@[A-Za-z0-9.-]+:(?!//)[^\s]+$")
GIT_REF_RE = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)(?!/)(?!.*/$)(?!.*\.lock$)(?!.*@\{)[^\s~^:?*\[\\\x00-\x1f\x7f]{1,255}$")


def make_artifact_name_safe(name: str) -> str:
    """What the wandb client does to names: unsafe characters become _, long names keep both ends."""
    cleaned = re.sub(r"[^a-zA-Z0-9_\-.]", "_", name)
    if len(cleaned) <= 128:
        return cleaned
    return cleaned[:63] + ".." + cleaned[-63:]


def validate_job_name(name: str) -> str:
    if len(name) > 128 or not SAFE_NAME_RE.match(name):
        raise ValidationError(f"Job names may use only letters, digits, dashes, underscores and dots. "
                              f"Did you mean: {make_artifact_name_safe(name)}")
    return name


def parse_image(reference: str) -> dict:
    """{'name', 'tag', 'digest'} of a Docker image reference, or a clear error."""
    reference = (reference or "").strip()
    match = IMAGE_RE.match(reference)
    if not match or len(reference) > 255:
        raise ValidationError(f"{reference!r} is not a Docker image reference: use name[:tag] or "
                              "registry/name[:tag][@sha256:digest], lowercase.")
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
    raise ValidationError("Only https://, ssh:// and git@host:path remotes are allowed "
                          "(not file://, ext::, fd:: or local paths).")


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
    value = (value or "").strip()
    if not value:
        return None
    value = value.removeprefix("python-").removeprefix("python")
    parts = value.split(".")
    candidate = ".".join(parts[:2])
    if not RUNTIME_RE.match(candidate) or not all(p.isdigit() for p in parts):
        raise ValidationError(f"{value!r} is not a Python version like 3.11.")
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
