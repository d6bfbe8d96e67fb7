from django.contrib import admin

from launchui.artifacts.models import Artifact, ArtifactCollection


@admin.register(ArtifactCollection)
class ArtifactCollectionAdmin(admin.ModelAdmin):
    list_display = ["name", "type_name", "project", "created_at"]
    list_filter = ["type_name"]
    search_fields = ["name"]


@admin.register(Artifact)
class ArtifactAdmin(admin.ModelAdmin):
    list_display = ["id", "collection", "version_index", "state", "digest", "created_at"]
    list_filter = ["state"]
    list_select_related = ["collection"]
