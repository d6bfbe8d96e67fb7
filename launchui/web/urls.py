from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from launchui.web import jobs_views, project_views, queue_views, views

_queue = "launch/<str:entity>/queues/<str:queue>/"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="launch"), name="home"),
    path("login", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("signup", views.signup, name="signup"),
    path("launch", views.launch, name="launch"),
    path("launch/queues/new", views.queue_new, name="queue_new"),
    path("launch/queues/variables", queue_views.queue_variable_tiles, name="queue_variable_tiles"),
    path("launch/jobs", jobs_views.jobs, name="jobs"),
    path("launch/jobs/new", jobs_views.job_new, name="job_new"),
    path("launch/jobs/new/<str:kind>", jobs_views.job_new, name="job_new_kind"),
    path("launch/builds/<int:build_id>", jobs_views.build, name="build"),
    path("launch/artifacts/<int:artifact_id>/files/<path:name>", jobs_views.artifact_file, name="artifact_file"),
    path("launch/<str:entity>/<str:project>/jobs", jobs_views.jobs, name="project_jobs"),
    path("launch/<str:entity>/<str:project>/jobs/<str:name>", jobs_views.job_detail, name="job"),
    path("launch/agents", views.agents, name="agents"),
    path("launch/agents/<int:agent_id>", views.agent, name="agent"),
    path("launch/agents/<int:agent_id>/stop", views.agent_stop, name="agent_stop"),
    path("launch/agents/<int:agent_id>/delete", views.agent_delete, name="agent_delete"),
    path(_queue, queue_views.queue_overview, name="queue_overview"),
    path(_queue + "agents", queue_views.queue_agents, name="queue_agents"),
    path(_queue + "config", queue_views.queue_config, name="queue_config"),
    path(_queue + "delete", queue_views.queue_delete, name="queue_delete"),
    path(_queue + "items/<int:item_id>/delete", queue_views.item_delete, name="item_delete"),
    path("projects", project_views.projects, name="projects"),
    path(_queue + "items/<int:item_id>/priority", queue_views.item_priority, name="item_priority"),
    path("entities", views.entities, name="entities"),
    path("entities/<str:name>/members", views.members, name="members"),
    path("entities/<str:name>/members/<int:membership_id>/role", views.member_role, name="member_role"),
    path("entities/<str:name>/members/<int:membership_id>/remove", views.member_remove, name="member_remove"),
    path("entities/<str:name>/git-credentials", jobs_views.git_credentials, name="git_credentials"),
    path(
        "entities/<str:name>/git-credentials/<int:credential_id>/delete",
        jobs_views.git_credential_delete,
        name="git_credential_delete",
    ),
    path(
        "entities/<str:name>/git-credentials/<int:credential_id>/server",
        jobs_views.git_credential_bind,
        name="git_credential_bind",
    ),
    path("authorize", views.api_keys, name="api_keys"),
    path("authorize/<int:key_id>/revoke", views.api_key_revoke, name="api_key_revoke"),
    # The address `wandb job create` prints after it creates a job.
    path(
        "<str:entity>/<str:project>/jobs", RedirectView.as_view(pattern_name="project_jobs"), name="wandb_project_jobs"
    ),
]
