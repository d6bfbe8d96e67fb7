from celery import shared_task


@shared_task(bind=True, acks_late=True, ignore_result=True)
def build_job_task(self, build_id: int) -> None:
    """Thin: the service claims the build by compare-and-set, so a redelivered task does nothing."""
    from launchui.jobs.services import build_run

    build_run(build_id=build_id, task_id=self.request.id or "")
