"""The run page (/<entity>/<project>/runs/<run id>). Being built for issue 11."""

from django.http import Http404, HttpRequest, HttpResponse


def run(request: HttpRequest, entity: str, project: str, run_id: str) -> HttpResponse:
    raise Http404("Run pages are not built yet.")
