from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "launchui.jobs"
    label = "jobs"
