#!/usr/bin/env python
"""Runs the Performance section's benchmarks one after the other, in one run, beside a baseline checkout.

    .venv/bin/python bench/all.py --before DIR [--only NAME,...] [--log FILE]

DIR is another checkout of launchui (e.g. `git worktree add --detach /tmp/launchui-before <commit>`), whose
code is measured in the same run wherever a benchmark can compare two checkouts: as a --variant of
agent_loop.py and launch_page.py (same server settings, same seeded database), and by running DIR's own
project_page.py on its own migrations right before this checkout's. pop_depth.py, sqlite_agents.py and
runs_scale.py measure this checkout only; their figures stand against the goals, not a baseline.

Before each benchmark it prints the commit, the time and the machine's load average, so a reader can tell
a quiet run from a loaded one. Output goes to the terminal and to --log (default bench-all.log in the
system's temporary folder). Exits non-zero if any benchmark failed; the others still run.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def benchmarks(before: Path) -> list[tuple[str, Path, list[str]]]:
    """(name, checkout to run it from, arguments): in the order the README's Performance section lists them."""
    return [
        ("launch_page", ROOT, ["bench/launch_page.py", "--requests", "20", "--variant", f"before@{before}"]),
        ("project_page.before", before, ["bench/project_page.py", "--requests", "20"]),
        ("project_page", ROOT, ["bench/project_page.py", "--requests", "20"]),
        (
            "agent_loop",
            ROOT,
            ["bench/agent_loop.py", "--seconds", "15", "--clients", "1,4,8", "--variant", "new"]
            + ["--variant", f"before@{before}"],
        ),
        ("pop_depth", ROOT, ["bench/pop_depth.py"]),
        ("sqlite_agents", ROOT, ["bench/sqlite_agents.py", "--seconds", "60"]),
        ("runs_scale", ROOT, ["bench/runs_scale.py", "--databases", "postgres"]),
    ]


def commit_of(checkout: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True, text=True)
    return done.stdout.strip() or "?"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--before", required=True, type=Path, help="the baseline checkout")
    parser.add_argument("--only", default="", help="comma-separated names to run (default: all)")
    parser.add_argument("--log", type=Path, default=Path(tempfile.gettempdir()) / "bench-all.log")
    args = parser.parse_args()
    before = args.before.resolve()
    if not (before / "launchui").is_dir():
        parser.error(f"{before} is not a launchui checkout")
    wanted = {name for name in args.only.split(",") if name}
    failed = []
    with args.log.open("w") as log:

        def say(text: str) -> None:
            print(text, flush=True)
            log.write(text + "\n")
            log.flush()

        say(f"bench/all.py: this checkout {commit_of(ROOT)}, baseline {commit_of(before)} at {before}")
        for name, checkout, command in benchmarks(before):
            if wanted and name not in wanted:
                continue
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            say(f"\n=== {name} ({commit_of(checkout)}) {time.strftime('%Y-%m-%d %H:%M:%S')} load average {load}")
            began = time.monotonic()
            process = subprocess.Popen(
                [PYTHON, *command], cwd=checkout, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            assert process.stdout is not None
            for line in process.stdout:
                if "UserWarning: No directory at" in line or "mw_instance = middleware" in line:
                    continue  # Django's note that collectstatic has not run: the benchmarks use the finders
                say(line.rstrip("\n"))
            status = process.wait()
            load = " ".join(f"{x:.2f}" for x in os.getloadavg())
            say(f"=== {name}: exit {status} in {time.monotonic() - began:.0f} s, load average {load}")
            if status:
                failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
