from django.contrib import admin

from launchui.jobs.models import GitCredential, JobBuild


@admin.register(JobBuild)
class JobBuildAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "project", "status", "created_at", "finished_at"]
    list_filter = ["kind", "status"]
    list_select_related = ["project__entity"]
    readonly_fields = ["log"]


@admin.register(GitCredential)
class GitCredentialAdmin(admin.ModelAdmin):
    list_display = ["name", "entity", "kind", "host", "port", "path_prefix", "username", "created_at"]
    exclude = ["secret_encrypted"]  # never shown, not even encrypted
