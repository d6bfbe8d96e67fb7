from django.apps import AppConfig


class ArtifactsConfig(AppConfig):
    name = "launchui.artifacts"
    label = "artifacts"
