from django.conf import settings


def launchui(request):
    return {"signup_enabled": settings.LAUNCHUI_SIGNUP_ENABLED}
