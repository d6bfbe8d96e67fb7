"""Real git servers on loopback, for the job build tests and bench/builds.py.

- GitHTTPSServer: smart HTTP(S) — `git http-backend` run CGI-style behind a small threaded TLS server
  (http.server + ssl) with HTTP basic auth and a self-signed certificate made with `cryptography`.
  Repositories under public/ need no credentials; every other path does.
- SSHServer: Debian's OpenSSH `sshd` (run as root) on a free port, with its own config, a generated host key
  and an authorized client key. Remotes are ssh://root@127.0.0.1:PORT/<absolute path to the bare repo>.
- make_repo(): a bare repository with train.py, requirements.txt (wandb), runtime.txt (python-3.10.4),
  a tag v1, a branch dev (.python-version instead of runtime.txt) and branches for the failure cases.

Nothing here reads the Django settings, so the bench can use it outside pytest.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

GIT = shutil.which("git") or "/usr/bin/git"
SSHD = "/usr/sbin/sshd"

TRAIN_PY = """import wandb

run = wandb.init()
run.log({"loss": 0.5})
run.finish()
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def git(*args: str, cwd: Path | str | None = None) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(cwd or "/tmp"),
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.com",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.com",
    }
    done = subprocess.run([GIT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


# --- the test repository ------------------------------------------------------------------------------


@dataclass
class Repo:
    path: Path  # the bare repository
    commits: dict[str, str] = field(default_factory=dict)  # ref name -> commit hash

    @property
    def name(self) -> str:
        return self.path.name


def _write(work: Path, files: dict[str, str | None]) -> None:
    for name, text in files.items():
        target = work / name
        if text is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)


def _commit(work: Path, message: str, files: dict[str, str | None]) -> str:
    _write(work, files)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def make_repo(root: Path, name: str = "trainer.git") -> Repo:
    """A bare repository at root/name. Refs (and the commits recorded in Repo.commits):
    v1 (tag)         first commit: train.py, requirements.txt (wandb), runtime.txt python-3.10.4
    main             second commit: train.py changed
    dev              runtime.txt replaced by .python-version (3.9.18, then a second line)
    plain            neither runtime.txt nor .python-version
    no-requirements  requirements.txt removed
    no-wandb         requirements.txt without wandb
    """
    root.mkdir(parents=True, exist_ok=True)
    work = root / (name.removesuffix(".git") + "-work")
    work.mkdir()
    git("init", "-q", "-b", "main", cwd=work)
    commits = {}
    commits["v1"] = _commit(
        work,
        "first",
        {
            "train.py": TRAIN_PY,
            "requirements.txt": "wandb\nnumpy>=1.20\n",
            "runtime.txt": "python-3.10.4\n",
            "README.md": "# trainer\n",
        },
    )
    git("tag", "v1", cwd=work)
    commits["main"] = _commit(work, "second", {"train.py": TRAIN_PY + "# tuned\n"})
    branches: list[tuple[str, dict[str, str | None]]] = [
        ("dev", {"runtime.txt": None, ".python-version": "3.9.18\n3.12.1\n", "train.py": TRAIN_PY + "# dev\n"}),
        ("plain", {"runtime.txt": None}),
        ("no-requirements", {"requirements.txt": None}),
        ("no-wandb", {"requirements.txt": "numpy\n# wandb is not a requirement here\n"}),
    ]
    for branch, files in branches:
        git("checkout", "-q", "-b", branch, "main", cwd=work)
        commits[branch] = _commit(work, branch, files)
    git("checkout", "-q", "main", cwd=work)
    bare = root / name
    git("clone", "-q", "--bare", str(work), str(bare), cwd=root)
    shutil.rmtree(work)
    return Repo(path=bare, commits=commits)


def add_commit(
    repo: Repo, branch: str, files: dict[str, str | None], message: str = "change", base: str = "main"
) -> str:
    """A new commit on branch of the bare repository (through a temporary clone); a missing branch
    starts at base."""
    if (
        subprocess.run(
            [GIT, "-C", str(repo.path), "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}"], capture_output=True
        ).returncode
        != 0
    ):
        git("-C", str(repo.path), "branch", branch, base)
    work = repo.path.parent / f"{repo.name}-edit-{time.monotonic_ns()}"
    git("clone", "-q", "-b", branch, str(repo.path), str(work), cwd=repo.path.parent)
    try:
        commit = _commit(work, message, files)
        git("push", "-q", "origin", branch, cwd=work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    repo.commits[branch] = commit
    return commit


# --- TLS certificate ----------------------------------------------------------------------------------


def make_self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """(certificate, key) for 127.0.0.1 and localhost; the certificate is its own CA bundle."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "launchui test git server")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "git-server.crt", directory / "git-server.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.touch(mode=0o600)
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


# --- smart HTTPS --------------------------------------------------------------------------------------


class GitHTTPSServer:
    """git http-backend behind TLS and basic auth. url(repo) -> https://127.0.0.1:PORT/<repo>."""

    def __init__(
        self,
        project_root: Path,
        cert_file: Path,
        key_file: Path,
        *,
        username: str,
        password: str,
        public_prefix: str = "public/",
    ):
        self.project_root = Path(project_root)
        self.username, self.password = username, password
        self.public_prefix = public_prefix
        self.requests: list[tuple[str, str, str, int]] = []  # (method, path, authenticated user, status)
        self._lock = threading.Lock()
        handler = self._handler_class()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert_file), str(key_file))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True, do_handshake_on_connect=False)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="git-https", daemon=True)

    def start(self) -> GitHTTPSServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, repo_path: str) -> str:
        return f"https://127.0.0.1:{self.port}/{repo_path.lstrip('/')}"

    def _record(self, *entry) -> None:
        with self._lock:
            self.requests.append(entry)

    def _handler_class(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format, *args):
                pass

            def setup(self):
                self.request.settimeout(30)
                self.request.do_handshake()
                super().setup()

            def _user(self) -> str | None:
                header = self.headers.get("Authorization", "")
                if not header.startswith("Basic "):
                    return None
                try:
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                except ValueError:
                    return None
                return user if (user, password) == (server.username, server.password) else None

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks: list[bytes] = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(chunks)
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _handle(self):
                path, _, query = self.path.partition("?")
                user = self._user()
                public = path.lstrip("/").startswith(server.public_prefix)
                body = self._body()
                if user is None and not public:
                    server._record(self.command, path, "", 401)
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="launchui test git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                env = {
                    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "GIT_PROJECT_ROOT": str(server.project_root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "GATEWAY_INTERFACE": "CGI/1.1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": unquote(path),
                    "QUERY_STRING": query,
                    "SERVER_PROTOCOL": "HTTP/1.1",
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "REMOTE_ADDR": self.client_address[0],
                    "REMOTE_USER": user or "",
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                    "HOME": str(server.project_root),
                }
                done = subprocess.run([GIT, "http-backend"], input=body, env=env, capture_output=True, timeout=120)
                head, sep, payload = done.stdout.partition(b"\r\n\r\n")
                if not sep:
                    head, sep, payload = done.stdout.partition(b"\n\n")
                status, headers = 200, []
                for line in head.decode("latin-1").splitlines():
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.split()[0])
                    elif name:
                        headers.append((name, value.strip()))
                if done.returncode != 0 and not sep:
                    status, payload, headers = 500, done.stderr, [("Content-Type", "text/plain")]
                server._record(self.command, path, user or "", status)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _handle

        return Handler


class RecordingHTTPSServer:
    """A server that is not a git server: it records every request with its Authorization header, and
    answers 401 asking for basic auth (a credential thief), or redirects to redirect_to + the path."""

    def __init__(self, cert_file: Path, key_file: Path, *, redirect_to: str = ""):
        self.requests: list[tuple[str, str, str]] = []  # (method, path, Authorization header or "")
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, format, *args):
                pass

            def _handle(self):
                server.requests.append((self.command, self.path, self.headers.get("Authorization", "")))
                if redirect_to:
                    self.send_response(302)
                    self.send_header("Location", redirect_to.rstrip("/") + self.path)
                else:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="give me your password"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert_file), str(key_file))
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="recording-https", daemon=True)

    def start(self) -> RecordingHTTPSServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}/{path.lstrip('/')}"


class SilentServer:
    """A port that never answers: it listens, so connections complete, but nothing is ever accepted or said."""

    def __init__(self):
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port = self.sock.getsockname()[1]

    def stop(self) -> None:
        self.sock.close()


# --- SSH ----------------------------------------------------------------------------------------------


def ssh_keygen(path: Path, comment: str) -> Path:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return path


class SSHServer:
    """sshd on 127.0.0.1:PORT with key authentication only; client_key is authorized, wrong_key is not."""

    def __init__(self, workdir: Path, port: int | None = None):
        if not os.path.exists(SSHD):
            raise RuntimeError(f"{SSHD} is missing: bin/test-services installs Debian's openssh-server.")
        if os.geteuid() != 0:
            raise RuntimeError("sshd must run as root to accept logins.")
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host_key = ssh_keygen(self.dir / "ssh_host_ed25519_key", "launchui test host")
        self.client_key = ssh_keygen(self.dir / "client_key", "launchui test client")
        self.wrong_key = ssh_keygen(self.dir / "wrong_key", "launchui test wrong client")
        self.authorized_keys = self.dir / "authorized_keys"
        self.authorized_keys.write_text((self.dir / "client_key.pub").read_text())
        self.port = port or free_port()
        self.log_file = self.dir / "sshd.log"
        self.config = self.dir / "sshd_config"
        self.config.write_text(
            "\n".join(
                [
                    f"Port {self.port}",
                    "ListenAddress 127.0.0.1",
                    f"HostKey {self.host_key}",
                    f"AuthorizedKeysFile {self.authorized_keys}",
                    f"PidFile {self.dir / 'sshd.pid'}",
                    "PubkeyAuthentication yes",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "UsePAM no",
                    "StrictModes no",
                    "PermitRootLogin prohibit-password",
                    "AllowUsers root",
                    "PermitUserEnvironment no",
                    "AllowTcpForwarding no",
                    "X11Forwarding no",
                    "PrintMotd no",
                    "UseDNS no",
                    "MaxStartups 50:30:100",
                    "LogLevel VERBOSE",
                    "",
                ]
            )
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> SSHServer:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        check = subprocess.run([SSHD, "-t", "-f", str(self.config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"sshd refuses its test config: {check.stderr.strip()}")
        self._log = open(self.log_file, "wb")
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError(f"sshd did not listen on {self.port}:\n{self.log()}")
        return self

    def log(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        if getattr(self, "_log", None):
            self._log.close()

    def url(self, repo: Path) -> str:
        return f"ssh://root@127.0.0.1:{self.port}{Path(repo).resolve()}"

    def ssh_command(self, key: Path | None = None) -> str:
        """A GIT_SSH_COMMAND for clients outside launchui (the wandb CLI)."""
        return (
            f"ssh -i {key or self.client_key} -o IdentitiesOnly=yes -o BatchMode=yes "
            "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
        )
