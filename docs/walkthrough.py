"""The README walkthrough, run for real: from a fresh `bin/run` to a finished run, with screenshots.

    .venv/bin/python docs/walkthrough.py --base-url http://127.0.0.1:8766 --out docs/screenshots

Needs a running launchui (`bin/run`, any database) with the demo account (`manage.py seed_demo`), Chromium
at /usr/bin/chromium, and the Playwright and wandb 0.31.0 packages in this Python (requirements-test.txt).
It signs in as demo, makes an API key, uploads a small code job to ml-team/demo-project and waits for the
worker to build it, launches it into ml-team/cpu-local from the Launch drawer, starts the real
`wandb launch-agent` with the command shown on the queue's Agents tab, waits for the run to finish, then
stops the agent from the page. Each run adds a key, an item and a run (and a job version when the zip
differs) to the instance; it never deletes anything.

Every wait shares one deadline (--timeout); any failure prints the step, what was expected, the page's
address and the agent's log, saves the page as walkthrough-failed.png in a temporary folder, and exits 1.
The agent is always stopped (its whole process group) before the script exits.
"""

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect, sync_playwright

ENTITY, PROJECT, QUEUE = "ml-team", "demo-project", "cpu-local"
USERNAME, PASSWORD = "demo", "launchui-demo"

TRAIN_PY = """import wandb

run = wandb.init()
for step in range(5):
    run.log({"loss": 1.0 / (step + 1)})
print(f"walkthrough: trained, run {run.id}")
run.finish()
"""


class StepFailed(Exception):
    pass


class Walkthrough:
    def __init__(self, base_url: str, out: Path, timeout: float, work: Path):
        self.base = base_url.rstrip("/")
        self.out = out
        self.deadline = time.monotonic() + timeout
        self.timeout = timeout
        self.work = work
        self.shots: list[Path] = []
        self.agent: subprocess.Popen | None = None
        self.agent_log = work / "agent.log"
        self.step = "start"

    # --- helpers ------------------------------------------------------------------------------------

    def left_ms(self, cap_s: float | None = None) -> float:
        """Milliseconds until the deadline (at most cap_s seconds); fails the step when it has passed."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise StepFailed(f"the walkthrough ran out of time ({self.timeout:.0f} s, --timeout)")
        return 1000 * (min(left, cap_s) if cap_s else left)

    def shot(self, page, number: int, name: str, *, full_page: bool = False) -> None:
        path = self.out / f"walkthrough-{number}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.shots.append(path)
        print(f"  saved {path}")

    def begin(self, text: str) -> None:
        self.step = text
        print(f"[{time.monotonic() - self.deadline + self.timeout:5.1f} s] {text}")

    def agent_output(self) -> str:
        try:
            return self.agent_log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no agent started)"

    def stop_agent(self) -> None:
        if self.agent is None or self.agent.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.agent.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.agent.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    # --- the walkthrough ----------------------------------------------------------------------------

    def run(self, page) -> None:
        page.set_default_timeout(15_000)
        expect.set_options(timeout=15_000)

        self.begin("1. Sign in as demo and look at the Launch page")
        page.goto(f"{self.base}/login")
        page.get_by_label("Username").fill(USERNAME)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/launch$"))
        for queue in ("cpu-local", "docker-gpu", "sagemaker-prod"):
            expect(page.get_by_role("link", name=queue, exact=True)).to_be_visible()
        try:
            expect(page.get_by_role("row").filter(has_text=QUEUE)).to_contain_text("Not running", timeout=3000)
        except AssertionError:
            raise StepFailed(
                f"{ENTITY}/{QUEUE} already has a live agent. Stop it, or wait until it shows Offline "
                "(a minute after its last poll), or use an empty instance."
            ) from None
        self.shot(page, 1, "launch-page")

        self.begin("2. Create an API key at /authorize")
        page.goto(f"{self.base}/authorize")
        page.get_by_label("Key name").fill("walkthrough agent")
        page.get_by_role("button", name="Create key").click()
        banner = page.get_by_role("status").filter(has_text="New key")
        expect(banner).to_be_visible()
        api_key = banner.locator("code").inner_text().strip()
        if not api_key.startswith("local-"):
            raise StepFailed(f"the new key does not look like a launchui key: {api_key!r}")
        self.shot(page, 2, "api-key")

        self.begin("3. Create a code job from a zip, in ml-team/demo-project")
        archive = self.work / "trainer.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("train.py", TRAIN_PY)
            zf.writestr("requirements.txt", "wandb\n")
        page.goto(f"{self.base}/launch/jobs")
        page.get_by_role("link", name="Create job").first.click()
        page.get_by_label("Entity").select_option(ENTITY)
        page.get_by_label("Project").fill(PROJECT)
        page.get_by_label("Or one archive").set_input_files(str(archive))
        page.get_by_label("Entry point").fill("python train.py")
        self.shot(page, 3, "create-job", full_page=True)
        page.get_by_role("button", name="Create job").click()
        expect(page).to_have_url(re.compile(r"/launch/builds/\d+$"))

        self.begin("4. Wait for the worker to build it")
        status = page.get_by_role("status").filter(has_text=re.compile("Queued|Running|Succeeded|Failed"))
        expect(status).to_have_text("Succeeded", timeout=self.left_ms(120))
        expect(page.get_by_label("Build log")).not_to_have_text("(nothing yet)")
        self.shot(page, 4, "build", full_page=True)

        self.begin("5. Open the job page")
        page.get_by_role("link", name=re.compile(r"^job-.*:v\d+$")).click()
        heading = page.get_by_role("heading", level=1)
        expect(heading).to_have_text(re.compile(r"^job-code-"))
        job_name = heading.inner_text().strip()
        expect(page.get_by_label("Requirements", exact=True)).to_contain_text("wandb")

        self.begin("6. Launch it into cpu-local from the Launch drawer (on the job page)")
        page.goto(f"{self.base}/launch/{ENTITY}/queues/{QUEUE}/")
        before = set(page.locator("tr.item-row").evaluate_all("rows => rows.map(r => r.id)"))
        page.go_back()
        page.get_by_role("link", name=f"Launch {job_name}").click()
        drawer = page.get_by_role("dialog")
        expect(drawer).to_be_visible()
        drawer.get_by_label("Queue", exact=True).select_option(f"{ENTITY}/{QUEUE}")
        expect(drawer).to_contain_text(f"{QUEUE} has no template variables")
        drawer.get_by_label("Destination project").select_option(PROJECT)
        launch_now = drawer.get_by_role("button", name="Launch now")
        launch_now.scroll_into_view_if_needed()  # the queue and destination, with the job page behind
        self.shot(page, 5, "launch-drawer")
        launch_now.click()
        expect(page).to_have_url(re.compile(rf"/launch/{ENTITY}/queues/{QUEUE}/$"))

        self.begin("7. See it Idle on the queue's Overview, and why")
        rows = page.locator("tr.item-row")
        expect(rows).to_have_count(len(before) + 1)
        (row_id,) = set(rows.evaluate_all("rows => rows.map(r => r.id)")) - before
        row = page.locator(f"#{row_id}")
        expect(row).to_contain_text("Idle")
        expect(row).to_contain_text("No live agent polls this queue")
        self.shot(page, 6, "idle")

        self.begin("8. Start wandb launch-agent with the command from the Agents tab")
        page.get_by_role("navigation", name="Queue").get_by_role("link", name="Agents").click()
        command = page.locator("code").filter(has_text="wandb launch-agent").first.inner_text().strip()
        print(f"  Agents tab command: {command}")
        words = shlex.split(command)
        assignments = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w))
        argv = [w for w in words if not re.match(r"^[A-Z_]+=", w)]
        if argv[:2] != ["wandb", "launch-agent"] or assignments.get("WANDB_BASE_URL") != self.base:
            raise StepFailed(f"unexpected agent command on the Agents tab: {command!r}")
        home = self.work / "home"
        home.mkdir()
        venv_bin = str(Path(sys.executable).parent)
        env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
        env.update(
            assignments,
            WANDB_API_KEY=api_key,
            WANDB_ERROR_REPORTING="false",
            HOME=str(home),
            PATH=f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
        )
        with open(self.agent_log, "wb") as log:
            self.agent = subprocess.Popen(
                argv, env=env, cwd=self.work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        # its name, as it prints it: "agent agent-xxxx polling on queues cpu-local"
        name = None
        while name is None:
            found = re.search(r"agent (agent-\w+) polling on queues", self.agent_output())
            name = found and found.group(1)
            if name is None:
                if self.agent.poll() is not None:
                    raise StepFailed(f"the agent exited at start with code {self.agent.returncode}")
                page.wait_for_timeout(min(500, self.left_ms()))
        print(f"  agent {name}")
        agent_row = page.get_by_role("row").filter(has_text=name)
        expect(agent_row).to_contain_text("Polling", timeout=self.left_ms(60))
        # the header follows the live table (no reload): the queue is Active now
        expect(page.locator("#queue-state")).to_have_text("Active", timeout=self.left_ms(15))
        self.shot(page, 7, "agent-polling")

        self.begin("9. Wait for the run to finish")
        page.get_by_role("navigation", name="Queue").get_by_role("link", name="Overview").click()
        row = page.locator(f"#{row_id}")
        try:
            expect(row).to_contain_text("Finished", timeout=self.left_ms())
        except AssertionError as exc:
            raise StepFailed(f"the item did not finish: {row.inner_text()!r}") from exc
        if self.agent.poll() is not None:
            raise StepFailed(f"the agent exited early with code {self.agent.returncode}")
        self.shot(page, 8, "finished")
        run_id = row.get_by_role("link").first.inner_text().strip()

        self.begin("10. Stop the agent from the Agents tab")
        page.get_by_role("navigation", name="Queue").get_by_role("link", name="Agents").click()
        page.once("dialog", lambda dialog: dialog.accept())
        agent_row.get_by_role("button", name="Stop").click()
        expect(agent_row).to_contain_text("Killed", timeout=self.left_ms(60))
        try:
            code = self.agent.wait(timeout=self.left_ms(30) / 1000)
            print(f"  the agent exited with code {code}")
        except subprocess.TimeoutExpired:
            raise StepFailed("the agent is shown Killed but its process did not exit within 30 s") from None

        self.begin("11. Open the run's page: its charts")
        # The address the client printed ("View run at"); its Charts tab draws the logged loss.
        page.set_viewport_size({"width": 1280, "height": 720})
        page.goto(f"{self.base}/{ENTITY}/{PROJECT}/runs/{run_id}/charts")
        page.wait_for_function("window.launchuiCharts !== undefined")
        drawn = page.evaluate("window.launchuiCharts.drawn")
        if not drawn or drawn.get("charts", 0) < 1:
            raise StepFailed(f"the run page drew no chart: {drawn!r}")
        expect(page.get_by_role("figure", name="loss")).to_have_attribute("data-chart-state", "drawn")
        self.shot(page, 9, "run-charts")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--timeout", type=float, default=240, help="seconds for the whole walkthrough")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    work = Path(tempfile.mkdtemp(prefix="launchui-walkthrough-"))
    walk = Walkthrough(args.base_url, args.out, args.timeout, work)
    failed = None
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            try:
                walk.run(page)
            except (StepFailed, AssertionError, PlaywrightError, OSError, ValueError) as exc:
                failed = exc
                try:
                    page.screenshot(path=str(work / "walkthrough-failed.png"), full_page=True)
                    print(f"  page at failure: {page.url} (screenshot {work / 'walkthrough-failed.png'})")
                except PlaywrightError:
                    pass
            finally:
                browser.close()
    finally:
        walk.stop_agent()

    if failed is not None:
        if time.monotonic() >= walk.deadline - 1:
            print(f"\nOut of time: the walkthrough has {args.timeout:.0f} s (--timeout).", file=sys.stderr)
        print(f"\nFAILED at step {walk.step!r}:\n{failed}", file=sys.stderr)
        print(f"\n--- agent log (last 4000 characters) ---\n{walk.agent_output()[-4000:]}", file=sys.stderr)
        return 1
    print(f"\nDone: {len(walk.shots)} screenshots in {args.out}; agent log in {walk.agent_log}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
