"""Writes for jobs: record a build and enqueue it; run a build (called by the Celery task);
store git credentials."""

import json
import logging
import threading
import uuid
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import kombu.exceptions
from django import db
from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q, QuerySet, Value
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from launchui.accounts.models import Entity
from launchui.artifacts import services as artifacts
from launchui.artifacts import storage
from launchui.core import ids
from launchui.jobs import network, rules, secrets, sources
from launchui.jobs.models import GitCredential, JobBuild
from launchui.jobs.selectors import WORKER_LOST
from launchui.projects.services import project_get_or_create

logger = logging.getLogger(__name__)

EMPTY_TYPES = {"wb_type": "typedDict", "params": {"type_map": {}}}
# A build just committed is being sent by its request; the sweeper leaves it alone this long.
SEND_GRACE = timedelta(seconds=5)


def _errors(**fields) -> ValidationError:
    return ValidationError({k: v for k, v in fields.items() if v})


def _common(*, entity: Entity, project: str, name: str, aliases: list[str]) -> tuple:
    errors: dict[str, list[str]] = {}
    if name:
        try:
            rules.validate_job_name(name)
        except ValidationError as exc:
            errors["name"] = exc.messages
    checked = []
    for alias in aliases:
        try:
            checked.append(artifacts.validate_alias(alias))
        except ValidationError as exc:
            errors.setdefault("aliases", []).extend(exc.messages)
    try:
        project_row = project_get_or_create(entity=entity, name=project.strip()) if not errors else None
    except ValidationError as exc:
        errors["project"] = exc.messages
        project_row = None
    return project_row, checked, errors


def _enqueue(build: JobBuild) -> JobBuild:
    transaction.on_commit(lambda: build_send(build_id=build.pk))
    return build


def build_send(*, build_id: int, sent_before=None) -> bool:
    """Hand a queued build's task to the broker. A broker that is down is not the user's error: the build
    stays queued with no sent_at ("Waiting for the broker") and the sweeper sends it later. sent_before,
    the sweeper's compare-and-set, keeps two sweepers from sending the same build in the same round."""
    from launchui.jobs.tasks import build_job_task

    now = timezone.now()
    mine = JobBuild.objects.filter(pk=build_id, status=JobBuild.QUEUED)
    if sent_before is not None:
        mine = mine.filter(Q(sent_at__isnull=True) | Q(sent_at__lt=sent_before))
        if not mine.update(sent_at=now):
            return False
    try:
        build_job_task.apply_async((build_id,), retry=True)
    except (kombu.exceptions.OperationalError, OSError) as exc:  # kombu wraps the transport's errors
        logger.warning("build %s: could not send its task (%s); the sweeper will send it again", build_id, exc)
        JobBuild.objects.filter(pk=build_id, status=JobBuild.QUEUED, sent_at=now if sent_before else None).update(
            sent_at=None
        )
        return False
    if sent_before is None:
        JobBuild.objects.filter(pk=build_id, status=JobBuild.QUEUED).update(sent_at=now)
    return True


def builds_resend_stale(*, now=None, sent_before=None, batch: int = 100) -> dict:
    """What every worker runs every LAUNCHUI_BUILD_SWEEP_SECONDS (launchui/celery.py), no person needed.

    1. A running build whose lease ran out lost its worker: it is queued again (a build reads its source
       and writes a job version that "No changes detected" makes idempotent) until it has been claimed
       LAUNCHUI_BUILD_MAX_ATTEMPTS times, then failed, so a build that kills its worker cannot loop.
    2. A queued build never sent (broker down), or sent LAUNCHUI_BUILD_RESEND_SECONDS ago and still not
       claimed, or sent before `sent_before` (the worker's connection to the broker started then: the
       message may have been lost with a restarted broker), is sent again.
    Nothing here can run a build twice: build_run claims by compare-and-set (only a queued build, with a
    fresh lease token), so a duplicate message claims nothing and a superseded run's writes are fenced.
    Each round handles at most `batch` builds of each kind.
    """
    now = now or timezone.now()
    lease = timedelta(seconds=settings.LAUNCHUI_BUILD_LEASE_SECONDS)
    counts = {"requeued": 0, "failed": 0, "sent": 0, "more": False}
    broker_up = True  # after one failed send, the rest wait for the next round
    cutoff = now - timedelta(seconds=settings.LAUNCHUI_BUILD_RESEND_SECONDS)
    if sent_before is not None:
        cutoff = max(cutoff, sent_before)
    expired = (
        JobBuild.objects.filter(status=JobBuild.RUNNING)
        .annotate(last_beat=Coalesce("heartbeat_at", "started_at", "created_at"))
        .filter(last_beat__lt=now - lease)
        .values_list("pk", "lease_token", "attempt")[:batch]
    )
    for build_id, token, attempt in expired:
        mine = JobBuild.objects.filter(pk=build_id, status=JobBuild.RUNNING, lease_token=token)
        if attempt >= settings.LAUNCHUI_BUILD_MAX_ATTEMPTS:
            line = f"ERROR {WORKER_LOST} (attempt {attempt} of {settings.LAUNCHUI_BUILD_MAX_ATTEMPTS})"
            if mine.update(
                status=JobBuild.FAILED, error=WORKER_LOST, finished_at=now, log=Concat(F("log"), Value(line + "\n"))
            ):
                counts["failed"] += 1
        elif mine.update(
            status=JobBuild.QUEUED,
            sent_at=None,
            lease_token="",
            log=Concat(F("log"), Value(f"The worker was lost during attempt {attempt}: queued again\n")),
        ):
            counts["requeued"] += 1
            if broker_up:
                broker_up = build_send(build_id=build_id)
                counts["sent"] += broker_up
    stale = (
        JobBuild.objects.filter(status=JobBuild.QUEUED)
        .filter(Q(sent_at__isnull=True, created_at__lt=now - SEND_GRACE) | Q(sent_at__lt=cutoff))
        .order_by("created_at")
        .values_list("pk", flat=True)[:batch]
    )
    counts["more"] = len(stale) == batch
    for build_id in stale if broker_up else ():
        if build_send(build_id=build_id, sent_before=cutoff):
            counts["sent"] += 1
        elif not JobBuild.objects.filter(pk=build_id, status=JobBuild.QUEUED, sent_at__isnull=True).exists():
            continue  # someone else sent or claimed it
        else:
            break  # the broker is still down: try again next round, not once per build
    return counts


@transaction.atomic
def build_create_image(
    *,
    entity: Entity,
    project: str,
    image: str,
    name: str = "",
    description: str = "",
    aliases: list[str] | None = None,
    created_by: User | None,
) -> JobBuild:
    project_row, checked, errors = _common(entity=entity, project=project, name=name, aliases=aliases or [])
    try:
        rules.parse_image(image)
    except ValidationError as exc:
        errors["image"] = exc.messages
    if errors:
        raise ValidationError(errors)
    build = JobBuild.objects.create(
        project=project_row,
        kind=JobBuild.IMAGE,
        name=name,
        description=description,
        aliases=checked,
        params={"image": image.strip()},
        created_by=created_by,
    )
    return _enqueue(build)


def _check_git_host(target: rules.GitTarget) -> None:
    """Refuse an internal host now, with a form error. A name that does not resolve here passes: the worker
    resolves it again just before git runs, and refuses it there if it is internal by then."""
    try:
        network.check_target(target.host, target.port)
    except network.TargetRefused as exc:
        raise ValidationError(str(exc)) from None
    except network.TargetUnresolved:
        pass


@transaction.atomic
def build_create_git(
    *,
    entity: Entity,
    project: str,
    remote: str,
    entry_point: str,
    ref: str = "",
    runtime: str = "",
    credential: GitCredential | None = None,
    name: str = "",
    description: str = "",
    aliases: list[str] | None = None,
    created_by: User | None,
) -> JobBuild:
    project_row, checked, errors = _common(entity=entity, project=project, name=name, aliases=aliases or [])
    for field, check, value in (
        ("remote", rules.validate_git_remote, remote),
        ("ref", rules.validate_git_ref, ref),
        ("entry_point", rules.validate_entry_point, entry_point),
        ("runtime", rules.clean_runtime, runtime),
    ):
        try:
            check(value)
        except ValidationError as exc:
            errors[field] = exc.messages
    if credential is not None and credential.entity_id != entity.pk:
        errors["credential"] = ["That credential belongs to another entity."]
    if "remote" not in errors:
        try:
            _check_git_host(rules.parse_git_remote(remote))
        except ValidationError as exc:
            errors["remote"] = exc.messages
    if credential is not None and not errors:
        try:
            rules.credential_applies_to(credential, remote)
        except ValidationError as exc:
            errors["credential"] = exc.messages
    if errors:
        raise ValidationError(errors)
    build = JobBuild.objects.create(
        project=project_row,
        kind=JobBuild.GIT,
        name=name,
        description=description,
        aliases=checked,
        params={
            "remote": remote.strip(),
            "ref": ref.strip(),
            "entry_point": entry_point.strip() or "main.py",
            "runtime": runtime.strip(),
        },
        git_credential=credential,
        created_by=created_by,
    )
    return _enqueue(build)


@transaction.atomic
def build_create_code(
    *,
    entity: Entity,
    project: str,
    entry_point: str,
    source_name: str,
    archive: tuple[str, bytes] | None = None,
    files: dict[str, bytes] | None = None,
    runtime: str = "",
    name: str = "",
    description: str = "",
    aliases: list[str] | None = None,
    created_by: User | None,
) -> JobBuild:
    """Code from one archive (.zip, .tar.gz) or a folder's files ({relative path: bytes})."""
    project_row, checked, errors = _common(entity=entity, project=project, name=name, aliases=aliases or [])
    for field, check, value in (
        ("entry_point", rules.validate_entry_point, entry_point),
        ("runtime", rules.clean_runtime, runtime),
    ):
        try:
            check(value)
        except ValidationError as exc:
            errors[field] = exc.messages
    params: dict[str, Any] = {
        "entry_point": entry_point.strip() or "main.py",
        "runtime": runtime.strip(),
        "source_name": rules.make_artifact_name_safe(source_name or "code")[:60],
    }
    try:
        if archive is not None:
            filename, content = archive
            if len(content) > settings.LAUNCHUI_MAX_CODE_BYTES:
                raise ValidationError(f"{filename} is larger than {settings.LAUNCHUI_MAX_CODE_BYTES // 2**20} MiB.")
            sources.unpack_archive(filename, content)  # refuse a bad archive now, not in the worker
            params.update(archive_name=filename, archive_digest=storage.blob_save(content))
        elif files:
            clean = {sources.safe_relative_path(path): data for path, data in files.items()}
            # A folder upload leaves out .git/, wandb/ and __pycache__/, as archives and git checkouts do.
            clean = {path: data for path, data in clean.items() if sources.keep(path)}
            if not clean:
                raise ValidationError("The folder has no files outside .git, wandb and __pycache__.")
            sources.check_tree(clean)
            params["files"] = {path: storage.blob_save(data) for path, data in clean.items()}
        else:
            raise ValidationError("Upload a folder's files or one .zip or .tar.gz archive.")
    except ValidationError as exc:
        errors["code"] = exc.messages
    if errors:
        raise ValidationError(errors)
    build = JobBuild.objects.create(
        project=project_row,
        kind=JobBuild.CODE,
        name=name,
        description=description,
        aliases=checked,
        params=params,
        created_by=created_by,
    )
    return _enqueue(build)


def credential_create(
    *,
    entity: Entity,
    name: str,
    kind: str,
    username: str = "",
    secret: str,
    host: str,
    port: int | None = None,
    path_prefix: str = "",
    known_hosts: str = "",
    created_by: User | None,
) -> GitCredential:
    """A credential bound to one server (host, port, optional path prefix): builds never send it elsewhere."""
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = ["Give the credential a name."]
    elif GitCredential.objects.filter(entity=entity, name=name.strip()).exists():
        errors["name"] = [f"{entity.name} already has a credential named {name.strip()}."]
    if kind not in dict(GitCredential.KINDS):
        errors["kind"] = ["Choose HTTPS or SSH."]
    if kind == GitCredential.HTTPS and not username.strip():
        errors["username"] = ["HTTPS credentials need a username."]
    if not secret.strip():
        errors["secret"] = ["Enter the password, token or private key."]
    elif kind == GitCredential.SSH and "PRIVATE KEY" not in secret:
        errors["secret"] = ["Paste an SSH private key (-----BEGIN ... PRIVATE KEY-----)."]
    binding, binding_errors = _binding(
        kind=kind, host=host, port=port, path_prefix=path_prefix, known_hosts=known_hosts
    )
    errors.update(binding_errors)
    if errors:
        raise ValidationError(errors)
    return GitCredential.objects.create(
        entity=entity,
        name=name.strip(),
        kind=kind,
        username=username.strip(),
        secret_encrypted=secrets.encrypt(secret),
        created_by=created_by,
        **binding,
    )


def _binding(*, kind: str, host: str, port: int | None, path_prefix: str, known_hosts: str) -> tuple[dict, dict]:
    """({host, port, path_prefix, known_hosts} cleaned, {field: errors})."""
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {"host": "", "port": port, "path_prefix": "", "known_hosts": ""}
    if not (host or "").strip():
        errors["host"] = ["Enter the git server's host name, e.g. github.com: the credential is only sent there."]
    else:
        try:
            cleaned["host"] = rules.clean_host(host)
        except ValidationError as exc:
            errors["host"] = exc.messages
    if port is not None and not 0 < port < 65536:
        errors["port"] = ["A port is a number from 1 to 65535."]
    try:
        cleaned["path_prefix"] = rules.clean_path_prefix(path_prefix)
    except ValidationError as exc:
        errors["path_prefix"] = exc.messages
    if (known_hosts or "").strip():
        if kind != GitCredential.SSH:
            errors["known_hosts"] = ["Known hosts are for SSH credentials only."]
        elif "host" not in errors and "port" not in errors:
            try:
                cleaned["known_hosts"] = rules.clean_known_hosts(known_hosts, host=cleaned["host"], port=port)
            except ValidationError as exc:
                errors["known_hosts"] = exc.messages
    return cleaned, errors


def credential_bind(
    *, credential: GitCredential, host: str, port: int | None = None, path_prefix: str = "", known_hosts: str = ""
) -> GitCredential:
    """Set the server a credential is for (binding a legacy credential, or after a server moved). A new
    server forgets the host keys recorded for the old one unless new ones are given."""
    binding, errors = _binding(
        kind=credential.kind, host=host, port=port, path_prefix=path_prefix, known_hosts=known_hosts
    )
    if errors:
        raise ValidationError(errors)
    for field, value in binding.items():
        setattr(credential, field, value)
    credential.save(update_fields=list(binding))
    return credential


def credential_record_host_key(*, credential_id: int, known_hosts: str) -> bool:
    """Keep the SSH host key seen on a credential's first connection (compare-and-set: the first one wins)."""
    return bool(GitCredential.objects.filter(pk=credential_id, known_hosts="").update(known_hosts=known_hosts))


def credential_delete(*, credential: GitCredential) -> None:
    credential.delete()


# --- running a build (inside the Celery worker) ----------------------------------------------------


def _log(run: QuerySet, line: str) -> None:
    run.update(log=Concat(F("log"), Value(line.rstrip("\n") + "\n")))


@contextmanager
def _lease(run: QuerySet):
    """Renew the claim's heartbeat from a thread while the build runs, so the sweeper can tell a long
    build from a dead worker."""
    stop = threading.Event()
    interval = settings.LAUNCHUI_BUILD_LEASE_SECONDS / 3

    def renew():
        try:
            while not stop.wait(interval):
                try:
                    if not run.filter(status=JobBuild.RUNNING).update(heartbeat_at=timezone.now()):
                        return  # finished, or taken over by the sweeper: this run's writes are fenced anyway
                except Exception:  # the database blinked: the lease allows two missed renewals
                    logger.warning("build lease renewal failed; trying again", exc_info=True)
                    db.connection.close()
        finally:
            db.connection.close()

    thread = threading.Thread(target=renew, name="build-lease", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def build_run(*, build_id: int, task_id: str = "") -> None:
    """Claim the build (compare-and-set from queued, with a new lease token, so a duplicate or redelivered
    task does nothing) and make the job version. Every later write is fenced by the token."""
    token = uuid.uuid4().hex
    now = timezone.now()
    claimed = JobBuild.objects.filter(pk=build_id, status=JobBuild.QUEUED).update(
        status=JobBuild.RUNNING,
        started_at=now,
        heartbeat_at=now,
        attempt=F("attempt") + 1,
        lease_token=token,
        celery_task_id=task_id[:64],
    )
    if not claimed:
        return
    run = JobBuild.objects.filter(pk=build_id, lease_token=token)
    build = run.select_related("project__entity", "git_credential", "created_by").get()
    log = lambda line: _log(run, line)  # noqa: E731
    if build.attempt > 1:
        log(f"Attempt {build.attempt} of {settings.LAUNCHUI_BUILD_MAX_ATTEMPTS}")
    try:
        with _lease(run):
            artifact, created = {JobBuild.IMAGE: _build_image, JobBuild.GIT: _build_git, JobBuild.CODE: _build_code}[
                build.kind
            ](build, log)
    except (ValidationError, sources.GitError, ValueError) as exc:
        message = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        log(f"ERROR {message}")
        run.update(status=JobBuild.FAILED, error=message, finished_at=timezone.now())
        return
    except Exception as exc:  # the build's own bug or the environment's: keep it on the build page too
        logger.exception("build %s crashed", build_id)
        log(f"ERROR internal error: {type(exc).__name__}: {exc}")
        run.update(status=JobBuild.FAILED, error=f"Internal error: {exc}", finished_at=timezone.now())
        return
    verb = "Created" if created else "No changes detected for"
    aliases = ", ".join(artifact.aliases.values_list("alias", flat=True))
    log(
        f"{verb} job: {build.project.entity.name}/{build.project.name}/{artifact.collection.name}:"
        f"{artifact.version}, with aliases: {aliases}"
    )
    run.update(status=JobBuild.SUCCEEDED, result=artifact, result_created=created, finished_at=timezone.now())


def _job_files(source_type: str, source: dict, runtime: str, requirements: bytes) -> dict[str, bytes]:
    spec = {
        "_version": "v0",
        "source_type": source_type,
        "source": source,
        "input_types": EMPTY_TYPES,
        "output_types": EMPTY_TYPES,
        "runtime": runtime,
    }
    return {"wandb-job.json": json.dumps(spec, indent=4).encode(), "requirements.frozen.txt": requirements}


def _save_job(build: JobBuild, default_name: str, files: dict[str, bytes], extra_aliases: list[str], log):
    name = build.name or default_name
    log(f"Job name: {name}" + (" (explicit)" if build.name else " (default)"))
    return artifacts.artifact_build(
        project=build.project,
        name=name,
        type_name="job",
        files=files,
        metadata={"_partial": True},
        aliases=[*extra_aliases, *build.aliases],
        description=build.description,
        created_by=build.created_by,
    )


def _build_image(build: JobBuild, log):
    image = build.params["image"]
    log(f"Image job from {image}: nothing to clone or build")
    tag_alias = rules.image_tag_alias(image)
    if tag_alias:
        try:
            artifacts.validate_alias(tag_alias)
        except ValidationError:  # a tag such as v2 would name a version, and failed the whole build
            log(f"The image tag {tag_alias} looks like a version (v0, v1, ...), so it is not used as an alias")
            tag_alias = None
    source = {"image": image}
    return _save_job(
        build, rules.image_job_name(image), _job_files("image", source, "", b""), [tag_alias] if tag_alias else [], log
    )


def _runtime(build: JobBuild, files: dict[str, bytes], log) -> str:
    explicit = rules.clean_runtime(build.params.get("runtime"))
    if explicit:
        return explicit
    for path, first_line in (("runtime.txt", False), (".python-version", True)):
        if path in files:
            text = files[path].decode(errors="replace").strip()
            text = text.splitlines()[0] if first_line and text else text
            try:
                found = rules.clean_runtime(text)
            except ValidationError as exc:
                raise ValidationError(f"{path}: {exc.messages[0]}") from None
            if found:
                log(f"Python {found} (from {path})")
                return found
    log(
        f"Python {settings.LAUNCHUI_DEFAULT_PYTHON} (server default: no runtime given, no runtime.txt "
        "or .python-version)"
    )
    return settings.LAUNCHUI_DEFAULT_PYTHON


def _check_code(build: JobBuild, files: dict[str, bytes], log) -> tuple[list[str], bytes]:
    entrypoint = rules.validate_entry_point(build.params["entry_point"])
    script = rules.script_of(entrypoint)
    if script not in files:
        raise ValidationError(f"The entry point {script} is not in the code ({len(files)} files).")
    if "requirements.txt" not in files:
        raise ValidationError("requirements.txt is missing: the agent needs it to install the job's dependencies.")
    requirements = files["requirements.txt"]
    if "wandb" not in rules.requirement_names(requirements.decode(errors="replace")):
        log("WARNING wandb is not in requirements.txt: the job must call wandb.init to report its run.")
    return entrypoint, requirements


def _build_code(build: JobBuild, log):
    params = build.params
    if "archive_digest" in params:
        log(f"Unpacking {params['archive_name']}")
        files = sources.unpack_archive(params["archive_name"], storage.blob_read(params["archive_digest"]))
    else:
        files = {path: storage.blob_read(digest) for path, digest in params["files"].items()}
    log(f"{len(files)} files, {sum(map(len, files.values()))} bytes")
    entrypoint, requirements = _check_code(build, files, log)
    runtime = _runtime(build, files, log)
    script = rules.script_of(entrypoint)
    code_name = rules.code_artifact_name(params["source_name"], script)
    code, created = artifacts.artifact_build(
        project=build.project,
        name=code_name,
        type_name="code",
        files=files,
        metadata={"codePath": params["source_name"], "entrypoint": script},
        description="Code artifact for job",
        created_by=build.created_by,
    )
    log(f"Code artifact {code_name}:{code.version}" + ("" if created else " (unchanged)"))
    source = {"entrypoint": entrypoint, "notebook": False, "artifact": ids.artifact_uri(code.pk)}
    return _save_job(
        build, rules.code_job_name(code_name), _job_files("artifact", source, runtime, requirements), [], log
    )


def git_access(credential: GitCredential | None, log=lambda line: None) -> dict:
    """git_checkout's keyword arguments for a stored credential (decrypted here, in the worker)."""
    if credential is None:
        return {}
    secret = secrets.decrypt(credential.secret_encrypted)
    kwargs = {"credential": credential, "known_hosts": credential.known_hosts}
    if credential.kind == GitCredential.HTTPS:
        return {**kwargs, "username": credential.username, "password": secret}

    def on_host_key(text: str) -> None:
        if credential_record_host_key(credential_id=credential.pk, known_hosts=text):
            log(
                f"Recorded the SSH host key of {rules.known_hosts_alias(credential.host, credential.port or 22)} "
                f"for credential {credential.name}: {', '.join(rules.known_hosts_fingerprints(text))}"
            )

    return {**kwargs, "ssh_key": secret, "on_host_key": on_host_key}


def _build_git(build: JobBuild, log):
    params = build.params
    credential = build.git_credential
    if credential:
        log(f"Using {'HTTPS' if credential.kind == GitCredential.HTTPS else 'SSH'} credential {credential.name}")
    kwargs = git_access(credential, log)
    with sources.git_checkout(params["remote"], params["ref"], log=log, **kwargs) as (checkout, commit):
        log(f"Checked out {commit}")
        files = sources.read_tree(checkout)
    entrypoint, requirements = _check_code(build, files, log)
    runtime = _runtime(build, files, log)
    source = {"git": {"remote": params["remote"], "commit": commit}, "entrypoint": entrypoint, "notebook": False}
    return _save_job(
        build,
        rules.git_job_name(params["remote"], rules.script_of(entrypoint)),
        _job_files("repo", source, runtime, requirements),
        [],
        log,
    )
