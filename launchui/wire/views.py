"""The wire protocol's HTTP doors: /graphql and the run file stream."""

import json
import logging

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from launchui.core import limits, user_data
from launchui.wire import ops  # noqa: F401  (registers the resolvers)
from launchui.wire.auth import api_key_from_request
from launchui.wire.graphql import BadRequest, Context, WireError, execute
from launchui.wire.ops.runs import file_stream

logger = logging.getLogger(__name__)


def _error(status: int, message: str) -> JsonResponse:
    # 4xx statuses: the client does not retry them, and prints the message.
    return JsonResponse({"errors": [{"message": message}]}, status=status)


def _no_constants(name: str):
    # NaN and Infinity are not JSON, and PostgreSQL's jsonb refuses them: a 400, not a 500 later.
    raise ValueError(f"{name} is not valid JSON")


class _Refused(Exception):
    def __init__(self, response: JsonResponse):
        self.response = response


def _authenticated_json(request: HttpRequest, max_bytes: int):
    """The request's API key and JSON object body, or the 4xx answer the client should get."""
    api_key = api_key_from_request(request)
    if api_key is None:
        raise _Refused(_error(401, "Invalid or revoked API key: create one at /authorize."))
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        declared = 0
    if declared > max_bytes:  # refused before the body is read into memory
        raise _Refused(_error(413, f"The request body is larger than {max_bytes // 1024} KiB (the limit)."))
    try:
        # Nesting capped (a body nested 3,000 deep would be a RecursionError); the size was capped above.
        body = user_data.loads_json(
            request.body or b"{}",
            "The request body",
            max_bytes=max_bytes,
            max_depth=limits.GRAPHQL_MAX_BODY_DEPTH,
            max_nodes=None,
            parse_constant=_no_constants,
        )
    except ValidationError as exc:
        raise _Refused(_error(400, exc.messages[0])) from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
        raise _Refused(_error(400, "The request body is not JSON.")) from None
    try:
        return api_key, user_data.require_object(body, "The request body")
    except ValidationError as exc:
        raise _Refused(_error(400, exc.messages[0])) from None


@require_GET
def healthz_view(request: HttpRequest) -> JsonResponse:
    """For load balancers and probes: the process answers. Touches no database, so it says nothing of it."""
    return JsonResponse({"ok": True})


@csrf_exempt
@require_POST
def graphql_view(request: HttpRequest) -> JsonResponse:
    try:
        api_key, body = _authenticated_json(request, limits.GRAPHQL_MAX_BODY_BYTES)
    except _Refused as refused:
        return refused.response
    context = Context(user=api_key.user, api_key=api_key, request=request)
    try:
        answer = execute(
            document=body.get("query"),
            variables=body.get("variables"),
            operation_name=body.get("operationName"),
            context=context,
        )
    except BadRequest as exc:
        return _error(400, str(exc))
    return JsonResponse(answer)


@csrf_exempt
@require_POST
def file_stream_view(request: HttpRequest, entity: str, project: str, run: str) -> JsonResponse:
    try:
        api_key, body = _authenticated_json(request, settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    except _Refused as refused:
        return refused.response
    try:
        answer = file_stream(user=api_key.user, entity_name=entity, project_name=project, run_name=run, body=body)
    except WireError as exc:
        return _error(400, exc.message)
    if answer is None:
        return _error(404, f"No run {entity}/{project}/{run} that this key may write.")
    return JsonResponse(answer)
