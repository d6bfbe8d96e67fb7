from django.contrib import admin

from launchui.accounts.models import ApiKey, Entity, Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    raw_id_fields = ["user"]


@admin.register(Entity)
class EntityAdmin(admin.ModelAdmin):
    list_display = ["name", "is_team", "owner", "created_at"]
    list_filter = ["is_team"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    # Only the hash is stored; the admin can see and revoke keys, never read them.
    list_display = ["name", "user", "hint", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username"]
    readonly_fields = ["key_hash", "hint", "created_at", "last_used_at"]
