from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    name = "launchui.projects"
    label = "projects"
