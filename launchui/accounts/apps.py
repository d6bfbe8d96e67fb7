from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "launchui.accounts"
    label = "accounts"
