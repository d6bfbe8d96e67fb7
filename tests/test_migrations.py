"""The migrations match the models, and apply on the embedded default as `bin/run` applies them.

The suite runs on PostgreSQL, so a migration SQLite cannot apply (an index with NULLS LAST, say) would
otherwise pass every other test and break the first `bin/run` on a fresh machine.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_every_model_change_has_its_migration():
    done = manage("makemigrations", "--check", "--dry-run", env=dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr


def test_all_migrations_apply_on_a_fresh_sqlite_database(tmp_path):
    env = {**os.environ, "LAUNCHUI_DATA_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)  # what bin/run does without one: SQLite in the data folder
    done = manage("migrate", "--noinput", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "launchui.sqlite3").stat().st_size > 0
    rerun = manage("migrate", "--noinput", "--check", env=env)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
