"""deleteRun on the wire: the shared rule (projects/services.run_delete), translated into the GraphQL error
the client prints; an outsider learns nothing."""

from launchui.core import ids
from launchui.projects.models import Run
from launchui.projects.services import project_get_or_create, run_upsert
from tests.wire.test_graphql_endpoint import gql

DELETE = """mutation deleteRun($id: ID!) { deleteRun(input: {id: $id}) { clientMutationId } }"""


def _run(team, author):
    return run_upsert(project=project_get_or_create(entity=team, name="vision"), name="r1", created_by=author)[0]


def test_delete_run_by_a_member_who_did_not_write_it_is_refused(client, team, owner, member_key):
    run = _run(team, owner)
    answer = gql(client, member_key, DELETE, {"id": ids.encode("Run", run.pk)})
    assert answer["errors"][0]["message"] == "Only the run's author or an admin can delete it."
    assert Run.objects.filter(pk=run.pk).exists()


def test_delete_run_by_an_outsider_says_not_found(client, team, owner, outsider_key):
    run = _run(team, owner)
    answer = gql(client, outsider_key, DELETE, {"id": ids.encode("Run", run.pk)})
    assert answer["errors"][0]["message"] == "Run not found."
    assert Run.objects.filter(pk=run.pk).exists()


def test_delete_run_by_an_admin_deletes_a_members_run(client, team, member, owner_key):
    run = _run(team, member)
    answer = gql(client, owner_key, DELETE, {"id": ids.encode("Run", run.pk)})
    assert "errors" not in answer
    assert not Run.objects.filter(pk=run.pk).exists()
