from django.urls import path

from launchui.artifacts import views

urlpatterns = [
    path("artifacts/upload/<str:token>", views.upload, name="artifact_upload"),
    path("artifacts/download/<str:token>", views.download, name="artifact_download"),
]
