from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from launchui.web import views

_queue = "launch/<str:entity>/queues/<str:queue>/"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="launch"), name="home"),
    path("login", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("signup", views.signup, name="signup"),
    path("launch", views.launch, name="launch"),
    path("launch/queues/new", views.queue_new, name="queue_new"),
    path("launch/agents", views.agents, name="agents"),
    path("launch/agents/<int:agent_id>/stop", views.agent_stop, name="agent_stop"),
    path("launch/agents/<int:agent_id>/delete", views.agent_delete, name="agent_delete"),
    path(_queue, views.queue_overview, name="queue_overview"),
    path(_queue + "agents", views.queue_agents, name="queue_agents"),
    path(_queue + "config", views.queue_config, name="queue_config"),
    path(_queue + "delete", views.queue_delete, name="queue_delete"),
    path(_queue + "items/<int:item_id>/delete", views.item_delete, name="item_delete"),
    path("entities", views.entities, name="entities"),
    path("entities/<str:name>/members", views.members, name="members"),
    path("entities/<str:name>/members/<int:membership_id>/role", views.member_role, name="member_role"),
    path("entities/<str:name>/members/<int:membership_id>/remove", views.member_remove, name="member_remove"),
    path("authorize", views.api_keys, name="api_keys"),
    path("authorize/<int:key_id>/revoke", views.api_key_revoke, name="api_key_revoke"),
]
