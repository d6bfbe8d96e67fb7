"""The artifact protocol of `wandb job create` (upload) and of the agent fetching a job (download)."""

import json

from django.core.exceptions import ValidationError

from launchui.artifacts import selectors, services, storage
from launchui.artifacts.models import Artifact, ArtifactCollection
from launchui.core import limits
from launchui.projects.models import Project, Run
from launchui.projects.services import DEFAULT_PROJECT, project_get_or_create
from launchui.wire import ids
from launchui.wire.graphql import Context, WireError, mutation, query
from launchui.wire.ops import common


def project_info(project: Project) -> dict:
    return {
        "__typename": "Project",
        "id": ids.encode("Project", project.pk),
        "internalId": str(project.pk),
        "name": project.name,
        "entityName": project.entity.name,
        "entity": {"id": ids.encode("Entity", project.entity_id), "name": project.entity.name},
    }


def collection_info(collection: ArtifactCollection) -> dict:
    return {
        "__typename": "ArtifactSequence",
        "id": ids.encode("ArtifactSequence", collection.pk),
        "name": collection.name,
        "description": collection.description,
        "project": project_info(collection.project),
    }


def artifact_data(ctx: Context, artifact: Artifact) -> dict:
    collection = artifact.collection

    def aliases(**_):
        return [
            {
                "__typename": "ArtifactAlias",
                "id": ids.encode("ArtifactAlias", a.pk),
                "alias": a.alias,
                "artifactCollectionName": collection.name,
                "artifactCollection": collection_info(collection),
            }
            for a in artifact.aliases.all()
        ]

    def latest(**_):
        top = collection.versions.filter(state=Artifact.COMMITTED).order_by("-version_index").first()
        return {"id": ids.encode("Artifact", top.pk), "versionIndex": top.version_index} if top else None

    def manifest(**_):
        if not artifact.manifest_digest:
            return None
        return {
            "id": ids.encode("ArtifactManifest", artifact.pk),
            "file": {
                "id": ids.encode("File", artifact.pk),
                "name": services.MANIFEST_NAME,
                "directUrl": storage.download_url(
                    ctx.base_url,
                    digest=artifact.manifest_digest,
                    name=services.MANIFEST_NAME,
                    user_id=ctx.user.pk,
                    entity_id=collection.project.entity_id,
                ),
            },
        }

    sequence = {**collection_info(collection), "latestArtifact": latest}
    return {
        "__typename": "Artifact",
        "id": ids.encode("Artifact", artifact.pk),
        "artifactSequence": sequence,
        "versionIndex": artifact.version_index,
        "artifactType": {"name": collection.type_name},
        "digestAlgorithm": artifact.digest_algorithm,
        "description": artifact.description or None,
        "metadata": json.dumps(artifact.metadata),
        "ttlDurationSeconds": -1,
        "ttlIsInherited": True,
        "tags": [],
        "historyStep": None,
        "state": artifact.state,
        # A listed version carries these counted in its page's query (artifacts.selectors.committed_versions).
        "size": lambda **_: (
            artifact.listed_size or 0
            if hasattr(artifact, "listed_size")
            else sum(f.size or 0 for f in artifact.files.all())
        ),
        "digest": artifact.digest,
        "commitHash": artifact.digest[:12],
        "fileCount": lambda **_: (
            artifact.listed_file_count if hasattr(artifact, "listed_file_count") else artifact.files.count()
        ),
        "createdAt": common.iso(artifact.created_at),
        "updatedAt": common.iso(artifact.committed_at),
        "aliases": aliases,
        "currentManifest": manifest,
        "usedBy": lambda **_: {
            "edges": [{"node": run_info(run)} for run in selectors.artifact_users(artifact, user=ctx.user)]
        },
        "createdBy": lambda **_: _creator(ctx, artifact),
    }


def _creator(ctx: Context, artifact: Artifact) -> dict | None:
    run = selectors.artifact_creator(artifact, user=ctx.user)
    return run_info(run) if run is not None else None


def _visible_artifact(ctx: Context, artifact_id) -> Artifact:
    artifact = (
        Artifact.objects.select_related("collection__project__entity")
        .filter(pk=ids.decode(artifact_id, "Artifact"), collection__project__entity__memberships__user=ctx.user)
        .first()
    )
    if artifact is None:
        raise WireError("Artifact not found.")
    return artifact


def membership_data(ctx: Context, artifact: Artifact) -> dict:
    collection = artifact.collection
    data = artifact_data(ctx, artifact)
    return {
        "__typename": "ArtifactCollectionMembership",
        "id": ids.encode("ArtifactCollectionMembership", artifact.pk),
        "versionIndex": artifact.version_index,
        "createdAt": data["createdAt"],
        "aliases": data["aliases"],
        "artifactCollection": collection_info(collection),
        "artifact": data,
        "files": lambda after=None, first=None, **_: files_page(ctx, artifact, after, first),
    }


def files_page(ctx: Context, artifact: Artifact, after, first) -> dict:
    start = common.offset_cursor(after)
    size = max(1, min(int(first or 5000), 10000))
    rows = list(artifact.files.order_by("name")[start : start + size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return {
        "pageInfo": {
            "__typename": "PageInfo",
            "endCursor": str(start + len(rows)) if rows else None,
            "hasNextPage": more,
        },
        "edges": [
            {
                "node": {
                    "__typename": "File",
                    "id": ids.encode("File", f.pk),
                    "name": f.name,
                    "digest": f.digest,
                    "md5": f.digest,
                    "sizeBytes": f.size,
                    # A reference is fetched by the client from where it points.
                    "directUrl": f.ref
                    or storage.download_url(
                        ctx.base_url,
                        digest=f.digest,
                        name=f.name,
                        user_id=ctx.user.pk,
                        entity_id=artifact.collection.project.entity_id,
                    ),
                }
            }
            for f in rows
        ],
    }


def project_artifact_fields(ctx: Context, project: Project | None) -> dict:
    """The artifact fields of `project(...)`."""

    def by_name(name=None, **_):
        if project is None or not name:
            return None
        artifact = services.resolve(project=project, name=name)
        return artifact_data(ctx, artifact) if artifact else None

    def membership(name=None, **_):
        if project is None or not name:
            return None
        artifact = services.resolve(project=project, name=name)
        return membership_data(ctx, artifact) if artifact else None

    def collection(name=None, **_):
        found = selectors.collections(project).filter(name=name).first() if project and name else None
        return collection_data(ctx, found) if found else None

    def types(after=None, first=None, **_):
        return artifact_types_page(ctx, project, after, first)

    def one_type(name=None, **_):
        found = selectors.artifact_type(project, name) if project is not None and isinstance(name, str) else None
        return artifact_type_data(ctx, project, found) if found else None

    def collections(after=None, first=None, filters=None, order=None, **_):
        _no_collection_filters(filters, order)
        return collections_page(ctx, project, None, after, first)

    return {
        "artifact": by_name,
        "artifactCollectionMembership": membership,
        "artifactCollection": collection,
        "artifactSequence": collection,
        "artifactTypes": types,
        "artifactType": one_type,
        "artifactCollections": collections,
    }


def _page_info(start: int, count: int, more: bool) -> dict:
    return {
        "__typename": "PageInfo",
        "endCursor": str(start + count) if count else None,
        "hasNextPage": more,
    }


def artifact_types_page(ctx: Context, project: Project | None, after, first) -> dict:
    if project is None:
        return {"edges": [], "pageInfo": _page_info(0, 0, False)}
    start = common.offset_cursor(after)
    rows, more = selectors.artifact_types(project, start=start, first=first)
    return {
        "edges": [{"node": artifact_type_data(ctx, project, r)} for r in rows],
        "pageInfo": _page_info(start, len(rows), more),
    }


def artifact_type_data(ctx: Context, project: Project, found: dict) -> dict:
    type_name = found["name"]

    def collections_of_type(after=None, first=None, filters=None, order=None, **_):
        _no_collection_filters(filters, order)
        return collections_page(ctx, project, type_name, after, first)

    def one_collection(name=None, **_):
        found = selectors.collections(project, type_name=type_name).filter(name=name).first() if name else None
        return collection_data(ctx, found) if found else None

    return {
        "__typename": "ArtifactType",
        "id": ids.encode("ArtifactType", found["id"]),
        "name": type_name,
        "description": None,
        "createdAt": common.iso(found["created_at"]),
        "artifactCollections": collections_of_type,
        "artifactSequences": collections_of_type,
        "artifactCollection": one_collection,
        "artifactSequence": one_collection,
    }


def _no_collection_filters(filters, order) -> None:
    """launchui lists collections by name only: a filter or an order is refused by name, never ignored (the
    client sends none, since serverInfo advertises no ARTIFACT_COLLECTIONS_FILTERING_SORTING)."""
    if filters not in (None, "", "{}", {}) or order not in (None, ""):
        raise WireError("launchui does not filter or order artifact collections (filters and order are unsupported).")


# A version listing's order: by version number, which is also creation order. Ascending comes as "+versionIndex".
VERSION_ORDERS = {
    **{f"-{key}": True for key in ("createdAt", "versionIndex")},
    **{f"{sign}{key}": False for key in ("createdAt", "versionIndex") for sign in ("", "+")},
}


def _version_listing(filters, order) -> bool:
    """Checks a version listing's filters and order (api.artifacts sends {"state": "COMMITTED"}); returns
    whether it is newest first. Anything else is refused by name, never ignored."""
    parsed = common.json_input(filters, "filters")
    if parsed not in (None, {}, {"state": "COMMITTED"}):
        raise WireError(
            f'launchui filters artifact versions only by {{"state": "COMMITTED"}}; unsupported filters: '
            f"{json.dumps(parsed)[:200]}."
        )
    if order in (None, ""):
        return True
    if order not in VERSION_ORDERS:
        raise WireError(
            f"launchui orders artifact versions by {', '.join(VERSION_ORDERS)}; "
            f"unsupported order: {str(order)[:100]!r}."
        )
    return VERSION_ORDERS[order]


def collections_page(ctx: Context, project: Project | None, type_name: str | None, after, first) -> dict:
    if project is None:
        return {"totalCount": 0, "edges": [], "pageInfo": _page_info(0, 0, False)}
    start = common.offset_cursor(after)
    if first is None and after is None:
        # `wandb job list` asks for every job and all its versions in one request, with no page arguments:
        # a page of each, loaded together.
        rows = selectors.collections_with_versions(project, type_name=type_name)
        more = len(rows) >= limits.GRAPHQL_MAX_LIST_PAGE
    else:
        rows, more = selectors.collections_page(project, type_name=type_name, start=start, first=first)
    return {
        "totalCount": lambda **_: selectors.collections(project, type_name=type_name).count(),
        "edges": [{"node": collection_data(ctx, c)} for c in rows],
        "pageInfo": _page_info(start, len(rows), more),
    }


def collection_data(ctx: Context, collection: ArtifactCollection) -> dict:
    def versions(after=None, first=None, filters=None, order=None, **_):
        newest_first = _version_listing(filters, order)
        if hasattr(collection, "listed_versions") and newest_first:  # loaded with the page (collections_with_versions)
            rows, start = collection.listed_versions, 0
            more = len(rows) >= limits.GRAPHQL_MAX_LIST_PAGE
        else:
            start = common.offset_cursor(after)
            rows, more = selectors.versions_page(collection, start=start, first=first, newest_first=newest_first)
        return {
            "totalCount": lambda **_: selectors.committed_count(collection),
            "pageInfo": _page_info(start, len(rows), more),
            "edges": [
                {"version": a.version, "cursor": str(start + i + 1), "node": artifact_data(ctx, a)}
                for i, a in enumerate(rows)
            ],
        }

    return {
        **collection_info(collection),
        "__typename": "ArtifactSequence",
        "createdAt": common.iso(collection.created_at),
        "updatedAt": None,
        "defaultArtifactType": {"name": collection.type_name},
        "tags": {"edges": []},
        "artifacts": versions,
        "aliases": lambda after=None, first=None, **_: collection_aliases_page(collection, after, first),
        "artifactMembership": lambda aliasName=None, **_: _membership_by_alias(ctx, collection, aliasName),
    }


def _membership_by_alias(ctx: Context, collection: ArtifactCollection, alias) -> dict | None:
    artifact = services.resolve(project=collection.project, name=f"{collection.name}:{alias or 'latest'}")
    return membership_data(ctx, artifact) if artifact else None


@query("artifact")
def artifact(ctx: Context, id=None, **_):
    return artifact_data(ctx, _visible_artifact(ctx, id))


@mutation("createArtifact")
def create_artifact(ctx: Context, input: dict):
    entity = common.entity(ctx, input.get("entityName"))
    names = [n for n in [input.get("artifactCollectionName"), *(input.get("artifactCollectionNames") or [])] if n]
    if not names:
        raise WireError("createArtifact needs an artifact collection name.")
    metadata = common.json_input(input.get("metadata"), "metadata")
    aliases = [a["alias"] for a in input.get("aliases") or [] if isinstance(a, dict) and a.get("alias")]
    try:
        project = project_get_or_create(entity=entity, name=input.get("projectName") or DEFAULT_PROJECT)
        run = Run.objects.filter(project=project, name=input.get("runName")).first() if input.get("runName") else None
        artifact = services.artifact_create(
            project=project,
            collection_name=names[0],
            type_name=input.get("artifactTypeName") or "",
            digest=input.get("digest") or "",
            digest_algorithm=input.get("digestAlgorithm") or "MANIFEST_MD5",
            client_id=input.get("clientID"),
            sequence_client_id=input.get("sequenceClientID") or "",
            metadata=metadata if isinstance(metadata, dict) else None,
            description=input.get("description") or "",
            aliases=aliases,
            run=run,
            created_by=ctx.user,
            deduplicate=input.get("enableDigestDeduplication") is not False,
        )
    except ValidationError as exc:
        raise common.wire_error(exc) from None
    artifact = Artifact.objects.select_related("collection__project__entity").get(pk=artifact.pk)
    return {"artifact": artifact_data(ctx, artifact)}


@mutation("createArtifactManifest")
def create_artifact_manifest(ctx: Context, input: dict):
    artifact = _visible_artifact(ctx, input.get("artifactID"))
    digest = input.get("digest") or ""
    file = {"id": ids.encode("File", artifact.pk), "uploadHeaders": []}
    if digest:
        try:
            storage.digest_hex(digest)
        except ValueError as exc:
            raise common.wire_error(exc) from None
        file["uploadUrl"] = storage.upload_url(
            ctx.base_url, artifact_id=artifact.pk, digest=digest, name=services.MANIFEST_NAME
        )
    return {"artifactManifest": {"id": ids.encode("ArtifactManifest", artifact.pk), "file": file}}


@mutation("createArtifactFiles")
def create_artifact_files(ctx: Context, input: dict):
    by_artifact: dict[str, list[dict]] = {}
    for entry in input.get("artifactFiles") or []:
        by_artifact.setdefault(entry.get("artifactID"), []).append(entry)
    edges: list[dict] = []
    for artifact_id, entries in by_artifact.items():
        artifact = _visible_artifact(ctx, artifact_id)
        try:
            registered = services.files_register(artifact=artifact, files=entries)
        except (ValidationError, ValueError) as exc:
            raise common.wire_error(exc) from None
        for row, stored in registered:
            edges.append(
                {
                    "node": {
                        "id": ids.encode("File", row.pk),
                        "name": row.name,
                        "storagePath": f"wandb_artifacts/{row.digest}",
                        # None tells the client the bytes are already here.
                        "uploadUrl": None
                        if stored
                        else storage.upload_url(
                            ctx.base_url, artifact_id=artifact.pk, digest=row.digest, name=row.name
                        ),
                        "uploadHeaders": [],
                        "uploadMultipartUrls": None,
                        "artifact": {"id": ids.encode("Artifact", artifact.pk)},
                    }
                }
            )
    return {"files": {"edges": edges}}


@mutation("commitArtifact")
def commit_artifact(ctx: Context, input: dict):
    artifact = _visible_artifact(ctx, input.get("artifactID"))
    try:
        artifact = services.artifact_commit(artifact=artifact)
    except ValidationError as exc:
        raise common.wire_error(exc) from None
    return {"artifact": {"id": ids.encode("Artifact", artifact.pk), "digest": artifact.digest}}


@mutation("useArtifact")
def use_artifact(ctx: Context, input: dict):
    """A run declares an input artifact (a launched job's run uses its job this way); the use is kept for
    artifact.used_by() and run.used_artifacts() when the run is one the key may write."""
    artifact = _visible_artifact(ctx, input.get("artifactID"))
    names = [input.get(k) for k in ("entityName", "projectName", "runName")]
    if all(isinstance(n, str) and n for n in names):
        run = Run.objects.filter(
            project__entity__name=names[0],
            project__name=names[1],
            name=names[2],
            project__entity__memberships__user=ctx.user,
        ).first()
        if run is not None:
            services.artifact_use(artifact=artifact, run=run)
    return {"artifact": artifact_data(ctx, artifact)}


def run_info(run: Run) -> dict:
    """A run as W&B's RunInfoFragment names it (artifact.usedBy / createdBy)."""
    project = run.project
    return {
        "__typename": "Run",
        "id": ids.encode("Run", run.pk),
        "name": run.name,
        "project": {
            "id": ids.encode("Project", project.pk),
            "internalId": str(project.pk),
            "name": project.name,
            "entity": {"id": ids.encode("Entity", project.entity_id), "name": project.entity.name},
        },
    }


def run_artifacts(ctx: Context, run: Run, *, used: bool, after=None, first=None) -> dict | None:
    """run.outputArtifacts (logged) / run.inputArtifacts (used), a page as the client reads it."""
    if ctx is None:
        return None
    start = common.offset_cursor(after)
    rows, more, everything = selectors.run_artifacts_page(run, used=used, user=ctx.user, start=start, first=first)
    return {
        "totalCount": lambda **_: everything.count(),
        "pageInfo": _page_info(start, len(rows), more),
        "edges": [{"cursor": str(start + i + 1), "node": artifact_data(ctx, a)} for i, a in enumerate(rows)],
    }


def collection_aliases_page(collection: ArtifactCollection, after, first) -> dict:
    start = common.offset_cursor(after)
    rows, more = selectors.aliases_page(collection, start=start, first=first)
    return {
        "pageInfo": _page_info(start, len(rows), more),
        "edges": [
            {"node": {"__typename": "ArtifactAlias", "id": ids.encode("ArtifactAlias", a.pk), "alias": a.alias}}
            for a in rows
        ],
    }


@query("artifactCollection")
def artifact_collection(ctx: Context, id=None, **_):
    """A collection by id (ArtifactCollection.aliases in the public API); only for members of its entity."""
    found = selectors.collection_for_user(ctx.user, ids.decode(id, "ArtifactSequence"))
    return collection_data(ctx, found) if found else None


def _alias_names(input: dict) -> list[str]:
    return [a.get("alias") or "" for a in input.get("aliases") or [] if isinstance(a, dict)]


def _edit_aliases(ctx: Context, input: dict, *, add: bool) -> dict:
    """addAliases / deleteAliases: the client names the collection in each alias; the version is artifactID."""
    names = _alias_names(input)
    try:
        services.aliases_edit(
            user=ctx.user,
            artifact_id=ids.decode(input.get("artifactID"), "Artifact"),
            add=names if add else [],
            remove=[] if add else names,
        )
    except (ValidationError, ValueError) as exc:
        raise common.wire_error(exc) from None
    return {"success": True}


@mutation("addAliases")
def add_aliases(ctx: Context, input: dict):
    return _edit_aliases(ctx, input, add=True)


@mutation("deleteAliases")
def delete_aliases(ctx: Context, input: dict):
    return _edit_aliases(ctx, input, add=False)


@mutation("updateArtifact")
def update_artifact(ctx: Context, input: dict):
    """`artifact.save()`: description and metadata (TTL and tags are not kept by launchui)."""
    metadata = common.json_input(input.get("metadata"), "metadata") if "metadata" in input else None
    if metadata is not None and not isinstance(metadata, dict):
        raise WireError("metadata must be an object.")
    description = input.get("description")
    try:
        artifact = services.artifact_update(
            user=ctx.user,
            artifact_id=ids.decode(input.get("artifactID"), "Artifact"),
            description=description if isinstance(description, str) else None,
            metadata=metadata,
        )
    except (ValidationError, ValueError) as exc:
        raise common.wire_error(exc) from None
    return {"artifact": artifact_data(ctx, artifact)}
