"""What the page views share: htmx partials, safe redirects, clean URLs, and the lookups that scope a page
to the user's entities and queues (through accounts/selectors.py and launch/selectors.py, as the wire does).
A 404 answers "no such thing, or not yours" alike, so that an outsider learns nothing."""

import json
from urllib.parse import urlencode

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.middleware import HtmxDetails

from launchui.accounts import selectors as account_selectors
from launchui.accounts.models import Membership
from launchui.core.http import public_base_url
from launchui.launch import selectors as launch_selectors
from launchui.launch.models import RunQueue


class AuthedRequest(HttpRequest):
    """The request a @login_required page view gets: a signed-in User (never AnonymousUser), and the
    HtmxMiddleware's `htmx`. Only for annotations (the django-stubs pattern); Django builds the real one."""

    user: User
    htmx: HtmxDetails


def is_partial(request: AuthedRequest) -> bool:
    """An htmx swap wants the partial; a history restore wants the whole page."""
    return bool(request.htmx) and not request.htmx.history_restore_request


def clean_url(path: str, data: dict) -> str:
    params = {k: v for k, v in data.items() if v not in ("", None)}
    return f"{path}?{urlencode(params)}" if params else path


def safe_next(request: HttpRequest, default: str) -> str:
    """The form's `next` when it stays on this site, else the default: no open redirects."""
    target = request.POST.get("next") or ""
    if url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def agent_command(request: HttpRequest, queue: RunQueue) -> str:
    return f"WANDB_BASE_URL={public_base_url(request)} wandb launch-agent -q {queue.name} -e {queue.entity.name}"


def queue_for(request: AuthedRequest, entity: str, queue: str) -> tuple[RunQueue, Membership]:
    found = launch_selectors.queue_for_user(user=request.user, entity_name=entity, queue_name=queue)
    if found is None:
        raise Http404("No such queue, or it belongs to an entity you are not a member of.")
    return found


def queue_context(request: AuthedRequest, queue: RunQueue, membership: Membership, tab: str) -> dict:
    return {
        "section": "launch",
        "queue": queue,
        "membership": membership,
        "is_admin": membership.is_admin,
        "tab": tab,
        "agent_command": agent_command(request, queue),
    }


def membership_for(request: AuthedRequest, name: str) -> Membership:
    membership = account_selectors.membership_for(request.user, name)
    if membership is None:
        raise Http404("No such entity, or you are not a member of it.")
    return membership


def admin_membership_for(
    request: AuthedRequest, name: str, why: str = "Only admins change the members of an entity."
) -> Membership:
    membership = membership_for(request, name)
    if not membership.is_admin:
        raise PermissionDenied(why)
    return membership


def dumps(value) -> str:
    """A JSON value as a form field shows it for editing; nothing for an empty one."""
    return json.dumps(value, indent=2) if value else ""
