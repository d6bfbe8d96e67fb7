"""gunicorn config for the benchmarks (`-c bench/gunicorn_conf.py`): one hook, and no sys.path changes, so a
server started from another checkout (agent_loop.py --variant NAME@DIR) runs that checkout's code."""


def post_worker_init(worker) -> None:
    """Runs in each worker once Django has set up logging: Django's "Unauthorized: ..." / "Not Found: ..."
    warning per 4xx answer would otherwise dominate a trivial view's cost; errors (5xx) are still logged."""
    import logging

    logging.getLogger("django.request").setLevel(logging.ERROR)
