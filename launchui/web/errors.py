"""Answers for requests the application cannot serve: NUL bytes in the address, an unknown address, and a
database that is down.

The wandb client retries a 503 (and not a 400), so a database outage stalls agents instead of failing
their calls; a browser gets a page that says to wait.
"""

import logging
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.template import loader
from django.views import defaults

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 10
WIRE_PREFIXES = ("/graphql", "/files/", "/artifacts/")


def _is_wire(request: HttpRequest) -> bool:
    return request.path.startswith(WIRE_PREFIXES) or "application/json" in request.headers.get("Accept", "")


def refuse_nul_bytes(get_response):
    """`%00` in the path or query string: PostgreSQL refuses NUL in text, so no view may see one."""

    def middleware(request: HttpRequest) -> HttpResponse:
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "\x00" in query or "%00" in query:
            message = "The address contains a NUL character (%00)."
            if _is_wire(request):
                return JsonResponse({"errors": [{"message": message}]}, status=400)
            return HttpResponseBadRequest(message, content_type="text/plain")
        return get_response(request)

    return middleware


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: the reason a view gave (Http404("No such queue...")), never an exception's class name or
    the resolver's dict of tried patterns, which Django's default shows for an unknown address."""
    reason = exception.args[0] if exception.args else ""
    context = {"message": reason if isinstance(reason, str) else "", "request_path": request.path}
    return HttpResponse(loader.render_to_string("404.html", context, request), status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a database that cannot be reached is a 503 with Retry-After, not a 500."""
    exc = sys.exc_info()[1]
    if not isinstance(exc, (OperationalError, InterfaceError)):
        return defaults.server_error(request)
    message = "The database is unavailable; retry in a few seconds."
    response: HttpResponse
    if _is_wire(request):
        response = JsonResponse({"errors": [{"message": message}]}, status=503)
    else:
        # Rendered without the request: the usual context (user, session) would need the database.
        response = HttpResponse(loader.render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS}), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
