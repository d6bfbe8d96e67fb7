"""The addresses the wandb client prints ("View project at", "View run at"): /<entity>/<project> and
/<entity>/<project>/runs/<run id>, with the run page's tabs and data below it. Included last in
launchui/urls.py, since these patterns match any two segments and every fixed address must win over them."""

from django.urls import path

from launchui.web import project_views, run_views

_run = "<str:entity>/<str:project>/runs/<str:run_id>"

urlpatterns: list = [
    path("<str:entity>/<str:project>", project_views.project, name="project"),
    path("<str:entity>/<str:project>/compare", project_views.compare, name="project_compare"),
    path("<str:entity>/<str:project>/compare/data", project_views.compare_data, name="project_compare_data"),
    path(_run, run_views.run, name="run"),
    path(_run + "/overview", run_views.run_overview, name="run_overview"),
    path(_run + "/stop", run_views.run_stop, name="run_stop"),
    path(_run + "/charts", run_views.run_charts, name="run_charts"),
    path(_run + "/charts/data", run_views.run_chart_data, name="run_chart_data"),
    path(_run + "/system", run_views.run_system, name="run_system"),
    path(_run + "/logs", run_views.run_logs, name="run_logs"),
    path(_run + "/logs/tail", run_views.run_logs_tail, name="run_logs_tail"),
    path(_run + "/logs/download", run_views.run_logs_download, name="run_logs_download"),
    path(_run + "/files", run_views.run_files_tab, name="run_files"),
    path(_run + "/files/<path:name>", run_views.run_file_preview, name="run_file_preview"),
    path(_run + "/artifacts", run_views.run_artifacts, name="run_artifacts"),
]
