"""Temporary folders and child processes of builds, and their clean-up after a worker was killed.

A build's folder is named for the process that made it (pid and start time, so a reused pid is not taken
for its owner): /tmp/launchui-git-<pid>.<start>-<random>. Each child runs in its own process group, whose
id is written into the folder before the child can do anything. When a worker starts it removes the
folders of owners that are gone, after killing the process groups recorded in them: a `git clone` of a
killed build does not outlive it by more than the worker's restart.
"""

import logging
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

PREFIX = "launchui-git-"
GROUPS_FILE = ".launchui-process-groups"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (/proc/<pid>/stat field 22); None if it is gone
    or a zombie (a killed worker its parent has not reaped yet)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _owner_tag(pid: int | None = None) -> str:
    pid = pid or os.getpid()
    return f"{pid}.{_start_time(pid) or 0}"


def mkdtemp() -> Path:
    """A private temporary folder for one build, named for this process."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{_owner_tag()}-"))


def run(args: list[str], *, workdir: Path, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run in a new process group recorded in workdir; on timeout the whole group is killed
    (git's helpers, such as git-remote-https and ssh, too)."""
    with subprocess.Popen(
        args, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs
    ) as proc:
        with open(workdir / GROUPS_FILE, "a") as groups:
            groups.write(f"{proc.pid}\n")
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except BaseException:  # timeout, or the task's soft time limit: the leader is not reaped yet, so
            _kill_group(proc.pid)  # its pid still names our group
            proc.communicate()
            raise
    return subprocess.CompletedProcess(args, proc.returncode, stdout, stderr)


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _group_members(pgid: int) -> list[int]:
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid:
                members.append(int(entry.name))
    return members


def _belongs_to(pid: int, folder: Path) -> bool:
    """True if the process was started for this folder: its command line or environment names it. Guards
    against a recorded group id that was freed and reused by an unrelated process."""
    needle = str(folder).encode()
    for name in ("cmdline", "environ"):
        try:
            if needle in Path(f"/proc/{pid}/{name}").read_bytes():
                return True
        except OSError:
            continue
    return False


def _owner_alive(tag: str) -> bool:
    pid, _, start = tag.partition(".")
    return pid.isdigit() and _start_time(int(pid)) == start


def sweep_orphans(root: Path | None = None) -> list[Path]:
    """Kill the process groups and remove the folders of builds whose worker process is gone."""
    root = Path(root or tempfile.gettempdir())
    removed = []
    for folder in root.glob(f"{PREFIX}*"):
        tag = folder.name[len(PREFIX) :].rsplit("-", 1)[0]
        # Only folders named by this module: another program's launchui-git-* is none of our business.
        if not re.fullmatch(r"\d+\.\d+", tag) or not folder.is_dir() or _owner_alive(tag):
            continue
        try:
            recorded = (folder / GROUPS_FILE).read_text().split()
        except OSError:
            recorded = []
        for pgid in {int(p) for p in recorded if p.isdigit()}:
            members = _group_members(pgid)
            if members and any(_belongs_to(pid, folder) for pid in members):
                logger.warning("killing process group %s left by a dead build in %s", pgid, folder)
                _kill_group(pgid)
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed
