"""Reads for artifacts: types, collections and versions of a project, each page in a fixed number of queries.
The caller has already scoped the project to the user (the wire's `project(...)` goes through membership)."""

from django.db.models import Count, Min, Prefetch, QuerySet, Sum

from launchui.artifacts.models import Artifact, ArtifactAlias, ArtifactCollection, ArtifactUse
from launchui.core import limits
from launchui.projects.models import Project, Run


def page_bounds(start: int, first) -> tuple[int, int]:
    """(offset, size): `first` clamped to the list cap, so that no page is unbounded."""
    try:
        size = int(first) if first is not None else limits.GRAPHQL_MAX_LIST_PAGE
    except (TypeError, ValueError):
        size = limits.GRAPHQL_MAX_LIST_PAGE
    return max(0, start), max(1, min(size, limits.GRAPHQL_MAX_LIST_PAGE))


def artifact_types(project: Project, *, start: int = 0, first=None) -> tuple[list[dict], bool]:
    """The project's artifact types (those its collections use), by name: ({name, created_at}, more). 1 query."""
    start, size = page_bounds(start, first)
    rows = list(
        ArtifactCollection.objects.filter(project=project)
        .values("type_name")
        .annotate(created_at=Min("created_at"), first_id=Min("id"))
        .order_by("type_name")[start : start + size + 1]
    )
    types = [{"name": r["type_name"], "created_at": r["created_at"], "id": r["first_id"]} for r in rows[:size]]
    return types, len(rows) > size


def artifact_type(project: Project, type_name: str) -> dict | None:
    """One type as artifact_types lists it (its id is its first collection's), or None. 1 query."""
    found = (
        ArtifactCollection.objects.filter(project=project, type_name=type_name)
        .values("type_name")
        .annotate(created_at=Min("created_at"), first_id=Min("id"))
        .order_by("type_name")
        .first()
    )
    return {"name": type_name, "created_at": found["created_at"], "id": found["first_id"]} if found else None


def collections(project: Project, *, type_name: str | None = None) -> QuerySet[ArtifactCollection]:
    found = ArtifactCollection.objects.filter(project=project).select_related("project__entity").order_by("name")
    return found.filter(type_name=type_name) if type_name is not None else found


def collections_page(
    project: Project, *, type_name: str | None = None, start: int = 0, first=None
) -> tuple[list[ArtifactCollection], bool]:
    """A page of collections and whether there are more. 1 query."""
    start, size = page_bounds(start, first)
    rows = list(collections(project, type_name=type_name)[start : start + size + 1])
    return rows[:size], len(rows) > size


def committed_versions(collection: ArtifactCollection) -> QuerySet[Artifact]:
    """Committed versions, newest first, with their aliases, file count and size, for listing."""
    return (
        Artifact.objects.filter(collection=collection, state=Artifact.COMMITTED)
        .select_related("collection__project__entity")
        .annotate(listed_file_count=Count("files"), listed_size=Sum("files__size"))
        .prefetch_related(Prefetch("aliases", queryset=ArtifactAlias.objects.order_by("alias")))
        .order_by("-version_index")
    )


def versions_page(
    collection: ArtifactCollection, *, start: int = 0, first=None, newest_first: bool = True
) -> tuple[list[Artifact], bool]:
    """A page of a collection's committed versions (newest first, or oldest) and whether there are more.
    2 queries."""
    start, size = page_bounds(start, first)
    versions = committed_versions(collection)
    if not newest_first:
        versions = versions.order_by("version_index")
    rows = list(versions[start : start + size + 1])
    return rows[:size], len(rows) > size


def committed_count(collection: ArtifactCollection) -> int:
    return Artifact.objects.filter(collection=collection, state=Artifact.COMMITTED).count()


def collections_with_versions(project: Project, *, type_name: str | None, first=None) -> list[ArtifactCollection]:
    """Collections (of one type) with their committed versions, newest first, and aliases, as `wandb job list`
    asks for them in one request without page arguments: at most a page of collections, each with at most
    a page of versions. 3 queries."""
    _, size = page_bounds(0, first)
    versions = (
        # The prefetch sets each version's collection to the row above: no join needed.
        Artifact.objects.filter(state=Artifact.COMMITTED)
        .prefetch_related(Prefetch("aliases", queryset=ArtifactAlias.objects.order_by("alias")))
        .order_by("-version_index")
    )
    # A sliced prefetch is cut per collection in SQL (a window function), not after loading every version.
    return list(
        collections(project, type_name=type_name).prefetch_related(
            Prefetch("versions", queryset=versions[:size], to_attr="listed_versions")
        )[:size]
    )


def collection_for_user(user, collection_id: int) -> ArtifactCollection | None:
    """A collection by id, if the user is a member of its entity (else None, as for a missing one). 1 query."""
    return (
        ArtifactCollection.objects.select_related("project__entity")
        .filter(pk=collection_id, project__entity__memberships__user=user)
        .first()
    )


def aliases_page(collection: ArtifactCollection, *, start: int = 0, first=None) -> tuple[list[ArtifactAlias], bool]:
    """A page of the collection's aliases by name, and whether there are more. 1 query."""
    start, size = page_bounds(start, first)
    rows = list(ArtifactAlias.objects.filter(collection=collection).order_by("alias")[start : start + size + 1])
    return rows[:size], len(rows) > size


def _listed(artifacts: QuerySet[Artifact]) -> QuerySet[Artifact]:
    return (
        artifacts.select_related("collection__project__entity")
        .annotate(listed_file_count=Count("files"), listed_size=Sum("files__size"))
        .prefetch_related(Prefetch("aliases", queryset=ArtifactAlias.objects.order_by("alias")))
    )


def run_artifacts_page(
    run: Run, *, used: bool, user, start: int = 0, first=None
) -> tuple[list[Artifact], bool, QuerySet[Artifact]]:
    """A page of the versions a run logged (used=False: W&B's outputArtifacts, those it created) or used
    (inputArtifacts, its useArtifact calls), in the order they happened, limited to entities `user` is a
    member of; with whether there are more, and the whole set (for totalCount). 2 queries."""
    start, size = page_bounds(start, first)
    if used:
        artifacts = Artifact.objects.filter(uses__run=run).order_by("uses__used_at", "uses__id")
    else:
        artifacts = Artifact.objects.filter(run=run, state=Artifact.COMMITTED).order_by("created_at", "id")
    artifacts = artifacts.filter(collection__project__entity__memberships__user=user)
    rows = list(_listed(artifacts)[start : start + size + 1])
    return rows[:size], len(rows) > size, artifacts


def artifact_users(artifact: Artifact, *, user) -> list[Run]:
    """The runs that used this version, first users first, at most a page, only those in entities `user`
    is a member of (a run elsewhere is not theirs to see). 1 query."""
    return list(
        Run.objects.filter(
            pk__in=ArtifactUse.objects.filter(artifact=artifact).values("run_id"),
            project__entity__memberships__user=user,
        )
        .select_related("project__entity")
        .order_by("created_at", "id")[: limits.GRAPHQL_MAX_LIST_PAGE]
    )


def artifact_creator(artifact: Artifact, *, user) -> Run | None:
    """The run that logged this version, if `user` may see it. 1 query (none when no run logged it)."""
    if artifact.run_id is None:
        return None
    return (
        Run.objects.filter(pk=artifact.run_id, project__entity__memberships__user=user)
        .select_related("project__entity")
        .first()
    )
