"""launchui/jobs/rules.py: pure functions, no database."""

import pytest
from django.core.exceptions import ValidationError

from launchui.artifacts import services as artifact_services
from launchui.jobs import rules

DIGEST = "sha256:" + "0123456789abcdef" * 4


# --- images -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reference, name, tag, digest",
    [
        ("python", "python", None, None),
        ("python:3.12-slim", "python", "3.12-slim", None),
        ("library/python:3.12", "library/python", "3.12", None),
        ("ghcr.io/acme/trainer:1.0", "ghcr.io/acme/trainer", "1.0", None),
        ("localhost:5000/trainer", "localhost:5000/trainer", None, None),
        ("registry.example.com:5000/team/trainer:1.2", "registry.example.com:5000/team/trainer", "1.2", None),
        (
            f"registry.example.com:5000/team/trainer:1.2@{DIGEST}",
            "registry.example.com:5000/team/trainer",
            "1.2",
            DIGEST,
        ),
        (f"trainer@{DIGEST}", "trainer", None, DIGEST),
        ("[::1]:5000/trainer:x", "[::1]:5000/trainer", "x", None),
        ("Registry.Example.com/a_b/c__d/e-f.g:T_1", "Registry.Example.com/a_b/c__d/e-f.g", "T_1", None),
        ("localhost:5000", "localhost", "5000", None),  # an image named localhost, tag 5000
        ("  python:3.12  ", "python", "3.12", None),
    ],
)
def test_image_references(reference, name, tag, digest):
    assert rules.parse_image(reference) == {"name": name, "tag": tag, "digest": digest}


@pytest.mark.parametrize(
    "reference",
    [
        "",
        "Python",
        "python:",
        ":3.12",
        "python:-x",
        "python:3.12:extra",
        "-python",
        "python/",
        "a//b",
        "my image",
        "python@sha256:abc",
        "python@" + "0" * 64,
        "python:" + "x" * 129,
        "a" * 256,
        "registry:port/x",
        "ghcr.io/Acme/trainer",
        "python:3.12@",
        "python;rm -rf /",
    ],
)
def test_bad_image_references(reference):
    with pytest.raises(ValidationError, match="is not a Docker image reference"):
        rules.parse_image(reference)


@pytest.mark.parametrize(
    "reference, job_name, alias",
    [
        ("python:3.12-slim", "job-python", "3.12-slim"),
        ("ghcr.io/acme/trainer", "job-ghcr.io_acme_trainer", None),
        (f"registry.example.com:5000/team/trainer:1.2@{DIGEST}", "job-registry.example.com_5000_team_trainer", "1.2"),
        (f"trainer@{DIGEST}", "job-trainer", None),
    ],
)
def test_image_job_name_and_tag_alias(reference, job_name, alias):
    assert rules.image_job_name(reference) == job_name
    assert rules.image_tag_alias(reference) == alias


# --- git remotes and refs -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "remote",
    [
        "https://github.com/org/repo.git",
        "https://github.com/org/repo",
        "HTTPS://github.com/org/repo",
        "https://git.example.com:8443/group/sub/repo.git",
        "ssh://git@github.com/org/repo.git",
        "ssh://git@host.example:2222/org/repo.git",
        "ssh://host.example/srv/repo.git",
        "ssh://root@127.0.0.1:2222/tmp/x/repo.git",
        "git@github.com:org/repo.git",
        "deploy.user@host.example:repo.git",
        "  https://github.com/org/repo  ",
    ],
)
def test_git_remotes_accepted(remote):
    assert rules.validate_git_remote(remote) == remote.strip()


@pytest.mark.parametrize(
    "remote, message",
    [
        ("", "Enter the repository's URL"),
        ("file:///tmp/repo.git", "Only https://, ssh://"),
        ("FILE:///tmp/repo.git", "Only https://, ssh://"),
        ("ext::sh -c touch% /tmp/pwned", "cannot start with '-' or contain spaces"),
        ("ext::sh", "Only https://, ssh://"),
        ("fd::17", "Only https://, ssh://"),
        ("fd::0,1/x", "Only https://, ssh://"),
        ("-uploadpack=touch /tmp/x", "cannot start with '-'"),
        ("-u/tmp/x", "cannot start with '-'"),
        ("--upload-pack=touch%20x", "cannot start with '-'"),
        ("http://github.com/org/repo.git", "Only https://, ssh://"),
        ("git://github.com/org/repo.git", "Only https://, ssh://"),
        ("/tmp/repo.git", "Only https://, ssh://"),
        ("./repo", "Only https://, ssh://"),
        ("../repo.git", "Only https://, ssh://"),
        ("repo.git", "Only https://, ssh://"),
        ("github.com:org/repo.git", "Only https://, ssh://"),  # scp-like needs user@
        ("git@host:ext::sh", "Only https://, ssh://"),
        ("git@-oProxyCommand=x:repo", "Only https://, ssh://"),
        ("git@-host:repo", "host cannot start with '-'"),
        ("https://user:secret@github.com/org/repo.git", "credentials in a stored git credential"),
        ("https://ghp_token@github.com/org/repo.git", "credentials in a stored git credential"),
        ("https://github.com@evil.example/org/repo", "credentials in a stored git credential"),
        ("ssh://git:secret@github.com/org/repo.git", "credentials in a stored git credential"),
        ("https://github.com", "looks like https://host/org/repo.git"),
        ("https://-oProxyCommand=x/repo", "looks like https://host"),
        ("ssh://-oProxyCommand=touch/x", "looks like ssh://"),
        ("ssh://git@-oProxyCommand=touch/x", "looks like ssh://"),
        ("ssh://github.com", "looks like ssh://"),
        ("https://github.com/org/repo\n--upload-pack=x", "contain spaces or control characters"),
        ("https://github.com/org/repo\x00", "control characters"),
        ("https://github.com/" + "a" * 1000, "cannot start with '-'"),
    ],
)
def test_git_remotes_refused(remote, message):
    with pytest.raises(ValidationError) as caught:
        rules.validate_git_remote(remote)
    assert message in caught.value.messages[0]


@pytest.mark.parametrize(
    "ref",
    [
        "",
        "main",
        "feature/new-model",
        "v1.0.2",
        "release-2024_01",
        "0123456789abcdef0123456789abcdef01234567",
        "abc1234",
        "  dev  ",
    ],
)
def test_git_refs_accepted(ref):
    assert rules.validate_git_ref(ref) == ref.strip()


@pytest.mark.parametrize(
    "ref",
    [
        "-x",
        "--upload-pack=touch",
        "-",
        "a..b",
        "..",
        "main..dev",
        "a b",
        "a~1",
        "a^",
        "a:b",
        "/main",
        "main/",
        "a//b",
        "x.lock",
        "a@{1}",
        "a\\b",
        "*",
        "a?",
        "a[b",
        "a\x01",
        "a" * 256,
    ],
)
def test_git_refs_refused(ref):
    with pytest.raises(ValidationError, match="is not a branch, tag or commit name"):
        rules.validate_git_ref(ref)


# --- entry points, runtimes, names --------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry_point, parts, script",
    [
        ("train.py", ["python", "train.py"], "train.py"),
        ("src/train.py --epochs 3", ["python", "src/train.py", "--epochs", "3"], "src/train.py"),
        ("python train.py --name 'a b'", ["python", "train.py", "--name", "a b"], "train.py"),
        ("python3 -u ./train.py", ["python3", "-u", "./train.py"], "./train.py"),
        ("bash run.sh", ["bash", "run.sh"], "run.sh"),
        ("", ["python", "main.py"], "main.py"),
        ("   ", ["python", "main.py"], "main.py"),
    ],
)
def test_entry_points(entry_point, parts, script):
    assert rules.validate_entry_point(entry_point) == parts
    assert rules.script_of(parts) == script


@pytest.mark.parametrize(
    "entry_point, message",
    [
        ("../train.py", "inside the code"),
        ("python ../../x.py", "inside the code"),
        ("/usr/bin/x.py", "inside the code"),
        ("python a/../../x.py", "inside the code"),
        ("python 'train.py", "cannot be parsed"),
    ],
)
def test_bad_entry_points(entry_point, message):
    with pytest.raises(ValidationError, match=message):
        rules.validate_entry_point(entry_point)


@pytest.mark.parametrize(
    "value, runtime",
    [
        ("3.10.4", "3.10"),
        ("python-3.10.4", "3.10"),
        ("python3.9", "3.9"),
        ("3.12", "3.12"),
        ("  3.11.2 ", "3.11"),
        ("", None),
        (None, None),
        ("3.13.0", "3.13"),
    ],
)
def test_runtimes(value, runtime):
    assert rules.clean_runtime(value) == runtime


@pytest.mark.parametrize("value", ["3", "2.7", "3.x", "pypy3.9", "3.10.4rc1", "python-", "4.0", "3.12-dev", "three"])
def test_bad_runtimes(value):
    with pytest.raises(ValidationError, match="is not a Python version"):
        rules.clean_runtime(value)


def test_make_artifact_name_safe_matches_the_wandb_client():
    from wandb.util import make_artifact_name_safe as client

    exactly_128 = "job-" + "a" * 124
    long = "job-https___github.com_" + "x" * 150 + "_train.py"
    for name in (
        "job-python",
        "a/b c:d@e",
        "job-ssh://git@host:22/p/r.git_train.py",
        exactly_128,
        exactly_128 + "b",
        long,
        "ü" * 200,
        "",
    ):
        assert rules.make_artifact_name_safe(name) == client(name), name
    assert rules.make_artifact_name_safe(exactly_128) == exactly_128
    truncated = rules.make_artifact_name_safe(exactly_128 + "b")
    assert len(truncated) == 128 and truncated == "job-" + "a" * 59 + ".." + "a" * 62 + "b"
    assert rules.make_artifact_name_safe(long).endswith("xxx_train.py")


def test_default_job_names():
    assert (
        rules.git_job_name("https://github.com/org/repo.git", "train.py")
        == "job-https___github.com_org_repo.git_train.py"
    )
    assert (
        rules.git_job_name("git@github.com:org/repo.git", "src/train.py")
        == "job-git_github.com_org_repo.git_src_train.py"
    )
    assert rules.code_artifact_name("trainer", "train.py") == "code-trainer_train.py"
    assert rules.code_artifact_name("trainer", "./src/train.py") == "code-trainer_src_train.py"
    assert rules.code_job_name("code-trainer_train.py") == "job-code-trainer_train.py"


@pytest.mark.parametrize(
    "name, ok",
    [
        ("my-job", True),
        ("job_1.2", True),
        ("a" * 128, True),
        ("a" * 129, False),
        ("my job", False),
        ("a/b", False),
        ("", False),
        ("ü", False),
    ],
)
def test_job_names(name, ok):
    if ok:
        assert rules.validate_job_name(name) == name
    else:
        with pytest.raises(ValidationError, match="Did you mean"):
            rules.validate_job_name(name)


@pytest.mark.parametrize(
    "alias, ok",
    [
        ("prod", True),
        ("3.12-slim", True),
        ("latest", True),
        ("v1", False),
        ("v12", False),
        ("v1a", True),
        ("a b", False),
        ("", False),
        ("x" * 129, False),
    ],
)
def test_aliases(alias, ok):
    # One alias rule for artifacts and jobs: artifacts/services.validate_alias.
    if ok:
        assert artifact_services.validate_alias(alias) == alias
    else:
        with pytest.raises(ValidationError):
            artifact_services.validate_alias(alias)


def test_requirement_names():
    text = (
        "# a comment mentioning wandb\n-r base.txt\n--index-url https://x\n-e git+https://x#egg=wandb\n"
        "Wandb~=0.31 ; python_version >= '3.8'\nnumpy>=1.2,<2\ntorch[cuda]==2.1\nmy_pkg.Name @ https://x\n"
        "scipy  # pinned elsewhere\n"
    )
    assert rules.requirement_names(text) == {"wandb", "numpy", "torch", "my-pkg-name", "scipy"}
    assert "wandb" not in rules.requirement_names("wandb-core\nwandbx\n# wandb\n")


# --- git hosts: LAUNCHUI_GIT_ALLOWED_HOSTS and what counts as internal ----------------------------------


def test_allowed_git_hosts_setting_is_parsed_and_fails_loudly(monkeypatch):
    import ipaddress

    from django.core.exceptions import ImproperlyConfigured

    from launchui.env import env_git_hosts

    monkeypatch.setenv(
        "LAUNCHUI_GIT_ALLOWED_HOSTS", "git.internal, GitLab.corp:8443, 10.0.0.0/8, 10.1.2.3:22, [fd00::1]:443, fd00::/8"
    )
    assert env_git_hosts("LAUNCHUI_GIT_ALLOWED_HOSTS") == [
        ("host", "git.internal", None),
        ("host", "gitlab.corp", 8443),
        ("network", ipaddress.ip_network("10.0.0.0/8"), None),
        ("network", ipaddress.ip_network("10.1.2.3/32"), 22),
        ("network", ipaddress.ip_network("fd00::1/128"), 443),
        ("network", ipaddress.ip_network("fd00::/8"), None),
    ]
    for bad in ("git.internal:http", "10.0.0.0/33", "https://git.internal", "[fd00::1]x", "host:0"):
        monkeypatch.setenv("LAUNCHUI_GIT_ALLOWED_HOSTS", bad)
        with pytest.raises(ImproperlyConfigured):
            env_git_hosts("LAUNCHUI_GIT_ALLOWED_HOSTS")


@pytest.mark.parametrize(
    "address,internal",
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("169.254.169.254", True),
        ("fe80::1", True),
        ("10.1.2.3", True),
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("fd00::1", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("::ffff:127.0.0.1", True),
        ("224.0.0.1", True),
        ("140.82.112.3", False),
        ("2606:4700::1111", False),
    ],
)
def test_internal_addresses(address, internal):
    from launchui.jobs.network import is_internal

    assert is_internal(address) is internal


def test_allowed_hosts_open_only_what_they_name(settings, monkeypatch):
    from launchui.env import env_git_hosts
    from launchui.jobs.network import TargetRefused, check_target

    settings.LAUNCHUI_GIT_ALLOWED_HOSTS = []
    with pytest.raises(TargetRefused):
        check_target("127.0.0.1", 22)
    monkeypatch.setenv("LAUNCHUI_GIT_ALLOWED_HOSTS", "127.0.0.1:22, localhost:2222")
    settings.LAUNCHUI_GIT_ALLOWED_HOSTS = env_git_hosts("LAUNCHUI_GIT_ALLOWED_HOSTS")
    assert check_target("127.0.0.1", 22) == ["127.0.0.1"]
    assert check_target("localhost", 22) == ["127.0.0.1"]  # the address is allowed, whatever its name
    assert "127.0.0.1" in check_target("localhost", 2222)  # the name is allowed, on that port
    for host, port in (("127.0.0.1", 2222), ("127.0.0.2", 22), ("127.0.0.1", 23)):
        with pytest.raises(TargetRefused):
            check_target(host, port)


@pytest.mark.parametrize(
    "remote,target",
    [
        ("https://GitHub.com/acme/train.git", ("https", "github.com", 443, "acme/train.git")),
        ("https://git.example.com:8443/a/b.git", ("https", "git.example.com", 8443, "a/b.git")),
        ("ssh://git@[::1]:2222/srv/x.git", ("ssh", "::1", 2222, "srv/x.git")),
        ("git@github.com:acme/train.git", ("ssh", "github.com", 22, "acme/train.git")),
    ],
)
def test_parse_git_remote(remote, target):
    parsed = rules.parse_git_remote(remote)
    assert (parsed.scheme, parsed.host, parsed.port, parsed.path) == target


def test_input_type_rows_read_the_typed_dict_and_the_json_schema_shapes():
    typed = {
        "wb_type": "typedDict",
        "params": {
            "type_map": {
                "lr": {"wb_type": "number"},
                "layers": {"wb_type": "list", "params": {"element_type": {"wb_type": "number"}, "length": 3}},
                "opt": {"wb_type": "typedDict", "params": {"type_map": {"name": {"wb_type": "string"}}}},
                "seed": {"wb_type": "union", "params": {"allowed_types": [{"wb_type": "number"}, {"wb_type": "none"}]}},
            }
        },
    }
    assert rules.input_type_rows(typed) == [
        {"key": "lr", "type": "number"},
        {"key": "layers", "type": "list of number"},
        {"key": "opt.name", "type": "string"},
        {"key": "seed", "type": "number or none"},
    ]
    schema = {
        "@wandb.config": {
            "type": "object",
            "properties": {
                "lr": {"type": "number", "default": 0.01},
                "opt": {"type": "object", "properties": {"name": {"type": "string", "default": "adam"}}},
                "epochs": {"type": "integer"},
            },
        }
    }
    assert rules.input_type_rows(schema) == [
        {"key": "lr", "type": "number", "default": 0.01},
        {"key": "opt.name", "type": "string", "default": "adam"},
        {"key": "epochs", "type": "integer"},
    ]
    assert rules.config_defaults(schema, None) == {"lr": 0.01, "opt": {"name": "adam"}}
    assert rules.input_type_rows("junk") == rules.input_type_rows({"wb_type": "typedDict"}) == []


def test_config_defaults_prefer_the_config_of_the_run_that_made_the_version():
    run_config = {"lr": {"value": 0.1, "desc": None}, "_wandb": {"value": {"cli_version": "0.31.0"}}}
    assert rules.config_defaults({}, run_config) == {"lr": 0.1}
    assert rules.config_defaults({}, {}) == {}
