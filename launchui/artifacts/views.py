"""Signed transfer URLs: the wandb client PUTs and GETs here without credentials."""

from functools import partial

from django.core import signing
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from launchui.accounts.selectors import is_active_member
from launchui.artifacts import services, storage
from launchui.core.http import signed_put, signed_url_cors


@csrf_exempt
@signed_url_cors
@require_http_methods(["PUT"])
def upload(request: HttpRequest, token: str) -> HttpResponse:
    # Streamed: DATA_UPLOAD_MAX_MEMORY_SIZE (for form posts) does not cap artifact files.
    return signed_put(request, partial(services.upload_receive, token=token))


@signed_url_cors
@require_GET
def download(request: HttpRequest, token: str) -> HttpResponse | FileResponse:
    try:
        claims = storage.read_download_token(token)
    except signing.BadSignature:
        return JsonResponse({"error": "This download URL is invalid or has expired."}, status=403)
    # The URL is a bearer token: it stops working once its holder leaves the entity that owns the file.
    if not is_active_member(claims.get("u"), claims.get("e")):
        return JsonResponse(
            {"error": "This download URL's holder is no longer a member of the file's entity."}, status=403
        )
    if not storage.blob_exists(claims["d"]):
        return JsonResponse({"error": "That file is not stored here."}, status=404)
    name = claims["n"].rsplit("/", 1)[-1] or "file"
    return FileResponse(storage.blob_open(claims["d"]), as_attachment=True, filename=name)
