"""Reading a job's source safely: archives (zip slip, symlinks, bombs) and git checkouts (transports,
credentials, options smuggled in URLs or refs)."""

import io
import os
import shutil
import stat
import subprocess
import tarfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError

from launchui.jobs import scratch

SKIPPED_DIRS = {".git", "wandb", "__pycache__"}


def _limits() -> tuple[int, int]:
    return settings.LAUNCHUI_MAX_CODE_BYTES, settings.LAUNCHUI_MAX_CODE_FILES


def safe_relative_path(name: str) -> str:
    """A member path that stays inside the tree, normalised; or a clear error."""
    if "\\" in name or "\x00" in name:
        raise ValidationError(f"{name!r} is not a portable file name.")
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise ValidationError(f"{name!r} points outside the upload (absolute path or '..').")
    clean = "/".join(p for p in path.parts if p not in ("", "."))
    if not clean:
        raise ValidationError(f"{name!r} is not a file name.")
    return clean


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
                except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
                        OSError) as exc:
                    raise ValidationError(f"{filename} is damaged: {info.filename}: {exc}.") from None
                if len(data) != info.file_size:
                    raise ValidationError(f"{info.filename}: the archive lies about this file's size.")
                if keep(path):
                    files[path] = data
    elif lower.endswith((".tar.gz", ".tgz", ".tar")):
        try:
            archive = tarfile.open(fileobj=io.BytesIO(content), mode="r:*")
        except tarfile.TarError:
            raise ValidationError(f"{filename} is not a valid tar archive.") from None
        with archive:
            try:
                for member in archive:
                    if member.isdir():
                        continue
                    if not member.isfile():
                        raise ValidationError(f"{member.name}: links and special files are not allowed in uploads.")
                    path = safe_relative_path(member.name)
                    budget.add(member.size)
                    extracted = archive.extractfile(member)
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
    ("could not read Username", "The repository needs a credential: choose an HTTPS credential "
                                "(username and password or token)."),
    ("Authentication failed", "The server refused the credential: check its username and password or token."),
    ("Permission denied (publickey", "The server refused the SSH key: add the credential's public key to the "
                                     "repository (a deploy key), or choose the right credential."),
    ("SSL certificate problem", "The server's certificate is not trusted: set LAUNCHUI_GIT_SSL_CA_FILE to "
                                "its certificate authority."),
    ("server certificate verification failed", "The server's certificate is not trusted: set "
                                               "LAUNCHUI_GIT_SSL_CA_FILE to its certificate authority."),
)


def _hint(output: str) -> str:
    return next((" " + hint for needle, hint in _GIT_HINTS if needle in output), "")


def _summary(output: str) -> str:
    """The line of git's output that says what went wrong (for ssh, not the last one: "...repository exists.")."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for needle in ("Permission denied", "fatal:", "error:"):
        for line in lines:
            if needle in line:
                return line.rstrip(".")
    return lines[-1].rstrip(".") if lines else ""


@contextmanager
def git_checkout(remote: str, ref: str, *, username: str = "", password: str = "", ssh_key: str = "",
                 log=lambda line: None):
    """A checkout of remote at ref in a temporary directory; yields (path, commit hash).

    Credentials reach git through an askpass program or a key file readable only by us, never in the
    URL or the command line, and are scrubbed from anything git prints.
    """
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
    known_hosts = work / "known_hosts"
    ssh = ["ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new",
           "-o", f"UserKnownHostsFile={known_hosts}", "-o", "IdentitiesOnly=yes"]
    if password:
        askpass = work / "askpass.sh"
        # The script holds no secret: it answers from variables only git's child process sees.
        askpass.write_text('#!/bin/sh\ncase "$1" in Username*) printf "%s" "$LAUNCHUI_GIT_USERNAME";; '
                           '*) printf "%s" "$LAUNCHUI_GIT_PASSWORD";; esac\n')
        askpass.chmod(0o700)
        env.update(GIT_ASKPASS=str(askpass), LAUNCHUI_GIT_USERNAME=username, LAUNCHUI_GIT_PASSWORD=password)
    if ssh_key:
        key_file = work / "id_key"
        key_file.touch(mode=0o600)
        key_file.write_text(ssh_key.strip() + "\n")
        ssh += ["-i", str(key_file)]
    env["GIT_SSH_COMMAND"] = " ".join(ssh)
    checkout = work / "repo"
    timeout = settings.LAUNCHUI_GIT_TIMEOUT

    def git(*args: str, cwd: Path | None = None) -> str:
        log("$ git " + " ".join(args))
        try:
            done = scratch.run(["git", "-c", "protocol.file.allow=never", "-c", "core.hooksPath=/dev/null",
                                *args], workdir=work, cwd=cwd, env=env, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} took longer than {timeout} s.") from None
        output = scrub((done.stdout + done.stderr).strip())
        if output:
            log(output)
        if done.returncode != 0:
            raise GitError(f"git {args[0]} failed: {_summary(output) or f'exit {done.returncode}'}.{_hint(output)}")
        return done.stdout.strip()

    try:
        git("clone", "--quiet", "--no-checkout", "--", remote, str(checkout))
        target = "HEAD"
        if ref:
            for candidate in (f"origin/{ref}", ref):
                try:
                    target = git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{candidate}^{{commit}}",
                                 cwd=checkout)
                    break
                except GitError:
                    continue
            else:
                raise GitError(f"No branch, tag or commit named {ref!r} in {remote}.")
        git("checkout", "--quiet", "--detach", target, cwd=checkout)
        commit = git("rev-parse", "HEAD", cwd=checkout)
        yield checkout, commit
    finally:
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
