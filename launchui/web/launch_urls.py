"""URLs of the launch flow (Launch drawer, items, runs, Monitor tab)."""

urlpatterns: list = []
