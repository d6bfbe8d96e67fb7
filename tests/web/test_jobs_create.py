"""Create job (Code, Docker image, Git tabs): who may build where, every field's bad input beside the field
with nothing written, and the build that follows."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from launchui.artifacts.models import Artifact
from launchui.jobs.models import JobBuild
from launchui.jobs.services import credential_create
from launchui.projects.models import Project
from tests.web.helpers import text
from tests.web.jobs_helpers import CODE, make_tar_gz, make_zip, run_build

pytestmark = pytest.mark.django_db

IMAGE_URL = "/launch/jobs/new/image"
GIT_URL = "/launch/jobs/new/git"
CODE_URL = "/launch/jobs/new"
SSH_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


def common(**changes) -> dict:
    data = {"entity": "acme", "project": "proj", "name": "", "description": "", "aliases": ""}
    data.update(changes)
    return data


def image_form(**changes) -> dict:
    return common(**{"image": "ghcr.io/acme/train:1.0", **changes})


def git_form(**changes) -> dict:
    return common(
        **{
            "remote": "https://github.com/acme/train.git",
            "ref": "",
            "entry_point": "train.py",
            "runtime": "",
            "credential": "",
            **changes,
        }
    )


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="application/octet-stream")


def code_form(
    archive: tuple[str, bytes] | None = None,
    folder: dict[str, bytes] | None = None,
    paths: list[str] | None = None,
    **changes,
) -> dict:
    data = common(**{"entry_point": "main.py", "runtime": "", **changes})
    if archive:
        data["archive"] = upload(*archive)
    if folder:
        data["folder"] = [upload(path.rsplit("/", 1)[-1], content) for path, content in folder.items()]
        data["paths"] = json.dumps(list(folder) if paths is None else paths)
    return data


def assert_nothing_written():
    assert not JobBuild.objects.exists()
    assert not Project.objects.exists()
    assert not Artifact.objects.exists()


def error_beside(response, field: str) -> str:
    assert response.status_code == 200, response.status_code
    errors = response.context["form"].errors
    assert field in errors, errors
    assert f'id="id_{field}_error"' in text(response)
    return " ".join(errors[field])


# --- the page -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url,labels",
    [
        (
            CODE_URL,
            [
                "Entity",
                "Project",
                "Folder",
                "Or one archive",
                "Entry point",
                "Python version",
                "Name",
                "Aliases",
                "Description",
            ],
        ),
        (IMAGE_URL, ["Entity", "Project", "Image", "Name", "Aliases", "Description"]),
        (
            GIT_URL,
            [
                "Entity",
                "Project",
                "Repository URL",
                "Branch, tag or commit",
                "Entry point",
                "Python version",
                "Credential",
                "Name",
                "Aliases",
                "Description",
            ],
        ),
    ],
)
def test_each_tab_labels_every_field(client, member, team, url, labels):
    client.force_login(member)
    response = client.get(url)
    body = text(response)
    for label in labels:
        assert f">{label}</label>" in body, label
    assert response.context["form"].fields["entity"].choices == [("mateo", "mateo"), ("acme", "acme")]
    for tab in ["Code", "Docker image", "Git"]:
        assert f">{tab}</a>" in body
    assert 'aria-current="page"' in body


def test_code_tab_uploads_a_folder_or_an_archive(client, owner):
    client.force_login(owner)
    body = text(client.get(CODE_URL))
    assert 'enctype="multipart/form-data"' in body
    assert 'type="file" name="folder" webkitdirectory multiple' in body
    assert 'name="paths"' in body and 'type="hidden"' in body
    assert 'accept=".tar.gz,.tgz,.tar,.zip"' in body


def test_entity_and_project_prefilled_from_the_query(client, owner, team):
    client.force_login(owner)
    response = client.get(IMAGE_URL + "?entity=acme&project=vision")
    form = response.context["form"]
    assert form["entity"].value() == "acme" and form["project"].value() == "vision"
    assert 'href="/launch/jobs/new/git?entity=acme&amp;project=vision"' in text(response)


def test_unknown_kind_is_404(client, owner):
    client.force_login(owner)
    assert client.get("/launch/jobs/new/helm").status_code == 404


def test_anonymous_is_sent_to_sign_in(client):
    response = client.post(IMAGE_URL, image_form())
    assert response.status_code == 302 and response["Location"].startswith("/login")
    assert_nothing_written()


# --- image ----------------------------------------------------------------------------------------


def test_member_creates_image_job_and_lands_on_its_build(client, member, team, django_capture_on_commit_callbacks):
    client.force_login(member)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(IMAGE_URL, image_form(aliases="stable, candidate ,stable", description="Trainer"))
    build = JobBuild.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/launch/builds/{build.pk}"
    assert len(callbacks) == 1  # the Celery task is enqueued once the build row is committed
    assert build.kind == "image" and build.project.entity == team and build.project.name == "proj"
    assert build.aliases == ["stable", "candidate"] and build.created_by == member
    assert build.description == "Trainer" and build.status == "queued"

    build = run_build(build)
    assert build.status == "succeeded", build.log
    assert build.result.collection.name == "job-ghcr.io_acme_train"
    assert sorted(build.result.aliases.values_list("alias", flat=True)) == ["1.0", "candidate", "latest", "stable"]


def test_explicit_name_wins(client, owner, team):
    client.force_login(owner)
    client.post(IMAGE_URL, image_form(name="trainer"))
    build = run_build(JobBuild.objects.get())
    assert build.name == "trainer" and build.result.collection.name == "trainer"


def test_outsider_cannot_build_into_another_entity(client, outsider, team):
    client.force_login(outsider)
    response = client.post(IMAGE_URL, image_form())
    assert "Select a valid choice" in error_beside(response, "entity")
    assert_nothing_written()


# "UPPER/case" itself is a valid reference: Docker reads an uppercase first component as a registry host.
@pytest.mark.parametrize("image", ["acme/UPPER", "UPPER", "-rm", "a b", "ghcr.io/acme/train:", "x" * 300])
def test_bad_image_reference(client, owner, team, image):
    client.force_login(owner)
    message = error_beside(client.post(IMAGE_URL, image_form(image=image)), "image")
    assert "is not a Docker image reference" in message
    assert_nothing_written()


def test_image_is_required(client, owner, team):
    client.force_login(owner)
    assert error_beside(client.post(IMAGE_URL, image_form(image="")), "image") == "This field is required."
    assert_nothing_written()


def test_bad_name_suggests_a_safe_one(client, owner, team):
    client.force_login(owner)
    response = client.post(IMAGE_URL, image_form(name="my job!"))
    assert error_beside(response, "name") == (
        "Job names may use only letters, digits, dashes, underscores and dots. Did you mean: my_job_"
    )
    assert response.context["form"]["name"].value() == "my job!"  # what was typed stays
    assert_nothing_written()


@pytest.mark.parametrize("aliases,bad", [("v3", "v3"), ("ok, a/b", "a/b")])
def test_bad_alias(client, owner, team, aliases, bad):
    client.force_login(owner)
    assert f"Alias '{bad}'" in error_beside(client.post(IMAGE_URL, image_form(aliases=aliases)), "aliases")
    assert_nothing_written()


@pytest.mark.parametrize(
    "project,message", [("a/b", "is not valid"), ("", "This field is required."), ("p" * 129, "is not valid")]
)
def test_bad_project(client, owner, team, project, message):
    client.force_login(owner)
    assert message in error_beside(client.post(IMAGE_URL, image_form(project=project)), "project")
    assert_nothing_written()


def test_several_errors_at_once(client, owner, team):
    client.force_login(owner)
    response = client.post(IMAGE_URL, image_form(name="my job!", image="-rm", aliases="v1"))
    assert set(response.context["form"].errors) == {"name", "image", "aliases"}
    assert_nothing_written()


# --- git ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "remote,message",
    [
        ("file:///etc", "Only https://, ssh:// and git@host:path remotes are allowed"),
        ("ext::sh -c x", "cannot start with '-' or contain spaces"),
        ("ext::sh", "Only https://, ssh:// and git@host:path remotes are allowed"),
        ("-uhack", "cannot start with '-'"),
        ("http://x", "Only https://, ssh:// and git@host:path remotes are allowed"),
        ("http://github.com/acme/train.git", "Only https://"),
        ("/local/path", "Only https://, ssh:// and git@host:path remotes are allowed"),
        ("https://user:pw@github.com/acme/train.git", "Put credentials in a stored git credential"),
        ("", "This field is required."),
    ],
)
def test_bad_git_remote(client, owner, team, remote, message):
    client.force_login(owner)
    assert message in error_beside(client.post(GIT_URL, git_form(remote=remote)), "remote")
    assert_nothing_written()


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("entry_point", "../x.py", "must be a path inside the code"),
        ("entry_point", "/abs.py", "must be a path inside the code"),
        ("entry_point", "python 'unclosed", "cannot be parsed"),
        ("runtime", "2.7", "is not a Python version: give major and minor, like 3.11"),
        ("runtime", "abc", "is not a Python version: give major and minor, like 3.11"),
        ("ref", "--upload-pack=x", "is not a branch, tag or commit name"),
        ("ref", "a..b", "is not a branch, tag or commit name"),
    ],
)
def test_bad_git_fields(client, owner, team, field, value, message):
    client.force_login(owner)
    assert message in error_beside(client.post(GIT_URL, git_form(**{field: value})), field)
    assert_nothing_written()


def test_git_job_with_the_entitys_credential(client, member, owner, team):
    https = credential_create(
        entity=team, name="gh", kind="https", username="bot", secret="tok", host="github.com", created_by=owner
    )
    client.force_login(member)
    form = client.get(GIT_URL).context["form"]
    assert form.fields["credential"].choices == [
        ("", "None (public repository)"),
        ("acme", [(str(https.pk), "gh (HTTPS username and password or token) for github.com")]),
    ]
    response = client.post(GIT_URL, git_form(credential=str(https.pk), ref="v1", runtime="3.10.4"))
    build = JobBuild.objects.get()
    assert response["Location"] == f"/launch/builds/{build.pk}"
    assert build.git_credential == https
    assert build.params == {
        "remote": "https://github.com/acme/train.git",
        "ref": "v1",
        "entry_point": "train.py",
        "runtime": "3.10.4",
    }


def test_credential_must_belong_to_the_chosen_entity_and_fit_the_remote(client, owner, team):
    personal = credential_create(
        entity=owner.personal_entity,
        name="mine",
        kind="https",
        username="me",
        secret="tok",
        host="github.com",
        created_by=owner,
    )
    ssh = credential_create(entity=team, name="deploy", kind="ssh", secret=SSH_KEY, host="github.com", created_by=owner)
    client.force_login(owner)
    assert "belongs to another entity" in error_beside(
        client.post(GIT_URL, git_form(credential=str(personal.pk))), "credential"
    )
    assert "cannot be used with this remote" in error_beside(
        client.post(GIT_URL, git_form(credential=str(ssh.pk))), "credential"
    )
    assert_nothing_written()


def test_member_cannot_send_team_git_password_to_other_host(client, member, owner, team):
    """The Create job form: a team credential bound to github.com/acme/ is refused, beside the credential field,
    for a remote on any other host, port or path, and nothing is written."""
    https = credential_create(
        entity=team,
        name="gh",
        kind="https",
        username="bot",
        secret="tok",
        host="GitHub.com",
        path_prefix="acme",
        created_by=owner,
    )
    client.force_login(member)
    for remote, message in [
        ("https://evil.example/acme/train.git", "The credential gh is only for github.com:443, not evil.example:443."),
        ("https://github.com:8443/acme/train.git", "only for github.com:443, not github.com:8443"),
        ("https://github.com.evil.example/acme/train.git", "only for github.com:443"),
        ("https://github.com/acme-evil/train.git", "only for repositories under github.com/acme/"),
        ("https://github.com/acme/../evil/train.git", "only for repositories under github.com/acme/"),
    ]:
        assert message in error_beside(
            client.post(GIT_URL, git_form(remote=remote, credential=str(https.pk))), "credential"
        )
    assert_nothing_written()
    response = client.post(GIT_URL, git_form(remote="https://GITHUB.com:443/acme/train.git", credential=str(https.pk)))
    assert response.status_code == 302 and JobBuild.objects.get().git_credential == https


def test_git_remotes_cannot_reach_internal_addresses_form_error(client, owner, team):
    client.force_login(owner)
    for remote in (
        "https://127.0.0.1/acme/train.git",
        "https://169.254.169.254/latest.git",
        "ssh://git@[::1]:2222/acme/train.git",
        "git@localhost:acme/train.git",
    ):
        message = error_beside(client.post(GIT_URL, git_form(remote=remote)), "remote")
        assert "is an internal address" in message and "LAUNCHUI_GIT_ALLOWED_HOSTS" in message
    assert_nothing_written()


def test_outsider_cannot_use_another_entitys_credential(client, owner, outsider, team):
    theirs = credential_create(
        entity=team, name="gh", kind="https", username="bot", secret="tok", host="github.com", created_by=owner
    )
    client.force_login(outsider)
    form = client.get(GIT_URL).context["form"]
    assert form.fields["credential"].choices == [("", "None (public repository)")]
    response = client.post(GIT_URL, git_form(entity="oscar", credential=str(theirs.pk)))
    assert "Select a valid choice" in error_beside(response, "credential")
    assert not JobBuild.objects.exists()
    assert "gh (" not in text(response)


# --- code -----------------------------------------------------------------------------------------


def test_code_job_from_a_zip(client, owner, team):
    client.force_login(owner)
    response = client.post(CODE_URL, code_form(archive=("trainer.zip", make_zip(CODE)), runtime="3.12"))
    build = JobBuild.objects.get()
    assert response["Location"] == f"/launch/builds/{build.pk}"
    assert build.params["source_name"] == "trainer" and build.params["archive_name"] == "trainer.zip"
    build = run_build(build)
    assert build.status == "succeeded", build.log
    assert build.result.collection.name == "job-code-trainer_main.py"


def test_code_job_from_a_tar_gz_of_one_folder(client, owner, team):
    client.force_login(owner)
    files = {f"trainer/{path}": data for path, data in CODE.items()}
    client.post(CODE_URL, code_form(archive=("my-trainer.tar.gz", make_tar_gz(files))))
    build = run_build(JobBuild.objects.get())
    assert build.params["source_name"] == "my-trainer"
    assert build.status == "succeeded", build.log


def test_code_job_from_a_folder_keeps_relative_paths(client, owner, team):
    client.force_login(owner)
    folder = {f"trainer/{path}": data for path, data in CODE.items()}
    folder["trainer/.git/config"] = b"[core]\n"
    folder["trainer/wandb/run-1/log"] = b"x"
    client.post(CODE_URL, code_form(folder=folder, entry_point="python main.py --epochs 2"))
    build = JobBuild.objects.get()
    assert build.params["source_name"] == "trainer"
    assert sorted(build.params["files"]) == ["main.py", "pkg/__init__.py", "pkg/util.py", "requirements.txt"]
    build = run_build(build)
    assert build.status == "succeeded", build.log
    code = Artifact.objects.get(collection__type_name="code")
    assert sorted(code.files.values_list("name", flat=True)) == sorted(CODE)


def test_folder_without_paths_works_when_flat_and_refuses_collisions(client, owner, team):
    client.force_login(owner)
    flat = code_form(folder={"main.py": CODE["main.py"], "requirements.txt": b"wandb\n"})
    flat["paths"] = ""
    client.post(CODE_URL, flat)
    assert sorted(JobBuild.objects.get().params["files"]) == ["main.py", "requirements.txt"]
    JobBuild.objects.all().delete()

    nested = code_form(folder={"a/__init__.py": b"", "b/__init__.py": b"", "main.py": b""})
    nested["paths"] = ""
    assert "did not send the folder's paths" in error_beside(client.post(CODE_URL, nested), "folder")
    assert not JobBuild.objects.exists()


def test_folder_paths_that_do_not_match_the_files_are_refused(client, owner, team):
    client.force_login(owner)
    data = code_form(folder={"t/main.py": b"", "t/requirements.txt": b""}, paths=["t/other.py", "t/requirements.txt"])
    assert "did not arrive intact" in error_beside(client.post(CODE_URL, data), "folder")
    assert_nothing_written()


def test_folder_path_escaping_the_upload_is_refused(client, owner, team):
    client.force_login(owner)
    data = code_form(folder={"t/main.py": b""}, paths=["../main.py"])
    assert "points outside the upload" in error_beside(client.post(CODE_URL, data), "folder")
    assert_nothing_written()


@pytest.mark.parametrize(
    "archive,message",
    [
        (("evil.zip", make_zip({"main.py": b"", "../evil.py": b""})), "points outside the upload"),
        (("evil.tar.gz", make_tar_gz({"main.py": b"", "../evil.py": b""})), "points outside the upload"),
        (("abs.zip", make_zip({"/etc/evil.py": b""})), "points outside the upload"),
        (
            ("link.zip", make_zip({"main.py": b""}, symlinks={"secrets": "/etc/passwd"})),
            "symbolic links are not allowed",
        ),
        (
            ("link.tar.gz", make_tar_gz({"main.py": b""}, symlinks={"secrets": "/etc/passwd"})),
            "links and special files are not allowed",
        ),
        (("notes.txt", b"hello"), "Upload a .zip or .tar.gz archive"),
        (("fake.zip", b"not a zip at all"), "is not a valid zip file"),
        (("fake.tar.gz", b"not a tar at all"), "is not a valid tar archive"),
        (("empty.zip", make_zip({})), "contains no files"),
    ],
)
def test_bad_archive(client, owner, team, archive, message):
    client.force_login(owner)
    response = client.post(CODE_URL, code_form(archive=archive))
    assert message in error_beside(response, "archive")
    assert_nothing_written()


def test_oversized_upload(client, owner, team, settings):
    settings.LAUNCHUI_MAX_CODE_BYTES = 1024
    client.force_login(owner)
    big = {"main.py": b"#" * 2000, "requirements.txt": b"wandb\n"}
    assert "is larger than" in error_beside(
        client.post(CODE_URL, code_form(archive=("big.zip", b"x" * 5000))), "archive"
    )
    assert "The folder is larger than 1.0\xa0KB" in error_beside(
        client.post(CODE_URL, code_form(folder={f"t/{k}": v for k, v in big.items()})), "folder"
    )
    assert "larger than 0 MiB unpacked" in error_beside(  # small when packed, too big unpacked
        client.post(CODE_URL, code_form(archive=("bomb.zip", make_zip({"main.py": b"0" * 50_000})))), "archive"
    )
    assert_nothing_written()


def test_no_code_or_both(client, owner, team):
    client.force_login(owner)
    assert "Upload a folder's files or one .zip" in error_beside(client.post(CODE_URL, code_form()), "folder")
    both = code_form(archive=("t.zip", make_zip(CODE)), folder={"t/main.py": b""})
    assert "not both" in error_beside(client.post(CODE_URL, both), "archive")
    assert_nothing_written()


def test_code_errors_come_with_the_other_fields_errors(client, owner, team):
    client.force_login(owner)
    response = client.post(
        CODE_URL, code_form(archive=("notes.txt", b"x"), entry_point="../x.py", runtime="2.7", name="my job!")
    )
    assert set(response.context["form"].errors) == {"archive", "entry_point", "runtime", "name"}
    assert_nothing_written()


def test_a_build_that_fails_says_why(client, owner, team):
    client.force_login(owner)
    client.post(CODE_URL, code_form(archive=("t.zip", make_zip({"main.py": CODE["main.py"]}))))
    build = run_build(JobBuild.objects.get())
    assert build.status == "failed" and "requirements.txt is missing" in build.error


def test_ssh_credential_with_an_scp_like_remote(client, owner, team):
    ssh = credential_create(entity=team, name="deploy", kind="ssh", secret=SSH_KEY, host="github.com", created_by=owner)
    client.force_login(owner)
    response = client.post(GIT_URL, git_form(remote="git@github.com:acme/train.git", credential=str(ssh.pk)))
    assert response.status_code == 302
    assert JobBuild.objects.get().git_credential == ssh
