"""Git builds through the live Celery worker against real git servers on loopback: smart HTTPS with basic
auth (git http-backend, self-signed certificate) and OpenSSH with key auth."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from launchui.artifacts.models import Artifact
from launchui.jobs import rules, secrets, services
from launchui.jobs.models import GitCredential, JobBuild
from launchui.jobs.sources import GitError, git_checkout
from launchui.jobs.tasks import build_job_task
from launchui.launch.services import project_get_or_create
from tests.conftest import GIT_CONNECT_TIMEOUT, GIT_HTTPS_PASSWORD, GIT_HTTPS_USER
from tests.gitserver import (
    RecordingHTTPSServer,
    SilentServer,
    SSHServer,
    add_commit,
    free_port,
    ssh_keygen,
)
from tests.jobs.conftest import aliases_of, failed, files_of, job_spec, succeeded

pytestmark = pytest.mark.django_db(transaction=True)


def https_credential(owner, server, password=GIT_HTTPS_PASSWORD, name="gitserver", entity=None, **binding):
    """An HTTPS credential bound to the test server (host 127.0.0.1, its port)."""
    return services.credential_create(
        entity=entity or owner.personal_entity,
        name=name,
        kind=GitCredential.HTTPS,
        username=GIT_HTTPS_USER,
        secret=password,
        host="127.0.0.1",
        port=server.port,
        created_by=owner,
        **binding,
    )


def ssh_credential(owner, key_path, server, name="deploy-key", **binding):
    return services.credential_create(
        entity=owner.personal_entity,
        name=name,
        kind=GitCredential.SSH,
        secret=key_path.read_text(),
        host="127.0.0.1",
        port=server.port,
        created_by=owner,
        **binding,
    )


def git_build(owner, remote, *, entry_point="train.py", **kwargs):
    return services.build_create_git(
        entity=owner.personal_entity, project="proj", remote=remote, entry_point=entry_point, created_by=owner, **kwargs
    )


def expected_name(remote: str, script: str = "train.py") -> str:
    name = "job-" + re.sub(r"[^a-zA-Z0-9_\-.]", "_", f"{remote}_{script}")
    return name if len(name) <= 128 else name[:63] + ".." + name[-63:]


def all_database_text() -> str:
    """Every row of every table of the test database, as PostgreSQL prints it (bytea as hex)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = [row[0] for row in cursor.fetchall()]
        chunks: list[str] = []
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
    assert spec["source"] == {
        "git": {"remote": remote, "commit": git_repo.commits["main"]},
        "entrypoint": ["python", "train.py"],
        "notebook": False,
    }
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
    build = failed(git_build(owner, git_https_server.url("private/trainer.git"), credential=credential), celery_worker)

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
    build = failed(
        git_build(
            owner,
            git_ssh_server.url(git_repo.path),
            credential=ssh_credential(owner, git_ssh_server.wrong_key, git_ssh_server),
        ),
        celery_worker,
    )
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


@pytest.mark.parametrize(
    "ref, commit_of, runtime",
    [
        ("dev", "dev", "3.9"),  # a branch; .python-version's first line
        ("v1", "v1", "3.10"),  # a tag; runtime.txt
        ("commit:plain", "plain", "default"),  # a full commit hash; neither file, the server default
        ("short:no-wandb", "no-wandb", "3.10"),  # an abbreviated hash
    ],
)
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


# --- finding 1: a stored credential goes to the server it is bound to, and nowhere else -------------------


def queued_anyway(entity, remote, credential, created_by):
    """A queued build naming this remote and credential, as one made before the binding rule existed (or by
    anything that skips build_create_git) would be: the worker must refuse it on its own."""
    build = JobBuild.objects.create(
        project=project_get_or_create(entity=entity, name="proj"),
        kind=JobBuild.GIT,
        params={"remote": remote, "ref": "", "entry_point": "train.py", "runtime": ""},
        git_credential=credential,
        created_by=created_by,
    )
    build_job_task.delay(build.pk)
    return build


@pytest.fixture
def thief(git_tls_cert):
    """An HTTPS server on another port that asks for basic auth and records any Authorization it gets."""
    server = RecordingHTTPSServer(*git_tls_cert).start()
    yield server
    server.stop()


def test_member_cannot_send_team_git_password_to_other_host(
    celery_worker, owner, member, team, git_https_server, git_tls_cert, thief
):
    credential = https_credential(owner, git_https_server, entity=team, name="team-git")
    remote = thief.url("acme/train.git")

    # The service the Create job form calls refuses it, beside the credential, and writes nothing.
    with pytest.raises(ValidationError) as caught:
        services.build_create_git(
            entity=team, project="proj", remote=remote, entry_point="train.py", credential=credential, created_by=member
        )
    assert caught.value.message_dict == {
        "credential": [
            f"The credential team-git is only for 127.0.0.1:{git_https_server.port}, not 127.0.0.1:{thief.port}."
        ]
    }
    assert not JobBuild.objects.exists()

    # The worker checks again just before git runs.
    build = failed(queued_anyway(team, remote, credential, member), celery_worker)
    assert (
        build.error == f"The credential team-git is only for 127.0.0.1:{git_https_server.port}, "
        f"not 127.0.0.1:{thief.port}."
    )

    # The bound server redirecting to another host cannot carry the credential there.
    redirector = RecordingHTTPSServer(*git_tls_cert, redirect_to=thief.url("")).start()
    try:
        bound = https_credential(owner, redirector, entity=team, name="redirecting")
        build = failed(
            services.build_create_git(
                entity=team,
                project="proj",
                remote=redirector.url("acme/x.git"),
                entry_point="train.py",
                credential=bound,
                created_by=member,
            ),
            celery_worker,
        )
    finally:
        redirector.stop()
    assert redirector.requests[0][:2] == ("GET", "/acme/x.git/info/refs?service=git-upload-pack")
    assert build.status == JobBuild.FAILED and GIT_HTTPS_PASSWORD not in build.log + build.error

    # The thief never received anything, let alone an Authorization header.
    assert thief.requests == []


def test_credential_path_prefix_and_legacy_unbound_credentials(celery_worker, owner, git_https_server):
    under_team = https_credential(owner, git_https_server, name="prefixed", path_prefix="/private/")
    assert under_team.path_prefix == "private"
    succeeded(git_build(owner, git_https_server.url("private/trainer.git"), credential=under_team), celery_worker)
    for remote in (
        git_https_server.url("public/trainer.git"),
        git_https_server.url("privateer/trainer.git"),
        git_https_server.url("private/../public/trainer.git"),
        git_https_server.url("private/%2e%2e/public/trainer.git"),
    ):
        with pytest.raises(ValidationError) as caught:
            git_build(owner, remote, credential=under_team)
        assert "only for repositories under 127.0.0.1/private/" in caught.value.message_dict["credential"][0]

    # A credential stored before binding existed has no host: refused until an admin binds it.
    legacy = https_credential(owner, git_https_server, name="legacy")
    GitCredential.objects.filter(pk=legacy.pk).update(host="", port=None)
    legacy.refresh_from_db()
    with pytest.raises(ValidationError) as caught:
        git_build(owner, git_https_server.url("private/trainer.git"), credential=legacy)
    assert "is not bound to a host" in caught.value.message_dict["credential"][0]
    build = failed(
        queued_anyway(owner.personal_entity, git_https_server.url("private/trainer.git"), legacy, owner), celery_worker
    )
    assert "is not bound to a host" in build.error
    services.credential_bind(credential=legacy, host="127.0.0.1", port=git_https_server.port)
    succeeded(git_build(owner, git_https_server.url("private/trainer.git"), credential=legacy), celery_worker)


def test_ssh_host_key_is_recorded_on_first_use_and_a_changed_key_is_refused(celery_worker, owner, git_repo, tmp_path):
    first = SSHServer(tmp_path / "first").start()
    try:
        credential = ssh_credential(owner, first.client_key, first)
        assert credential.known_hosts == ""
        build = succeeded(git_build(owner, first.url(git_repo.path), credential=credential), celery_worker)
    finally:
        first.stop()
    credential.refresh_from_db()
    host_key = (first.dir / "ssh_host_ed25519_key.pub").read_text().split()
    assert credential.known_hosts.split() == [f"[127.0.0.1]:{first.port}", host_key[0], host_key[1]]
    fingerprint = rules.known_hosts_fingerprints(credential.known_hosts)[0]
    recorded = f"Recorded the SSH host key of [127.0.0.1]:{first.port} for credential deploy-key: {fingerprint}"
    assert recorded in build.log

    # Another server on the same address, with another host key and the same authorized client key.
    impostor = SSHServer(tmp_path / "impostor", port=first.port)
    impostor.authorized_keys.write_text((first.dir / "client_key.pub").read_text())
    impostor.start()
    try:
        build = failed(git_build(owner, first.url(git_repo.path), credential=credential), celery_worker)
    finally:
        impostor.stop()
    assert "Host key verification failed" in build.error
    assert "host key is not the one recorded for this credential" in build.error
    assert "Accepted publickey" not in impostor.log()  # refused before the key was offered
    credential.refresh_from_db()
    assert credential.known_hosts.split()[2] == host_key[1]


def test_pasted_known_hosts_are_required_from_the_first_build(celery_worker, owner, git_repo, git_ssh_server, tmp_path):
    ssh_keygen(tmp_path / "other", "not the server")
    other_key = (tmp_path / "other.pub").read_text().split()
    credential = ssh_credential(
        owner,
        git_ssh_server.client_key,
        git_ssh_server,
        known_hosts=f"[127.0.0.1]:{git_ssh_server.port} {other_key[0]} {other_key[1]}\n",
    )
    build = failed(git_build(owner, git_ssh_server.url(git_repo.path), credential=credential), celery_worker)
    assert "Host key verification failed" in build.error


# --- finding 6: remotes do not reach internal addresses, and silent servers do not hold workers ------------


@pytest.mark.parametrize(
    "remote",
    [
        "https://127.0.0.1:{port}/private/trainer.git",  # loopback, not allowed here
        "https://[::1]:{port}/private/trainer.git",
        "https://[::ffff:127.0.0.1]:{port}/private/trainer.git",
        "https://localhost:{port}/private/trainer.git",  # a name that resolves to loopback
        "ssh://git@169.254.169.254/latest/meta-data.git",  # link-local: the cloud metadata service
        "git@10.1.2.3:acme/train.git",  # private networks are internal too
        "https://192.168.1.1/acme/train.git",
    ],
)
def test_git_remotes_cannot_reach_internal_addresses(owner, git_https_server, settings, remote):
    settings.LAUNCHUI_GIT_ALLOWED_HOSTS = []
    remote = remote.format(port=git_https_server.port)
    seen = len(git_https_server.requests)
    with pytest.raises(ValidationError) as caught:
        git_build(owner, remote)
    (message,) = caught.value.message_dict["remote"]
    assert "is an internal address" in message and "LAUNCHUI_GIT_ALLOWED_HOSTS" in message
    assert not JobBuild.objects.exists()
    # The worker's own check, before git runs (a name may resolve differently by then).
    with pytest.raises(GitError) as caught, git_checkout(remote, ""):
        pass
    assert "is an internal address" in str(caught.value)
    assert len(git_https_server.requests) == seen


def test_git_remotes_worker_refuses_internal_address_of_a_queued_build(celery_worker, owner):
    build = failed(queued_anyway(owner.personal_entity, "https://[::1]:8443/acme/x.git", None, owner), celery_worker)
    assert build.error.startswith("::1 is an internal address")


def normalised(log: str) -> str:
    return re.sub(r"/tmp/\S+", "TMP", re.sub(r"127\.0\.0\.1(\]?):\d+", r"127.0.0.1\1:PORT", log))


@pytest.mark.parametrize("transport", ["https", "ssh"])
def test_git_remote_that_never_answers_ends_within_seconds_and_reads_like_a_closed_port(
    celery_worker, owner, transport
):
    silent, closed = SilentServer(), free_port()
    remotes = {
        port: (
            f"https://127.0.0.1:{port}/acme/train.git"
            if transport == "https"
            else f"ssh://git@127.0.0.1:{port}/acme/train.git"
        )
        for port in (silent.port, closed)
    }
    try:
        builds = {port: git_build(owner, remote, name=f"p{port}") for port, remote in remotes.items()}
        done = {port: failed(build, celery_worker, timeout=60) for port, build in builds.items()}
    finally:
        silent.stop()
    for port, build in done.items():
        assert build.error == f"Could not reach the git server 127.0.0.1:{port}."
        assert (
            GIT_CONNECT_TIMEOUT - 0.5
            <= (build.finished_at - build.started_at).total_seconds()
            <= GIT_CONNECT_TIMEOUT + 5
        )
        for tell in ("refused", "timed out", "route", "reset", "banner", "SSL", "proxy", "Failed to connect"):
            assert tell not in build.log
    assert normalised(done[silent.port].log) == normalised(done[closed].log)
