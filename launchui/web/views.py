"""HTML pages. Each view parses, authorises, calls one service or selector and renders one template;
htmx requests get the page's named partial (template.html#partial)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import push_url

from launchui.accounts import selectors as account_selectors
from launchui.accounts import services as account_services
from launchui.accounts.models import Membership
from launchui.launch import selectors as launch_selectors
from launchui.launch import services as launch_services
from launchui.launch.models import RunQueue
from launchui.launch.queue_config import DEFAULT_CONFIGS
from launchui.web import forms
from launchui.web.common import (
    AuthedRequest,
    admin_membership_for,
    clean_url,
    is_partial,
    membership_for,
    safe_next,
)

# --- auth -----------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if not settings.LAUNCHUI_SIGNUP_ENABLED:
        raise Http404("Sign-up is disabled on this server.")
    form = forms.SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = account_services.user_create(
                username=data["username"], password=data["password1"], email=data["email"]
            )
        except ValidationError as exc:
            forms.add_service_errors(form, exc, aliases={"name": "username"})
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("launch")
    return render(request, "web/signup.html", {"form": form})


# --- launch page ----------------------------------------------------------------------------------


@login_required
@require_GET
@vary_on_headers("HX-Request")
def launch(request: AuthedRequest) -> HttpResponse:
    entities = account_selectors.entity_names_for_user(request.user)  # with can_create: one query for both
    form = forms.QueueFilterForm(request.GET, entities=[name for name, _ in entities])
    form.is_valid()  # an unknown entity or sort is dropped, not an error
    entity = form.cleaned_data.get("entity", "")
    search = form.cleaned_data.get("search", "")
    sort = form.cleaned_data.get("sort") or "entity"
    queues = launch_selectors.LaunchQueues(user=request.user, entity_name=entity, search=search, sort=sort)
    # LaunchQueues has count() and slices, all a Paginator reads, not the whole Sequence protocol.
    page = Paginator(queues, settings.LAUNCHUI_PAGE_SIZE).get_page(request.GET.get("page"))  # type: ignore[arg-type,var-annotated]
    context = {
        "section": "launch",
        "form": form,
        "page": page,
        "sort": sort,
        "entity": entity,
        "search": search,
        "can_create": any(is_admin for _, is_admin in entities),
    }
    if is_partial(request):
        response = render(request, "web/launch.html#queue-table", context)
        query = {
            "entity": entity,
            "search": search,
            "sort": "" if sort == "entity" else sort,
            "page": request.GET.get("page", ""),
        }
        return push_url(response, clean_url(reverse("launch"), query))
    return render(request, "web/launch.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def queue_new(request: AuthedRequest) -> HttpResponse:
    admin_entities = list(account_selectors.admin_entities_for_user(request.user))
    if not admin_entities:
        raise PermissionDenied("You are admin of no entity, so you cannot create queues.")
    if request.method == "POST":
        entity_name = request.POST.get("entity", "")
        entity = next((e for e in admin_entities if e.name == entity_name), None)
        if entity is None and account_selectors.membership_for(request.user, entity_name):
            raise PermissionDenied("Only admins of an entity create its queues.")
        form = forms.QueueCreateForm(request.POST, admin_entities=admin_entities)
        tiles, variables = forms.tiles_on_submit(request.POST)
        if form.is_valid() and variables is not None:
            # The form's entity choices are the admin entities, so a valid form found one.
            assert entity is not None
            data = form.cleaned_data
            try:
                queue = launch_services.queue_create(
                    entity=entity,
                    name=data["name"],
                    resource=data["resource"],
                    config=data["config"],
                    template_variables=variables,
                    prioritization_mode=form.prioritization_mode,
                    created_by=request.user,
                )
            except ValidationError as exc:
                forms.add_service_errors(form, exc)
            else:
                messages.success(request, f"Queue {queue.name} created. Start an agent to run its jobs.")
                return redirect("queue_agents", entity=entity.name, queue=queue.name)
    else:
        resource = RunQueue.RESOURCES[0][0]
        tiles = []
        form = forms.QueueCreateForm(
            admin_entities=admin_entities,
            initial={
                "entity": request.GET.get("entity") or admin_entities[0].name,
                "resource": resource,
                "config": DEFAULT_CONFIGS[resource],
            },
        )
    return render(
        request,
        "web/queue_new.html",
        {"section": "launch", "form": form, "default_configs": DEFAULT_CONFIGS, "tiles": tiles},
    )


# --- agents ---------------------------------------------------------------------------------------


# The Agents page lists this many unserved queues (the first by entity and name) and says when there are more:
# a user in a thousand entities may have thousands, and the page refreshes every 3 s.
UNSERVED_SHOWN = 20


@login_required
@require_GET
@vary_on_headers("HX-Request")
def agents(request: AuthedRequest) -> HttpResponse:
    entities = [name for name, _ in account_selectors.entity_names_for_user(request.user)]
    form = forms.AgentFilterForm(request.GET, entities=entities)
    form.is_valid()
    entity = form.cleaned_data.get("entity", "")
    status = form.cleaned_data.get("status", "")
    agents = launch_selectors.AgentList(user=request.user, entity_name=entity, status=status)
    # AgentList has count() and slices, all a Paginator reads, not the whole Sequence protocol.
    page = Paginator(agents, settings.LAUNCHUI_PAGE_SIZE).get_page(request.GET.get("page"))  # type: ignore[arg-type,var-annotated]
    page_param = str(page.number) if page.number > 1 else ""
    live_url = clean_url(reverse("agents"), {"entity": entity, "status": status, "page": page_param})
    unserved = launch_selectors.unserved_queues(user=request.user, entity_name=entity, limit=UNSERVED_SHOWN + 1)
    context = {
        "section": "agents",
        "form": form,
        "page": page,
        "agents": launch_selectors.agent_rows_in_context(page.object_list),
        "unserved": unserved[:UNSERVED_SHOWN],
        "more_unserved": len(unserved) > UNSERVED_SHOWN,
        "live_url": live_url,
    }
    if is_partial(request):
        response = render(request, "web/agents.html#agents-live", context)
        if request.htmx.trigger == "agents-filter":  # the filter form, not the 3 s refresh
            response = push_url(response, live_url)
        return response
    return render(request, "web/agents.html", context)


@login_required
@require_GET
def agent(request: AuthedRequest, agent_id: int) -> HttpResponse:
    """An agent's page: what it sent, its status timeline and the items it took. Members of its entity only."""
    detail = launch_selectors.agent_detail(user=request.user, agent_id=agent_id)
    if detail is None:
        raise Http404("No such agent, or it belongs to an entity you are not a member of.")
    agent = detail.row.agent
    return render(
        request,
        "web/agent.html",
        {
            "section": "agents",
            "detail": detail,
            "agent": agent,
            "row": detail.row,
            "controlled": launch_services.agents_controlled_by(request.user).filter(pk=agent.pk).exists(),
            "offline_after": settings.LAUNCHUI_AGENT_OFFLINE_AFTER,
            "limit": launch_selectors.AGENT_PAGE_LIMIT,
        },
    )


def _agent_under_control(request: AuthedRequest, agent_id: int):
    found = launch_selectors.agent_for_user(user=request.user, agent_id=agent_id)
    if found is None:
        raise Http404("No such agent.")
    agent = found[0].agent
    launch_services.agent_require_control(user=request.user, agent=agent)  # the wire's rule too
    return agent


@login_required
@require_POST
def agent_stop(request: AuthedRequest, agent_id: int) -> HttpResponse:
    agent = _agent_under_control(request, agent_id)
    launch_services.agent_request_stop(agent=agent)
    messages.success(request, f"Asked {agent.name} to stop; it stops at its next poll.")
    return redirect(safe_next(request, reverse("agents")))


@login_required
@require_POST
def agent_delete(request: AuthedRequest, agent_id: int) -> HttpResponse:
    agent = _agent_under_control(request, agent_id)
    try:
        launch_services.agent_delete(agent=agent)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Agent {agent.name} deleted.")
    return redirect(safe_next(request, reverse("agents")))


# --- entities -------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def entities(request: AuthedRequest) -> HttpResponse:
    form = forms.TeamCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            team = account_services.team_create(name=form.cleaned_data["name"].strip(), creator=request.user)
        except ValidationError as exc:
            forms.add_service_errors(form, exc)
        else:
            messages.success(request, f"Team {team.name} created. Add its members here.")
            return redirect("members", name=team.name)
    return render(
        request,
        "web/entities.html",
        {"section": "entities", "form": form, "memberships": account_selectors.memberships_for_user(request.user)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def members(request: AuthedRequest, name: str) -> HttpResponse:
    mine = admin_membership_for(request, name) if request.method == "POST" else membership_for(request, name)
    form = forms.MemberAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            added = account_services.member_add(
                entity=mine.entity, username=form.cleaned_data["username"].strip(), role=form.cleaned_data["role"]
            )
        except ValidationError as exc:
            forms.add_service_errors(form, exc)
        else:
            messages.success(request, f"{added.user.username} added as {added.get_role_display().lower()}.")
            return redirect("members", name=name)
    return render(
        request,
        "web/members.html",
        {
            "section": "entities",
            "entity": mine.entity,
            "mine": mine,
            "form": form,
            "members": account_selectors.members_of(mine.entity),
            "roles": Membership.ROLES,
        },
    )


def _other_membership(mine: Membership, membership_id: int) -> Membership:
    membership = account_selectors.members_of(mine.entity).filter(pk=membership_id).first()
    if membership is None:
        raise Http404("No such member.")
    return membership


@login_required
@require_POST
def member_role(request: AuthedRequest, name: str, membership_id: int) -> HttpResponse:
    mine = admin_membership_for(request, name)
    membership = _other_membership(mine, membership_id)
    form = forms.MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the role Admin or Member.")
        return redirect("members", name=name)
    try:
        account_services.member_set_role(membership=membership, role=form.cleaned_data["role"])
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{membership.user.username} is now {membership.get_role_display().lower()}.")
    return redirect("members", name=name)


@login_required
@require_POST
def member_remove(request: AuthedRequest, name: str, membership_id: int) -> HttpResponse:
    mine = admin_membership_for(request, name)
    membership = _other_membership(mine, membership_id)
    try:
        account_services.member_remove(membership=membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("members", name=name)
    messages.success(request, f"{membership.user.username} removed from {name}.")
    if membership.pk == mine.pk:
        return redirect("entities")
    return redirect("members", name=name)


# --- API keys -------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request: AuthedRequest) -> HttpResponse:
    form = forms.ApiKeyCreateForm(request.POST or None)
    new_key = raw_key = None
    if request.method == "POST" and form.is_valid():
        new_key, raw_key = account_services.api_key_create(user=request.user, name=form.cleaned_data["name"])
        form = forms.ApiKeyCreateForm()
    response = render(
        request,
        "web/api_keys.html",
        {
            "section": "api_keys",
            "form": form,
            "new_key": new_key,
            "raw_key": raw_key,
            "keys": account_selectors.api_keys_for_user(request.user),
        },
    )
    if raw_key:
        add_never_cache_headers(response)  # the raw key must not sit in any cache
    return response


@login_required
@require_POST
def api_key_revoke(request: AuthedRequest, key_id: int) -> HttpResponse:
    key = account_selectors.api_keys_for_user(request.user).filter(pk=key_id).first()
    if key is None:
        raise Http404("No such API key.")
    account_services.api_key_revoke(key=key)
    messages.success(request, f"Key {key.name} revoked: clients using it are signed out.")
    return redirect("api_keys")
