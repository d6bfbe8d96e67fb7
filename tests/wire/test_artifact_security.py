"""Artifact hardening (issue 8): entity-scoped dedup, streamed uploads with a size limit, manifest names.

The owner's side uses the real wandb client (`wandb artifact put` / `get`) as a subprocess; the attacker's
steps, which no honest client takes, go through GraphQL with the Django test client.
"""

import base64
import hashlib
import io
import json
import os
import subprocess
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests
from django.conf import settings

from launchui.artifacts import storage
from launchui.artifacts.models import Artifact, ArtifactFile
from launchui.core.storage import TooLarge
from tests.conftest import _test_database_url, start_gunicorn
from tests.wire.conftest import WANDB
from tests.wire.test_graphql_endpoint import gql

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]

CREATE = """mutation CreateArtifact($input: CreateArtifactInput!) {
  createArtifact(input: $input) { artifact { id state digest } } }"""
FILES = """mutation CreateArtifactFiles($files: [CreateArtifactFileSpecInput!]!) {
  createArtifactFiles(input: {artifactFiles: $files, storageLayout: V2}) {
    files { edges { node { name uploadUrl } } } } }"""
MANIFEST = """mutation CreateArtifactManifest($artifactID: ID!, $digest: String!) {
  createArtifactManifest(input: {artifactID: $artifactID, digest: $digest, name: "wandb_manifest.json",
    manifestType: FULL, includeUpload: true}) { artifactManifest { file { uploadUrl } } } }"""
COMMIT = """mutation CommitArtifact($artifactID: ID!) { commitArtifact(input: {artifactID: $artifactID}) {
  artifact { id digest } } }"""
FILES_OF = """query Files($entity: String!, $project: String!, $name: String!) {
  project(name: $project, entityName: $entity) { artifactCollectionMembership(name: $name) {
    files { edges { node { name digest directUrl } } } } } }"""


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


def artifact_put(env, path: Path, name: str, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [WANDB, "artifact", "put", "--name", name, "--type", "dataset", str(path)],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def pending_artifact(client, key, entity: str, name: str) -> str:
    answer = gql(
        client,
        key,
        CREATE,
        {
            "input": {
                "entityName": entity,
                "projectName": "proj",
                "artifactTypeName": "dataset",
                "artifactCollectionName": name,
                "digest": hashlib.md5(name.encode()).hexdigest(),
                "digestAlgorithm": "MANIFEST_MD5",
                "clientID": f"client-{name}",
                "sequenceClientID": f"seq-{name}",
            }
        },
    )
    assert "errors" not in answer, answer
    return answer["data"]["createArtifact"]["artifact"]["id"]


def announce(client, key, artifact_id: str, files: dict[str, str]) -> dict:
    return gql(
        client,
        key,
        FILES,
        {
            "files": [
                {"artifactID": artifact_id, "name": name, "md5": digest, "mimetype": None}
                for name, digest in files.items()
            ]
        },
    )


def commit_with_manifest(client, key, artifact_id: str, contents: dict) -> dict:
    """Upload a manifest naming contents (no file bytes), then commit: what an attacker can do by hand."""
    manifest = json.dumps(
        {
            "version": 1,
            "storagePolicy": "wandb-storage-policy-v1",
            "storagePolicyConfig": {"storageLayout": "V2"},
            "contents": contents,
        }
    ).encode()
    answer = gql(client, key, MANIFEST, {"artifactID": artifact_id, "digest": md5_b64(manifest)})
    url = answer["data"]["createArtifactManifest"]["artifactManifest"]["file"]["uploadUrl"]
    put = client.put(urlparse(url).path, manifest, content_type="application/octet-stream")
    assert put.status_code == 200, put.content
    return gql(client, key, COMMIT, {"artifactID": artifact_id})


# --- finding 8 ---------------------------------------------------------------------------------------


def test_dedup_is_no_cross_tenant_oracle_and_a_digest_alone_does_not_hand_over_a_file(
    client, wandb_env, owner, owner_key, outsider, outsider_key, tmp_path
):
    secret = b"olivia's private weights " + os.urandom(64)
    digest = md5_b64(secret)
    (tmp_path / "weights.bin").write_bytes(secret)
    artifact_put(wandb_env(owner_key), tmp_path / "weights.bin", "olivia/proj/weights", tmp_path)
    owned = ArtifactFile.objects.get(artifact__collection__name="weights", artifact__state=Artifact.COMMITTED)
    assert owned.digest == digest and storage.blob_read(digest) == secret

    # The owner's entity holds the bytes: a second upload of them is skipped (null uploadUrl).
    again = pending_artifact(client, owner_key, "olivia", "weights-copy")
    edges = announce(client, owner_key, again, {"copy.bin": digest})["data"]["createArtifactFiles"]["files"]["edges"]
    assert edges[0]["node"]["uploadUrl"] is None

    # An outsider who knows (or guesses) the md5 learns nothing: it is asked to upload, as for any digest.
    stolen = pending_artifact(client, outsider_key, "oscar", "stolen")
    edges = announce(client, outsider_key, stolen, {"weights.bin": digest})["data"]["createArtifactFiles"]["files"][
        "edges"
    ]
    assert edges[0]["node"]["uploadUrl"] is not None
    never = pending_artifact(client, outsider_key, "oscar", "control")
    edges = announce(client, outsider_key, never, {"x.bin": md5_b64(os.urandom(32))})["data"]["createArtifactFiles"]
    assert edges["files"]["edges"][0]["node"]["uploadUrl"] is not None  # the same answer as for unknown bytes

    # Committing a manifest that names the digest, without uploading the bytes, is refused.
    answer = commit_with_manifest(
        client, outsider_key, stolen, {"weights.bin": {"digest": digest, "size": len(secret)}}
    )
    assert "Files were never uploaded: weights.bin" in answer["errors"][0]["message"]
    assert Artifact.objects.get(collection__name="stolen").state == Artifact.PENDING

    # So the outsider has no version, and no download URL, for the file.
    files = gql(client, outsider_key, FILES_OF, {"entity": "oscar", "project": "proj", "name": "stolen:latest"})
    assert files["data"]["project"]["artifactCollectionMembership"] is None
    denied = subprocess.run(
        [WANDB, "artifact", "get", "oscar/proj/stolen:latest", "--root", str(tmp_path / "got")],
        env=wandb_env(outsider_key),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert not (tmp_path / "got" / "weights.bin").exists(), denied.stdout + denied.stderr

    # The owner, who holds the bytes, commits the same digest without uploading it again.
    assert commit_with_manifest(client, owner_key, again, {"copy.bin": {"digest": digest}}).get("errors") is None


# --- finding 12 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_name",
    ["../../etc/passwd", "/etc/passwd", "a/../../b", "..\\..\\evil.txt", "dir\\file.txt", "./a/../../x", "a//b"],
)
def test_manifest_names_escaping_the_artifact_are_refused_at_commit_too(client, owner, owner_key, bad_name):
    content = b"payload"
    digest = md5_b64(content)
    artifact_id = pending_artifact(client, owner_key, "olivia", "paths")
    # createArtifactFiles refuses the name ...
    refused = announce(client, owner_key, artifact_id, {bad_name: digest})
    assert f"{bad_name!r} is not a safe relative path" in refused["errors"][0]["message"], refused
    # ... and so does the commit of a manifest naming it, whose bytes the entity did upload.
    good = announce(client, owner_key, artifact_id, {"ok.txt": digest})
    url = good["data"]["createArtifactFiles"]["files"]["edges"][0]["node"]["uploadUrl"]
    if url:
        assert client.put(urlparse(url).path, content, content_type="application/octet-stream").status_code == 200
    answer = commit_with_manifest(
        client, owner_key, artifact_id, {"ok.txt": {"digest": digest}, bad_name: {"digest": digest}}
    )
    assert f"{bad_name!r} is not a safe relative path" in answer["errors"][0]["message"], answer
    artifact = Artifact.objects.get(collection__name="paths")
    assert artifact.state == Artifact.PENDING
    assert list(artifact.files.values_list("name", flat=True)) == ["ok.txt"]  # nothing half-written


# --- finding 9 ---------------------------------------------------------------------------------------


def _status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing for {pid}")


@pytest.fixture
def gunicorn_server(tmp_path):
    """The production web process (gunicorn, one worker, as in the Procfile) on the test database, so that
    the worker's memory can be read from /proc. Yields (base_url, worker_pid)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env.update(
        DATABASE_URL=_test_database_url(),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        LAUNCHUI_DATA_DIR=str(settings.DATA_DIR),
        SECRET_KEY=settings.SECRET_KEY,
        DJANGO_SETTINGS_MODULE="launchui.settings",
        PYTHONUNBUFFERED="1",
    )
    server = start_gunicorn(env, tmp_path / "gunicorn.log", "--workers", "1", "--threads", "4", "--timeout", "300")
    try:
        workers = server.worker_pids()
        assert len(workers) == 1, workers
        yield server.url, workers[0]
    finally:
        server.stop()


def test_artifact_uploads_over_10_mib_are_streamed_with_bounded_memory(
    wandb_env, gunicorn_server, owner, owner_key, tmp_path
):
    base, worker = gunicorn_server
    size = 200 * 1024 * 1024
    path = tmp_path / "big.bin"
    hasher = hashlib.md5()
    with open(path, "wb") as out:
        for _ in range(size // (4 * 1024 * 1024)):
            chunk = os.urandom(4 * 1024 * 1024)
            hasher.update(chunk)
            out.write(chunk)
    digest = base64.b64encode(hasher.digest()).decode()
    env = wandb_env(owner_key, WANDB_BASE_URL=base)
    # Warm the worker up (imports, database connection) so that what follows measures the transfer.
    assert (
        requests.post(
            base + "/graphql", json={"query": "query Viewer { viewer { id } }"}, auth=("api", owner_key), timeout=30
        ).status_code
        == 200
    )
    before = _status_kib(worker, "VmHWM")

    artifact_put(env, path, "olivia/proj/big", tmp_path)
    stored = ArtifactFile.objects.get(artifact__collection__name="big", artifact__state=Artifact.COMMITTED)
    assert stored.digest == digest
    with storage.blob_open(digest) as handle:
        assert _md5_of(handle) == digest

    got = subprocess.run(
        [WANDB, "artifact", "get", "olivia/proj/big:latest", "--root", str(tmp_path / "got")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert got.returncode == 0, got.stdout + got.stderr
    with open(tmp_path / "got" / "big.bin", "rb") as handle:
        assert _md5_of(handle) == digest

    growth_mib = (_status_kib(worker, "VmHWM") - before) / 1024
    print(f"web worker peak RSS growth for a 200 MiB upload and download: {growth_mib:.1f} MiB")
    assert growth_mib < 50, f"the web worker's peak RSS grew by {growth_mib:.1f} MiB"


def _md5_of(handle) -> str:
    hasher = hashlib.md5()
    while chunk := handle.read(4 * 1024 * 1024):
        hasher.update(chunk)
    return base64.b64encode(hasher.digest()).decode()


def test_upload_over_the_limit_is_refused_before_reading(client, owner, owner_key, settings):
    settings.LAUNCHUI_MAX_UPLOAD_BYTES = 1024
    artifact_id = pending_artifact(client, owner_key, "olivia", "limited")
    body = os.urandom(2048)
    edges = announce(client, owner_key, artifact_id, {"big.bin": md5_b64(body)})
    url = edges["data"]["createArtifactFiles"]["files"]["edges"][0]["node"]["uploadUrl"]
    response = client.put(urlparse(url).path, body, content_type="application/octet-stream")
    assert response.status_code == 413 and "larger than this server accepts" in response.json()["error"]
    assert not storage.blob_exists(md5_b64(body))
    # Without a usable Content-Length the limit holds while reading.
    with pytest.raises(TooLarge):
        storage.blob_save_stream(io.BytesIO(body).read, expected_digest=md5_b64(body), max_bytes=1024, chunk_size=512)
    assert not storage.blob_exists(md5_b64(body))
    wrong = client.put(urlparse(url).path, body[:1000], content_type="application/octet-stream")
    assert wrong.status_code == 400 and not storage.blob_exists(md5_b64(body[:1000]))


def test_migration_backfills_what_entities_already_hold(team, owner, outsider):
    """Existing data keeps deduplicating after the upgrade: the files of committed versions and uploaded
    manifests become held by their entities, and nothing is held by an entity that had no such version."""
    import importlib

    from django.apps import apps

    from launchui.accounts.models import Entity
    from launchui.artifacts.models import EntityContent
    from launchui.artifacts.services import artifact_build, content_held
    from launchui.projects.services import project_get_or_create

    version, _ = artifact_build(
        project=project_get_or_create(entity=team, name="proj"),
        name="data",
        type_name="dataset",
        files={"a.txt": b"team bytes " + os.urandom(16)},
    )
    digests = {f.digest for f in version.files.all()} | {version.manifest_digest}
    EntityContent.objects.all().delete()  # as before the migration
    assert not content_held(entity_id=team.pk, digests=digests)
    importlib.import_module("launchui.artifacts.migrations.0003_entity_content").backfill(apps, None)
    assert content_held(entity_id=team.pk, digests=digests) == digests
    oscar = Entity.objects.get(name=outsider.username)
    assert not EntityContent.objects.filter(entity=oscar).exists()


def test_commit_does_not_parse_a_manifest_larger_than_its_cap(client, owner, owner_key, monkeypatch):
    """Uploads may be gigabytes now; commit reads the manifest into memory only up to a cap."""
    from launchui.artifacts import services

    monkeypatch.setattr(services, "MANIFEST_MAX_BYTES", 64)
    artifact_id = pending_artifact(client, owner_key, "olivia", "huge-manifest")
    answer = commit_with_manifest(
        client, owner_key, artifact_id, {f"f{i}.txt": {"digest": md5_b64(b"x")} for i in range(5)}
    )
    assert "The manifest is larger than" in answer["errors"][0]["message"], answer
    assert Artifact.objects.get(collection__name="huge-manifest").state == Artifact.PENDING
