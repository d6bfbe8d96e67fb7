"""URLs of the launch flow (Launch drawer, items, runs, Monitor tab)."""

from django.urls import path

from launchui.web import launch_views

_queue = "launch/<str:entity>/queues/<str:queue>/"

urlpatterns: list = [
    path("launch/<str:entity>/<str:project>/jobs/<str:name>/launch", launch_views.job_launch, name="job_launch"),
    path(_queue + "items/<int:item_id>", launch_views.queue_item, name="queue_item"),
    path(_queue + "items/<int:item_id>/stop", launch_views.item_stop, name="item_stop"),
    path(_queue + "recent", launch_views.queue_recent, name="queue_recent"),
    path(_queue + "monitor", launch_views.queue_monitor, name="queue_monitor"),
]
