from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "launchui.web"
    label = "web"
