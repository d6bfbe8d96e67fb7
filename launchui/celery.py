import logging
import os
import threading

from celery import Celery, bootsteps
from celery.signals import worker_ready, worker_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "launchui.settings")

app = Celery("launchui", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

logger = logging.getLogger(__name__)
_sweeper_stop = threading.Event()
_sweeper_wake = threading.Event()
_connected_at = None  # set each time the consumer (re)connects; the sweeper's next round takes it


class ResendAfterConnect(bootsteps.StartStopStep):
    """Runs each time the worker's consumer connects to the broker: at start and after a broker restart.
    A broker that restarted may have lost the messages it held, so the sweeper's next round (woken now)
    sends again every build still queued that was sent before this moment."""

    requires = ("celery.worker.consumer.connection:Connection",)

    def start(self, c):
        from django.utils import timezone

        global _connected_at
        _connected_at = timezone.now()
        _sweeper_wake.set()


app.steps["consumer"].add(ResendAfterConnect)


def _sweep_forever(interval: float) -> None:
    """The build sweeper: what re-sends lost builds with no person involved. A thread of the worker's main
    process, so it runs while the pool is busy with a long build and while the broker is down, and dies
    with its worker (no orphan scheduler). Every worker runs one; they cannot send a build twice (the
    sweep is compare-and-set) and a duplicate message claims nothing (build_run)."""
    from django import db

    from launchui.jobs import scratch, services

    global _connected_at
    while not _sweeper_stop.is_set():
        connected_at, _connected_at = _connected_at, None
        try:
            scratch.sweep_orphans()  # folders and git processes of builds whose worker process died
            counts = services.builds_resend_stale(sent_before=connected_at)
            if counts.pop("more") and connected_at:
                _connected_at = _connected_at or connected_at  # more than a batch to re-send: next round
            if any(counts.values()):
                logger.info("build sweeper: %s", counts)
        except Exception:  # the database or broker is down: try again next round
            logger.exception("build sweeper round failed")
            _connected_at = _connected_at or connected_at
        finally:
            db.connection.close()
        _sweeper_wake.wait(interval)
        _sweeper_wake.clear()


@worker_ready.connect
def start_build_sweeper(sender=None, **kwargs):
    from django.conf import settings

    _sweeper_stop.clear()
    threading.Thread(
        target=_sweep_forever, args=(settings.LAUNCHUI_BUILD_SWEEP_SECONDS,), name="build-sweeper", daemon=True
    ).start()


@worker_shutdown.connect
def stop_build_sweeper(sender=None, **kwargs):
    _sweeper_stop.set()
    _sweeper_wake.set()
