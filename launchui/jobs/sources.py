"""Reading a job's source safely: archives (zip slip, symlinks, bombs) and git checkouts (transports,
credentials, options smuggled in URLs or refs)."""

import io
import os
import select
import shutil
import socket
import stat
import subprocess
import tarfile
import threading
import time
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError

from launchui.artifacts.services import safe_relative_path  # one rule for file paths, artifacts' too
from launchui.jobs import network, rules, scratch

SKIPPED_DIRS = {".git", "wandb", "__pycache__"}


def _limits() -> tuple[int, int]:
    return settings.LAUNCHUI_MAX_CODE_BYTES, settings.LAUNCHUI_MAX_CODE_FILES


def keep(path: str) -> bool:
    """False for files under .git/, wandb/ or __pycache__/, which the wandb client leaves out of code too."""
    return not (set(PurePosixPath(path).parts[:-1]) & SKIPPED_DIRS)


class _Budget:
    def __init__(self):
        self.max_bytes, self.max_files = _limits()
        self.bytes = 0
        self.files = 0

    def add(self, size: int) -> None:
        self.bytes += size
        self.files += 1
        if self.files > self.max_files:
            raise ValidationError(f"The code has more than {self.max_files} files.")
        if self.bytes > self.max_bytes:
            raise ValidationError(f"The code is larger than {self.max_bytes // (1024 * 1024)} MiB unpacked.")


def unpack_archive(filename: str, content: bytes) -> dict[str, bytes]:
    """{relative path: bytes} from a .zip or .tar.gz; refuses links, devices, and paths that escape."""
    lower = filename.lower()
    files: dict[str, bytes] = {}
    budget = _Budget()
    if lower.endswith(".zip"):
        try:
            archive = zipfile.ZipFile(io.BytesIO(content))
        except zipfile.BadZipFile:
            raise ValidationError(f"{filename} is not a valid zip file.") from None
        with archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise ValidationError(f"{info.filename}: symbolic links are not allowed in uploads.")
                path = safe_relative_path(info.filename)
                budget.add(info.file_size)
                # A damaged member (bad CRC, corrupt deflate data, encrypted, unknown method) is the
                # uploader's error, not a crash.
                try:
                    with archive.open(info) as member:
                        data = member.read(budget.max_bytes + 1)
                except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError, OSError) as exc:
                    raise ValidationError(f"{filename} is damaged: {info.filename}: {exc}.") from None
                if len(data) != info.file_size:
                    raise ValidationError(f"{info.filename}: the archive lies about this file's size.")
                if keep(path):
                    files[path] = data
    elif lower.endswith((".tar.gz", ".tgz", ".tar")):
        try:
            tar = tarfile.open(fileobj=io.BytesIO(content), mode="r:*")
        except (tarfile.TarError, EOFError, OSError, zlib.error):  # a truncated gzip fails already here
            raise ValidationError(f"{filename} is not a valid tar archive.") from None
        with tar:
            try:
                for entry in tar:
                    if entry.isdir():
                        continue
                    if not entry.isfile():
                        raise ValidationError(f"{entry.name}: links and special files are not allowed in uploads.")
                    path = safe_relative_path(entry.name)
                    budget.add(entry.size)
                    extracted = tar.extractfile(entry)
                    if keep(path):
                        files[path] = extracted.read() if extracted else b""
            except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
                raise ValidationError(f"{filename} is damaged: {exc}.") from None
    else:
        raise ValidationError("Upload a .zip or .tar.gz archive, or the files of a folder.")
    if not files:
        raise ValidationError(f"{filename} contains no files.")
    return _strip_common_root(files)


def _strip_common_root(files: dict[str, bytes]) -> dict[str, bytes]:
    """An archive of one folder ("proj/main.py", ...) is that folder's contents."""
    tops = {p.split("/", 1)[0] for p in files}
    if len(tops) == 1 and all("/" in p for p in files):
        return {p.split("/", 1)[1]: data for p, data in files.items()}
    return files


def check_tree(files: dict[str, bytes]) -> None:
    budget = _Budget()
    for data in files.values():
        budget.add(len(data))


# --- git ----------------------------------------------------------------------------------------------


class GitError(Exception):
    pass


# What git prints when it cannot get in, and what to do about it.
_GIT_HINTS = (
    (
        "could not read Username",
        "The repository needs a credential: choose an HTTPS credential (username and password or token).",
    ),
    ("Authentication failed", "The server refused the credential: check its username and password or token."),
    (
        "Permission denied (publickey",
        "The server refused the SSH key: add the credential's public key to the "
        "repository (a deploy key), or choose the right credential.",
    ),
    (
        "SSL certificate problem",
        "The server's certificate is not trusted: set LAUNCHUI_GIT_SSL_CA_FILE to its certificate authority.",
    ),
    (
        "Host key verification failed",
        "The SSH server's host key is not the one recorded for this credential: "
        "if the server's key really changed, an admin replaces the credential's "
        "known hosts on the Git credentials page.",
    ),
    (
        "server certificate verification failed",
        "The server's certificate is not trusted: set LAUNCHUI_GIT_SSL_CA_FILE to its certificate authority.",
    ),
)


def _hint(output: str) -> str:
    return next((" " + hint for needle, hint in _GIT_HINTS if needle in output), "")


def _summary(output: str) -> str:
    """The line of git's output that says what went wrong (for ssh, not the last one: "...repository exists.")."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for needle in ("Permission denied", "Host key verification failed", "fatal:", "error:"):
        for line in lines:
            if needle in line:
                return line.rstrip(".")
    return lines[-1].rstrip(".") if lines else ""


UNREACHABLE = "Could not reach the git server {address}."

# What git or ssh print when the far side did not answer as a git server. Each becomes the one line
# UNREACHABLE, so the log does not tell a closed port from a silent one or a missing route (a port scanner).
_TRANSPORT_FAILURES = (
    "ssh: connect to host",
    "Connection refused",
    "Connection timed out",
    "timed out",
    "No route to host",
    "Network is unreachable",
    "Could not resolve",
    "Connection closed by",
    "Connection reset",
    "kex_exchange_identification",
    "banner exchange",
    "Failed to connect",
    "Couldn't connect",
    "Empty reply from server",
    "Recv failure",
    "Send failure",
    "from proxy after CONNECT",
    "Proxy CONNECT aborted",
    "SSL_connect",
    "SSL_ERROR_SYSCALL",
)


class _PinnedProxy:
    """An HTTP CONNECT proxy on 127.0.0.1 for one checkout: it opens a tunnel only to the checked host:port,
    and only to the address resolved and checked before git ran (no second DNS answer, no redirect to
    another host), gives up on a server that does not connect or answer within `timeout` seconds, and
    remembers that it did so (git's own message would say how the far side failed)."""

    def __init__(self, host: str, port: int, address: str, timeout: int):
        self.host, self.port, self.address, self.timeout = host, port, address, timeout
        self.unreachable = False
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.5)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="git-proxy", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._tunnel, args=(client,), daemon=True).start()

    def _tunnel(self, client: socket.socket) -> None:
        with client:
            client.settimeout(self.timeout)
            try:
                head = b""
                while b"\r\n\r\n" not in head and len(head) < 8192:
                    chunk = client.recv(4096)
                    if not chunk:
                        return
                    head += chunk
            except OSError:
                return
            request = head.split(b"\r\n", 1)[0].decode("latin-1").split()
            wanted = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
            try:
                if len(request) != 3 or request[0] != "CONNECT" or request[1].lower() != wanted:
                    client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    return
                try:
                    upstream = socket.create_connection((self.address, self.port), timeout=self.timeout)
                except OSError:
                    self.unreachable = True
                    client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                    return
                with upstream:
                    client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    self._relay(client, upstream)
            except OSError:  # git went away
                return

    def _relay(self, client: socket.socket, upstream: socket.socket) -> None:
        answered = False
        while not self._stop.is_set():
            ready, _, _ = select.select([client, upstream], [], [], self.timeout)
            if not ready:  # nothing either way for `timeout` seconds: a stalled or silent server
                self.unreachable = self.unreachable or not answered
                return
            for sock in ready:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:  # the server hanging up before it said anything is not being there at all
                    self.unreachable = self.unreachable or (sock is upstream and not answered)
                    return
                answered = answered or sock is upstream
                try:
                    (upstream if sock is client else client).sendall(data)
                except OSError:
                    return


@contextmanager
def git_checkout(
    remote: str,
    ref: str,
    *,
    username: str = "",
    password: str = "",
    ssh_key: str = "",
    credential=None,
    known_hosts: str = "",
    on_host_key=None,
    log=lambda line: None,
):
    """A checkout of remote at ref in a temporary directory; yields (path, commit hash).

    A password or key is only used with `credential` (anything with kind, name, host, port, path_prefix),
    and only if the remote is on the host it is bound to (rules.credential_applies_to, checked again here
    because a queued build may predate a change). The host must be public or allowed
    (network.check_target); git then connects only to the address checked: HTTPS through _PinnedProxy,
    SSH with HostName set to it. Credentials reach git through a credential helper configured for the
    bound https://host:port only, or a key file readable only by us, never in the URL or the command line,
    and are scrubbed from anything git prints. SSH host keys: `known_hosts` if given (StrictHostKeyChecking
    =yes); otherwise the key seen now is accepted and handed to on_host_key(text) after a good clone.
    """
    try:
        target = rules.parse_git_remote(remote)
        if (password or ssh_key) and credential is None:
            raise ValidationError("A stored credential is needed to send a password or key.")
        if credential is not None:
            rules.credential_applies_to(credential, remote)
    except ValidationError as exc:
        raise GitError(" ".join(exc.messages)) from None
    timeout = settings.LAUNCHUI_GIT_CONNECT_TIMEOUT
    started = time.monotonic()

    def unreachable() -> GitError:
        # The same words and, near enough, the same time for a closed port, a silent one and no route.
        time.sleep(max(0.0, timeout - (time.monotonic() - started)))
        log(UNREACHABLE.format(address=target.address))
        return GitError(UNREACHABLE.format(address=target.address))

    try:
        address = network.check_target(target.host, target.port)[0]
    except network.TargetRefused as exc:
        raise GitError(str(exc)) from None
    except network.TargetUnresolved:
        raise unreachable() from None

    work = scratch.mkdtemp()  # named for this worker process, so a killed build's folder is found
    secrets = [s for s in (password, username if password else "") if s]

    def scrub(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "***")
        return text

    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(work),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_ALLOW_PROTOCOL": "https:ssh",  # git itself refuses file, ext, fd and the rest
        "GIT_ASKPASS": "/bin/false",
        "SSH_ASKPASS": "/bin/false",
        "LANG": "C",
    }
    if settings.LAUNCHUI_GIT_SSL_CA_FILE:
        env["GIT_SSL_CAINFO"] = settings.LAUNCHUI_GIT_SSL_CA_FILE
    # No redirects (git follows one by default, taking the credential along); stalls end after `timeout`.
    config = [
        "-c",
        "protocol.file.allow=never",
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "credential.helper=",
        "-c",
        "http.followRedirects=false",
        "-c",
        "http.lowSpeedLimit=1",
        "-c",
        f"http.lowSpeedTime={timeout}",
    ]
    proxy = None
    if target.scheme == "https":
        proxy = _PinnedProxy(target.host, target.port, address, timeout)
        config += ["-c", f"http.proxy={proxy.url}"]
    if password:
        # Only for the bound https://host:port: a URL git reaches any other way gets no answer.
        helper = work / "credential-helper.sh"
        helper.write_text(
            '#!/bin/sh\ntest "$1" = get || exit 0\n'
            'printf "username=%s\\npassword=%s\\n" "$LAUNCHUI_GIT_USERNAME" "$LAUNCHUI_GIT_PASSWORD"\n'
        )
        helper.chmod(0o700)
        # From the credential's own binding, not the remote: were the check above ever skipped, git still
        # would not answer any other server's challenge with it.
        bound_host = f"[{credential.host}]" if ":" in credential.host else credential.host
        bound = f"https://{bound_host}" + (f":{credential.port}" if credential.port not in (None, 443) else "")
        config += ["-c", f"credential.{bound}.helper={helper}"]
        env.update(LAUNCHUI_GIT_USERNAME=username, LAUNCHUI_GIT_PASSWORD=password)
    known_hosts_file = work / "known_hosts"
    known_hosts_file.write_text(known_hosts)
    alias = rules.known_hosts_alias(target.host, target.port)
    ssh = [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        f"StrictHostKeyChecking={'yes' if known_hosts.strip() else 'accept-new'}",
        "-o",
        f"UserKnownHostsFile={known_hosts_file}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        f"HostKeyAlias={alias}",
        "-o",
        f"HostName={address}",
        "-o",
        "CheckHostIP=no",
        "-o",
        "ProxyCommand=none",
        "-o",
        f"ConnectTimeout={timeout}",
        "-o",
        f"ServerAliveInterval={timeout}",
        "-o",
        "ServerAliveCountMax=1",
    ]
    if ssh_key:
        key_file = work / "id_key"
        key_file.touch(mode=0o600)
        key_file.write_text(ssh_key.strip() + "\n")
        ssh += ["-i", str(key_file)]
    env["GIT_SSH_COMMAND"] = " ".join(ssh)
    checkout = work / "repo"
    overall = settings.LAUNCHUI_GIT_TIMEOUT

    def git(*args: str, cwd: Path | None = None, network_step: bool = False) -> str:
        log("$ git " + " ".join(args))
        try:
            done = scratch.run(["git", *config, *args], workdir=work, cwd=cwd, env=env, text=True, timeout=overall)
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} took longer than {overall} s.") from None
        output = scrub((done.stdout + done.stderr).strip())
        if (
            done.returncode != 0
            and network_step
            and ((proxy is not None and proxy.unreachable) or any(n in output for n in _TRANSPORT_FAILURES))
        ):
            raise unreachable()
        if output:
            log(output)
        if done.returncode != 0:
            raise GitError(f"git {args[0]} failed: {_summary(output) or f'exit {done.returncode}'}.{_hint(output)}")
        return done.stdout.strip()

    try:
        git("clone", "--quiet", "--no-checkout", "--", remote, str(checkout), network_step=True)
        if on_host_key is not None and target.scheme == "ssh" and not known_hosts.strip():
            seen = rules.clean_known_hosts(known_hosts_file.read_text(), host=target.host, port=target.port)
            if seen:
                on_host_key(seen)
        target_commit = "HEAD"
        if ref:
            for candidate in (f"origin/{ref}", ref):
                try:
                    target_commit = git(
                        "rev-parse", "--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}", cwd=checkout
                    )
                    break
                except GitError:
                    continue
            else:
                raise GitError(f"No branch, tag or commit named {ref!r} in {remote}.")
        git("checkout", "--quiet", "--detach", target_commit, cwd=checkout)
        commit = git("rev-parse", "HEAD", cwd=checkout)
        yield checkout, commit
    finally:
        if proxy is not None:
            proxy.close()
        shutil.rmtree(work, ignore_errors=True)


def read_tree(root: Path) -> dict[str, bytes]:
    """Regular files under root, symlinks and .git skipped, within the size limits."""
    files: dict[str, bytes] = {}
    budget = _Budget()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in SKIPPED_DIRS]
        for filename in filenames:
            path = Path(dirpath) / filename
            if path.is_symlink() or not path.is_file():
                continue
            budget.add(path.stat().st_size)
            files[path.relative_to(root).as_posix()] = path.read_bytes()
    return files
