from django.contrib import admin

from launchui.launch.models import LaunchAgent, RunQueue, RunQueueItem


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
