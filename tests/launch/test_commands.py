"""manage.py seed_demo: what bin/run calls on every start, so it must be idempotent."""

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from launchui.accounts.models import Entity, Membership
from launchui.accounts.services import team_create, user_create
from launchui.launch.models import RunQueue
from launchui.launch.services import item_push


def seed(*args) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def snapshot():
    return (
        sorted(User.objects.values_list("username", flat=True)),
        sorted(Entity.objects.values_list("name", "is_team")),
        sorted(Membership.objects.values_list("entity__name", "user__username", "role")),
        sorted(RunQueue.objects.values_list("entity__name", "name", "resource")),
    )


def test_seed_demo_creates_the_demo(db):
    out = seed()
    assert out.splitlines()[-1] == "Demo login: demo / launchui-demo"
    demo = User.objects.get(username="demo")
    assert demo.check_password("launchui-demo")
    assert snapshot() == (
        ["demo"],
        [("demo", False), ("ml-team", True)],
        [("demo", "demo", "admin"), ("ml-team", "demo", "admin")],
        [
            ("ml-team", "cpu-local", "local-process"),
            ("ml-team", "docker-gpu", "local-container"),
            ("ml-team", "sagemaker-prod", "sagemaker"),
        ],
    )
    docker = RunQueue.objects.get(name="docker-gpu")
    assert docker.resource_args == {"gpus": "{{gpus}}"}
    assert [v["name"] for v in docker.template_variables] == ["gpus"]
    sagemaker = RunQueue.objects.get(name="sagemaker-prod")
    assert sagemaker.resource_args["ResourceConfig"]["InstanceType"] == "ml.m4.xlarge"
    # The queues work: a push fills the template.
    item = item_push(queue=docker, run_spec={}, template_variable_values={"gpus": 2}, created_by=demo)
    assert item.run_spec["resource_args"] == {"local-container": {"gpus": 2}}


def test_seed_demo_twice_changes_nothing(db):
    seed()
    before = snapshot()
    out = seed()
    assert snapshot() == before
    assert out == "Demo login: demo / launchui-demo\n"


def test_seed_demo_keeps_a_changed_password_and_queue_unless_told(db):
    seed()
    demo = User.objects.get(username="demo")
    demo.set_password("changed-by-the-admin")
    demo.save()
    RunQueue.objects.filter(name="cpu-local").update(prioritization_mode="V0")
    RunQueue.objects.filter(name="sagemaker-prod").delete()

    out = seed()
    assert "password changed" in out
    assert "launchui-demo" not in out
    assert User.objects.get(username="demo").check_password("changed-by-the-admin")
    assert RunQueue.objects.get(name="cpu-local").prioritization_mode == "V0"
    assert RunQueue.objects.filter(name="sagemaker-prod").exists()  # missing pieces come back

    out = seed("--password", "a-new-demo-password")
    assert out.splitlines()[-1] == "Demo login: demo / a-new-demo-password"
    assert User.objects.get(username="demo").check_password("a-new-demo-password")


def test_seed_demo_restores_demo_as_team_admin(db):
    seed()
    other = user_create(username="ops", password="x")
    team = Entity.objects.get(name="ml-team")
    Membership.objects.filter(entity=team, user__username="demo").delete()
    Membership.objects.filter(entity=team).exclude(user=other).delete()
    Membership.objects.create(entity=team, user=other, role=Membership.ADMIN)
    seed()
    assert Membership.objects.get(entity=team, user__username="demo").role == Membership.ADMIN


def test_seed_demo_refuses_a_personal_entity_named_like_the_team(db):
    user_create(username="ml-team", password="x")
    with pytest.raises(CommandError, match="personal entity, not a team"):
        seed()


def test_seed_demo_joins_an_existing_team(db):
    founder = user_create(username="founder", password="x")
    team_create(name="ml-team", creator=founder)
    seed()
    assert sorted(Membership.objects.filter(entity__name="ml-team").values_list("user__username", "role")) == [
        ("demo", "admin"),
        ("founder", "admin"),
    ]
