"""Writes for artifacts: the client's create -> files -> upload -> commit protocol, and server-side
builds (jobs made in the browser) that produce the same W&B format."""

import hashlib
import json
import re
from pathlib import PurePosixPath

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from launchui.artifacts import storage
from launchui.artifacts.models import (
    JOB_SOURCE_TYPE_MAX_LENGTH,
    Artifact,
    ArtifactAlias,
    ArtifactCollection,
    ArtifactFile,
    ArtifactUse,
    EntityContent,
)
from launchui.core import limits
from launchui.projects.models import Project, Run

MANIFEST_NAME = "wandb_manifest.json"
JOB_SPEC = "wandb-job.json"
ARTIFACT_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
ALIAS_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
# Commit parses these in memory; any uploaded file may be gigabytes (LAUNCHUI_MAX_UPLOAD_BYTES).
MANIFEST_MAX_BYTES = 32 * 1024 * 1024  # about 200,000 entries
JOB_SPEC_MAX_BYTES = 1024 * 1024


def validate_artifact_name(name: str) -> str:
    if not ARTIFACT_NAME_RE.match(name or ""):
        raise ValidationError(
            f"Artifact name {name!r} may use only letters, digits, '-', '_' and '.', up to 128 characters."
        )
    return name


def validate_alias(alias: str) -> str:
    if not ALIAS_RE.match(alias or "") or re.fullmatch(r"v\d+", alias):
        raise ValidationError(
            f"Alias {alias!r} is not valid: letters, digits, '-', '_' and '.', and not a version like v3."
        )
    return alias


def _collection(project: Project, name: str, type_name: str) -> ArtifactCollection:
    validate_artifact_name(name)
    collection, _ = ArtifactCollection.objects.get_or_create(
        project=project, name=name, defaults={"type_name": type_name}
    )
    if collection.type_name != type_name:
        raise ValidationError(f"{name} is an artifact of type {collection.type_name}, not {type_name}.")
    return collection


@transaction.atomic
def artifact_create(
    *,
    project: Project,
    collection_name: str,
    type_name: str,
    digest: str,
    digest_algorithm: str = "MANIFEST_MD5",
    client_id: str | None = None,
    sequence_client_id: str = "",
    metadata: dict | None = None,
    description: str = "",
    aliases: list[str] | None = None,
    run: Run | None = None,
    created_by: User | None = None,
    deduplicate: bool = True,
) -> Artifact:
    """A pending version, or an existing one: the same client id names one artifact (the client retries
    and renames), and a digest equal to the collection's latest version is that version."""
    aliases = [validate_alias(a) for a in (aliases or []) if a != "latest"]
    if client_id:
        existing = Artifact.objects.select_for_update().select_related("collection").filter(client_id=client_id).first()
        if existing is not None:
            if existing.collection.project_id != project.pk:
                raise ValidationError("That client id belongs to another project's artifact.")
            existing = _rename_pending(existing, collection_name, type_name, metadata, aliases)
            same = _same_as_latest(existing.collection, existing.digest) if deduplicate else None
            if same is not None and existing.state == Artifact.PENDING:
                existing.delete()  # the renamed version equals the latest one: no new version
                _point_aliases(same, aliases)
                return same
            return existing
    collection = _collection(project, collection_name, type_name)
    if deduplicate and (latest := _same_as_latest(collection, digest)) is not None:
        _point_aliases(latest, aliases)
        return latest
    try:
        with transaction.atomic():
            return Artifact.objects.create(
                collection=collection,
                digest=digest,
                digest_algorithm=digest_algorithm,
                client_id=client_id,
                sequence_client_id=sequence_client_id or "",
                metadata=metadata or {},
                description=description or "",
                requested_aliases=aliases,
                run=run,
                created_by=created_by,
            )
    except IntegrityError:  # a concurrent create with the same client id won
        return Artifact.objects.get(client_id=client_id)


def _same_as_latest(collection: ArtifactCollection, digest: str) -> Artifact | None:
    latest = Artifact.objects.filter(collection=collection, state=Artifact.COMMITTED).order_by("-version_index").first()
    return latest if latest is not None and latest.digest == digest else None


def _rename_pending(
    artifact: Artifact, collection_name: str, type_name: str, metadata: dict | None, aliases: list[str]
) -> Artifact:
    # The client pre-creates a job under one name, then logs it under another with the same client id:
    # the later name is the real one, and the first collection is left empty and removed.
    fields = []
    if artifact.state == Artifact.PENDING and artifact.collection.name != collection_name:
        old = artifact.collection
        artifact.collection = _collection(old.project, collection_name, type_name)
        fields.append("collection")
        artifact.save(update_fields=fields)
        if not old.versions.exists():
            old.delete()
        fields = []
    if metadata is not None:
        artifact.metadata = metadata
        fields.append("metadata")
    if aliases and artifact.state == Artifact.PENDING:
        artifact.requested_aliases = sorted(set(artifact.requested_aliases) | set(aliases))
        fields.append("requested_aliases")
    if fields:
        artifact.save(update_fields=fields)
    return artifact


def safe_relative_path(name: str) -> str:
    """A path (a job's code file, an archive member) that stays inside the tree, normalised; or a clear error."""
    if "\\" in name or "\x00" in name:
        raise ValidationError(f"{name!r} is not a portable file name.")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise ValidationError(f"{name!r} points outside the upload (absolute path or '..').")
    clean = "/".join(p for p in path.parts if p not in ("", "."))
    if not clean:
        raise ValidationError(f"{name!r} is not a file name.")
    return clean


def validate_file_name(name) -> str:
    """The one rule for a manifest entry's name, at createArtifactFiles and at commit: a normalised relative
    path that stays inside the artifact (no '..', no leading '/', no backslash)."""
    try:
        clean = safe_relative_path(name) if isinstance(name, str) and len(name) <= 1024 else None
    except ValidationError:  # '..', an absolute path, a backslash
        clean = None
    if not clean or clean != name:  # not normalised either: "a//b", "./a"
        raise ValidationError(f"File name {str(name)[:200]!r} is not a safe relative path inside the artifact.")
    return name


def content_hold(*, entity_id: int, digests) -> None:
    """Record that the entity holds these bytes (it uploaded them, or the server built them for it)."""
    EntityContent.objects.bulk_create(
        [EntityContent(entity_id=entity_id, digest=d) for d in set(digests)], ignore_conflicts=True
    )


def content_held(*, entity_id: int, digests) -> set[str]:
    """The digests this entity holds and storage still has: only these are "already stored" for it and
    committable without an upload. Another entity's identical bytes do not count."""
    held = set(
        EntityContent.objects.filter(entity_id=entity_id, digest__in=set(digests)).values_list("digest", flat=True)
    )
    return {d for d in held if storage.blob_exists(d)}


def files_register(*, artifact: Artifact, files: list[dict]) -> list[tuple[ArtifactFile, bool]]:
    """Manifest entries announced before upload; returns each with whether the artifact's entity holds its
    bytes already (then the client skips the upload)."""
    if artifact.state != Artifact.PENDING:
        raise ValidationError("This artifact version is committed; its files cannot change.")
    rows = []
    for entry in files:
        name = validate_file_name(entry.get("name") or "")
        digest = entry.get("md5") or ""
        storage.digest_hex(digest)  # ValueError for a bad digest, mapped by the caller
        row, _ = ArtifactFile.objects.update_or_create(
            artifact=artifact, name=name, defaults={"digest": digest, "size": entry.get("size")}
        )
        rows.append(row)
    held = content_held(entity_id=_entity_id(artifact), digests=[row.digest for row in rows])
    return [(row, row.digest in held) for row in rows]


def _check_manifest_entry(name: str, entry) -> None:
    """A committed manifest's entry becomes an ArtifactFile row: refuse what the row cannot hold."""
    if not isinstance(entry, dict):
        raise ValidationError(f"Manifest entry {str(name)[:200]!r} is not an object.")
    validate_file_name(name)
    if entry.get("ref"):
        size = entry.get("size")
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**63):
            raise ValidationError(f"Manifest entry {name!r} has an invalid size.")
        return
    digest = entry.get("digest")
    try:
        storage.digest_hex(digest if isinstance(digest, str) else "")  # null, a number, a list: refused
    except ValueError:
        raise ValidationError(f"Manifest entry {name!r} has no valid md5 digest.") from None
    size = entry.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < 2**63):
        raise ValidationError(f"Manifest entry {name!r} has an invalid size.")


def _entity_id(artifact: Artifact) -> int:
    return Project.objects.filter(pk=artifact.collection.project_id).values_list("entity_id", flat=True).get()


def upload_receive(*, token: str, read, content_length: int | None = None) -> None:
    """Bytes PUT to a signed upload URL, streamed to storage: they must match the digest the URL was issued
    for, and then the artifact's entity holds them. Raises signing.BadSignature, ValidationError, or
    core.storage.TooLarge (before reading anything when the announced length is already too large)."""
    claims = storage.read_upload_token(token)
    try:
        storage.blob_save_stream(
            read, expected_digest=claims["d"], max_bytes=settings.LAUNCHUI_MAX_UPLOAD_BYTES, announced=content_length
        )
    except storage.BlobDigestMismatch as exc:
        raise ValidationError(str(exc)) from None
    entity_id = Artifact.objects.filter(pk=claims["a"]).values_list("collection__project__entity_id", flat=True).first()
    if entity_id is not None:
        content_hold(entity_id=entity_id, digests=[claims["d"]])
    if claims["n"] == MANIFEST_NAME:
        Artifact.objects.filter(pk=claims["a"], state=Artifact.PENDING).update(manifest_digest=claims["d"])


def _manifest_entries(artifact: Artifact) -> dict | None:
    if not artifact.manifest_digest or not storage.blob_exists(artifact.manifest_digest):
        return None
    raw = storage.blob_read_small(artifact.manifest_digest, MANIFEST_MAX_BYTES)
    if raw is None:
        raise ValidationError(f"The manifest is larger than {MANIFEST_MAX_BYTES // 2**20} MiB.")
    try:
        manifest = json.loads(raw)
        contents = manifest["contents"]
        assert isinstance(contents, dict)
    except (ValueError, KeyError, TypeError, AssertionError):
        raise ValidationError("The uploaded manifest is not a W&B artifact manifest.") from None
    for name, entry in contents.items():
        _check_manifest_entry(name, entry)
    return contents


def manifest_validate(contents: dict) -> None:
    """Checks a committed manifest's entries before any row is written (the same name rule as
    createArtifactFiles, so that a name refused there cannot arrive through the manifest)."""
    for name in contents:
        validate_file_name(name)


@transaction.atomic
def artifact_commit(*, artifact: Artifact) -> Artifact:
    artifact = Artifact.objects.select_for_update().select_related("collection").get(pk=artifact.pk)
    if artifact.state == Artifact.COMMITTED:
        return artifact  # a retried commit
    contents = _manifest_entries(artifact)
    if contents is not None:
        manifest_validate(contents)
        for name, entry in contents.items():
            # A reference carries no bytes here; its row lists it (the client downloads the entries listed).
            ref = entry.get("ref")
            ArtifactFile.objects.update_or_create(
                artifact=artifact,
                name=name,
                defaults={
                    "digest": str(entry.get("digest") or "")[:64],
                    "size": entry.get("size"),
                    "ref": str(ref)[:2048] if ref else "",
                },
            )
        artifact.files.exclude(name__in=list(contents)).delete()
    files = list(artifact.files.all())
    # Stored bytes count only when this entity holds them: the same answer as createArtifactFiles gives.
    held = content_held(entity_id=_entity_id(artifact), digests=[f.digest for f in files])
    missing = [f.name for f in files if not f.ref and f.digest not in held]
    if missing:
        raise ValidationError(f"Files were never uploaded: {', '.join(sorted(missing)[:5])}.")
    collection = ArtifactCollection.objects.select_for_update().get(pk=artifact.collection_id)
    top = collection.versions.aggregate(top=Max("version_index"))["top"]
    artifact.version_index = 0 if top is None else top + 1
    artifact.state = Artifact.COMMITTED
    artifact.committed_at = timezone.now()
    artifact.job_source_type = _job_source_type(artifact) if collection.type_name == "job" else ""
    artifact.save(update_fields=["version_index", "state", "committed_at", "job_source_type"])
    _point_aliases(artifact, [*artifact.requested_aliases, "latest"])
    return artifact


def _job_source_type(artifact: Artifact) -> str:
    """wandb-job.json's source_type; "" when the file is missing or not a job spec (shown as unknown)."""
    spec = artifact.files.filter(name=JOB_SPEC).values_list("digest", flat=True).first()
    try:
        raw = storage.blob_read_small(spec, JOB_SPEC_MAX_BYTES) if spec else None
        value = json.loads(raw).get("source_type") if raw is not None else ""
    except (OSError, ValueError, AttributeError):
        return ""
    # Anything longer than the known types (repo, artifact, image) is not one: shown as unknown.
    return value if isinstance(value, str) and len(value) <= JOB_SOURCE_TYPE_MAX_LENGTH and "\x00" not in value else ""


def _point_aliases(artifact: Artifact, aliases: list[str]) -> None:
    for alias in dict.fromkeys(aliases):
        ArtifactAlias.objects.update_or_create(
            collection_id=artifact.collection_id, alias=alias, defaults={"artifact": artifact}
        )


def manifest_digest(entries: dict[str, str]) -> str:
    """The artifact digest the wandb client computes (MANIFEST_MD5), from {name: base64 md5}."""
    hasher = hashlib.md5()
    hasher.update(b"wandb-artifact-manifest-v1\n")
    for name, digest in sorted(entries.items()):
        hasher.update(f"{name}:{digest}\n".encode())
    return hasher.hexdigest()


def artifact_build(
    *,
    project: Project,
    name: str,
    type_name: str,
    files: dict[str, bytes],
    metadata: dict | None = None,
    aliases: list[str] | None = None,
    description: str = "",
    created_by: User | None = None,
) -> tuple[Artifact, bool]:
    """A committed version made on the server from bytes. Returns (version, created); created is False
    when the content equals the latest version ("No changes detected")."""
    digests = {path: storage.blob_save(content) for path, content in files.items()}
    digest = manifest_digest(digests)
    with transaction.atomic():
        content_hold(entity_id=project.entity_id, digests=digests.values())
        artifact = artifact_create(
            project=project,
            collection_name=name,
            type_name=type_name,
            digest=digest,
            metadata=metadata,
            description=description,
            aliases=aliases,
            created_by=created_by,
        )
        if artifact.state == Artifact.COMMITTED:
            return artifact, False
        manifest = {
            "version": 1,
            "storagePolicy": "wandb-storage-policy-v1",
            "storagePolicyConfig": {"storageLayout": "V2"},
            "contents": {path: {"digest": d, "size": len(files[path])} for path, d in digests.items()},
        }
        artifact.manifest_digest = storage.blob_save(json.dumps(manifest, sort_keys=True).encode())
        content_hold(entity_id=project.entity_id, digests=[artifact.manifest_digest])
        artifact.save(update_fields=["manifest_digest"])
        return artifact_commit(artifact=artifact), True


def resolve(*, project: Project, name: str) -> Artifact | None:
    """`collection:alias` or `collection:vN` (or bare `collection`, meaning latest) to a committed version."""
    collection_name, _, selector = name.partition(":")
    selector = selector or "latest"
    versions = Artifact.objects.select_related("collection__project__entity").filter(
        collection__project=project, collection__name=collection_name, state=Artifact.COMMITTED
    )
    if re.fullmatch(r"v\d+", selector):
        return versions.filter(version_index=int(selector[1:])).first()
    return versions.filter(aliases__alias=selector).first()


@transaction.atomic
def aliases_edit(*, user: User, artifact_id: int, add: list[str], remove: list[str]) -> Artifact:
    """Add aliases to a committed version (moving each from the version it named) and remove aliases from it.

    Who may: any member of the artifact's entity, the same people who may create its versions. Anyone else
    gets the error a missing artifact gets, so that the answer does not reveal it exists. "latest" is the
    server's (it follows the newest version) and cannot be set or removed by hand; other aliases follow
    validate_alias. Nothing is written unless every alias is valid."""
    if len(add) + len(remove) > limits.ARTIFACT_ALIASES_MAX_PER_EDIT:
        raise ValidationError(f"At most {limits.ARTIFACT_ALIASES_MAX_PER_EDIT} aliases can be changed at once.")
    artifact = _editable_artifact(user, artifact_id)
    for alias in [*add, *remove]:
        if alias == "latest":
            raise ValidationError("The alias 'latest' follows the newest version; it cannot be set or removed.")
        validate_alias(alias)
    _point_aliases(artifact, add)
    ArtifactAlias.objects.filter(artifact=artifact, alias__in=[a for a in remove if a not in add]).delete()
    return artifact


def _editable_artifact(user: User, artifact_id: int) -> Artifact:
    """A committed version the user may edit (a member of its entity); else the missing-artifact error."""
    artifact = (
        Artifact.objects.select_for_update(of=("self",))
        .select_related("collection__project__entity")
        .filter(pk=artifact_id, collection__project__entity__memberships__user=user, state=Artifact.COMMITTED)
        .first()
    )
    if artifact is None:
        raise ValidationError("Artifact not found.")
    return artifact


def collection_description_set(*, user: User, collection_id: int, description: str) -> ArtifactCollection:
    """An artifact's (a job's) own description, as the Job page edits it; the same members as aliases_edit
    may change it, and anyone else gets the missing-artifact error."""
    cap = limits.COLLECTION_DESCRIPTION_MAX_CHARS
    if len(description) > cap:
        raise ValidationError(f"A description has at most {cap} characters (this one has {len(description)}).")
    updated = ArtifactCollection.objects.filter(pk=collection_id, project__entity__memberships__user=user).update(
        description=description
    )
    if not updated:
        raise ValidationError("Artifact not found.")
    return ArtifactCollection.objects.get(pk=collection_id)


@transaction.atomic
def artifact_update(*, user: User, artifact_id: int, description: str | None, metadata: dict | None) -> Artifact:
    """A committed version's description and metadata, as `artifact.save()` sends them; the same members as
    aliases_edit may change them. None leaves a field as it is."""
    artifact = _editable_artifact(user, artifact_id)
    if description is not None:
        artifact.description = description
    if metadata is not None:
        artifact.metadata = metadata
    artifact.save(update_fields=["description", "metadata"])
    return artifact


def artifact_use(*, artifact: Artifact, run: Run) -> None:
    """Records that `run` used `artifact` (useArtifact); using it again changes nothing."""
    ArtifactUse.objects.get_or_create(run=run, artifact=artifact)
