"""The Jobs pages: create a job (code, image, git), follow its build, list jobs, read a job's versions and
files, and manage an entity's git credentials. Same shape as views.py: parse, authorise, call one service
or selector, render one template (htmx gets the named partial)."""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from launchui.accounts import selectors as account_selectors
from launchui.artifacts import services as artifact_services
from launchui.artifacts import storage
from launchui.core import ids
from launchui.jobs import rules, selectors, services, sources
from launchui.jobs.models import GitCredential, JobBuild
from launchui.launch import selectors as launch_selectors
from launchui.web import forms, jobs_forms
from launchui.web.common import AuthedRequest, admin_membership_for, clean_url, is_partial, membership_for

KINDS = dict(JobBuild.KINDS)
STATUS_LABELS = dict(JobBuild.STATUSES)
LIVE_STATUSES = (JobBuild.QUEUED, JobBuild.RUNNING)
SHOWN_BYTES = 256 * 1024  # wandb-job.json and requirements are read for display up to this size


def _status(build: JobBuild) -> dict:
    status, reason = selectors.build_status(build)
    return {
        "code": status,
        "label": STATUS_LABELS.get(status, status),
        "reason": reason,
        "live": status in LIVE_STATUSES,
    }


@dataclass(frozen=True)
class BuildRow:
    """A row of a job's Builds table: the build and how its status is shown (_status)."""

    build: JobBuild
    shown: dict


# --- create a job ---------------------------------------------------------------------------------


def _archive_stem(filename: str) -> str:
    lower = filename.lower()
    suffix = next((s for s in jobs_forms.ARCHIVE_SUFFIXES if lower.endswith(s)), "")
    return filename[: len(filename) - len(suffix)] if suffix else filename


def _folder_paths(paths_json: str, uploads: list) -> list[str]:
    """Each upload's path relative to the chosen folder's parent. Browsers send it as the file name, but
    Django keeps only the base name, so app.js copies the paths into a hidden field."""
    try:
        paths = json.loads(paths_json) if paths_json else None
    except ValueError:
        paths = None
    if paths is None:  # no JavaScript: a flat folder still works
        names = [f.name for f in uploads]
        if len(set(names)) != len(names):
            raise ValidationError("Your browser did not send the folder's paths: upload it as a .zip instead.")
        return names
    if (
        not isinstance(paths, list)
        or len(paths) != len(uploads)
        or any(not isinstance(p, str) or p.rsplit("/", 1)[-1] != f.name for p, f in zip(paths, uploads, strict=True))
    ):
        raise ValidationError(
            "The folder's file list did not arrive intact: choose the folder again, or upload a .zip."
        )
    return paths


def _code_upload(data: dict) -> dict:
    """build_create_code's keyword arguments for the uploaded folder or archive."""
    folder, archive = data.get("folder") or [], data.get("archive")
    limit = settings.LAUNCHUI_MAX_CODE_BYTES
    if folder and archive:
        raise ValidationError("Choose a folder or an archive, not both.")
    if archive is not None:
        # Read one byte past the limit: the service refuses what is larger, without reading it all.
        return {"archive": (archive.name, archive.read(limit + 1)), "source_name": _archive_stem(archive.name)}
    if not folder:
        return {}
    if sum(f.size for f in folder) > limit:
        raise ValidationError(f"The folder is larger than {filesizeformat(limit)}.")
    paths = [sources.safe_relative_path(p) for p in _folder_paths(data.get("paths", ""), folder)]
    tops = {p.split("/", 1)[0] for p in paths}
    top = tops.pop() if len(tops) == 1 and all("/" in p for p in paths) else ""
    files: dict[str, bytes] = {}
    for path, upload in zip(paths, folder, strict=True):
        relative = path.split("/", 1)[1] if top else path
        if set(PurePosixPath(relative).parts[:-1]) & sources.SKIPPED_DIRS:
            continue
        files[relative] = upload.read()
    return {"files": files, "source_name": top or "code"}


def _create_code(form, common: dict, credentials: dict) -> JobBuild:
    data = form.cleaned_data
    try:
        code, code_error = _code_upload(data), None
    except ValidationError as exc:
        code, code_error = {}, exc
    try:
        return services.build_create_code(
            entry_point=data["entry_point"], runtime=data["runtime"], **{"source_name": "", **code}, **common
        )
    except ValidationError as exc:
        if code_error is None:
            raise
        errors = exc.message_dict if hasattr(exc, "error_dict") else {}
        raise ValidationError({**errors, "code": code_error.messages}) from None


def _credential(form, credentials: dict) -> GitCredential | None:
    chosen = form.cleaned_data["credential"]
    return next((c for creds in credentials.values() for c in creds if str(c.pk) == chosen), None)


def _create_image(form, common: dict, credentials: dict) -> JobBuild:
    return services.build_create_image(image=form.cleaned_data["image"], **common)


def _create_git(form, common: dict, credentials: dict) -> JobBuild:
    data = form.cleaned_data
    return services.build_create_git(
        remote=data["remote"],
        ref=data["ref"],
        entry_point=data["entry_point"],
        runtime=data["runtime"],
        credential=_credential(form, credentials),
        **common,
    )


# Each job source: its form on the Create job page, and how a valid form becomes a build.
JOB_SOURCES: dict[str, tuple[type[jobs_forms.JobForm], Callable[[Any, dict, dict], JobBuild]]] = {
    JobBuild.CODE: (jobs_forms.CodeJobForm, _create_code),
    JobBuild.IMAGE: (jobs_forms.ImageJobForm, _create_image),
    JobBuild.GIT: (jobs_forms.GitJobForm, _create_git),
}


@login_required
@require_http_methods(["GET", "POST"])
def job_new(request: AuthedRequest, kind: str = "code") -> HttpResponse:
    if kind not in KINDS:
        raise Http404("Jobs are made from code, a Docker image or a git repository.")
    entities = [m.entity for m in account_selectors.memberships_for_user(request.user)]  # personal first
    kwargs: dict = {"entities": entities}
    credentials: dict = {}
    if kind == "git":
        credentials = {e.name: list(selectors.credentials_for_entity(e)) for e in entities}
        kwargs["credentials"] = credentials
    form_class, create = JOB_SOURCES[kind]
    if request.method == "POST":
        form = form_class(request.POST, request.FILES, **kwargs)
        if form.is_valid():
            data = form.cleaned_data
            common = {
                "entity": next(e for e in entities if e.name == data["entity"]),
                "project": data["project"],
                "name": data["name"],
                "description": data["description"],
                "aliases": data["aliases"],
                "created_by": request.user,
            }
            try:
                build = create(form, common, credentials)
            except ValidationError as exc:
                target = "archive" if kind == "code" and data.get("archive") else "folder"
                forms.add_service_errors(form, exc, aliases={"code": target})
            else:
                messages.success(request, "Build queued: the job version appears when it finishes.")
                return redirect("build", build_id=build.pk)
    else:
        entity = request.GET.get("entity", "")
        form = form_class(
            initial={
                "entity": entity if any(e.name == entity for e in entities) else entities[0].name,
                "project": request.GET.get("project", ""),
            },
            **kwargs,
        )
    query = clean_url("", {"entity": request.GET.get("entity", ""), "project": request.GET.get("project", "")})
    return render(
        request,
        "jobs/job_new.html",
        {"section": "jobs", "form": form, "kind": kind, "kinds": KINDS, "tab_query": query},
    )


# --- a build --------------------------------------------------------------------------------------


@login_required
@require_GET
@vary_on_headers("HX-Request")
def build(request: AuthedRequest, build_id: int) -> HttpResponse:
    found = selectors.builds_for_user(request.user).filter(pk=build_id).first()
    if found is None:
        raise Http404("No such build, or it belongs to an entity you are not a member of.")
    context = {"section": "jobs", "build": found, "status": _status(found)}
    return render(request, "jobs/build.html#build-live" if is_partial(request) else "jobs/build.html", context)


# --- jobs list ------------------------------------------------------------------------------------


def _job_rows(jobs) -> list:
    """Each job with its source type, the latest version's aliases and its last build's status."""
    jobs = list(jobs)
    for job in jobs:
        job.source_type = JobBuild.source_type_label(job.latest_source_type) or "—"
        job.latest_aliases = [a.alias for a in job.aliases.all() if a.artifact_id == job.latest_id]
        job.build = (
            _status(JobBuild(status=job.last_build_status, started_at=job.last_build_started_at))
            if job.last_build_status
            else None
        )
    return jobs


@login_required
@require_GET
@vary_on_headers("HX-Request")
def jobs(request: AuthedRequest, entity: str = "", project: str = "") -> HttpResponse:
    scoped = bool(project)
    if scoped and account_selectors.membership_for(request.user, entity) is None:
        raise Http404("No such entity, or you are not a member of it.")
    entities = [name for name, _ in account_selectors.entity_names_for_user(request.user)]
    form = jobs_forms.JobFilterForm(request.GET, entities=entities)
    form.is_valid()  # an unknown entity is dropped, not an error
    if not scoped:
        entity = form.cleaned_data.get("entity", "")
    page = Paginator(
        selectors.jobs_for_user(user=request.user, entity_name=entity, project_name=project),
        settings.LAUNCHUI_PAGE_SIZE,
    ).get_page(request.GET.get("page"))
    page.object_list = _job_rows(page.object_list)
    context = {"section": "jobs", "form": form, "page": page, "entity": entity, "project": project, "scoped": scoped}
    if is_partial(request):
        response = render(request, "jobs/jobs.html#job-table", context)
        if not scoped:
            response = push_url(
                response, clean_url(reverse("jobs"), {"entity": entity, "page": request.GET.get("page", "")})
            )
        return response
    return render(request, "jobs/jobs.html", context)


# --- a job ----------------------------------------------------------------------------------------


def _read_small(file) -> bytes | None:
    """A stored file's bytes when small enough to show, else None."""
    if file is None or (file.size or 0) > SHOWN_BYTES:
        return None
    try:
        with storage.blob_open(file.digest) as handle:
            content = handle.read(SHOWN_BYTES + 1)
    except (OSError, ValueError):
        return None
    return content if len(content) <= SHOWN_BYTES else None


def _spec(files: dict) -> dict:
    raw = _read_small(files.get(artifact_services.JOB_SPEC))
    try:
        spec = json.loads(raw) if raw is not None else {}
    except ValueError:
        spec = {}
    return spec if isinstance(spec, dict) else {}


def _code_artifact(user, reference: str):
    """The code artifact a code job points at (wandb-artifact://_id/<global id>), if the user may see it."""
    try:
        pk = ids.artifact_pk_from_uri(reference)
    except ids.InvalidId:  # a malformed id in an uploaded wandb-job.json: show the raw reference
        return None
    if pk is None:
        return None
    return selectors.artifact_for_user(user=user, artifact_id=pk)


def _pick_version(versions: list, wanted: str):
    if not wanted:
        return versions[0]
    match = re.fullmatch(r"v(\d+)", wanted)
    for version in versions:
        if match and version.version_index == int(match.group(1)):
            return version
        if not match and any(a.alias == wanted for a in version.aliases.all()):
            return version
    raise Http404(f"This job has no version or alias {wanted}.")


@login_required
@require_http_methods(["GET", "POST"])
def job_detail(request: AuthedRequest, entity: str, project: str, name: str) -> HttpResponse:
    """A job's versions and files. POST (members, the rule the wire's alias edits use): add or move an
    alias, remove one, or edit the job's description; errors beside the fields."""
    job = selectors.jobs_for_user(user=request.user, entity_name=entity, project_name=project).filter(name=name).first()
    if job is None:
        raise Http404("No such job, or it belongs to an entity you are not a member of.")
    versions = list(selectors.job_versions(job))
    version = _pick_version(versions, request.GET.get("version", ""))
    alias_form = jobs_forms.JobAliasForm(versions=versions, initial={"version": version.version})
    description_form = jobs_forms.JobDescriptionForm(initial={"description": job.description})
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "alias-add":
                alias_form = jobs_forms.JobAliasForm(request.POST, versions=versions)
                if alias_form.is_valid():
                    alias, target = alias_form.cleaned_data["alias"], alias_form.cleaned_data["version"]
                    found = next(v for v in versions if v.version == target)
                    artifact_services.aliases_edit(user=request.user, artifact_id=found.pk, add=[alias], remove=[])
                    messages.success(request, f"{job.name}:{alias} now names {target}.")
                    return redirect(_job_url(job, version))
            elif action == "alias-remove":
                alias = request.POST.get("alias", "")
                holder = next((v for v in versions if any(a.alias == alias for a in v.aliases.all())), None)
                if holder is None:
                    raise Http404(f"This job has no alias {alias}.")
                artifact_services.aliases_edit(user=request.user, artifact_id=holder.pk, add=[], remove=[alias])
                messages.success(request, f"Alias {alias} removed from {holder.version}.")
                return redirect(_job_url(job, version))
            elif action == "description":
                description_form = jobs_forms.JobDescriptionForm(request.POST)
                if description_form.is_valid():
                    text = description_form.cleaned_data["description"]
                    artifact_services.collection_description_set(
                        user=request.user, collection_id=job.pk, description=text
                    )
                    messages.success(request, "Description saved.")
                    return redirect(_job_url(job, version))
            else:
                raise Http404("Unknown action.")
        except ValidationError as exc:
            form = alias_form if action == "alias-add" else description_form
            if action == "alias-remove":
                messages.error(request, " ".join(exc.messages))
                return redirect(_job_url(job, version))
            form.add_error("alias" if action == "alias-add" else "description", exc.messages)
    files = list(version.files.all())
    by_name = {f.name: f for f in files}
    spec = _spec(by_name)
    source = spec.get("source")
    if not isinstance(source, dict):
        source = {}
    code = _code_artifact(request.user, str(source.get("artifact") or "")) if source.get("artifact") else None
    requirements = _read_small(by_name.get("requirements.frozen.txt"))
    entrypoint = source.get("entrypoint")
    builds = [BuildRow(b, _status(b)) for b in selectors.builds_for_job(user=request.user, job=job)[:20]]
    runs, metrics, metric = _job_runs(request, job)
    context = {
        "section": "jobs",
        "job": job,
        "versions": versions,
        "version": version,
        "files": files,
        "spec": spec,
        "source": source,
        "source_type": JobBuild.source_type_label(str(spec.get("source_type") or "")),
        "git": source.get("git") if isinstance(source.get("git"), dict) else None,
        "code": code,
        "code_files": list(code.files.all()) if code else [],
        "entrypoint": " ".join(map(str, entrypoint)) if isinstance(entrypoint, list) else entrypoint,
        "requirements": requirements.decode(errors="replace") if requirements is not None else None,
        "builds": builds,
        "runs": runs,
        "metrics": metrics,
        "metric": metric,
        "input_types": rules.input_type_rows((version.metadata or {}).get("input_types") or spec.get("input_types")),
        "alias_form": alias_form,
        "description_form": description_form,
        "user_aliases": [(a.alias, v.version) for v in versions for a in v.aliases.all() if a.alias != "latest"],
    }
    return render(request, "jobs/job.html", context)


def _job_runs(request: AuthedRequest, job) -> tuple[list, list[str], str]:
    """The job's runs, the summary keys they hold, and the one the user picked (?metric=) to show."""
    path = f"{job.project.entity.name}/{job.project.name}/{job.name}"
    runs = launch_selectors.job_runs(user=request.user, job_path=path)
    metrics = sorted({k for r in runs for k in r.summary if isinstance(k, str) and not k.startswith("_")})
    metric = request.GET.get("metric", "")
    return runs, metrics, metric if metric in metrics else (metrics[0] if metrics else "")


def _job_url(job, version) -> str:
    url = reverse("job", args=[job.project.entity.name, job.project.name, job.name])
    return f"{url}?version={version.version}"


@login_required
@require_GET
def artifact_file(request: AuthedRequest, artifact_id: int, name: str) -> FileResponse:
    """One file of an artifact, streamed to members of its entity; no signed URL leaves the server."""
    found = selectors.artifact_file_for_user(user=request.user, artifact_id=artifact_id, name=name)
    if found is None or not storage.blob_exists(found.digest):
        raise Http404("No such file, or it belongs to an entity you are not a member of.")
    return FileResponse(
        storage.blob_open(found.digest),
        as_attachment=True,
        filename=name.rsplit("/", 1)[-1] or "file",
        content_type="application/octet-stream",
    )


# --- git credentials ------------------------------------------------------------------------------

CREDENTIALS_ADMIN_ONLY = "Only admins of an entity add or delete its git credentials."


@login_required
@require_http_methods(["GET", "POST"])
def git_credentials(request: AuthedRequest, name: str) -> HttpResponse:
    mine = (
        admin_membership_for(request, name, CREDENTIALS_ADMIN_ONLY)
        if request.method == "POST"
        else membership_for(request, name)
    )
    form = jobs_forms.GitCredentialForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            credential = services.credential_create(
                entity=mine.entity,
                name=data["name"],
                kind=data["kind"],
                username=data["username"],
                secret=form.secret,
                host=data["host"],
                port=data["port"],
                path_prefix=data["path_prefix"],
                known_hosts=data["known_hosts"],
                created_by=request.user,
            )
        except ValidationError as exc:
            secret_field = "private_key" if data["kind"] == GitCredential.SSH else "password"
            forms.add_service_errors(form, exc, aliases={"secret": secret_field})
        else:
            messages.success(request, f"Credential {credential.name} saved. Choose it when you create a git job.")
            return redirect("git_credentials", name=name)
    response = render(
        request,
        "jobs/git_credentials.html",
        {
            "section": "entities",
            "entity": mine.entity,
            "mine": mine,
            "form": form,
            "credentials": selectors.credentials_for_entity(mine.entity),
        },
    )
    if request.method == "POST":
        add_never_cache_headers(response)
    return response


@login_required
@require_POST
def git_credential_delete(request: AuthedRequest, name: str, credential_id: int) -> HttpResponse:
    mine = admin_membership_for(request, name, CREDENTIALS_ADMIN_ONLY)
    credential = selectors.credentials_for_entity(mine.entity).filter(pk=credential_id).first()
    if credential is None:
        raise Http404("No such credential.")
    services.credential_delete(credential=credential)
    messages.success(request, f"Credential {credential.name} deleted. Builds already queued with it run without it.")
    return redirect("git_credentials", name=name)


@login_required
@require_http_methods(["GET", "POST"])
def git_credential_bind(request: AuthedRequest, name: str, credential_id: int) -> HttpResponse:
    mine = admin_membership_for(request, name, CREDENTIALS_ADMIN_ONLY)
    credential = selectors.credentials_for_entity(mine.entity).filter(pk=credential_id).first()
    if credential is None:
        raise Http404("No such credential.")
    form = jobs_forms.GitCredentialBindForm(
        request.POST or None,
        initial={
            "host": credential.host,
            "port": credential.port,
            "path_prefix": credential.path_prefix,
            "known_hosts": credential.known_hosts,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.credential_bind(credential=credential, **form.cleaned_data)
        except ValidationError as exc:
            forms.add_service_errors(form, exc)
        else:
            messages.success(request, f"Credential {credential.name} is for {credential.host} now.")
            return redirect("git_credentials", name=name)
    return render(
        request,
        "jobs/git_credential_bind.html",
        {"section": "entities", "entity": mine.entity, "credential": credential, "form": form},
    )
