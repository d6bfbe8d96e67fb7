"""A failed item's attached files (issue 10's "the agent's error log arrives and is readable through the
item"): the wandb agent saves error.log to its own hidden run under "<item id>/error/" with run.save() and
names it in failRunQueueItem. Here the real client saves it exactly so; the item page then shows its tail and
links to the whole file, for members of the queue's entity only."""

import pytest

from launchui.launch.models import LAUNCH_PROJECT
from launchui.launch.services import item_fail, item_pop, item_push
from launchui.projects.models import RunFile
from launchui.wire import ids
from tests.web.helpers import text
from tests.wire.conftest import run_python

pytestmark = [pytest.mark.wandb, pytest.mark.django_db(transaction=True)]

# What wandb/sdk/launch/agent/run_queue_item_file_saver.py does with the agent's run.
AGENT_SAVES_ERROR_LOG = """
import os, sys, wandb
item_id, agent_name = sys.argv[1], sys.argv[2]
run = wandb.init(entity="acme", project="{project}", id=agent_name, job_type="launch_agent",
                 settings=wandb.Settings(silent=True, disable_git=True))
root = run.settings.files_dir
saved = os.path.join(item_id, "error", "error.log")
os.makedirs(os.path.join(root, item_id, "error"), exist_ok=True)
with open(os.path.join(root, saved), "w") as f:
    f.write("".join(f"frame {{i}}\\n" for i in range(3000)))
    # As the agent's reader of the process's output writes it: a "\\r" after each read that held none, here
    # one in the middle of the last line (wandb/sdk/launch/runner/local_container.py).
    f.write("Traceback (most recent call last):\\n\\rRuntimeError\\r: CUDA out of memory (from the test)\\n\\r")
run.save(os.path.join(root, saved), base_path=root, policy="now")
run.finish()
print(saved)
"""


def test_a_failed_items_agent_error_log_is_readable_and_downloadable_from_the_item(
    client, wandb_env, owner, owner_key, member, outsider, queue, make_agent
):
    agent = make_agent(queue)
    item = item_push(queue=queue, run_spec={"job": "acme/train/job-x:latest", "project": "train"}, created_by=owner)
    popped = item_pop(queue=queue, agent_id=agent.pk)
    item_id = ids.encode("RunQueueItem", item.pk)
    script = AGENT_SAVES_ERROR_LOG.format(project=LAUNCH_PROJECT)
    saved = run_python(script.replace("sys.argv[1], sys.argv[2]", f"{item_id!r}, {agent.name!r}"), wandb_env(owner_key))
    assert saved.returncode == 0, saved.stderr
    path = saved.stdout.strip().splitlines()[-1]
    assert RunFile.objects.filter(name=path, run__name=agent.name).exists()
    item_fail(item=popped, message="CUDA out of memory", stage="run", file_paths=[path])

    page_url = f"/launch/acme/queues/{queue.name}/items/{item.pk}"
    file_url = f"{page_url}/files/{path}"
    client.force_login(member)
    body = text(client.get(page_url))
    assert "RuntimeError: CUDA out of memory (from the test)" in body  # the end of the log, inline
    assert "frame 0\n" not in body and "its last 16 KB shown" in body  # a long log is cut at its start
    assert f'href="{file_url}"' in body
    download = client.get(file_url)
    assert download.status_code == 200
    whole = b"".join(download.streaming_content).decode()
    assert whole.startswith("frame 0\n") and whole.endswith("RuntimeError\r: CUDA out of memory (from the test)\n\r")
    assert client.get(f"{page_url}/files/{item_id}/error/other.log").status_code == 404

    client.force_login(outsider)
    assert client.get(page_url).status_code == 404
    assert client.get(file_url).status_code == 404
