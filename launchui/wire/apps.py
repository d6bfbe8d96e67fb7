from django.apps import AppConfig


class WireConfig(AppConfig):
    name = "launchui.wire"
    label = "wire"
