"""The addresses the wandb client prints ("View project at", "View run at"): /<entity>/<project> and
/<entity>/<project>/runs/<run id>. Included last in launchui/urls.py, since these patterns match any two
segments and every fixed address must win over them."""

from django.urls import path

from launchui.web import project_views, run_views

urlpatterns: list = [
    path("<str:entity>/<str:project>", project_views.project, name="project"),
    path("<str:entity>/<str:project>/compare", project_views.compare, name="project_compare"),
    path("<str:entity>/<str:project>/compare/data", project_views.compare_data, name="project_compare_data"),
    path("<str:entity>/<str:project>/runs/<str:run_id>", run_views.run, name="run"),
]
