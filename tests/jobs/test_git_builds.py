"""Git builds through the live Celery worker against real git servers on loopback: smart HTTPS with basic
auth (git http-backend, self-signed certificate) and OpenSSH with key auth."""

import re

import pytest
from django.db import connection

from launchui.artifacts.models import Artifact
from launchui.jobs import rules, secrets, services
from launchui.jobs.models import GitCredential, JobBuild
from tests.conftest import GIT_HTTPS_PASSWORD, GIT_HTTPS_USER
from tests.gitserver import add_commit
from tests.jobs.conftest import aliases_of, failed, files_of, job_spec, succeeded

pytestmark = pytest.mark.django_db(transaction=True)


def https_credential(owner, server, password=GIT_HTTPS_PASSWORD, name="gitserver", entity=None, **binding):
    """An HTTPS credential bound to the test server (host 127.0.0.1, its port)."""
    return services.credential_create(entity=entity or owner.personal_entity, name=name, kind=GitCredential.HTTPS,
                                      username=GIT_HTTPS_USER, secret=password, host="127.0.0.1",
                                      port=server.port, created_by=owner, **binding)


def ssh_credential(owner, key_path, server, name="deploy-key", **binding):
    return services.credential_create(entity=owner.personal_entity, name=name, kind=GitCredential.SSH,
                                      secret=key_path.read_text(), host="127.0.0.1", port=server.port,
                                      created_by=owner, **binding)


def git_build(owner, remote, *, entry_point="train.py", **kwargs):
    return services.build_create_git(entity=owner.personal_entity, project="proj", remote=remote,
                                     entry_point=entry_point, created_by=owner, **kwargs)


def expected_name(remote: str, script: str = "train.py") -> str:
    name = "job-" + re.sub(r"[^a-zA-Z0-9_\-.]", "_", f"{remote}_{script}")
    return name if len(name) <= 128 else name[:63] + ".." + name[-63:]


def all_database_text() -> str:
    """Every row of every table of the test database, as PostgreSQL prints it (bytea as hex)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cursor.fetchall()]
        chunks = []
        for table in tables:
            cursor.execute(f'SELECT t::text FROM "{table}" t')
            chunks.extend(row[0] for row in cursor.fetchall())
    return "\n".join(chunks)


# --- HTTPS --------------------------------------------------------------------------------------------

def test_https_build_with_the_right_credential(celery_worker, owner, git_repo, git_https_server):
    remote = git_https_server.url("private/trainer.git")
    build = git_build(owner, remote, credential=https_credential(owner, git_https_server), aliases=["nightly"])
    assert build.status == JobBuild.QUEUED
    build = succeeded(build, celery_worker)

    job = build.result
    assert job.collection.name == expected_name(remote) == rules.git_job_name(remote, "train.py")
    assert (job.version, build.result_created) == ("v0", True) and aliases_of(job) == ["latest", "nightly"]
    spec = job_spec(job)
    assert spec["source_type"] == "repo"
    assert spec["source"] == {"git": {"remote": remote, "commit": git_repo.commits["main"]},
                              "entrypoint": ["python", "train.py"], "notebook": False}
    assert spec["runtime"] == "3.10"  # runtime.txt python-3.10.4, micro dropped
    assert files_of(job)["requirements.frozen.txt"] == b"wandb\nnumpy>=1.20\n"
    assert "Using HTTPS credential gitserver" in build.log and f"Checked out {git_repo.commits['main']}" in build.log
    assert ("POST", "/private/trainer.git/git-upload-pack", GIT_HTTPS_USER, 200) in git_https_server.requests
    text = all_database_text()
    assert GIT_HTTPS_PASSWORD not in build.log and GIT_HTTPS_PASSWORD not in text
    assert GIT_HTTPS_PASSWORD.encode().hex() not in text


def test_https_wrong_password_fails_and_the_password_is_nowhere(celery_worker, owner, git_https_server):
    wrong = "wrong-Pa55word-7f3e9"
    credential = https_credential(owner, git_https_server, password=wrong)
    build = failed(git_build(owner, git_https_server.url("private/trainer.git"), credential=credential),
                   celery_worker)

    assert "Authentication failed" in build.error and "credential" in build.error
    assert build.result is None
    for secret in (wrong, GIT_HTTPS_PASSWORD):
        assert secret not in build.log and secret not in build.error
    # Stored only as ciphertext: not in any column of any table, in clear or as bytea hex.
    credential.refresh_from_db()
    stored = bytes(credential.secret_encrypted)
    assert wrong.encode() not in stored and stored.startswith(b"gAAAAA")
    assert secrets.decrypt(stored) == wrong
    text = all_database_text()
    assert "gitserver" in text  # the dump does include the credential row
    assert wrong not in text and wrong.encode().hex() not in text


def test_https_private_repository_without_a_credential_fails(celery_worker, owner, git_https_server):
    build = failed(git_build(owner, git_https_server.url("private/trainer.git")), celery_worker)
    assert "could not read Username" in build.error
    assert "needs a credential" in build.error


def test_https_public_repository_needs_no_credential(celery_worker, owner, git_repo, git_https_server):
    build = succeeded(git_build(owner, git_https_server.url("public/trainer.git"), ref="v1"), celery_worker)
    assert job_spec(build.result)["source"]["git"]["commit"] == git_repo.commits["v1"]


def test_https_untrusted_certificate_fails_clearly(git_https_server, settings):
    """In-process (no worker): without the test CA the self-signed certificate is refused, with a hint."""
    from launchui.jobs.sources import GitError, git_checkout

    settings.LAUNCHUI_GIT_SSL_CA_FILE = ""
    with pytest.raises(GitError) as caught:
        with git_checkout(git_https_server.url("public/trainer.git"), ""):
            pass
    assert "certificate" in str(caught.value) and "LAUNCHUI_GIT_SSL_CA_FILE" in str(caught.value)


# --- SSH ----------------------------------------------------------------------------------------------

def test_ssh_build_with_the_right_key(celery_worker, owner, git_repo, git_ssh_server):
    remote = git_ssh_server.url(git_repo.path)
    assert remote.startswith("ssh://root@127.0.0.1:") and remote.endswith("/private/trainer.git")
    credential = ssh_credential(owner, git_ssh_server.client_key, git_ssh_server)
    build = succeeded(git_build(owner, remote, credential=credential), celery_worker)
    spec = job_spec(build.result)
    assert spec["source"]["git"] == {"remote": remote, "commit": git_repo.commits["main"]}
    assert build.result.collection.name == expected_name(remote)
    assert "Using SSH credential deploy-key" in build.log
    assert "PRIVATE KEY" not in build.log


def test_ssh_wrong_key_fails(celery_worker, owner, git_repo, git_ssh_server):
    build = failed(git_build(owner, git_ssh_server.url(git_repo.path),
                             credential=ssh_credential(owner, git_ssh_server.wrong_key, git_ssh_server)), celery_worker)
    assert "Permission denied (publickey)" in build.error
    assert "PRIVATE KEY" not in build.log + build.error


def test_ssh_without_a_key_fails(celery_worker, owner, git_repo, git_ssh_server):
    build = failed(git_build(owner, git_ssh_server.url(git_repo.path)), celery_worker)
    assert "Permission denied (publickey)" in build.error


# --- refs, runtimes, versions -------------------------------------------------------------------------

@pytest.fixture
def ssh_remote(owner, git_repo, git_ssh_server):
    """(remote, credential) for the SSH server."""
    return git_ssh_server.url(git_repo.path), ssh_credential(owner, git_ssh_server.client_key, git_ssh_server)


@pytest.mark.parametrize("ref, commit_of, runtime", [
    ("dev", "dev", "3.9"),          # a branch; .python-version's first line
    ("v1", "v1", "3.10"),           # a tag; runtime.txt
    ("commit:plain", "plain", "default"),  # a full commit hash; neither file, the server default
    ("short:no-wandb", "no-wandb", "3.10"),  # an abbreviated hash
])
def test_refs_branch_tag_commit(celery_worker, owner, git_repo, ssh_remote, settings, ref, commit_of, runtime):
    remote, credential = ssh_remote
    if ref.startswith("commit:"):
        ref = git_repo.commits[ref.split(":")[1]]
    elif ref.startswith("short:"):
        ref = git_repo.commits[ref.split(":")[1]][:10]
    build = succeeded(git_build(owner, remote, ref=ref, credential=credential), celery_worker)
    spec = job_spec(build.result)
    assert spec["source"]["git"]["commit"] == git_repo.commits[commit_of]
    assert spec["runtime"] == (settings.LAUNCHUI_DEFAULT_PYTHON if runtime == "default" else runtime)


def test_explicit_runtime_wins_over_runtime_txt(celery_worker, owner, ssh_remote):
    remote, credential = ssh_remote
    build = succeeded(git_build(owner, remote, ref="v1", runtime="3.12.7", credential=credential), celery_worker)
    assert job_spec(build.result)["runtime"] == "3.12"


def test_unknown_ref_fails_clearly(celery_worker, owner, ssh_remote):
    remote, credential = ssh_remote
    build = failed(git_build(owner, remote, ref="no-such-branch", credential=credential), celery_worker)
    assert build.error == f"No branch, tag or commit named 'no-such-branch' in {remote}."


def test_missing_requirements_missing_wandb_and_missing_entry_point(celery_worker, owner, ssh_remote):
    remote, credential = ssh_remote
    no_requirements = git_build(owner, remote, ref="no-requirements", credential=credential)
    no_wandb = git_build(owner, remote, ref="no-wandb", credential=credential, name="no-wandb")
    no_entry = git_build(owner, remote, entry_point="python missing.py --x 1", credential=credential)

    build = failed(no_requirements, celery_worker)
    assert build.error.startswith("requirements.txt is missing")
    build = succeeded(no_wandb, celery_worker)
    assert "WARNING wandb is not in requirements.txt" in build.log
    build = failed(no_entry, celery_worker)
    assert build.error.startswith("The entry point missing.py is not in the code")
    assert list(Artifact.objects.values_list("collection__name", flat=True)) == ["no-wandb"]


def test_versions_no_changes_and_a_new_commit(celery_worker, owner, git_repo, ssh_remote):
    remote, credential = ssh_remote
    add_commit(git_repo, "versions", {"train.py": "import wandb\nwandb.init()\n"}, base="main")
    first = succeeded(git_build(owner, remote, ref="versions", credential=credential), celery_worker)
    again = succeeded(git_build(owner, remote, ref="versions", credential=credential), celery_worker)
    commit = add_commit(git_repo, "versions", {"train.py": "import wandb\nwandb.init()\n# v2\n"})
    newer = succeeded(git_build(owner, remote, ref="versions", credential=credential), celery_worker)

    assert (first.result.version, first.result_created) == ("v0", True)
    assert (again.result_id, again.result_created) == (first.result_id, False)
    assert "No changes detected for job" in again.log
    assert (newer.result.version, newer.result_created) == ("v1", True)
    assert job_spec(newer.result)["source"]["git"]["commit"] == commit
    assert aliases_of(newer.result) == ["latest"] and aliases_of(first.result) == []
