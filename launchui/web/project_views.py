"""The project page (/<entity>/<project>). Being built for issue 11."""

from django.http import Http404, HttpRequest, HttpResponse


def project(request: HttpRequest, entity: str, project: str) -> HttpResponse:
    raise Http404("Project pages are not built yet.")
