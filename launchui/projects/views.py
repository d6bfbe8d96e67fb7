"""Signed transfer URLs of run files: the wandb client PUTs and GETs here without credentials."""

from functools import partial

from django.core import signing
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from launchui.accounts.selectors import is_active_member
from launchui.core.http import signed_put, signed_url_cors
from launchui.projects import run_files, services
from launchui.projects.models import RunFile


@csrf_exempt
@signed_url_cors
@require_http_methods(["PUT"])
def upload(request: HttpRequest, token: str) -> HttpResponse:
    return signed_put(request, partial(services.run_file_receive, token=token))


@signed_url_cors
@require_GET
def download(request: HttpRequest, token: str) -> HttpResponseBase:
    try:
        claims = run_files.read_download_token(token)
    except signing.BadSignature:
        return JsonResponse({"error": "This download URL is invalid or has expired."}, status=403)
    # The URL is a bearer token: it stops working once its holder leaves the entity that owns the run.
    if not is_active_member(claims.get("u"), claims.get("e")):
        return JsonResponse(
            {"error": "This download URL's holder is no longer a member of the run's entity."}, status=403
        )
    file = RunFile.objects.filter(run_id=claims["r"], run__project__entity_id=claims["e"], name=claims["n"]).first()
    if file is None:
        return JsonResponse({"error": "That file is not stored here."}, status=404)
    name = file.name.rsplit("/", 1)[-1] or "file"
    return FileResponse(run_files.open_file(file.storage_key), as_attachment=True, filename=name)
