"""URLs of the launch flow: the Launch drawer, and an item's page, its Stop, recent items and the Monitor tab
(queue_views.py)."""

from django.urls import path

from launchui.web import launch_views, queue_views

_queue = "launch/<str:entity>/queues/<str:queue>/"

urlpatterns: list = [
    path("launch/<str:entity>/<str:project>/jobs/<str:name>/launch", launch_views.job_launch, name="job_launch"),
    path(_queue + "items/<int:item_id>", queue_views.queue_item, name="queue_item"),
    path(_queue + "items/<int:item_id>/stop", queue_views.item_stop, name="item_stop"),
    path(_queue + "items/<int:item_id>/files/<path:name>", queue_views.item_error_file, name="item_error_file"),
    path(_queue + "recent", queue_views.queue_recent, name="queue_recent"),
    path(_queue + "monitor", queue_views.queue_monitor, name="queue_monitor"),
]
