from django.conf import settings


def shell(request):
    return {"debug": settings.DEBUG}
