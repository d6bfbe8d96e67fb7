"""Finding 15: artifact download URLs are bearer tokens. They expire after LAUNCHUI_DOWNLOAD_URL_MAX_AGE
(minutes, not a day) and stop working once their holder leaves the entity that owns the file."""

import json
import time

import pytest
from django.core import signing

from launchui.accounts.models import Membership
from launchui.accounts.services import member_remove
from launchui.artifacts.services import artifact_build
from launchui.projects.services import project_get_or_create
from tests.wire.test_graphql_endpoint import gql

# The query the wandb 0.31 agent sends before it downloads a job's files (wandb-0.31-captures).
FILE_URLS = """query GetArtifactMembershipFileUrls($entity: String!, $project: String!, $collection: String!,
  $alias: String!, $cursor: String, $perPage: Int) {
  project(name: $project, entityName: $entity) { artifactCollection(name: $collection) {
    artifactMembership(aliasName: $alias) { files(after: $cursor, first: $perPage) {
      edges { node { name directUrl } } } } } } }"""
CONTENT = b'{"source_type": "image"}'


@pytest.fixture
def job_file(team, owner):
    artifact_build(
        project=project_get_or_create(entity=team, name="proj"),
        name="job-train",
        type_name="job",
        files={"wandb-job.json": CONTENT},
        aliases=[],
        created_by=owner,
    )


def file_url(client, key) -> str:
    data = gql(
        client,
        key,
        FILE_URLS,
        {"entity": "acme", "project": "proj", "collection": "job-train", "alias": "v0", "cursor": None, "perPage": 10},
    )
    [edge] = data["data"]["project"]["artifactCollection"]["artifactMembership"]["files"]["edges"]
    return edge["node"]["directUrl"].removeprefix("http://testserver")


def test_download_url_is_refused_after_its_lifetime(client, member_key, job_file, settings, monkeypatch):
    assert settings.LAUNCHUI_DOWNLOAD_URL_MAX_AGE == 300  # minutes, where it used to be 24 hours
    fresh = file_url(client, member_key)
    response = client.get(fresh)
    assert response.status_code == 200 and b"".join(response.streaming_content) == CONTENT
    # A URL issued LAUNCHUI_DOWNLOAD_URL_MAX_AGE + 1 seconds ago.
    issued = time.time() - settings.LAUNCHUI_DOWNLOAD_URL_MAX_AGE - 1
    monkeypatch.setattr(signing.time, "time", lambda: issued)
    stale = file_url(client, member_key)
    monkeypatch.undo()
    response = client.get(stale)
    assert response.status_code == 403
    assert json.loads(response.content) == {"error": "This download URL is invalid or has expired."}
    # The lifetime is a setting.
    settings.LAUNCHUI_DOWNLOAD_URL_MAX_AGE = 3600
    assert client.get(stale).status_code == 200


def test_download_url_stops_working_when_its_holder_leaves_the_team(client, member, member_key, job_file):
    url = file_url(client, member_key)
    assert client.get(url).status_code == 200
    member_remove(membership=Membership.objects.get(user=member, entity__name="acme"))
    response = client.get(url)
    assert response.status_code == 403
    assert b"no longer a member" in response.content


def test_download_url_stops_working_when_its_holder_is_deactivated(client, member, member_key, job_file):
    url = file_url(client, member_key)
    member.is_active = False
    member.save(update_fields=["is_active"])
    assert client.get(url).status_code == 403


def test_download_url_checks_membership_of_the_entity_it_names(client, owner_key, job_file):
    url = file_url(client, owner_key)
    token = url.rsplit("/", 1)[-1]
    claims = signing.loads(token, salt="launchui.artifacts.download")
    forged = signing.dumps({**claims, "e": claims["e"] + 1000}, salt="launchui.artifacts.download", compress=True)
    assert client.get(url).status_code == 200
    assert client.get(url.replace(token, forged)).status_code == 403
