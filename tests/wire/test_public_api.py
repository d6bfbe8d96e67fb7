"""wandb.Api() queue calls from the real client: create, upsert, read, push, delete."""

import json

import pytest

from launchui.launch.models import RunQueue, RunQueueItem
from launchui.launch.services import item_push, queue_create
from tests.wire.conftest import run_python

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]


def api_script(body: str) -> str:
    return "import json, wandb\napi = wandb.Api()\n" + body


def test_create_upsert_and_delete_a_queue(wandb_env, team, owner_key, client, owner):
    env = wandb_env(owner_key)
    created = run_python(
        api_script("""
q = api.create_run_queue(name="vertex-a", type="gcp-vertex", entity="acme", prioritization_mode="V0",
    config={"spec": {"machine": "{{machine}}"}},
    template_variables={"machine": {"schema": {"type": "string", "enum": ["n1-standard-4", "a2-highgpu-1g"]}}})
print(json.dumps({"name": q.name, "id": q.id}))
"""),
        env,
    )
    assert created.returncode == 0, created.stderr
    queue = RunQueue.objects.get(entity=team, name="vertex-a")
    assert queue.resource == "gcp-vertex"
    assert queue.is_prioritized
    assert queue.config == {"resource_args": {"gcp-vertex": {"spec": {"machine": "{{machine}}"}}}}
    assert queue.template_variables == [
        {"name": "machine", "schema": {"type": "string", "enum": ["n1-standard-4", "a2-highgpu-1g"]}}
    ]

    upserted = run_python(
        api_script("""
api.upsert_run_queue(name="vertex-a", entity="acme", resource_type="gcp-vertex",
    resource_config={"spec": {"replicas": 2}}, external_links={"Runbook": "https://wiki.example.com/gpu"})
api.upsert_run_queue(name="k8s-new", entity="acme", resource_type="kubernetes", resource_config={"spec": {}})
q = api.run_queue("acme", "vertex-a")
print(json.dumps({"type": q.type, "config": q.default_resource_config, "prio": q.prioritization_mode,
                  "links": q.external_links}))
"""),
        env,
    )
    assert upserted.returncode == 0, upserted.stderr
    read = json.loads(upserted.stdout.strip().splitlines()[-1])
    assert read["type"] == "gcp-vertex"
    assert read["config"] == {"resource_args": {"gcp-vertex": {"spec": {"replicas": 2}}}}
    assert RunQueue.objects.filter(entity=team, name="k8s-new", resource="kubernetes").exists()
    queue.refresh_from_db()
    assert queue.external_links == [{"label": "Runbook", "url": "https://wiki.example.com/gpu"}]
    assert queue.prioritization_mode == RunQueue.PRIORITIZATION_DISABLED  # upsert's default

    client.force_login(owner)
    page = client.get("/launch").content.decode()
    assert "vertex-a" in page and "k8s-new" in page

    deleted = run_python(
        api_script("""
api.run_queue("acme", "vertex-a").delete()
"""),
        env,
    )
    assert deleted.returncode == 0, deleted.stderr
    assert not RunQueue.objects.filter(name="vertex-a").exists()


def test_queue_items_are_listed_and_deleted_through_the_api(wandb_env, team, owner, member_key):
    queue = queue_create(entity=team, name="cpu", resource="local-process", created_by=owner)
    first = item_push(queue=queue, run_spec={"entity": "acme", "project": "p"}, created_by=owner)
    item_push(queue=queue, run_spec={"entity": "acme", "project": "p"}, created_by=owner)
    result = run_python(
        api_script(
            """
q = api.run_queue("acme", "cpu")
items = q.items
print(json.dumps([i.state for i in items]))
[i for i in items if i.id == {!r}][0].delete()
""".format(__import__("launchui.wire.ids", fromlist=["encode"]).encode("RunQueueItem", first.pk))
        ),
        wandb_env(member_key),
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == ["pending", "pending"]
    assert list(RunQueueItem.objects.values_list("pk", flat=True)) != [first.pk]
    assert not RunQueueItem.objects.filter(pk=first.pk).exists()


def test_a_member_cannot_create_or_delete_queues(wandb_env, team, owner, member_key):
    queue_create(entity=team, name="cpu", resource="local-process", created_by=owner)
    result = run_python(
        api_script("""
try:
    api.create_run_queue(name="mine", type="local-process", entity="acme")
except Exception as exc:
    print("ERROR", exc)
try:
    api.run_queue("acme", "cpu").delete()
except Exception as exc:
    print("ERROR", exc)
"""),
        wandb_env(member_key),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("ERROR") == 2
    assert "Only admins of acme" in result.stdout + result.stderr
    assert list(RunQueue.objects.values_list("name", flat=True)) == ["cpu"]


def test_an_outsider_sees_no_queue(wandb_env, team, owner, outsider_key):
    queue_create(entity=team, name="cpu", resource="local-process", created_by=owner)
    result = run_python(
        api_script("""
try:
    print("TYPE", api.run_queue("acme", "cpu").type)
except Exception as exc:
    print("ERROR", exc)
"""),
        wandb_env(outsider_key),
    )
    assert "ERROR" in result.stdout, result.stdout + result.stderr
    assert "TYPE" not in result.stdout
