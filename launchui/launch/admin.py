from django.contrib import admin

from launchui.launch.models import LaunchAgent, Project, Run, RunQueue, RunQueueItem


@admin.register(RunQueue)
class RunQueueAdmin(admin.ModelAdmin):
    list_display = ["name", "entity", "resource", "prioritization_mode", "created_at"]
    list_filter = ["resource"]
    search_fields = ["name", "entity__name"]


@admin.register(LaunchAgent)
class LaunchAgentAdmin(admin.ModelAdmin):
    list_display = ["name", "entity", "hostname", "reported_status", "last_seen_at", "stop_requested"]
    search_fields = ["name", "hostname", "entity__name"]


@admin.register(RunQueueItem)
class RunQueueItemAdmin(admin.ModelAdmin):
    list_display = ["id", "queue", "state", "priority", "associated_run_id", "created_at"]
    list_filter = ["state"]
    list_select_related = ["queue__entity"]
    raw_id_fields = ["queue", "agent", "created_by"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "entity", "created_at"]
    search_fields = ["name", "entity__name"]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "job_type", "heartbeat_at", "completed_at", "exit_code"]
    list_select_related = ["project__entity"]
    search_fields = ["name"]
