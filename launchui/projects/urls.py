from django.urls import path

from launchui.projects import views

urlpatterns = [
    path("runs/files/upload/<str:token>", views.upload, name="run_file_upload"),
    path("runs/files/download/<str:token>", views.download, name="run_file_download"),
]
