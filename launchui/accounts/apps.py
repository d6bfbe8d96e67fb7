from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "launchui.accounts"
    label = "accounts"

    def ready(self) -> None:
        from launchui.accounts import signals  # noqa: F401  (connects the receivers)
