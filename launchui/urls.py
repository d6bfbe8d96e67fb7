from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("launchui.wire.urls")),
    path("", include("launchui.artifacts.urls")),
    path("", include("launchui.projects.urls")),
    path("", include("launchui.web.launch_urls")),
    path("", include("launchui.web.urls")),
    path("", include("launchui.web.run_urls")),  # last: its patterns match any two segments
]

# A database that cannot be reached answers 503 with Retry-After (the wandb client retries it).
handler500 = "launchui.web.errors.server_error"
handler404 = "launchui.web.errors.page_not_found"
