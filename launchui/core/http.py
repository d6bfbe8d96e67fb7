"""The address clients reach this server at, for both doors: the agent command a page shows and the
signed upload and download URLs the wire hands out."""

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase

from launchui.core.storage import TooLarge


def public_base_url(request: HttpRequest) -> str:
    """LAUNCHUI_BASE_URL when set (behind a proxy), else the address this request came to; no trailing /."""
    return settings.LAUNCHUI_BASE_URL or request.build_absolute_uri("/").rstrip("/")


# A signed URL is a bearer token in its address and takes no cookie, so any origin may use it, as W&B's
# object stores are configured (wandb verify checks an OPTIONS preflight for Access-Control-Allow-Origin).
SIGNED_URL_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, PUT, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type, Content-Length, Content-MD5, Range",
    "Access-Control-Expose-Headers": "Content-Length, Content-Disposition, ETag",
    "Access-Control-Max-Age": "3600",
}


def signed_url_cors(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """A signed transfer URL's view: answers a CORS preflight (OPTIONS) itself and marks every answer as
    usable from any origin (SIGNED_URL_CORS)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponseBase:
        response: HttpResponseBase = (
            HttpResponse(status=204) if request.method == "OPTIONS" else view(request, *args, **kwargs)
        )
        for header, value in SIGNED_URL_CORS.items():
            response[header] = value
        return response

    return wrapped


def signed_put(request: HttpRequest, receive: Callable[..., object]) -> HttpResponse:
    """The answer to a PUT on a signed upload URL (artifact files, run files): receive(read=, content_length=)
    streams the body to storage, never request.body, so memory stays bounded whatever the file's size."""
    try:
        length = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        return JsonResponse({"error": "Content-Length is not a number."}, status=400)
    try:
        receive(read=request.read, content_length=length)
    except signing.BadSignature:
        return JsonResponse({"error": "This upload URL is invalid or has expired."}, status=403)
    except TooLarge as exc:
        return JsonResponse({"error": str(exc)}, status=413)
    except ValidationError as exc:
        return JsonResponse({"error": " ".join(exc.messages)}, status=400)
    return HttpResponse(status=200)
