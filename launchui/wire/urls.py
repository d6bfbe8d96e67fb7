from django.urls import path

from launchui.wire import views

urlpatterns = [
    path("graphql", views.graphql_view, name="graphql"),
    path("healthz", views.healthz_view, name="healthz"),
    path("files/<str:entity>/<str:project>/<str:run>/file_stream", views.file_stream_view, name="file_stream"),
]
