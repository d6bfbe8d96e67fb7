"""Build page (live log), jobs list, job page and file downloads: owner, member and outsider, and query
budgets that do not grow with rows."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from launchui.artifacts import services as artifact_services
from launchui.jobs import services
from launchui.jobs.models import JobBuild
from launchui.jobs.selectors import WORKER_LOST
from launchui.projects.services import project_get_or_create
from tests.web.helpers import count_queries, text
from tests.web.jobs_helpers import CODE, code_job, image_job, run_build

pytestmark = pytest.mark.django_db

LIVE = 'hx-trigger="every 2s" data-poll-while-visible'


def wire_job(entity, name="job-from-cli", source_type="repo", project="proj", **spec):
    """A job version made by the wandb client (no build on this server)."""
    source = spec or {
        "git": {"remote": "https://github.com/acme/train.git", "commit": "a" * 40},
        "entrypoint": ["python", "train.py"],
        "notebook": False,
    }
    files = {
        "wandb-job.json": json.dumps(
            {"_version": "v0", "source_type": source_type, "source": source, "runtime": "3.10"}
        ).encode(),
        "requirements.frozen.txt": b"wandb==0.31.0\nnumpy==2.1.0\n",
    }
    artifact, _ = artifact_services.artifact_build(
        project=project_get_or_create(entity=entity, name=project),
        name=name,
        type_name="job",
        files=files,
        aliases=["prod"],
    )
    return artifact


# --- build page -----------------------------------------------------------------------------------


def test_queued_build_polls_and_shows_its_request(client, member, team):
    build = services.build_create_image(
        entity=team,
        project="proj",
        image="ghcr.io/acme/train:1.0",
        name="trainer",
        aliases=["stable"],
        created_by=member,
    )
    client.force_login(member)
    response = client.get(f"/launch/builds/{build.pk}")
    body = text(response)
    assert LIVE in body and f'hx-get="/launch/builds/{build.pk}"' in body
    assert '<span class="badge badge-warn">Queued</span>' in body
    for fact in [
        "Docker image",
        "acme/proj",
        "trainer",
        "stable",
        "ghcr.io/acme/train:1.0",
        "Waiting for the broker",
    ]:  # on_commit does not run inside a test transaction
        assert fact in body
    assert 'href="/launch/jobs"' in body and 'aria-current="page">Jobs</a>' in body


def test_htmx_gets_the_partial_and_polling_stops_when_finished(client, owner, team):
    build = services.build_create_image(entity=team, project="proj", image="ghcr.io/acme/train:1.0", created_by=owner)
    client.force_login(owner)
    partial = text(client.get(f"/launch/builds/{build.pk}", headers={"HX-Request": "true"}))
    assert partial.lstrip().startswith('<section id="build-live"') and "<html" not in partial and LIVE in partial

    run_build(build)
    partial = text(client.get(f"/launch/builds/{build.pk}", headers={"HX-Request": "true"}))
    assert "hx-trigger" not in partial  # the swapped-in section stops the polling
    assert '<span class="badge badge-ok">Succeeded</span>' in partial
    assert "Created job: acme/proj/job-ghcr.io_acme_train:v0, with aliases: 1.0, latest" in partial
    assert 'href="/launch/acme/proj/jobs/job-ghcr.io_acme_train?version=v0">job-ghcr.io_acme_train:v0</a>' in partial
    assert "No changes detected" not in partial


def test_same_source_again_says_no_changes_detected(client, owner, team):
    image_job(team, owner)
    again = image_job(team, owner)
    assert again.result_created is False
    client.force_login(owner)
    body = text(client.get(f"/launch/builds/{again.pk}"))
    assert "No changes detected" in body and "job-ghcr.io_acme_train:v0" in body


def test_failed_build_shows_its_reason(client, owner, team):
    build = run_build(
        services.build_create_code(
            entity=team, project="proj", entry_point="train.py", source_name="t", files=CODE, created_by=owner
        )
    )
    client.force_login(owner)
    body = text(client.get(f"/launch/builds/{build.pk}"))
    assert '<span class="badge badge-bad">Failed</span>' in body
    assert 'role="alert"' in body and "The entry point train.py is not in the code (4 files)." in body
    assert "ERROR The entry point train.py" in body  # the log too
    assert "hx-trigger" not in body


def test_build_whose_worker_died_is_failed_not_running_forever(client, owner, team):
    build = services.build_create_image(entity=team, project="proj", image="python:3.12", created_by=owner)
    JobBuild.objects.filter(pk=build.pk).update(status=JobBuild.RUNNING, started_at=timezone.now() - timedelta(hours=2))
    client.force_login(owner)
    body = text(client.get(f"/launch/builds/{build.pk}"))
    assert "Failed" in body and WORKER_LOST in body and "hx-trigger" not in body


def test_outsider_cannot_read_a_build(client, owner, outsider, team):
    build = image_job(team, owner)
    client.force_login(outsider)
    assert client.get(f"/launch/builds/{build.pk}").status_code == 404
    assert client.get(f"/launch/builds/{build.pk}", headers={"HX-Request": "true"}).status_code == 404
    client.logout()
    assert client.get(f"/launch/builds/{build.pk}")["Location"].startswith("/login")


# --- jobs list ------------------------------------------------------------------------------------


def test_jobs_list_columns(client, owner, member, team):
    image_job(team, member, image="ghcr.io/acme/train:1.0", aliases=["stable"])
    image_job(team, member, image="ghcr.io/acme/train:2.0")  # v1 takes latest; stable stays on v0
    code_job(team, member)
    wire_job(team)
    image_job(owner.personal_entity, owner, image="python:3.12", project="scratch")
    client.force_login(owner)
    response = client.get("/launch/jobs")
    body = text(response)
    for header in ["Job", "Entity", "Project", "Source type", "Latest version", "Aliases", "Last build"]:
        assert f'<th scope="col">{header}</th>' in body
    rows = {job.name: job for job in response.context["page"].object_list}
    assert set(rows) == {"job-ghcr.io_acme_train", "job-code-trainer_main.py", "job-from-cli", "job-python"}
    train = rows["job-ghcr.io_acme_train"]
    assert (train.source_type, train.latest_version, train.latest_aliases) == ("Docker image", 1, ["2.0", "latest"])
    assert train.build["label"] == "Succeeded"
    assert rows["job-code-trainer_main.py"].source_type == "Code"
    assert rows["job-from-cli"].source_type == "Git" and rows["job-from-cli"].build is None
    assert 'href="/launch/acme/proj/jobs/job-ghcr.io_acme_train"' in body
    assert '<td class="mono">v1</td>' in body
    assert '<span class="badge badge-ok">Succeeded</span>' in body
    assert "None: made by the wandb client" in body
    assert 'href="/launch/jobs/new">Create job</a>' in body


def test_member_sees_the_teams_jobs_and_outsider_none(client, owner, member, outsider, team):
    image_job(team, owner)
    image_job(owner.personal_entity, owner, image="python:3.12")
    client.force_login(member)
    assert [j.name for j in client.get("/launch/jobs").context["page"].object_list] == ["job-ghcr.io_acme_train"]
    client.force_login(outsider)
    response = client.get("/launch/jobs")
    assert list(response.context["page"].object_list) == [] and "No jobs yet" in text(response)
    assert list(client.get("/launch/jobs?entity=acme").context["page"].object_list) == []


def test_entity_filter_and_htmx_push_url(client, owner, team):
    image_job(team, owner)
    image_job(owner.personal_entity, owner, image="python:3.12", project="scratch")
    client.force_login(owner)
    response = client.get("/launch/jobs?entity=olivia")
    assert [j.name for j in response.context["page"].object_list] == ["job-python"]
    assert response.context["form"].fields["entity"].choices[0] == ("", "All entities")
    partial = client.get("/launch/jobs?entity=acme", headers={"HX-Request": "true"})
    assert text(partial).lstrip().startswith('<section id="job-table"')
    assert partial["HX-Push-Url"] == "/launch/jobs?entity=acme"
    assert 'href="/launch/jobs/new?entity=acme">Create job</a>' in text(client.get("/launch/jobs?entity=acme"))


def test_project_jobs_page(client, owner, member, outsider, team):
    image_job(team, owner)
    image_job(team, owner, image="python:3.12", project="other")
    client.force_login(member)
    response = client.get("/launch/acme/proj/jobs")
    assert [j.name for j in response.context["page"].object_list] == ["job-ghcr.io_acme_train"]
    body = text(response)
    assert "Jobs in acme/proj" in body and 'href="/launch/jobs/new?entity=acme&amp;project=proj">Create job' in body
    assert list(client.get("/launch/acme/empty/jobs").context["page"].object_list) == []
    client.force_login(outsider)
    assert client.get("/launch/acme/proj/jobs").status_code == 404
    assert client.get("/launch/acme/proj/jobs", headers={"HX-Request": "true"}).status_code == 404


def test_the_address_wandb_prints_redirects_to_the_project_jobs(client, owner, team):
    response = client.get("/acme/proj/jobs")
    assert response.status_code == 302 and response["Location"] == "/launch/acme/proj/jobs"


def test_jobs_list_queries_do_not_grow_with_rows(client, owner, team):
    project = project_get_or_create(entity=team, name="proj")
    for i in range(2):
        wire_job(team, name=f"job-{i}")
    image_job(team, owner)
    client.force_login(owner)
    few, response = count_queries(client, "/launch/jobs")
    assert len(response.context["page"].object_list) == 3
    for i in range(2, 20):
        artifact_services.artifact_build(
            project=project, name=f"job-{i}", type_name="job", files={"wandb-job.json": b'{"source_type": "image"}'}
        )
        image_job(team, owner, image=f"ghcr.io/acme/t{i}:1")
    many, response = count_queries(client, "/launch/jobs")
    assert len(response.context["page"].object_list) == 39
    assert many == few == 6, few  # exact, like the wire's query budgets
    # session, user, entities (filter), count, page, aliases


# --- job page -------------------------------------------------------------------------------------


def test_image_job_page(client, owner, member, team):
    first = image_job(team, owner, aliases=["stable"])
    second = image_job(team, owner, image="ghcr.io/acme/train:2.0")
    client.force_login(member)
    response = client.get("/launch/acme/proj/jobs/job-ghcr.io_acme_train")
    body = text(response)
    assert [v.version for v in response.context["versions"]] == ["v1", "v0"]
    assert response.context["version"].version == "v1"
    assert "Docker image" in body and "ghcr.io/acme/train:2.0" in body
    assert "None (an image job brings its own)" in body
    assert body.index('class="mono">v1</a>') < body.index('class="mono">v0</a>')
    for alias in ["latest", "2.0", "stable", "1.0"]:
        assert f'<span class="tag">{alias}</span>' in body
    assert f'href="/launch/builds/{second.pk}"' in body and f'href="/launch/builds/{first.pk}"' in body
    assert "wandb-job.json" in body and "/artifacts/download/" not in body  # no signed URL on the page

    older = client.get("/launch/acme/proj/jobs/job-ghcr.io_acme_train?version=v0")
    assert older.context["version"].version == "v0" and "ghcr.io/acme/train:1.0" in text(older)
    assert client.get("/launch/acme/proj/jobs/job-ghcr.io_acme_train?version=stable").context["version"].version == "v0"
    assert client.get("/launch/acme/proj/jobs/job-ghcr.io_acme_train?version=v7").status_code == 404


def test_code_job_page_lists_its_code_with_links(client, owner, team):
    build = code_job(team, owner, runtime="3.12")
    client.force_login(owner)
    response = client.get(f"/launch/acme/proj/jobs/{build.result.collection.name}")
    body = text(response)
    code = response.context["code"]
    assert code.collection.name == "code-trainer_main.py"
    assert "Code" in body and "code-trainer_main.py:v0" in body
    assert "python main.py" in body and "3.12" in body
    assert '<pre class="code-block" aria-label="Requirements">wandb\n</pre>' in body
    for name in CODE:
        assert f'href="/launch/artifacts/{code.pk}/files/{name}"' in body
    assert f'href="/launch/artifacts/{build.result.pk}/files/requirements.frozen.txt"' in body
    assert 'aria-label="Download pkg/util.py"' in body


def test_git_job_made_by_the_client(client, owner, team):
    wire_job(team)
    client.force_login(owner)
    body = text(client.get("/launch/acme/proj/jobs/job-from-cli"))
    assert "https://github.com/acme/train.git" in body and "a" * 40 in body
    assert "python train.py" in body and "3.10" in body and "numpy==2.1.0" in body
    assert "None: this job was made by the wandb client." in body


@pytest.mark.parametrize(
    "spec",
    [
        b"not json",
        b"[1, 2]",
        b'{"source_type": ["x"], "source": "y", "runtime": {}}',
        b'{"source_type": "artifact", "source": {"artifact": "wandb-artifact://_id/%%%"}}',
        b"\xff\xfe",
    ],
)
def test_a_damaged_wandb_job_json_from_the_client_does_not_break_the_pages(client, owner, team, spec):
    artifact_services.artifact_build(
        project=project_get_or_create(entity=team, name="proj"),
        name="odd",
        type_name="job",
        files={"wandb-job.json": spec},
    )
    client.force_login(owner)
    assert client.get("/launch/acme/proj/jobs/odd").status_code == 200
    assert client.get("/launch/jobs").status_code == 200


def test_code_artifact_of_another_entity_is_not_shown(client, owner, outsider, team):
    """A job whose wandb-job.json points at someone else's code artifact shows the reference, not the files."""
    theirs = code_job(outsider.personal_entity, outsider)
    code = theirs.result.collection.project.artifact_collections.get(type_name="code").versions.get()
    from launchui.wire import ids

    wire_job(
        team,
        name="sneaky",
        source_type="artifact",
        artifact=f"wandb-artifact://_id/{ids.encode('Artifact', code.pk)}",
        entrypoint=["python", "main.py"],
    )
    client.force_login(owner)
    response = client.get("/launch/acme/proj/jobs/sneaky")
    assert response.context["code"] is None and "(not visible here)" in text(response)
    assert f"/launch/artifacts/{code.pk}/" not in text(response)


def test_failed_build_asking_for_the_name_is_listed(client, owner, team):
    image_job(team, owner, name="trainer")
    failed = run_build(
        services.build_create_code(
            entity=team,
            project="proj",
            entry_point="main.py",
            name="trainer",
            source_name="t",
            files={"main.py": b""},
            created_by=owner,
        )
    )
    client.force_login(owner)
    body = text(client.get("/launch/acme/proj/jobs/trainer"))
    assert f'href="/launch/builds/{failed.pk}"' in body and "requirements.txt is missing" in body


def test_outsider_cannot_see_a_job(client, owner, outsider, team):
    image_job(team, owner)
    client.force_login(outsider)
    assert client.get("/launch/acme/proj/jobs/job-ghcr.io_acme_train").status_code == 404
    client.logout()
    assert client.get("/launch/acme/proj/jobs/job-ghcr.io_acme_train")["Location"].startswith("/login")


def test_job_page_queries_do_not_grow_with_versions_or_files(client, owner, team):
    code_job(team, owner)
    client.force_login(owner)
    url = "/launch/acme/proj/jobs/job-code-trainer_main.py"
    few, _ = count_queries(client, url)
    for i in range(5):
        code_job(team, owner, files={**CODE, f"data/{i}.txt": b"x" * i})
    many, response = count_queries(client, url)
    assert len(response.context["versions"]) == 6 and len(response.context["code_files"]) == 5
    assert many == few == 12, few  # exact, like the wire's query budgets (12th: the Runs section's launches)


# --- downloads ------------------------------------------------------------------------------------


def test_member_downloads_a_file_outsider_cannot(client, owner, member, outsider, team):
    build = code_job(team, owner)
    code = build.result.collection.project.artifact_collections.get(type_name="code").versions.get()
    client.force_login(member)
    response = client.get(f"/launch/artifacts/{code.pk}/files/pkg/util.py")
    assert response.status_code == 200 and b"".join(response.streaming_content) == CODE["pkg/util.py"]
    assert response["Content-Disposition"] == 'attachment; filename="util.py"'
    assert response["Content-Type"] == "application/octet-stream"
    assert client.get(f"/launch/artifacts/{code.pk}/files/nope.py").status_code == 404
    assert client.get(f"/launch/artifacts/{code.pk}/files/../../etc/passwd").status_code == 404

    client.force_login(outsider)
    assert client.get(f"/launch/artifacts/{code.pk}/files/pkg/util.py").status_code == 404
    assert client.get(f"/launch/artifacts/{build.result.pk}/files/wandb-job.json").status_code == 404
    client.logout()
    assert client.get(f"/launch/artifacts/{code.pk}/files/pkg/util.py")["Location"].startswith("/login")


def test_empty_file_downloads(client, owner, team):
    build = code_job(team, owner)
    code = build.result.collection.project.artifact_collections.get(type_name="code").versions.get()
    client.force_login(owner)
    response = client.get(f"/launch/artifacts/{code.pk}/files/pkg/__init__.py")
    assert response.status_code == 200 and b"".join(response.streaming_content) == b""
