from django.contrib import admin

from launchui.projects.models import Project, Run


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "entity", "created_at"]
    search_fields = ["name", "entity__name"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "job_type", "heartbeat_at", "completed_at", "exit_code"]
    list_select_related = ["project__entity"]
    search_fields = ["name"]
