from django.apps import AppConfig


class LaunchConfig(AppConfig):
    name = "launchui.launch"
    label = "launch"
